"""Baselines and scenarios through the service layer, on SQLite and PostgreSQL: calculation from
healthy runs, weekly candidates, the maker-checker update, manual baselines, history, the
scenario list and detail, and scenario configuration. A refused request leaves nothing behind:
same baseline, changes, scenario and audit head."""

from __future__ import annotations

import json
import statistics
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.core.approvals import ChangeStatus
from riskops.server.core.errors import Conflict, Forbidden, Invalid, NotFound
from riskops.server.credit import baselines as svc
from riskops.server.credit import candidates
from riskops.server.credit import scenarios as scen
from riskops.server.credit.models import (
    Baseline,
    BaselineChange,
    BaselineSource,
    PolicyVersion,
    Run,
    Scenario,
)
from riskops.server.credit.terms import Policy, Severity
from tests.support.gql import changes_head

NOW = datetime.now(UTC)


async def head(org_id: int) -> int:
    # The chain as changes left it: a refusal's own record (`permission.denied`) is no change.
    row = await changes_head(org_id)
    return row.seq if row else 0


def new_key() -> str:
    return f"SCEN_{uuid.uuid4().hex[:8].upper()}"


async def scenario(org_id: int, key: str | None = None) -> Scenario:
    k = key or new_key()
    return await Scenario.create(org_id=org_id, key=k, name=k, created_at=NOW)


async def add_runs(
    s: Scenario,
    credits: list[float],
    *,
    age: timedelta = timedelta(hours=1),
    severity: Severity | None = None,
    quarantined: bool = False,
    items: int | None = None,
    prompt: int | None = None,
) -> None:
    await Run.bulk_create(
        [
            Run(
                org_id=s.org_id, run_id=f"RUN-{uuid.uuid4().hex[:12]}", scenario_id=s.id,
                started_at=NOW - age - timedelta(minutes=i), recorded_at=NOW,
                credits_total=c, items_processed=items, prompt_tokens=prompt,
                severity=severity, quarantined=quarantined, misconfig_likelihood="low",
                policy_number=0,
            )
            for i, c in enumerate(credits)
        ]
    )  # fmt: skip


async def add_history(s: Scenario, credits: float = 100.0) -> None:
    """One healthy run 45 days ago: outside the default 30-day window (no calculation here sees
    it), but the scenario's healthy runs then span more than the 30 days a baseline update
    needs (seed 002 prerequisites, policy baseline_min_data_days)."""
    await add_runs(s, [credits], age=timedelta(days=45))


async def set_baseline(s: Scenario, median: float) -> Baseline:
    return await Baseline.create(
        org_id=s.org_id, scenario_id=s.id, median=median, cv=0.1, sample_size=20,
        source=BaselineSource.MANUAL, set_at=NOW - timedelta(days=1),
    )  # fmt: skip


async def state(org_id: int) -> tuple[object, ...]:
    return (
        sorted(await Baseline.filter(org_id=org_id).values_list("scenario_id", "median")),
        sorted(await BaselineChange.filter(org_id=org_id).values_list("id", "status")),
        sorted(await Scenario.filter(org_id=org_id).values_list("id", "name", "version")),
        await head(org_id),
    )


async def reader(tenant):
    return (await tenant.user("viewer"))[1]


STEADY = [100.0, 102.0, 98.0, 101.0, 99.0, 100.0, 103.0, 97.0, 100.0, 100.0, 101.0, 99.0]


# --- calculate -----------------------------------------------------------------------------------


async def test_calculate_uses_healthy_runs_only_within_the_window(tenant):
    _, viewer = await tenant.user("viewer")
    s = await scenario(tenant.org_id)
    await add_runs(s, [100.0, 110.0, 120.0], items=10, prompt=500)
    await add_runs(s, [130.0], severity=Severity.SEV2, items=10, prompt=700)
    await add_runs(s, [5000.0], severity=Severity.SEV1)  # not healthy
    await add_runs(s, [9000.0], severity=Severity.SEV0)  # not healthy
    await add_runs(s, [400.0], quarantined=True)  # not healthy
    await add_runs(s, [1.0], age=timedelta(days=40))  # outside the default 30 days
    await set_baseline(s, 50.0)
    seq = await head(tenant.org_id)

    calc = await svc.calculate_baseline(viewer, s.key)

    assert calc.sample_size == 4
    assert calc.median == 115.0
    assert calc.cv == pytest.approx(statistics.stdev([100, 110, 120, 130]) / 115.0)
    assert calc.credits_per_item == 11.5
    assert calc.prompt_tokens == 500.0
    assert calc.days == 30
    assert calc.current is not None and calc.current.median == 50.0
    assert calc.change_pct == pytest.approx(130.0)
    assert calc.needs_confirmation is True
    assert await head(tenant.org_id) == seq  # a calculation changes nothing

    wider = await svc.calculate_baseline(viewer, s.key, 45)
    assert wider.sample_size == 5 and wider.median == 110.0


async def test_calculate_default_window_follows_the_policy(tenant):
    s = await scenario(tenant.org_id)
    await add_runs(s, [100.0], age=timedelta(days=20))
    await PolicyVersion.create(
        org_id=tenant.org_id, number=1, data={"baseline_window_days": 10}, reason="short",
        created_at=NOW,
    )  # fmt: skip
    with pytest.raises(Invalid) as exc:
        await svc.calculate_baseline(await reader(tenant), s.key)
    assert "last 10 days" in exc.value.message


async def test_calculate_without_runs_suggests_a_manual_baseline(tenant):
    s = await scenario(tenant.org_id)
    await add_runs(s, [100.0], severity=Severity.SEV1)
    with pytest.raises(Invalid) as exc:
        await svc.calculate_baseline(await reader(tenant), s.key, 30)
    assert exc.value.field == "days"
    assert "manual baseline" in exc.value.message
    assert "Baseline not found for scenario" in exc.value.message


@pytest.mark.parametrize("days", [0, 366, -1, True, 1.5, "30"])
async def test_calculate_refuses_bad_days(tenant, days):
    s = await scenario(tenant.org_id)
    with pytest.raises(Invalid) as exc:
        await svc.calculate_baseline(await reader(tenant), s.key, days)
    assert exc.value.field == "days" and "1 to 365" in exc.value.message


async def test_scenario_keys_match_exactly_and_other_orgs_look_missing(tenant, other_tenant):
    s = await scenario(tenant.org_id, "Binder_Export")
    await add_runs(s, [100.0])
    with pytest.raises(NotFound) as missing:
        await svc.calculate_baseline(await reader(tenant), "BINDER_EXPORT")
    assert missing.value.message == "Scenario BINDER_EXPORT not found."
    theirs = await scenario(other_tenant.org_id)
    await add_runs(theirs, [100.0])
    with pytest.raises(NotFound) as other:
        await svc.calculate_baseline(await reader(tenant), theirs.key)
    assert other.value.message == f"Scenario {theirs.key} not found."
    for bad in ["", "   ", "X" * 129, "A\x00B", None]:
        with pytest.raises(Invalid) as exc:
            await svc.calculate_baseline(await reader(tenant), bad)  # type: ignore[arg-type]
        assert exc.value.field == "scenario_key"


# --- candidates ----------------------------------------------------------------------------------


async def test_candidates_in_period_judges_each_scenario(tenant):
    stable = await scenario(tenant.org_id, "A_STABLE")
    await add_runs(stable, STEADY)
    await set_baseline(stable, 95.0)
    few = await scenario(tenant.org_id, "B_FEW")
    await add_runs(few, [100.0] * 3)
    spiky = await scenario(tenant.org_id, "C_SPIKY")
    await add_runs(spiky, STEADY)
    await add_runs(spiky, [600.0], severity=Severity.SEV1)
    drifted = await scenario(tenant.org_id, "D_DRIFTED")
    await add_runs(drifted, STEADY)
    await set_baseline(drifted, 50.0)
    noisy = await scenario(tenant.org_id, "E_NOISY")
    await add_runs(noisy, [10.0, 200.0] * 6)
    old = await scenario(tenant.org_id, "F_OLD")
    await add_runs(old, STEADY, age=timedelta(days=9))  # before the period
    await scenario(tenant.org_id, "G_NO_RUNS")

    rows = await candidates.candidates_in_period(
        tenant.org_id, NOW - timedelta(days=7), NOW + timedelta(seconds=1), Policy()
    )
    by_key = {c.scenario_key: c for c in rows}
    assert [c.scenario_key for c in rows] == [
        "A_STABLE", "B_FEW", "C_SPIKY", "D_DRIFTED", "E_NOISY"
    ]  # fmt: skip
    a = by_key["A_STABLE"]
    assert a.is_candidate and a.reasons == []
    assert (a.runs, a.median, a.current_median) == (12, 100.0, 95.0)
    assert a.cv == pytest.approx(statistics.stdev(STEADY) / statistics.fmean(STEADY))
    assert a.ratio == pytest.approx(100 / 95) and a.change_pct == pytest.approx(500 / 95)
    assert by_key["B_FEW"].reasons == ["3 runs in the period; needs ≥ 10"]
    assert by_key["B_FEW"].median is None  # not needed: the pre-filter failed
    c = by_key["C_SPIKY"]
    assert c.had_sev0_or_sev1 and "had SEV0/SEV1 runs in the period" in c.reasons
    d = by_key["D_DRIFTED"]
    assert d.reasons == ["median is \u00d72 the current baseline; needs < \u00d71.2"]
    assert not d.is_candidate and d.ratio == 2.0
    assert any(r.startswith("CV ") for r in by_key["E_NOISY"].reasons)


async def test_candidates_in_period_is_per_organization_and_checks_the_period(tenant, other_tenant):
    s = await scenario(other_tenant.org_id)
    await add_runs(s, STEADY)
    assert await candidates.candidates_in_period(tenant.org_id, NOW - timedelta(days=7), NOW,
                                          Policy()) == []  # fmt: skip
    with pytest.raises(Invalid) as exc:
        await candidates.candidates_in_period(tenant.org_id, NOW, NOW - timedelta(days=1), Policy())
    assert exc.value.field == "period_start"
    with pytest.raises(Invalid):
        await candidates.candidates_in_period(tenant.org_id, datetime(2024, 1, 1), NOW, Policy())


async def test_baseline_candidates_defaults_to_the_last_seven_days(tenant):
    _, viewer = await tenant.user("viewer")
    s = await scenario(tenant.org_id)
    await add_runs(s, STEADY)
    rows = await candidates.baseline_candidates(viewer)
    assert [(c.scenario_key, c.is_candidate) for c in rows] == [(s.key, True)]


# --- propose and approve -------------------------------------------------------------------------


async def test_propose_then_approve_sets_the_baseline_with_history(tenant):
    op_user, operator = await tenant.user("operator")
    ap_user, approver = await tenant.user("approver", name="Olga")
    s = await scenario(tenant.org_id)
    await add_runs(s, [100.0, 110.0, 120.0], items=10, prompt=400, age=timedelta(days=5))
    await add_history(s)
    await set_baseline(s, 100.0)

    change = await svc.propose_baseline_update(operator, s.key, 10, "prompt grew 15%")
    assert change.status is ChangeStatus.PROPOSED
    assert (change.old_median, change.new_median, change.sample_size) == (100.0, 110.0, 3)
    assert change.change_pct == pytest.approx(10.0)
    assert change.proposed_by_id == op_user.id
    assert (await Baseline.get(scenario_id=s.id)).median == 100.0  # not in force yet

    done = await svc.approve_baseline_update(approver, change.id, "stable two weeks")
    assert done.status is ChangeStatus.APPROVED and done.decided_by_id == ap_user.id
    assert done.decided_at is not None and done.confirmed_large_change is False
    row = await BaselineChange.get(id=change.id)
    assert row.status is ChangeStatus.APPROVED
    assert "prompt grew 15%" in row.rationale and row.decision_rationale == "stable two weeks"
    b = await Baseline.get(scenario_id=s.id)
    assert (b.median, b.sample_size, b.source, b.window_days) == (
        110.0, 3, BaselineSource.CALCULATED, 10
    )  # fmt: skip
    assert (b.credits_per_item, b.prompt_tokens) == (11.0, 400.0)
    event = await AuditEvent.filter(org_id=tenant.org_id, action="baseline.approve").get()
    new = json.loads(event.new_values)
    assert new["median"] == 110.0 and new["sample_size"] == 3 and new["scenario"] == s.key
    assert json.loads(event.old_values) == {"median": 100.0}
    assert "stable" not in event.new_values  # free text stays out of the chain

    history = await svc.baseline_history(operator, s.key)
    assert [h.id for h in history] == [change.id]


async def test_first_baseline_needs_no_confirmation(tenant):
    _, operator = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    s = await scenario(tenant.org_id)
    await add_runs(s, [100.0, 100.0])  # a CV needs two runs
    await add_history(s)
    change = await svc.propose_baseline_update(operator, s.key, None, "first one")
    assert change.old_median is None and change.change_pct is None
    await svc.approve_baseline_update(approver, change.id, "ok")
    b = await Baseline.get(scenario_id=s.id)
    assert b.median == 100.0 and b.window_days == 30


async def test_one_open_proposal_per_scenario(tenant):
    _, operator = await tenant.user("operator")
    s = await scenario(tenant.org_id)
    await add_runs(s, [100.0, 100.0])  # a CV needs two runs
    await add_history(s)
    first = await svc.propose_baseline_update(operator, s.key, 30, "one")
    before = await state(tenant.org_id)
    with pytest.raises(Conflict) as exc:
        await svc.propose_baseline_update(operator, s.key, 30, "two")
    assert f"Baseline change {first.id}" in exc.value.message
    assert await state(tenant.org_id) == before


async def test_large_change_needs_explicit_confirmation(tenant):
    _, operator = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    s = await scenario(tenant.org_id)
    await add_runs(s, [200.0, 200.0])
    await add_history(s, 200.0)
    await set_baseline(s, 100.0)
    change = await svc.propose_baseline_update(operator, s.key, 30, "doubled")
    before = await state(tenant.org_id)
    with pytest.raises(Invalid) as exc:
        await svc.approve_baseline_update(approver, change.id, "looks right")
    assert exc.value.field == "confirm_large_change"
    assert "+100.0%" in exc.value.message and "explicit confirmation" in exc.value.message
    assert await state(tenant.org_id) == before
    done = await svc.approve_baseline_update(approver, change.id, "checked", True)
    assert done.confirmed_large_change is True
    assert (await Baseline.get(scenario_id=s.id)).median == 200.0


async def test_approval_refusals_change_nothing(tenant, other_tenant):
    op_user, operator = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    _, self_approver = await tenant.user("approver")
    s = await scenario(tenant.org_id)
    await add_runs(s, [100.0, 100.0])  # a CV needs two runs
    await add_history(s)
    change = await svc.propose_baseline_update(self_approver, s.key, 30, "mine")
    before = await state(tenant.org_id)

    with pytest.raises(Forbidden) as own:
        await svc.approve_baseline_update(self_approver, change.id, "approve myself")
    assert "maker-checker" in own.value.message
    with pytest.raises(Forbidden):
        await svc.approve_baseline_update(operator, change.id, "not an approver")
    with pytest.raises(Invalid) as no_reason:
        await svc.approve_baseline_update(approver, change.id, "  ")
    assert no_reason.value.field == "rationale"
    with pytest.raises(Invalid) as long_reason:
        await svc.approve_baseline_update(approver, change.id, "x" * 2001)
    assert "limit is 2000" in long_reason.value.message
    with pytest.raises(Invalid):
        await svc.approve_baseline_update(approver, change.id, "ok", "yes")  # type: ignore[arg-type]
    _, stranger = await other_tenant.user("approver")
    with pytest.raises(NotFound) as other:
        await svc.approve_baseline_update(stranger, change.id, "ok")
    with pytest.raises(NotFound) as missing:
        await svc.approve_baseline_update(stranger, 2_000_000_000, "ok")
    assert other.value.message == f"BaselineChange {change.id} not found."
    assert missing.value.message == "BaselineChange 2000000000 not found."
    with pytest.raises(NotFound):
        await svc.approve_baseline_update(approver, "abc", "ok")
    assert await state(tenant.org_id) == before

    await svc.approve_baseline_update(approver, change.id, "ok")
    after = await state(tenant.org_id)
    with pytest.raises(Conflict) as twice:
        await svc.approve_baseline_update(approver, change.id, "again")
    assert "already approved" in twice.value.message
    assert await state(tenant.org_id) == after
    assert op_user.id  # (the operator exists only to be refused)


async def test_approval_refused_when_the_baseline_changed_meanwhile(tenant):
    _, operator = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    s = await scenario(tenant.org_id)
    await add_runs(s, [100.0, 100.0])  # a CV needs two runs
    await add_history(s)
    change = await svc.propose_baseline_update(operator, s.key, 30, "first")
    # A first manual baseline cannot overtake the open proposal any more ...
    before = await state(tenant.org_id)
    with pytest.raises(Conflict, match="still open"):
        await svc.set_manual_baseline(approver, s.key, 90.0, "manual meanwhile")
    assert await state(tenant.org_id) == before
    # ... but approval still guards against a baseline that changed under the proposal.
    await Baseline.create(
        org_id=tenant.org_id, scenario_id=s.id, median=90.0, sample_size=0,
        source=BaselineSource.MANUAL, set_at=datetime.now(UTC),
    )  # fmt: skip
    before = await state(tenant.org_id)
    with pytest.raises(Conflict) as exc:
        await svc.approve_baseline_update(approver, change.id, "ok")
    assert "changed since" in exc.value.message
    assert await state(tenant.org_id) == before


async def test_reject_keeps_the_reason_and_frees_the_scenario(tenant):
    _, operator = await tenant.user("operator")
    ap_user, approver = await tenant.user("approver")
    s = await scenario(tenant.org_id)
    await add_runs(s, [100.0, 100.0])  # a CV needs two runs
    await add_history(s)
    change = await svc.propose_baseline_update(operator, s.key, 30, "try")
    before = await state(tenant.org_id)
    with pytest.raises(Forbidden):
        await svc.reject_baseline_update(operator, change.id, "no")
    with pytest.raises(Invalid) as exc:
        await svc.reject_baseline_update(approver, change.id, "")
    assert exc.value.field == "reason"
    assert await state(tenant.org_id) == before
    done = await svc.reject_baseline_update(approver, change.id, "sample too small")
    assert done.status is ChangeStatus.REJECTED and done.decided_by_id == ap_user.id
    assert (await BaselineChange.get(id=change.id)).decision_rationale == "sample too small"
    assert not await Baseline.filter(scenario_id=s.id).exists()
    await svc.propose_baseline_update(operator, s.key, 30, "again")  # no longer blocked


# --- manual baselines ----------------------------------------------------------------------------


async def test_manual_baseline_is_recorded_and_in_force(tenant):
    """Issue 11 item 13: even a first manual baseline (none in force) is a proposal that another
    approver puts in force (maker-checker); nothing is in force before."""
    ap_user, approver = await tenant.user("approver")
    s = await scenario(tenant.org_id)
    change = await svc.set_manual_baseline(approver, s.key, 1250.5, "no runs yet")
    assert (change.source, change.status) == (BaselineSource.MANUAL, ChangeStatus.PROPOSED)
    assert change.proposed_by_id == ap_user.id and change.decided_by_id is None
    assert await Baseline.get_or_none(scenario_id=s.id) is None
    assert await AuditEvent.filter(org_id=tenant.org_id, action="baseline.propose").count() == 1
    with pytest.raises(Forbidden, match="maker-checker"):
        await svc.approve_baseline_update(approver, change.id, "mine")
    checker_user, checker = await tenant.user("approver")
    await svc.approve_baseline_update(checker, change.id, "agreed: no runs yet")
    b = await Baseline.get(scenario_id=s.id)
    assert (b.median, b.source, b.sample_size, b.credits_per_item, b.prompt_tokens) == (
        1250.5, BaselineSource.MANUAL, 0, None, None
    )  # fmt: skip
    decided = await BaselineChange.get(id=change.id)
    assert decided.decided_by_id == checker_user.id

    before = await state(tenant.org_id)
    with pytest.raises(Invalid, match="already the baseline") as same:
        await svc.set_manual_baseline(approver, s.key, 1250.5, "again")  # a change of nothing
    assert same.value.field == "median"
    with pytest.raises(Invalid) as big:
        await svc.set_manual_baseline(approver, s.key, 5000.0, "bigger")
    assert big.value.field == "confirm_large_change"
    assert await state(tenant.org_id) == before
    # Replacing a baseline in force is a proposal: the same approver cannot put it in force.
    proposal = await svc.set_manual_baseline(
        approver, s.key, 5000.0, "bigger", confirm_large_change=True
    )
    assert proposal.status is ChangeStatus.PROPOSED and proposal.source is BaselineSource.MANUAL
    assert (await Baseline.get(scenario_id=s.id)).median == 1250.5
    with pytest.raises(Forbidden, match="maker-checker"):
        await svc.approve_baseline_update(approver, proposal.id, "mine", True)
    await svc.approve_baseline_update(checker, proposal.id, "agreed: new volume", True)
    b = await Baseline.get(scenario_id=s.id)
    assert (b.median, b.source) == (5000.0, BaselineSource.MANUAL)


@pytest.mark.parametrize("median", [0, -1, float("nan"), float("inf"), 1e13, True, "12"])
async def test_manual_baseline_refuses_bad_medians(tenant, median):
    _, approver = await tenant.user("approver")
    s = await scenario(tenant.org_id)
    before = await state(tenant.org_id)
    with pytest.raises(Invalid) as exc:
        await svc.set_manual_baseline(approver, s.key, median, "why")
    assert exc.value.field == "median"
    assert await state(tenant.org_id) == before


async def test_manual_baseline_needs_an_approver(tenant):
    _, operator = await tenant.user("operator")
    s = await scenario(tenant.org_id)
    with pytest.raises(Forbidden):
        await svc.set_manual_baseline(operator, s.key, 10.0, "why")
    assert not await Baseline.filter(scenario_id=s.id).exists()


# --- scenarios -----------------------------------------------------------------------------------


async def test_list_and_detail_of_scenarios(tenant):
    _, viewer = await tenant.user("viewer")
    _, operator = await tenant.user("operator")
    a = await scenario(tenant.org_id, "A_ONE")
    await add_runs(a, STEADY)
    await add_runs(a, [50.0], age=timedelta(days=45))
    await set_baseline(a, 100.0)
    change = await svc.propose_baseline_update(operator, a.key, 30, "steady")
    await add_runs(a, [900.0], severity=Severity.SEV1)  # after the proposal: it needs quiet
    b = await scenario(tenant.org_id, "B_TWO")

    rows = await scen.list_scenarios(viewer)
    assert [r.scenario.key for r in rows] == ["A_ONE", "B_TWO"]
    one, two = rows
    assert one.runs_recent == 13 and one.baseline is not None and one.baseline.median == 100.0
    assert one.open_proposal is not None and one.open_proposal.id == change.id
    assert one.last_run_at is not None and one.last_run_at > NOW - timedelta(hours=2)
    assert (two.runs_recent, two.last_run_at, two.baseline) == (0, None, None)

    d = await scen.get_scenario_detail(viewer, "A_ONE")
    assert d.scenario.id == a.id and d.open_proposal is not None
    assert len(d.series) == 14 and d.series[0].credits_total == 50.0  # oldest first
    assert {p.severity for p in d.series} == {None, Severity.SEV1}
    assert d.candidate is not None and not d.candidate.is_candidate  # it had a SEV1
    assert [h.id for h in d.history] == [change.id]
    assert (await scen.get_scenario_detail(viewer, b.key)).candidate is None


async def test_series_keeps_the_newest_thousand_points(tenant):
    s = await scenario(tenant.org_id)
    await add_runs(s, [float(i) for i in range(1005)])  # i minutes older each
    series = (await scen.get_scenario_detail(await reader(tenant), s.key)).series
    assert len(series) == 1000
    assert series[-1].credits_total == 0.0 and series[0].credits_total == 999.0


async def test_update_scenario_config(tenant, other_tenant):
    _, operator = await tenant.user("operator")
    _, viewer = await tenant.user("viewer")
    s = await scenario(tenant.org_id)
    args = {"name": "Binder export", "max_items": 1000, "data_classification": "PII",
            "dispatch_target": "https://dispatch.example/binder"}  # fmt: skip
    done = await scen.update_scenario(operator, s.key, **args, expected_version=1)
    assert (done.name, done.max_items, done.data_classification, done.version) == (
        "Binder export", 1000, "pii", 2
    )  # fmt: skip
    event = await AuditEvent.filter(org_id=tenant.org_id, action="scenario.update").get()
    assert json.loads(event.new_values)["max_items"] == 1000
    assert json.loads(event.old_values)["max_items"] is None

    before = await state(tenant.org_id)
    with pytest.raises(Conflict) as stale:
        await scen.update_scenario(operator, s.key, **args, expected_version=1)
    assert "version 2" in stale.value.message
    with pytest.raises(Forbidden):
        await scen.update_scenario(viewer, s.key, **args, expected_version=2)
    bad_inputs = [
        ("max_items", 0), ("max_items", "1000"), ("max_items", True), ("name", ""),
        ("name", "n" * 201), ("data_classification", "secret"), ("dispatch_target", "x" * 501),
    ]  # fmt: skip
    for name, value in bad_inputs:
        with pytest.raises(Invalid) as exc:
            await scen.update_scenario(operator, s.key, **{**args, name: value}, expected_version=2)
        assert exc.value.field == name
    with pytest.raises(Invalid) as same:
        await scen.update_scenario(operator, s.key, **args, expected_version=2)
    assert "Nothing to change" in same.value.message
    with pytest.raises(Invalid):
        await scen.update_scenario(operator, s.key, **args, expected_version="2")  # type: ignore[arg-type]
    theirs = await scenario(other_tenant.org_id)
    with pytest.raises(NotFound):
        await scen.update_scenario(operator, theirs.key, **args, expected_version=1)
    assert await state(tenant.org_id) == before


async def test_only_an_approver_may_lower_what_a_scenario_touches(tenant):
    from riskops.server.credit import scenarios as scen

    _, operator = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    s = await scenario(tenant.org_id)
    fields = {"name": s.name, "max_items": 500, "dispatch_target": None}
    with pytest.raises(Forbidden, match="Lowering the data classification"):
        await scen.update_scenario(
            operator, s.key, data_classification="public", expected_version=1, **fields
        )
    assert (await type(s).get(id=s.id)).version == 1
    done = await scen.update_scenario(
        operator, s.key, data_classification=s.data_classification, expected_version=1, **fields
    )
    assert done.max_items == 500
    done = await scen.update_scenario(
        approver, s.key, data_classification="pii", expected_version=2, **fields
    )
    assert done.data_classification == "pii"


async def test_deciding_by_scenario_key_is_refused_before_anything_is_looked_up(tenant):
    s = await scenario(tenant.org_id)
    _, operator = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    with pytest.raises(Forbidden, match=r"baseline\.approve"):
        await svc.proposal_to_decide(operator, "NO_SUCH_SCENARIO")  # not "not found": refused
    found, proposal = await svc.proposal_to_decide(approver, s.key)
    assert (found.id, proposal) == (s.id, None)
    with pytest.raises(NotFound):
        await svc.proposal_to_decide(approver, "NO_SUCH_SCENARIO")
