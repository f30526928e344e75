"""The weekly report through the service layer, on SQLite and PostgreSQL: the aggregates, the
policy violations, idempotency (also under a race), the SHA-256 of the download, the outbox
summary, the Monday job, and every refused request leaving nothing behind."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from riskops.audit.models import AuditEvent, AuditHead
from riskops.server.core.errors import Forbidden, Invalid, NotFound
from riskops.server.credit import reports as svc
from riskops.server.credit.models import Baseline, BaselineSource, KillSwitch, Report, Run, Scenario
from riskops.server.credit.terms import Severity
from riskops.server.notify.models import OutboxMessage, OutboxStatus
from riskops.server.triage.models import Case, CaseEvent, CaseStatus, RootCause

WEEK = date(2026, 1, 5)  # a Monday, long past
START = datetime(2026, 1, 5, tzinfo=UTC)


# --- a small factory of scenarios, runs and cases -----------------------------------------------


async def scenario(org_id: int, key: str, median: float | None = None) -> Scenario:
    s = await Scenario.create(org_id=org_id, key=key, name=key, created_at=START - timedelta(90))
    if median is not None:
        await Baseline.create(
            org_id=org_id, scenario_id=s.id, median=median, cv=0.1, sample_size=20,
            source=BaselineSource.CALCULATED, set_at=START - timedelta(30),
        )  # fmt: skip
    return s


async def run(
    s: Scenario,
    credits: float,
    *,
    at: datetime = START + timedelta(days=1),
    severity: Severity | None = None,
    case: Case | None = None,
) -> Run:
    base = await Baseline.get_or_none(scenario_id=s.id)
    median = base.median if base else None
    return await Run.create(
        org_id=s.org_id, run_id=f"RUN-{uuid.uuid4().hex[:12]}", scenario_id=s.id,
        started_at=at, recorded_at=at, credits_total=credits,
        baseline_median=median, multiplier=credits / median if median else None,
        severity=severity, flags=[] if median else ["no_baseline"],
        misconfig_likelihood="low", policy_number=0, case_id=case.id if case else None,
    )  # fmt: skip


_numbers: dict[int, int] = {}


async def case(
    org_id: int,
    status: CaseStatus = CaseStatus.OPEN,
    *,
    opened: datetime = START,
    root_cause: RootCause | None = None,
) -> Case:
    _numbers[org_id] = _numbers.get(org_id, 0) + 1
    return await Case.create(
        org_id=org_id, number=_numbers[org_id], title="Spike", status=status, opened_at=opened,
        root_cause=root_cause, resolved_at=opened + timedelta(days=1)
        if status in (CaseStatus.RESOLVED, CaseStatus.CLOSED) else None,
    )  # fmt: skip


async def head(org_id: int) -> int:
    row = await AuditHead.get_or_none(org_id=org_id)
    return row.seq if row else 0


async def state(org_id: int) -> tuple[int, int, int]:
    return (
        await Report.filter(org_id=org_id).count(),
        await OutboxMessage.filter(org_id=org_id).count(),
        await head(org_id),
    )


async def role(tenant: Any, *roles: str) -> Any:
    return (await tenant.user(*roles))[1]


# --- the payload -------------------------------------------------------------------------------


async def test_payload_aggregates_the_week(tenant: Any, other_tenant: Any) -> None:
    org = tenant.org_id
    big = await scenario(org, "BINDER_EXPORT_WEEKLY", median=100.0)
    small = await scenario(org, "NIGHTLY_SYNC", median=10.0)
    fresh = await scenario(org, "NEW_AGENT")  # no baseline
    c = await case(org, CaseStatus.INVESTIGATING)
    for credits in (100.0, 120.0, 80.0):
        await run(big, credits)
    spike = await run(big, 600.0, severity=Severity.SEV1, case=c)
    await run(small, 10.0)
    await run(small, 25.0, severity=Severity.SEV2)
    await run(fresh, 5.0)
    await run(big, 9999.0, at=START - timedelta(seconds=1))  # before the week
    await run(big, 9999.0, at=START + timedelta(days=7))  # after it
    other = await scenario(other_tenant.org_id, "BINDER_EXPORT_WEEKLY", median=1.0)
    await run(other, 50_000.0)

    operator = await role(tenant, "operator")
    report = await svc.generate_weekly_report(operator, WEEK)
    p = report.payload

    assert p["period_start"] == "2026-01-05T00:00:00Z"
    assert p["period_end"] == "2026-01-12T00:00:00Z"
    assert p["org"] == tenant.slug
    top = p["top_scenarios_by_total"]
    assert [t["scenario"] for t in top] == ["BINDER_EXPORT_WEEKLY", "NIGHTLY_SYNC", "NEW_AGENT"]
    assert top[0] == {
        "scenario": "BINDER_EXPORT_WEEKLY", "runs": 4, "total": 900.0, "avg": 225.0,
        "baseline_median": 100.0, "variance_multiplier": 2.25,
    }  # fmt: skip
    assert top[2]["baseline_median"] is None and top[2]["variance_multiplier"] is None
    spikes = p["top_spike_runs"]
    assert spikes[0]["run_id"] == spike.run_id
    assert spikes[0]["multiplier"] == 6.0 and spikes[0]["severity"] == "SEV1"
    assert spikes[0]["case_number"] == c.display_number
    assert spikes[0]["id"] == spike.id
    assert spikes[1]["scenario"] == "NIGHTLY_SYNC" and spikes[1]["case_number"] is None
    assert len(spikes) == 6  # the run without baseline has no multiplier
    assert p["severity_counts"] == {
        "SEV0": 0, "SEV1": 1, "SEV2": 1, "SEV3": 0, "none": 4, "no_baseline": 1,
    }  # fmt: skip
    assert report.sha256 == hashlib.sha256(svc.canonical(p)).hexdigest()
    assert report.created_by == f"user:{operator.user_id}"


async def test_top_lists_are_capped_at_ten(tenant: Any) -> None:
    for i in range(12):
        s = await scenario(tenant.org_id, f"S{i:02d}", median=1.0)
        await run(s, float(i + 1))
    report = await svc.generate_weekly_report(await role(tenant, "operator"), WEEK)
    top = report.payload["top_scenarios_by_total"]
    assert [t["scenario"] for t in top] == [f"S{i:02d}" for i in range(11, 1, -1)]
    assert len(report.payload["top_spike_runs"]) == 10


async def test_empty_week_gives_an_empty_report(tenant: Any) -> None:
    report = await svc.generate_weekly_report(await role(tenant, "operator"), WEEK)
    p = report.payload
    assert p["top_scenarios_by_total"] == [] and p["top_spike_runs"] == []
    assert p["policy_violations"] == [] and p["baseline_candidates"] == []
    assert set(p["severity_counts"].values()) == {0}


async def test_policy_violations(tenant: Any) -> None:
    org = tenant.org_id
    s = await scenario(org, "EXPORT", median=10.0)
    await run(s, 60.0, severity=Severity.SEV1)  # no case
    sev0 = await run(s, 200.0, severity=Severity.SEV0)  # no case
    stale = await case(org, CaseStatus.OPEN)
    await run(s, 55.0, severity=Severity.SEV1, case=stale)
    active = await case(org, CaseStatus.INVESTIGATING)
    await CaseEvent.create(case_id=active.id, org_id=org, action="add_note", actor="user:1",
                           data={}, at=datetime.now(UTC) - timedelta(days=1))  # fmt: skip
    await run(s, 30.0, severity=Severity.SEV2, case=active)
    old_event = await case(org, CaseStatus.INVESTIGATING)
    await CaseEvent.create(case_id=old_event.id, org_id=org, action="update", actor="user:1",
                           data={}, at=datetime.now(UTC) - timedelta(days=8))  # fmt: skip
    await run(s, 30.0, severity=Severity.SEV2, case=old_event)
    no_cause = await case(org, CaseStatus.RESOLVED)
    await run(s, 70.0, severity=Severity.SEV1, case=no_cause)
    with_cause = await case(org, CaseStatus.CLOSED, root_cause=RootCause.MISCONFIG)
    await run(s, 70.0, severity=Severity.SEV1, case=with_cause)
    unlinked = await case(org, CaseStatus.OPEN)  # no run of the week: not in the report
    assert unlinked

    report = await svc.generate_weekly_report(await role(tenant, "approver"), WEEK)
    v = report.payload["policy_violations"]
    uncased = [x for x in v if x["kind"] == "sev0_sev1_without_case"]
    assert [x["severity"] for x in uncased] == ["SEV0", "SEV1"]
    assert uncased[0]["run_id"] == sev0.run_id and uncased[0]["multiplier"] == 20.0
    stale_cases = [x for x in v if x["kind"] == "stale_case"]
    assert [x["case_number"] for x in stale_cases] == [stale.display_number,
                                                       old_event.display_number]  # fmt: skip
    assert stale_cases[0]["status"] == "open" and stale_cases[0]["days_inactive"] >= 7
    resolved = [x for x in v if x["kind"] == "resolved_without_root_cause"]
    assert [x["case_number"] for x in resolved] == [no_cause.display_number]
    assert report.payload["policy_violation_counts"] == {
        "sev0_sev1_without_case": 2, "stale_case": 2, "resolved_without_root_cause": 1,
    }  # fmt: skip


async def test_baseline_candidates(tenant: Any) -> None:
    stable = await scenario(tenant.org_id, "STABLE", median=100.0)
    for i in range(10):
        await run(stable, 100.0 + i, at=START + timedelta(hours=i + 1))
    few = await scenario(tenant.org_id, "FEW_RUNS", median=100.0)
    await run(few, 100.0)
    report = await svc.generate_weekly_report(await role(tenant, "operator"), WEEK)
    cands = report.payload["baseline_candidates"]
    assert [c["scenario"] for c in cands] == ["STABLE"]
    assert cands[0]["runs"] == 10 and cands[0]["median"] == 104.5
    assert cands[0]["current_median"] == 100.0 and cands[0]["change_pct"] == 4.5


# --- storing, audit, outbox ----------------------------------------------------------------


async def test_generate_stores_audits_and_summarises_once(tenant: Any) -> None:
    s = await scenario(tenant.org_id, "EXPORT", median=10.0)
    await run(s, 12.0)
    operator = await role(tenant, "operator")
    seq0 = await head(tenant.org_id)
    report = await svc.generate_weekly_report(operator, WEEK)
    again = await svc.generate_weekly_report(operator, WEEK)
    assert again.id == report.id and again.sha256 == report.sha256
    assert await head(tenant.org_id) == seq0 + 1
    event = await AuditEvent.get(org_id=tenant.org_id, seq=seq0 + 1)
    assert (event.action, event.entity_type, event.entity_id) == (
        "report.generate", "report", str(report.id))  # fmt: skip
    assert json.loads(event.new_values)["sha256"] == report.sha256
    (msg,) = await OutboxMessage.filter(org_id=tenant.org_id)
    assert (msg.channel, msg.kind, msg.status) == ("review", "report.weekly", OutboxStatus.PENDING)
    assert set(msg.payload) == {"report_id", "period_start", "period_end", "severity_counts",
                                "top_scenarios", "violations", "candidates", "sha256"}  # fmt: skip
    assert msg.payload["top_scenarios"] == [{"scenario": "EXPORT", "total": 12.0}]
    assert msg.payload["report_id"] == report.id and msg.payload["sha256"] == report.sha256


async def test_summary_is_suppressed_under_the_kill_switch(tenant: Any) -> None:
    await KillSwitch.create(org_id=tenant.org_id, name="alert_suppression", reason="storm",
                            set_at=datetime.now(UTC) - timedelta(hours=1))  # fmt: skip
    await svc.generate_weekly_report(await role(tenant, "operator"), WEEK)
    (msg,) = await OutboxMessage.filter(org_id=tenant.org_id)
    assert msg.status == OutboxStatus.SUPPRESSED


async def test_concurrent_generation_keeps_one_report(tenant: Any) -> None:
    s = await scenario(tenant.org_id, "EXPORT", median=10.0)
    await run(s, 12.0)
    operator = await role(tenant, "operator")
    a, b = await asyncio.gather(
        svc.generate_weekly_report(operator, WEEK), svc.generate_weekly_report(operator, WEEK)
    )
    assert a.id == b.id
    assert await Report.filter(org_id=tenant.org_id).count() == 1
    assert await OutboxMessage.filter(org_id=tenant.org_id).count() == 1


async def test_system_generation_is_audited_as_the_scheduler(tenant: Any) -> None:
    seq0 = await head(tenant.org_id)
    report = await svc.generate_weekly_report_system(tenant.org_id, WEEK)
    assert report.created_by == "scheduler"
    event = await AuditEvent.get(org_id=tenant.org_id, seq=seq0 + 1)
    assert (event.actor, event.actor_type) == ("scheduler", "system")


async def test_download_is_the_hashed_canonical_json(tenant: Any) -> None:
    s = await scenario(tenant.org_id, "ÉXPORT_ü", median=3.0)
    for credits in (1.1, 2.2, 3.3333333333, 1e-9, 123456789.123456):
        await run(s, credits)
    viewer = await role(tenant, "viewer")
    made = await svc.generate_weekly_report(await role(tenant, "operator"), WEEK)
    seq0 = await head(tenant.org_id)
    body, digest = await svc.report_json(viewer, made.id)
    assert hashlib.sha256(body).hexdigest() == digest == made.sha256
    stored = await Report.get(id=made.id)  # read back from the database
    assert svc.canonical(stored.payload) == body
    assert json.loads(body) == stored.payload
    assert "ÉXPORT_ü".encode() in body  # UTF-8, not \u escapes
    event = await AuditEvent.get(org_id=tenant.org_id, seq=seq0 + 1)
    assert (event.action, event.entity_id) == ("report.export", str(made.id))
    got = await svc.get_report(viewer, made.id)
    assert got.id == made.id
    assert (await AuditEvent.get(org_id=tenant.org_id, seq=seq0 + 2)).action == "report.view"


async def test_list_reports_newest_period_first_with_cursor(tenant: Any) -> None:
    operator = await role(tenant, "operator")
    weeks = [WEEK + timedelta(days=7 * i) for i in (2, 0, 1)]
    for w in weeks:
        await svc.generate_weekly_report(operator, w)
    viewer = await role(tenant, "viewer")
    first = await svc.list_reports(viewer, first=2)
    assert [r.period_start.date() for r in first.items] == [weeks[0], weeks[2]]
    assert first.has_next_page and first.end_cursor
    rest = await svc.list_reports(viewer, first=2, after=first.end_cursor)
    assert [r.period_start.date() for r in rest.items] == [WEEK]
    assert not rest.has_next_page and rest.end_cursor is None


# --- refused requests leave nothing behind -------------------------------------------------------


async def test_viewer_may_not_generate(tenant: Any) -> None:
    before = await state(tenant.org_id)
    with pytest.raises(Forbidden, match=r"report\.generate"):
        await svc.generate_weekly_report(await role(tenant, "viewer"), WEEK)
    assert await state(tenant.org_id) == before


@pytest.mark.parametrize(
    "bad, message",
    [
        ("2026-13-01", "not a date"),
        ("next monday", "not a date"),
        ("x" * 5000, "not a date"),
        (12, "must be a date"),
        (None, "must be a date"),
        (date(1999, 12, 27), "before 2000-01-01"),
        ("future", "in the future"),
        ("this_week", "in the future"),
    ],
)
async def test_bad_period_is_refused(tenant: Any, bad: Any, message: str) -> None:
    today = datetime.now(UTC).date()
    if bad == "future":
        bad = today + timedelta(days=28 - today.weekday())  # a Monday
    elif bad == "this_week":
        bad = today - timedelta(days=today.weekday())  # this week's Monday
    before = await state(tenant.org_id)
    with pytest.raises(Invalid, match=message) as exc:
        await svc.generate_weekly_report(await role(tenant, "operator"), bad)
    assert exc.value.field == "period_start"
    assert await state(tenant.org_id) == before


def test_future_message_names_the_last_complete_week() -> None:
    now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday
    assert svc.last_complete_week(now) == date(2026, 11, 16)
    with pytest.raises(Invalid, match="starts on 2026-11-16"):
        svc.parse_period_start(date(2026, 11, 23), now)
    assert svc.parse_period_start("2026-11-16", now) == date(2026, 11, 16)
    monday_ten = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert svc.last_complete_week(monday_ten) == date(2026, 11, 16)
    assert svc.parse_period_start(date(2026, 11, 16), monday_ten) == date(2026, 11, 16)


async def test_another_orgs_report_looks_missing(tenant: Any, other_tenant: Any) -> None:
    theirs = await svc.generate_weekly_report(await role(other_tenant, "operator"), WEEK)
    viewer = await role(tenant, "viewer")
    seq0 = await head(tenant.org_id)
    for call in (svc.get_report, svc.report_json):
        with pytest.raises(NotFound) as foreign:
            await call(viewer, theirs.id)
        with pytest.raises(NotFound) as missing:
            await call(viewer, 2_000_000_000)
        assert foreign.value.message == f"Report {theirs.id} not found."
        assert missing.value.message == "Report 2000000000 not found."
    with pytest.raises(NotFound):
        await svc.get_report(viewer, "abc")
    assert await head(tenant.org_id) == seq0
    assert (await svc.list_reports(viewer)).items == []


async def test_list_refuses_bad_paging(tenant: Any) -> None:
    viewer = await role(tenant, "viewer")
    for first in (0, 101, -1, True):
        with pytest.raises(Invalid) as exc:
            await svc.list_reports(viewer, first=first)
        assert exc.value.field == "first"
    for after in ("garbage", "2026-01-05_0", "2026-01-05_x", "9" * 100):
        with pytest.raises(Invalid) as exc:
            await svc.list_reports(viewer, after=after)
        assert exc.value.field == "after"
    nobody = dataclasses.replace(viewer, roles=frozenset({"compliance_reviewer"}))
    with pytest.raises(Forbidden):
        await svc.list_reports(nobody)


# --- the Monday job ----------------------------------------------------------------------------


async def test_weekly_job_generates_last_week_for_orgs_with_runs(
    tenant: Any, other_tenant: Any
) -> None:
    from riskops.server.credit.jobs import report_weekly

    week = svc.last_complete_week()
    s = await scenario(tenant.org_id, "EXPORT", median=10.0)
    await run(s, 12.0, at=datetime.combine(week, datetime.min.time(), UTC) + timedelta(hours=3))
    result = await report_weekly({})
    mine = [r for r in result["reports"] if r["org_id"] == tenant.org_id]
    assert len(mine) == 1 and mine[0]["period_start"] == week.isoformat()
    assert not [r for r in result["reports"] if r["org_id"] == other_tenant.org_id]
    report = await Report.get(org_id=tenant.org_id)
    assert report.created_by == "scheduler"
    assert report.payload["top_scenarios_by_total"][0]["total"] == 12.0
    await report_weekly({})  # a redelivery adds nothing
    assert await Report.filter(org_id=tenant.org_id).count() == 1
    assert await OutboxMessage.filter(org_id=tenant.org_id).count() == 1


async def test_one_organization_failing_does_not_stop_the_others(
    tenant: Any, other_tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from riskops.server.credit import jobs as report_tasks

    week = svc.last_complete_week()
    at = datetime.combine(week, datetime.min.time(), UTC) + timedelta(hours=3)
    for t in (tenant, other_tenant):
        await run(await scenario(t.org_id, "EXPORT", median=10.0), 12.0, at=at)
    real = svc.generate_weekly_report_system

    async def flaky(org_id: int, period_start: Any) -> Report:
        if org_id == tenant.org_id:
            raise OSError("disk full")
        return await real(org_id, period_start)

    monkeypatch.setattr(svc, "generate_weekly_report_system", flaky)
    with pytest.raises(RuntimeError, match=f"'org_id': {tenant.org_id}"):
        await report_tasks.generate_all()
    assert await Report.filter(org_id=other_tenant.org_id).count() == 1
    assert await Report.filter(org_id=tenant.org_id).count() == 0
    monkeypatch.setattr(svc, "generate_weekly_report_system", real)
    await report_tasks.generate_all()  # the retry: the failed one now, the done one skipped
    assert await Report.filter(org_id=tenant.org_id).count() == 1
    assert await Report.filter(org_id=other_tenant.org_id).count() == 1
