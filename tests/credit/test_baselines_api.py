"""Scenarios and baselines over GraphQL, on SQLite and PostgreSQL, with bearer tokens: the
queries, calculateBaseline (changes nothing), the maker-checker update with its typed errors,
manual baselines and updateScenario. Refused calls change nothing."""

from __future__ import annotations

from datetime import timedelta

from riskops.server.credit import baselines as svc
from riskops.server.credit.models import Baseline, BaselineChange
from riskops.server.credit.terms import Severity
from tests.credit.test_baselines_service import (
    STEADY,
    add_history,
    add_runs,
    scenario,
    set_baseline,
    state,
)

ERRORS = "errors { code message field }"
CHANGE = "change { id scenarioKey oldMedian newMedian changePct sampleSize status rationale }"

SCENARIOS = """{ scenarios { scenario { key version } baseline { median source }
  runsLast30Days lastRunAt openProposal { id } } }"""
SCENARIO = """query($key: String!) { scenario(key: $key) {
  scenario { key name maxItems version } baseline { median }
  history { id status } openProposal { id }
  candidate { isCandidate reasons runs median }
  series { startedAt creditsTotal severity } } }"""
BASELINES = "{ baselines { scenarioKey median cv sampleSize source } }"
CANDIDATES = """query($s: DateTime, $e: DateTime) {
  baselineCandidates(periodStart: $s, periodEnd: $e) {
  scenarioKey runs median cv isCandidate reasons } }"""
CALCULATE = f"""mutation($s: String!, $d: Int) {{ calculateBaseline(scenario: $s, days: $d) {{
  calculation {{ scenarioKey days median cv sampleSize currentMedian changePct
                 needsConfirmation }} {ERRORS} }} }}"""
PROPOSE = f"""mutation($s: String!, $r: String!, $d: Int) {{
  proposeBaselineUpdate(scenario: $s, rationale: $r, days: $d) {{ {CHANGE} {ERRORS} }} }}"""
APPROVE = f"""mutation($id: ID!, $r: String!, $c: Boolean! = false) {{
  approveBaselineUpdate(changeId: $id, rationale: $r, confirmLargeChange: $c) {{
    {CHANGE} {ERRORS} }} }}"""
REJECT = f"""mutation($id: ID!, $r: String!) {{
  rejectBaselineUpdate(changeId: $id, reason: $r) {{ {CHANGE} {ERRORS} }} }}"""
MANUAL = f"""mutation($s: String!, $m: Float!, $r: String!, $c: Boolean! = false) {{
  setManualBaseline(scenario: $s, median: $m, rationale: $r, confirmLargeChange: $c) {{
    {CHANGE} {ERRORS} }} }}"""
UPDATE = f"""mutation($k: String!, $c: ScenarioConfigInput!, $v: Int!) {{
  updateScenario(key: $k, config: $c, expectedVersion: $v) {{
    scenario {{ key name maxItems dataClassification version }} {ERRORS} }} }}"""


async def test_queries(api, tenant):
    viewer_user, _ = await tenant.user("viewer")
    token = await api.token(tenant, viewer_user)
    s = await scenario(tenant.org_id, "A_ONE")
    await add_runs(s, STEADY)
    await add_runs(s, [900.0], severity=Severity.SEV1)
    await set_baseline(s, 100.0)
    await scenario(tenant.org_id, "B_TWO")

    rows = (await api.data(token, SCENARIOS))["scenarios"]
    assert [r["scenario"]["key"] for r in rows] == ["A_ONE", "B_TWO"]
    assert rows[0]["runsLast30Days"] == 13 and rows[0]["baseline"]["median"] == 100.0
    assert rows[1]["baseline"] is None and rows[1]["lastRunAt"] is None

    d = (await api.data(token, SCENARIO, {"key": "A_ONE"}))["scenario"]
    assert len(d["series"]) == 13 and d["series"][-1]["severity"] in ("SEV1", None)
    assert {p["severity"] for p in d["series"]} == {"SEV1", None}
    assert d["candidate"]["isCandidate"] is False
    assert "had SEV0/SEV1 runs in the period" in d["candidate"]["reasons"]
    assert (await api.data(token, SCENARIO, {"key": "a_one"}))["scenario"] is None

    assert (await api.data(token, BASELINES))["baselines"] == [
        {"scenarioKey": "A_ONE", "median": 100.0, "cv": 0.1, "sampleSize": 20,
         "source": "MANUAL"}
    ]  # fmt: skip
    cands = (await api.data(token, CANDIDATES))["baselineCandidates"]
    assert [(c["scenarioKey"], c["isCandidate"]) for c in cands] == [("A_ONE", False)]
    body = await api.gql(
        token, CANDIDATES, {"s": "2024-01-10T00:00:00Z", "e": "2024-01-01T00:00:00Z"}
    )
    assert body["errors"][0]["extensions"]["code"] == "INVALID"


async def test_calculate_changes_nothing_and_errors_are_data(api, tenant, other_tenant):
    user, _ = await tenant.user("viewer")
    token = await api.token(tenant, user)
    s = await scenario(tenant.org_id)
    await add_runs(s, [100.0, 120.0], age=timedelta(days=2))
    before = await state(tenant.org_id)
    calc = (await api.data(token, CALCULATE, {"s": s.key, "d": 7}))["calculateBaseline"]
    assert calc["errors"] == []
    assert calc["calculation"]["median"] == 110.0 and calc["calculation"]["sampleSize"] == 2
    assert calc["calculation"]["currentMedian"] is None
    assert await state(tenant.org_id) == before

    bad = (await api.data(token, CALCULATE, {"s": s.key, "d": 0}))["calculateBaseline"]
    assert bad["errors"][0]["code"] == "INVALID" and bad["errors"][0]["field"] == "days"
    none = (await api.data(token, CALCULATE, {"s": s.key, "d": 1}))["calculateBaseline"]
    assert "manual baseline" in none["errors"][0]["message"]
    theirs = await scenario(other_tenant.org_id)
    other = (await api.data(token, CALCULATE, {"s": theirs.key}))["calculateBaseline"]
    assert other["errors"] == [
        {"code": "NOT_FOUND", "message": f"Scenario {theirs.key} not found.", "field": None}
    ]


async def test_propose_approve_reject_and_manual(api, tenant):
    op_user, _ = await tenant.user("operator")
    ap_user, _ = await tenant.user("approver")
    op, ap = await api.token(tenant, op_user), await api.token(tenant, ap_user)
    s = await scenario(tenant.org_id)
    await add_runs(s, [300.0, 300.0])  # a CV needs two runs
    await add_history(s, 300.0)
    await set_baseline(s, 100.0)

    proposed = (await api.data(op, PROPOSE, {"s": s.key, "r": "legit load"}))[
        "proposeBaselineUpdate"
    ]
    change = proposed["change"]
    assert proposed["errors"] == [] and change["status"] == "PROPOSED"
    assert (change["oldMedian"], change["newMedian"], change["changePct"]) == (100.0, 300.0, 200.0)
    before = await state(tenant.org_id)
    again = (await api.data(op, PROPOSE, {"s": s.key, "r": "x"}))["proposeBaselineUpdate"]
    assert again["errors"][0]["code"] == "CONFLICT" and again["change"] is None
    forbidden = (await api.data(op, APPROVE, {"id": change["id"], "r": "ok"}))[
        "approveBaselineUpdate"
    ]
    assert forbidden["errors"][0]["code"] == "FORBIDDEN"
    unconfirmed = (await api.data(ap, APPROVE, {"id": change["id"], "r": "ok"}))[
        "approveBaselineUpdate"
    ]
    assert unconfirmed["errors"][0]["field"] == "confirm_large_change"
    assert "+200.0%" in unconfirmed["errors"][0]["message"]
    assert await state(tenant.org_id) == before

    done = (await api.data(ap, APPROVE, {"id": change["id"], "r": "ok", "c": True}))[
        "approveBaselineUpdate"
    ]
    assert done["errors"] == [] and done["change"]["status"] == "APPROVED"
    assert (await Baseline.get(scenario_id=s.id)).median == 300.0

    second = (await api.data(op, PROPOSE, {"s": s.key, "r": "again"}))["proposeBaselineUpdate"]
    rejected = (await api.data(ap, REJECT, {"id": second["change"]["id"], "r": "no"}))[
        "rejectBaselineUpdate"
    ]
    assert rejected["change"]["status"] == "REJECTED"

    manual = (await api.data(ap, MANUAL, {"s": s.key, "m": 280.0, "r": "by hand"}))[
        "setManualBaseline"
    ]
    assert manual["errors"] == [] and manual["change"]["newMedian"] == 280.0
    # A baseline is in force: replacing it by hand is a proposal, not yet in force.
    assert manual["change"]["status"] == "PROPOSED"
    assert (await Baseline.get(scenario_id=s.id)).median != 280.0
    refused = (await api.data(op, MANUAL, {"s": s.key, "m": 1.0, "r": "x"}))["setManualBaseline"]
    assert refused["errors"][0]["code"] == "FORBIDDEN"
    assert await BaselineChange.filter(scenario_id=s.id).count() == 3


async def test_update_scenario(api, tenant):
    op_user, _ = await tenant.user("operator")
    viewer_user, _ = await tenant.user("viewer")
    op, viewer = await api.token(tenant, op_user), await api.token(tenant, viewer_user)
    s = await scenario(tenant.org_id)
    config = {"name": "Binder", "maxItems": 1000, "dataClassification": "pii"}
    done = (await api.data(op, UPDATE, {"k": s.key, "c": config, "v": 1}))["updateScenario"]
    assert done["errors"] == []
    assert done["scenario"] == {
        "key": s.key, "name": "Binder", "maxItems": 1000, "dataClassification": "pii",
        "version": 2,
    }  # fmt: skip
    before = await state(tenant.org_id)
    stale = (await api.data(op, UPDATE, {"k": s.key, "c": config, "v": 1}))["updateScenario"]
    assert stale["errors"][0]["code"] == "CONFLICT" and stale["scenario"]["version"] == 2
    bad = {**config, "maxItems": -5}
    invalid = (await api.data(op, UPDATE, {"k": s.key, "c": bad, "v": 2}))["updateScenario"]
    assert invalid["errors"][0]["field"] == "max_items"
    denied = (await api.data(viewer, UPDATE, {"k": s.key, "c": config, "v": 2}))["updateScenario"]
    assert denied["errors"][0]["code"] == "FORBIDDEN"
    assert await state(tenant.org_id) == before


async def test_the_scenario_says_whether_its_proposal_needs_confirmation(api, tenant):
    _, operator = await tenant.user("operator")
    viewer_user, _ = await tenant.user("viewer")
    token = await api.token(tenant, viewer_user)
    query = """query($key: String!) { scenario(key: $key) {
      openProposal { id newMedian } openProposalNeedsConfirmation } }"""
    s = await scenario(tenant.org_id)
    await set_baseline(s, 100.0)
    await add_runs(s, [300.0, 310.0, 320.0])
    await add_history(s, 310.0)
    d = (await api.data(token, query, {"key": s.key}))["scenario"]
    assert d == {"openProposal": None, "openProposalNeedsConfirmation": False}
    await svc.propose_baseline_update(operator, s.key, 30, "tripled")  # +210%: above 50%
    d = (await api.data(token, query, {"key": s.key}))["scenario"]
    assert d["openProposal"]["newMedian"] == 310.0 and d["openProposalNeedsConfirmation"] is True
