"""`riskops evidence export` (issue 15): the files and their manifest from a real process on
SQLite and PostgreSQL; a bad period or directory is one clear line and writes nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import Target, one_error_line, seeded_target

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("evidence-cli")) as made:
        yield made.target


def test_export_writes_the_set_with_its_manifest(target: Target, tmp_path: Path) -> None:
    out = tmp_path / "q"
    done = target.run("evidence", "export", "--org", "demo", "--period", "2026-Q4", "-o", str(out))
    assert "sha256sum -c SHA256SUMS" in done.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["period"] == {"label": "2026-Q4", "from": "2026-10-01", "to": "2026-12-31"}
    assert manifest["generated_by"] == "cli"
    for entry in manifest["files"]:
        assert hashlib.sha256((out / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
        assert f"{entry['sha256']}  {entry['name']}" in done.stdout
    users = (out / "user_access.csv").read_text().splitlines()
    assert users[0].startswith("user_id,email,name,kind,status,roles,mfa_enabled")
    assert any("admin@demo.riskops.local" in line for line in users)
    org = target.demo_org()
    assert (
        target.scalar(
            f"SELECT count(*) FROM audit_event WHERE org_id = {org} AND action = 'evidence.export'"
        )
        == 1
    )


def test_bad_period_and_directory(target: Target, tmp_path: Path) -> None:
    out = tmp_path / "never"
    done = target.run("evidence", "export", "--org", "demo", "--period", "Q4", "-o", str(out),
                      ok=False)  # fmt: skip
    assert "Period 'Q4' is not a quarter (2026-Q4)" in one_error_line(done)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    done = target.run("evidence", "export", "--org", "demo", "--period", "2026-11", "-o",
                      str(tmp_path / "full"), ok=False)  # fmt: skip
    assert "is not empty" in one_error_line(done)
    assert not out.exists()
