"""`riskops audit export` without `--org` (issue 11, item 8): every organization's chain in one
file, each event carrying its org, each organization's export recorded in its own chain, and a
file that a verifier (the standalone one of AUDIT.md, and `riskops audit verify --file`) accepts
by checking each organization's chain separately. A real subprocess on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.test_cli import Target, new_target, one_error_line, verify_export

pytestmark = pytest.mark.slow


@dataclass
class TwoOrgs:
    target: Target
    orgs: dict[str, int]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def two_orgs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TwoOrgs]:
    with new_target(request.param, tmp_path_factory.mktemp("export-all"), migrated=True) as target:
        target.run("migrate")
        orgs = {}
        for slug in ("acme", "globex"):
            target.run("create-user", "--org", slug, "--create-org", "--email",
                       f"admin@{slug}.example", "--name", "Admin", "--role", "admin",
                       "--password", "correct horse battery staple")  # fmt: skip
            orgs[slug] = int(target.scalar(f"SELECT id FROM organization WHERE slug = '{slug}'"))
        yield TwoOrgs(target, orgs)


def by_org(lines: list[str]) -> dict[int, list[str]]:
    """What a SIEM-side verifier does with a combined file: one chain per org."""
    chains: dict[int, list[str]] = {}
    for line in lines:
        chains.setdefault(json.loads(line)["org"], []).append(line)
    return chains


def test_export_without_org_holds_every_chain_and_each_verifies(
    two_orgs: TwoOrgs, tmp_path: Path
) -> None:
    target, orgs = two_orgs.target, two_orgs.orgs
    out = tmp_path / "all.jsonl"
    done = target.run("audit", "export", "--output", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    chains = by_org(lines)
    assert set(orgs.values()) <= set(chains)
    for org, chain in chains.items():
        assert verify_export(chain) is None, org
        assert [json.loads(x)["seq"] for x in chain] == list(range(1, len(chain) + 1))
    assert f"Exported {len(lines)} event(s) of {len(chains)} chain(s)" in done.stderr

    checked = target.run("audit", "verify", "--file", str(out))
    for org, chain in chains.items():
        assert f"org {org}: OK, {len(chain)} events" in checked.stdout
    assert f"All {len(chains)} audit chain(s) in {out} verify." in checked.stderr

    # Each organization's export is recorded in its own chain, after the lines it exported.
    for org, chain in chains.items():
        head = target.scalar(
            f"SELECT new_values FROM audit_event WHERE org_id = {org} AND seq = {len(chain) + 1}"
        )
        action = target.scalar(
            f"SELECT action FROM audit_event WHERE org_id = {org} AND seq = {len(chain) + 1}"
        )
        assert action == "audit.export" and json.loads(head)["events"] == len(chain)
    target.run("audit", "verify")  # the database's chains still hold


def test_verify_file_names_the_broken_org(two_orgs: TwoOrgs, tmp_path: Path) -> None:
    target, orgs = two_orgs.target, two_orgs.orgs
    out = tmp_path / "all.jsonl"
    target.run("audit", "export", "-o", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    globex = [i for i, x in enumerate(lines) if json.loads(x)["org"] == orgs["globex"]]
    tampered = json.loads(lines[globex[1]])
    tampered["actor"] = "user:999"
    lines[globex[1]] = json.dumps(tampered)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")

    done = target.run("audit", "verify", "--file", str(bad), ok=False)
    assert f"org {orgs['acme']}: OK" in done.stdout
    assert f"org {orgs['globex']}: BROKEN at seq 2" in done.stdout
    assert done.returncode == 1
    assert f"first is org {orgs['globex']}, first bad seq 2" in done.stderr

    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"org": 1}\nnot json\n', encoding="utf-8")
    error = one_error_line(target.run("audit", "verify", "--file", str(garbage), ok=False))
    assert "line 2: not a JSON object" in error
    both = target.run("audit", "verify", "--file", str(out), "--org", "acme", ok=False)
    assert "leave out --org" in one_error_line(both)


def test_a_window_of_every_chain_verifies_from_its_first_event(
    two_orgs: TwoOrgs, tmp_path: Path
) -> None:
    target = two_orgs.target
    target.run("audit", "verify")  # each chain's next event: seq 3 exists whatever ran before
    ts = target.scalar("SELECT MIN(ts) FROM audit_event WHERE seq = 3")
    out = tmp_path / "window.jsonl"
    target.run("audit", "export", "--since", ts, "-o", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines and all(json.loads(x)["ts"] >= ts for x in lines)
    checked = target.run("audit", "verify", "--file", str(out))
    assert "a window: checked from its first event" in checked.stdout
