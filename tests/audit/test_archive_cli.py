"""`riskops audit archive` and `riskops retention set|show|run`, as real processes on both
backends: the archive files verify with the test verifier, `audit verify` starts from the
archived checkpoint, what remains exports and verifies from the checkpoint file, and each
refusal is one line that changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.test_cli import Target, new_target, one_error_line, verify_export


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Target]:  # fmt: skip
    with new_target(request.param, tmp_path_factory.mktemp("archive"), migrated=True) as t:
        t.run("migrate")
        t.run("create-user", "--org", "acme", "--create-org", "--email", "admin@acme.example",
              "--name", "Admin", "--role", "admin", "--password",
              "correct horse battery staple")  # fmt: skip
        yield t


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def count(target: Target, org: int) -> int:
    return int(target.scalar(f"SELECT COUNT(*) FROM audit_event WHERE org_id = {org}"))


def test_refusals_change_nothing(target: Target, tmp_path: Path) -> None:
    org = int(target.scalar("SELECT id FROM organization WHERE slug = 'acme'"))
    before = count(target, org)
    archives = int(target.scalar("SELECT COUNT(*) FROM audit_archive"))
    future = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d")
    done = target.run("audit", "archive", "--before", future, "-o", str(tmp_path), ok=False)
    assert "is in the future" in one_error_line(done)
    done = target.run("audit", "archive", "--before", "2001-01-01", "-o", str(tmp_path),
                      "--org", "acme", ok=False)  # fmt: skip
    assert f"no audit events before 2001-01-01 left to archive in org {org}" in one_error_line(done)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    done = target.run("audit", "archive", "--before", now(), "-o", str(blocker / "sub"), ok=False)
    assert "cannot create the output directory" in one_error_line(done)
    done = target.run("audit", "archive", "--before", "yesterday", "-o", str(tmp_path), ok=False)
    assert "--before: 'yesterday' is not an ISO 8601 date" in one_error_line(done)
    assert count(target, org) == before
    assert int(target.scalar("SELECT COUNT(*) FROM audit_archive")) == archives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_archive_then_verify_and_export_from_the_checkpoint(target: Target, tmp_path: Path
                                                            ) -> None:  # fmt: skip
    org = int(target.scalar("SELECT id FROM organization WHERE slug = 'acme'"))
    head = int(target.scalar(f"SELECT seq FROM audit_head WHERE org_id = {org}"))
    out = tmp_path / "archive"
    done = target.run("audit", "archive", "--before", now(), "-o", str(out), "--org", "acme")
    assert f"org {org}: archived seq 1-{head} ({head} events)" in done.stdout
    (jsonl,) = out.glob("*.jsonl")
    (cp_file,) = out.glob("*.checkpoint.json")
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    assert len(lines) == head and verify_export(lines) is None
    checkpoint = json.loads(cp_file.read_text(encoding="utf-8"))
    assert checkpoint["last_seq"] == head and checkpoint["checkpoint"]["seq"] == head
    assert target.scalar(f"SELECT MIN(seq) FROM audit_event WHERE org_id = {org}") == head + 1
    action = target.scalar(f"SELECT action FROM audit_event WHERE org_id = {org} "
                           f"AND seq = {head + 1}")  # fmt: skip
    assert action == "audit.archived"

    verified = target.run("audit", "verify", "--org", "acme")
    assert f"from the archived checkpoint at seq {head}" in verified.stdout
    rest = target.run("audit", "export", "--org", "acme").stdout.splitlines()
    assert json.loads(rest[0])["seq"] == head + 1
    assert verify_export(rest, checkpoint) is None
    assert verify_export(rest) == 1  # without the checkpoint it does not start at seq 1


def test_retention_set_show_run(target: Target) -> None:
    done = target.run("retention", "set", "--org", "acme", "--alerts-days", "365",
                      "--sessions-days", "30")  # fmt: skip
    assert "closed alerts      365 days" in done.stdout
    assert "runs               kept forever" in done.stdout
    bad = target.run("retention", "set", "--org", "acme", "--runs-days", "0", ok=False)
    assert "from 1 to 36,500" in one_error_line(bad)
    none = target.run("retention", "set", "--org", "acme", ok=False)
    assert "give at least one period" in one_error_line(none)
    unknown = target.run("retention", "show", "--org", "nope", ok=False)
    assert "no organization with slug or id 'nope'" in one_error_line(unknown)
    ran = target.run("retention", "run", "--org", "acme")
    assert "cli  removed: alerts 0, sessions 0" in ran.stdout.replace(
        "sessions 0, alerts 0", "alerts 0, sessions 0"
    )
    shown = target.run("retention", "show", "--org", "acme")
    assert "closed alerts      365 days" in shown.stdout
    assert "Last enforcements:" in shown.stdout and " cli " in shown.stdout
    org = int(target.scalar("SELECT id FROM organization WHERE slug = 'acme'"))
    enforced = "SELECT COUNT(*) FROM audit_event WHERE action = 'retention.enforced' AND org_id = "
    assert target.scalar(enforced + str(org)) == 1
