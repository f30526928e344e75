"""`riskops report weekly` as an operator runs it (seed 002 "Weekly Review Procedure"): a real
subprocess against the demo seed on SQLite and PostgreSQL; the written file checks with the
`.sha256` beside it, a second run fetches the same report, and bad input is one clear line."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from riskops.server.credit.reports import last_complete_week
from tests.cli.test_cli import Target, seeded_target

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("cli-reports")) as made:
        t = made.target
        yield t


def test_weekly_report_writes_json_and_sha256(target: Target, tmp_path: Path) -> None:
    week = last_complete_week(datetime.now(UTC)).isoformat()
    out = tmp_path / "reviews"
    done = target.run("report", "weekly", "--org", "demo", "--output", str(out))
    name = f"weekly_{week}.json"
    body = (out / name).read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    assert (out / f"{name}.sha256").read_text() == f"{digest}  {name}\n"
    assert f"SHA-256 {digest}" in done.stdout and str(out / name) in done.stdout
    assert "Severity counts: SEV0" in done.stdout
    payload = json.loads(body)
    assert payload["period_start"] == f"{week}T00:00:00Z" and payload["org"] == "demo"
    assert payload["top_scenarios_by_total"], "the demo seed has runs every day"
    assert target.scalar("SELECT created_by FROM report") == "cli"

    again = target.run("report", "weekly", "--org", "demo", "--period-start", week,
                       "--output", str(out))  # fmt: skip
    assert f"SHA-256 {digest}" in again.stdout
    assert target.scalar("SELECT COUNT(*) FROM report") == 1


def test_weekly_report_refuses_a_future_week_and_an_unknown_org(
    target: Target, tmp_path: Path
) -> None:
    future = target.run("report", "weekly", "--org", "demo", "--period-start", "2999-01-07",
                        "--output", str(tmp_path), ok=False)  # fmt: skip
    assert future.returncode == 1
    assert "in the future" in future.stderr and "last complete" in future.stderr
    bad = target.run("report", "weekly", "--org", "demo", "--period-start", "monday",
                     "--output", str(tmp_path), ok=False)  # fmt: skip
    assert bad.returncode == 1 and "YYYY-MM-DD" in bad.stderr
    nobody = target.run("report", "weekly", "--org", "nope", "--output", str(tmp_path), ok=False)
    assert nobody.returncode == 1 and "no organization with slug or id 'nope'" in nobody.stderr
    assert list(tmp_path.iterdir()) == []
