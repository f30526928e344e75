"""The prerequisites of a baseline update (issue 16, seed 002 "Baseline Update Procedure /
Prerequisites"), on SQLite and PostgreSQL, on both faces: no SEV0/SEV1 run of the scenario in
the policy's baseline_quiet_days, healthy runs spanning baseline_min_data_days, CV below
candidate_max_cv. Enforced at proposal and again at approval (the world may change in between),
refused with a message naming the condition and its numbers; a manual baseline is held to the
quiet period alone. The scenario page and `baselinePrerequisites` show the checklist first."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from riskops.server.core.approvals import ChangeStatus
from riskops.server.core.errors import Conflict, Invalid, NotFound
from riskops.server.credit import baseline_rules
from riskops.server.credit import baselines as svc
from riskops.server.credit.demo import generate_demo_runs
from riskops.server.credit.models import BaselineChange, Run
from riskops.server.credit.terms import Policy, Severity
from riskops.server.identity.models import User
from tests.credit.test_baselines_service import (
    STEADY,
    add_history,
    add_runs,
    scenario,
    set_baseline,
    state,
)
from tests.credit.test_controls_service import propose_and_approve

NOW = datetime.now(UTC)

PREREQUISITES = """
query($s: String!, $d: Int, $m: Boolean) {
  baselinePrerequisites(scenario: $s, days: $d, manual: $m) {
    scenarioKey met manual days conditions { name met label detail message }
  }
}"""
PROPOSE = """
mutation($s: String!, $r: String!) {
  proposeBaselineUpdate(scenario: $s, rationale: $r) {
    change { id status } errors { code message field }
  }
}"""


async def settled(org_id: int, key: str | None = None) -> Any:
    """A scenario that meets every prerequisite: steady runs this week, one 45 days ago, a
    baseline in force."""
    s = await scenario(org_id, key)
    await add_runs(s, STEADY)
    await add_history(s)
    await set_baseline(s, 100.0)
    return s


async def severe_run(s: Any, severity: Severity, age: timedelta) -> str:
    await add_runs(s, [900.0], severity=severity, age=age)
    run = await Run.filter(scenario_id=s.id, severity=severity).order_by("-started_at").first()
    assert run is not None
    return run.run_id


# --- the rule (pure) -----------------------------------------------------------------------------


def test_the_rule_names_each_failed_condition_with_its_numbers():
    policy = Policy()
    severe = baseline_rules.SevereRun(
        "RUN-123", Severity.SEV1, datetime(2026, 11, 30, 8, 0, tzinfo=UTC), 3
    )
    out = baseline_rules.baseline_prerequisites(
        "BINDER_EXPORT_WEEKLY", severe=severe, first_healthy=date(2026, 11, 20),
        last_healthy=date(2026, 12, 1), cv=0.42, cv_basis="28 healthy runs of the last 30 days",
        policy=policy,
    )  # fmt: skip
    quiet, data, cv = out
    assert [c.name for c in out] == ["quiet", "data_days", "cv"] and not any(c.met for c in out)
    assert quiet.message == (
        "Scenario BINDER_EXPORT_WEEKLY had a SEV1 run on 2026-11-30 (RUN-123, and 2 more); a "
        "baseline update needs 14 days without SEV0/SEV1 (policy baseline_quiet_days): possible "
        "from 2026-12-14 08:00 UTC."
    )
    assert data.message == (
        "The healthy runs of BINDER_EXPORT_WEEKLY span 12 days (2026-11-20 to 2026-12-01); a "
        "baseline update needs at least 30 days of them (policy baseline_min_data_days)."
    )
    assert cv.message == (
        "The CV of BINDER_EXPORT_WEEKLY is 0.42 (28 healthy runs of the last 30 days); a "
        "baseline update needs a CV below 0.3 (policy candidate_max_cv)."
    )
    # The limits are the policy's; a manual baseline is held to the quiet period alone.
    met = baseline_rules.baseline_prerequisites(
        "X", severe=None, first_healthy=date(2026, 11, 2), last_healthy=date(2026, 12, 1),
        cv=0.29, cv_basis="b", policy=policy,
    )  # fmt: skip
    assert all(c.met for c in met) and met[1].detail.startswith("30 days")
    manual = baseline_rules.baseline_prerequisites(
        "X", severe=None, first_healthy=None, last_healthy=None, cv=None, cv_basis="",
        policy=policy, manual=True,
    )  # fmt: skip
    assert [c.name for c in manual] == ["quiet"] and manual[0].met
    unknown = baseline_rules.baseline_prerequisites(
        "X", severe=None, first_healthy=None, last_healthy=None, cv=None, cv_basis="1 run",
        policy=Policy(baseline_min_data_days=0),
    )  # fmt: skip
    assert unknown[1].met and not unknown[2].met and "cannot be calculated" in unknown[2].message


# --- proposal ------------------------------------------------------------------------------------


async def test_each_condition_refuses_a_proposal_and_changes_nothing(tenant):
    _, operator = await tenant.user("operator")
    quiet = await settled(tenant.org_id)
    run_id = await severe_run(quiet, Severity.SEV1, timedelta(days=3))
    thin = await scenario(tenant.org_id)
    await add_runs(thin, STEADY)  # this week only
    noisy = await scenario(tenant.org_id)
    await add_runs(noisy, [10.0, 200.0] * 6)
    await add_history(noisy)
    before = await state(tenant.org_id)

    with pytest.raises(Conflict) as exc:
        await svc.propose_baseline_update(operator, quiet.key, None, "steady")
    day = (NOW - timedelta(days=3, hours=1)).strftime("%Y-%m-%d")
    assert exc.value.message.startswith(
        f"Scenario {quiet.key} had a SEV1 run on {day} ({run_id}); a baseline update needs 14 "
        "days without SEV0/SEV1 (policy baseline_quiet_days)"
    )
    assert exc.value.field == "scenario_key" and exc.value.extra["prerequisites"] == ["quiet"]
    with pytest.raises(Conflict, match="a baseline update needs at least 30 days") as exc:
        await svc.propose_baseline_update(operator, thin.key, None, "steady")
    assert exc.value.extra["prerequisites"] == ["data_days"]
    assert "span 1 day (" in exc.value.message or "span 2 days (" in exc.value.message
    with pytest.raises(Conflict, match=r"needs a CV below 0.3 \(policy candidate_max_cv\)"):
        await svc.propose_baseline_update(operator, noisy.key, None, "noisy")
    assert await state(tenant.org_id) == before


async def test_the_quiet_period_and_limits_follow_the_policy(tenant):
    _, operator = await tenant.user("operator")
    s = await settled(tenant.org_id)
    await severe_run(s, Severity.SEV0, timedelta(days=10))
    with pytest.raises(Conflict, match="SEV0 run"):
        await svc.propose_baseline_update(operator, s.key, None, "steady")
    await propose_and_approve(tenant, {"baseline_quiet_days": 7}, expected=0)
    change = await svc.propose_baseline_update(operator, s.key, None, "a week is quiet enough")
    assert change.status is ChangeStatus.PROPOSED
    # A SEV0/SEV1 outside the quiet period no longer counts; the older runs still do not count
    # towards the baseline itself (not healthy).
    assert change.sample_size == len(STEADY)


async def test_approval_checks_again_and_names_what_changed(tenant):
    _, operator = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    s = await settled(tenant.org_id)
    change = await svc.propose_baseline_update(operator, s.key, None, "steady")
    run_id = await severe_run(s, Severity.SEV0, timedelta(minutes=30))
    before = await state(tenant.org_id)
    with pytest.raises(Conflict) as exc:
        await svc.approve_baseline_update(approver, change.id, "looks fine")
    assert exc.value.message.startswith(f"Baseline change {change.id} cannot be approved now:")
    assert f"had a SEV0 run on {NOW:%Y-%m-%d} ({run_id})" in exc.value.message or (
        run_id in exc.value.message
    )
    assert exc.value.message.endswith("Reject it, or approve it once every prerequisite is met.")
    assert exc.value.field == "change_id"
    assert await state(tenant.org_id) == before
    # Rejecting stays possible.
    done = await svc.reject_baseline_update(approver, change.id, "incident first")
    assert done.status is ChangeStatus.REJECTED


async def test_a_stricter_policy_since_the_proposal_stops_its_approval(tenant):
    _, operator = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    s = await settled(tenant.org_id)
    change = await svc.propose_baseline_update(operator, s.key, None, "steady")
    assert change.cv is not None and change.cv > 0.01
    await propose_and_approve(tenant, {"candidate_max_cv": 0.01}, expected=0)
    before = await state(tenant.org_id)
    with pytest.raises(Conflict, match=r"needs a CV below 0.01 \(policy candidate_max_cv\)"):
        await svc.approve_baseline_update(approver, change.id, "ok")
    assert await state(tenant.org_id) == before


async def test_a_manual_baseline_needs_the_quiet_period_only(tenant):
    _, approver = await tenant.user("approver")
    _, checker = await tenant.user("approver")
    thin = await scenario(tenant.org_id)
    await add_runs(thin, [100.0])  # one run: no CV, no 30 days; a manual baseline is the answer
    change = await svc.set_manual_baseline(approver, thin.key, 120.0, "too few runs")
    assert change.status is ChangeStatus.PROPOSED
    await svc.approve_baseline_update(checker, change.id, "agreed")

    stormy = await scenario(tenant.org_id)
    await set_baseline(stormy, 100.0)
    run_id = await severe_run(stormy, Severity.SEV1, timedelta(days=2))
    before = await state(tenant.org_id)
    with pytest.raises(Conflict, match=f"had a SEV1 run on .* \\({run_id}\\)"):
        await svc.set_manual_baseline(approver, stormy.key, 150.0, "bigger")
    assert await state(tenant.org_id) == before
    pre = await svc.baseline_prerequisites(approver, stormy.key, manual=True)
    assert pre.manual and [c.name for c in pre.conditions] == ["quiet"] and not pre.met


async def test_the_checklist_reads_without_changing_anything(tenant, other_tenant):
    _, viewer = await tenant.user("viewer")
    s = await settled(tenant.org_id)
    bare = await scenario(tenant.org_id)
    theirs = await scenario(other_tenant.org_id)
    before = await state(tenant.org_id)
    pre = await svc.baseline_prerequisites(viewer, s.key)
    assert pre.met and pre.days == 30 and [c.name for c in pre.conditions] == [
        "quiet", "data_days", "cv",
    ]  # fmt: skip
    assert pre.conditions[1].detail.startswith("46 days") or pre.conditions[1].detail.startswith(
        "45 days"
    )
    assert (
        "12 healthy runs of the last 7 days"
        in (await svc.baseline_prerequisites(viewer, s.key, 7)).conditions[2].detail
    )
    empty = await svc.baseline_prerequisites(viewer, bare.key)
    assert not empty.met and [c.met for c in empty.conditions] == [True, False, False]
    assert empty.conditions[1].detail == "no healthy runs yet"
    with pytest.raises(NotFound, match=f"Scenario {theirs.key} not found"):
        await svc.baseline_prerequisites(viewer, theirs.key)
    with pytest.raises(Invalid) as bad:
        await svc.baseline_prerequisites(viewer, s.key, 0)
    assert bad.value.field == "days"
    assert await state(tenant.org_id) == before


async def test_the_demo_shows_a_passing_and_a_refused_proposal(tenant):
    """`make run`'s demo data: a steady scenario may be proposed; the one with the SEV0 may not."""
    await generate_demo_runs(tenant.admin)
    _, operator = await tenant.user("operator")
    for key in ("KYC_DOC_SUMMARY", "SAR_NARRATIVE_DRAFTS"):
        ok = await svc.baseline_prerequisites(operator, key)
        assert ok.met, [c.detail for c in ok.conditions]
    recon = await svc.baseline_prerequisites(operator, "LEDGER_RECON_NIGHTLY")
    assert not recon.met and "DEMO-SEV1-0001" in recon.conditions[0].detail
    change = await svc.propose_baseline_update(operator, "KYC_DOC_SUMMARY", None, "demo")
    assert change.status is ChangeStatus.PROPOSED
    refused = await svc.baseline_prerequisites(operator, "BINDER_EXPORT_WEEKLY")
    assert not refused.met and "DEMO-SEV0-0001" in refused.conditions[0].detail
    assert await BaselineChange.filter(org_id=tenant.org_id, status="proposed").count() == 1


# --- GraphQL and the scenario page ---------------------------------------------------------------


async def test_baseline_prerequisites_over_graphql(api, tenant, other_tenant):
    _, viewer = await tenant.user("viewer")
    _, op = await tenant.user("operator")
    vt = await api.token(tenant, await User.get(id=viewer.user_id))
    ot = await api.token(tenant, await User.get(id=op.user_id))
    s = await settled(tenant.org_id)
    run_id = await severe_run(s, Severity.SEV1, timedelta(days=1))

    got = (await api.data(vt, PREREQUISITES, {"s": s.key}))["baselinePrerequisites"]
    assert got["scenarioKey"] == s.key and got["met"] is False and got["manual"] is False
    quiet = got["conditions"][0]
    assert quiet["name"] == "quiet" and quiet["met"] is False and run_id in quiet["detail"]
    assert quiet["label"] == "No SEV0/SEV1 run in the last 14 days"
    assert "policy baseline_quiet_days" in quiet["message"]
    assert [c["met"] for c in got["conditions"][1:]] == [True, True]
    assert all(c["message"] is None for c in got["conditions"][1:])
    manual = (await api.data(vt, PREREQUISITES, {"s": s.key, "m": True}))["baselinePrerequisites"]
    assert manual["manual"] is True and len(manual["conditions"]) == 1
    theirs = await scenario(other_tenant.org_id)
    assert (await api.data(vt, PREREQUISITES, {"s": theirs.key}))["baselinePrerequisites"] is None
    body = await api.gql(vt, PREREQUISITES, {"s": s.key, "d": 0})
    assert body["errors"][0]["extensions"]["code"] == "INVALID"

    before = await state(tenant.org_id)
    out = (await api.data(ot, PROPOSE, {"s": s.key, "r": "steady"}))["proposeBaselineUpdate"]
    assert out["change"] is None and out["errors"][0]["code"] == "CONFLICT"
    assert run_id in out["errors"][0]["message"] and out["errors"][0]["field"] == "scenario_key"
    assert await state(tenant.org_id) == before


async def test_the_scenario_page_shows_the_checklist_before_submitting(browser, tenant):
    op_user, _ = await tenant.user("operator")
    ap_user, operator = await tenant.user("approver")
    ok = await settled(tenant.org_id)
    stormy = await settled(tenant.org_id)
    b = await browser(op_user, tenant.password)

    page = await b.get(f"/scenarios/{ok.key}")
    assert 'id="prerequisites"' in page.text and "all met" in page.text
    assert page.text.count('class="prerequisite prerequisite-met"') == 3
    assert 'id="propose-blocked"' not in page.text

    change = await svc.propose_baseline_update(operator, stormy.key, None, "steady")
    run_id = await severe_run(stormy, Severity.SEV1, timedelta(hours=2))
    page = await b.get(f"/scenarios/{stormy.key}")
    assert "1 not met" in page.text and 'id="prerequisite-quiet"' in page.text
    assert 'class="prerequisite prerequisite-failed" id="prerequisite-quiet"' in page.text
    assert run_id in page.text and 'id="propose-blocked"' in page.text
    # The open proposal says, before an approver submits, that approving it is refused now.
    assert 'id="approval-prerequisites"' in page.text

    await svc.reject_baseline_update(operator, change.id, "incident")
    before = await state(tenant.org_id)
    refused = await b.post(f"/scenarios/{stormy.key}/propose", {"days": "", "rationale": "x"})
    assert refused.status_code == 409 and run_id in refused.text
    assert "policy baseline_quiet_days" in refused.text
    assert await state(tenant.org_id) == before
    assert ap_user.id
