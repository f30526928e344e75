"""`riskops runs quarantine` as an approver runs it (issue 16, seed 002 "Quarantine Procedure ·
when"): a real subprocess against a SQLite file and a throwaway PostgreSQL database seeded with
the demo. Refusals are one error line and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli.test_cli import Target, one_error_line, seeded_target

pytestmark = pytest.mark.slow

OPERATOR = "operator@demo.riskops.local"
APPROVER = "approver@demo.riskops.local"
RUN = "DEMO-KYC_DOC_-101"  # an ordinary demo run: no case, not quarantined
REASON = "The summaries may quote customer documents: hold them until checked"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("cli-quarantine")) as made:
        yield made.target


def _run(target: Target, run_id: str) -> tuple[Any, ...]:
    return target.query(
        "SELECT quarantined, dispatch_blocked, quarantine_reason, version FROM run "
        f"WHERE run_id = '{run_id}'"
    )[0]


def _events(target: Target) -> int:
    return int(target.scalar("SELECT COUNT(*) FROM audit_event WHERE action = 'run.quarantine'"))


def _refused(target: Target, *args: str) -> str:
    before = (_run(target, RUN), _events(target))
    line = one_error_line(target.run(*args, ok=False))
    assert (_run(target, RUN), _events(target)) == before, f"{args} changed the database"
    return line


def test_an_approver_quarantines_a_run_by_hand(target: Target) -> None:
    base = ("runs", "quarantine", RUN, "--org", "demo")
    assert not _run(target, RUN)[0]

    line = _refused(target, *base, "--as", OPERATOR, "--reason", REASON)
    assert "Your roles (operator) do not allow 'run.approve'" in line
    line = _refused(target, *base, "--as", APPROVER, "--reason", "  ")
    assert "Reason is required" in line
    line = _refused(target, "runs", "quarantine", "NO-SUCH-RUN", "--org", "demo", "--as",
                    APPROVER, "--reason", REASON)  # fmt: skip
    assert "Run NO-SUCH-RUN not found." in line
    line = _refused(target, *base, "--as", "nobody@example.test", "--reason", REASON)
    assert "no active user" in line

    done = target.run(*base, "--as", APPROVER, "--reason", REASON)
    assert done.stdout.startswith(f"Quarantined run {RUN}: its artifacts are held aside")
    quarantined, blocked, reason, version = _run(target, RUN)
    assert bool(quarantined) and bool(blocked) and reason == REASON and version == 2
    row = target.query(
        "SELECT actor, risk_level, new_values FROM audit_event WHERE action = 'run.quarantine'"
    )[0]
    assert row[1] == "high" and '"reason_length":' in row[2].replace(" ", "")
    assert "customer" not in row[2]

    line = _refused(target, *base, "--as", APPROVER, "--reason", "again")
    assert f"Run {RUN} is already quarantined (by hand)" in line
    target.run("audit", "verify")
