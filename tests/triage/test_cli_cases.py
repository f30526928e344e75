"""`riskops cases archive` as an operator's weekly cron runs it (seed 002 weekly checks "Archive
resolved cases older than 30 days"): a real CLI process against the demo seed on SQLite and a
throwaway PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.test_cli import Target, one_error_line, seeded_target

pytestmark = pytest.mark.slow

OPERATOR = "operator@demo.riskops.local"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("cli-cases")) as made:
        yield made.target


def _archived(target: Target) -> int:
    org = target.demo_org()
    return int(target.scalar(
        f"SELECT COUNT(*) FROM risk_case WHERE org_id = {org} AND archived_at IS NOT NULL"
    ))  # fmt: skip


def _age_two_cases(target: Target) -> list[str]:
    """Two demo cases resolved 40 days ago (the demo's own cases are recent or open)."""
    org = target.demo_org()
    rows = target.query(
        f"SELECT id, number FROM risk_case WHERE org_id = {org} ORDER BY id LIMIT 2"
    )
    old = "2020-01-01 00:00:00" if target.backend == "sqlite" else "now() - interval '40 days'"
    for pk, _ in rows:
        when = f"'{old}'" if target.backend == "sqlite" else old
        target.execute(
            f"UPDATE risk_case SET status = 'resolved', resolved_at = {when}, "
            f"archived_at = NULL WHERE id = {pk}"
        )
    return [f"CASE-{n:06d}" for _, n in rows]


def test_dry_run_lists_then_archive_archives_and_audits(target: Target) -> None:
    numbers = _age_two_cases(target)
    before = _archived(target)
    dry = target.run("cases", "archive", "--org", "demo", "--dry-run")
    assert dry.stdout.startswith("Would archive ")
    assert "older than 30 days, the default policy" in dry.stdout
    assert all(n in dry.stdout for n in numbers)
    assert _archived(target) == before

    done = target.run("cases", "archive", "--org", "demo", "--as", OPERATOR)
    assert done.stdout.startswith("Archived ")
    assert all(n in done.stdout for n in numbers)
    assert _archived(target) >= before + 2
    org = target.demo_org()
    assert (
        target.scalar(
            f"SELECT COUNT(*) FROM audit_event WHERE org_id = {org} AND action = 'case.archive'"
        )
        >= 2
    )

    again = target.run("cases", "archive", "--org", "demo")
    assert again.stdout.startswith("Archived 0 cases")


def test_fewer_days_than_the_policy_is_refused_and_changes_nothing(target: Target) -> None:
    _age_two_cases(target)
    before = _archived(target)
    refused = target.run("cases", "archive", "--org", "demo", "--older-than", "7", ok=False)
    assert refused.returncode != 0
    assert "give 30 or more days" in one_error_line(refused)
    assert _archived(target) == before
    unknown = target.run("cases", "archive", "--org", "nope", ok=False)
    assert unknown.returncode != 0
    assert _archived(target) == before
