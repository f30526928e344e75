"""The weekly report over GraphQL, on SQLite and PostgreSQL, with bearer tokens:
generateWeeklyReport (idempotent per week), reports (keyset) and report(id) (an audited view
with typed sections, the JSON and its SHA-256). Refused calls change nothing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from riskops.audit.models import AuditEvent
from riskops.server.credit.models import Baseline, BaselineSource, Report, Run, Scenario
from riskops.server.credit.reports import last_complete_week
from riskops.server.credit.terms import Severity
from riskops.server.notify.models import OutboxMessage
from tests.support.gql import changes_head

ERRORS = "errors { code message field }"
FIELDS = """id kind periodStart periodEnd createdBy sha256 json
  severityCounts { sev0 sev1 sev2 sev3 none noBaseline }
  topScenariosByTotal { scenario runs total avg baselineMedian varianceMultiplier }
  topSpikeRuns { id runId scenario credits multiplier severity caseNumber }
  policyViolations { kind runPk runId severity caseNumber status }
  baselineCandidates { scenario runs median cv currentMedian changePct }"""

GENERATE = f"""
mutation($start: Date) {{
  generateWeeklyReport(periodStart: $start) {{ report {{ {FIELDS} }} {ERRORS} }}
}}"""

LIST = """
query($first: Int, $after: String) {
  reports(first: $first, after: $after) {
    edges { cursor node { id periodStart sha256 } }
    pageInfo { hasNextPage endCursor }
  }
}"""

ONE = f"query($id: ID!) {{ report(id: $id) {{ {FIELDS} }} }}"

WEEK = "2026-01-05"
START = datetime(2026, 1, 5, tzinfo=UTC)


async def seed(org_id: int) -> Run:
    s = await Scenario.create(org_id=org_id, key="EXPORT", name="Export", created_at=START)
    await Baseline.create(org_id=org_id, scenario_id=s.id, median=10.0, sample_size=20,
                          source=BaselineSource.MANUAL, set_at=START)  # fmt: skip
    return await Run.create(
        org_id=org_id, run_id="RUN-1", scenario_id=s.id, started_at=START + timedelta(hours=2),
        recorded_at=START, credits_total=60.0, baseline_median=10.0, multiplier=6.0,
        severity=Severity.SEV1, misconfig_likelihood="low", policy_number=0,
    )  # fmt: skip


async def state(org_id: int) -> tuple[Any, ...]:
    head = await changes_head(org_id)
    return (
        await Report.filter(org_id=org_id).count(),
        await OutboxMessage.filter(org_id=org_id).count(),
        head.seq if head else 0,
    )


async def secret_for(api: Any, tenant: Any, *roles: str) -> str:
    user, _ = await tenant.user(*roles)
    return str(await api.token(tenant, user))


async def test_generate_view_and_list(api: Any, tenant: Any) -> None:
    run = await seed(tenant.org_id)
    operator = await secret_for(api, tenant, "operator")
    data = await api.data(operator, GENERATE, {"start": WEEK})
    out = data["generateWeeklyReport"]
    assert out["errors"] == []
    r = out["report"]
    assert r["periodStart"].startswith("2026-01-05T00:00:00")
    assert r["severityCounts"] == {"sev0": 0, "sev1": 1, "sev2": 0, "sev3": 0, "none": 0,
                                   "noBaseline": 0}  # fmt: skip
    assert r["topScenariosByTotal"] == [{"scenario": "EXPORT", "runs": 1, "total": 60.0,
        "avg": 60.0, "baselineMedian": 10.0, "varianceMultiplier": 6.0}]  # fmt: skip
    assert r["topSpikeRuns"][0]["id"] == str(run.id) and r["topSpikeRuns"][0]["caseNumber"] is None
    assert r["policyViolations"] == [{"kind": "sev0_sev1_without_case", "runPk": str(run.id),
        "runId": "RUN-1", "severity": "SEV1", "caseNumber": None, "status": None}]  # fmt: skip
    assert hashlib.sha256(r["json"].encode()).hexdigest() == r["sha256"]

    again = await api.data(operator, GENERATE, {"start": WEEK})
    assert again["generateWeeklyReport"]["report"]["id"] == r["id"]
    assert await Report.filter(org_id=tenant.org_id).count() == 1

    viewer = await secret_for(api, tenant, "viewer")
    seq0 = (await state(tenant.org_id))[2]
    one = (await api.data(viewer, ONE, {"id": r["id"]}))["report"]
    assert one == r
    event = await AuditEvent.get(org_id=tenant.org_id, seq=seq0 + 1)
    assert (event.action, event.entity_id) == ("report.view", r["id"])

    listed = (await api.data(viewer, LIST, {"first": 5}))["reports"]
    assert [e["node"]["id"] for e in listed["edges"]] == [r["id"]]
    assert listed["pageInfo"] == {"hasNextPage": False, "endCursor": None}


async def test_default_week_is_the_last_complete_one(api: Any, tenant: Any) -> None:
    operator = await secret_for(api, tenant, "operator")
    r = (await api.data(operator, GENERATE, {}))["generateWeeklyReport"]["report"]
    assert r["periodStart"].startswith(last_complete_week().isoformat())


async def test_refused_generation_changes_nothing(api: Any, tenant: Any) -> None:
    await seed(tenant.org_id)
    viewer = await secret_for(api, tenant, "viewer")
    operator = await secret_for(api, tenant, "operator")
    before = await state(tenant.org_id)
    denied = (await api.data(viewer, GENERATE, {"start": WEEK}))["generateWeeklyReport"]
    assert denied["report"] is None and denied["errors"][0]["code"] == "FORBIDDEN"
    today = datetime.now(UTC).date()
    future = (today + timedelta(days=7 - today.weekday())).isoformat()  # next Monday
    bad = (await api.data(operator, GENERATE, {"start": future}))["generateWeeklyReport"]
    assert bad["report"] is None
    assert bad["errors"][0]["code"] == "INVALID" and bad["errors"][0]["field"] == "period_start"
    assert "in the future" in bad["errors"][0]["message"]
    malformed = await api.gql(operator, GENERATE, {"start": "2026-02-30"})
    assert malformed["errors"] and malformed.get("data") is None
    assert await state(tenant.org_id) == before


async def test_other_orgs_report_is_null_like_a_missing_one(
    api: Any, tenant: Any, other_tenant: Any
) -> None:
    theirs = await secret_for(api, other_tenant, "operator")
    made = (await api.data(theirs, GENERATE, {"start": WEEK}))["generateWeeklyReport"]["report"]
    viewer = await secret_for(api, tenant, "viewer")
    before = await state(tenant.org_id)
    assert (await api.data(viewer, ONE, {"id": made["id"]}))["report"] is None
    assert (await api.data(viewer, ONE, {"id": "999999999"}))["report"] is None
    assert (await api.data(viewer, ONE, {"id": "abc"}))["report"] is None
    assert (await api.data(viewer, LIST, {}))["reports"]["edges"] == []
    assert await state(tenant.org_id) == before


async def test_bad_paging_is_an_error_with_a_code(api: Any, tenant: Any) -> None:
    viewer = await secret_for(api, tenant, "viewer")
    body = await api.gql(viewer, LIST, {"first": 0})
    assert body["errors"][0]["extensions"]["code"] == "INVALID"
    body = await api.gql(viewer, LIST, {"after": "x" * 500})
    assert body["errors"][0]["extensions"]["field"] == "after"
    nobody = await secret_for(api, tenant, "compliance_reviewer")
    body = await api.gql(nobody, LIST, {})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
