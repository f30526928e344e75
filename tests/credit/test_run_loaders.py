"""The run loaders (graphql/credit/loaders.py), on SQLite and PostgreSQL: a page of runs, and a
run's detail with its reruns, artifacts and rerun requests, cost the same number of SQL queries
whatever their size, and the nodes show each run's own scenario key and case number."""

from __future__ import annotations

from datetime import UTC, datetime

from riskops.graphql.credit.loaders import RunLoaders
from riskops.server.credit.models import RerunRequest, RerunStatus, Run, RunArtifact, Scenario
from riskops.server.triage.models import Case
from tests.credit.test_runs_api import RECORD, _user, baseline, key, rid
from tests.support.statements import Statements

NODE = """id runId scenario jobType startedAt finishedAt recordedAt creditsTotal promptTokens
  completionTokens itemsProcessed retryCount hasMaxItemsConfig deploymentRef deployedAt
  dataClassification producerFlags flags explanations baselineMedian multiplier severity
  misconfigLikelihood policyNumber quarantined dispatchBlocked rerunGate caseId caseNumber
  rerunOfId version"""

PAGE = f"""
query($first: Int) {{
  runs(first: $first) {{ edges {{ cursor node {{ {NODE} }} }} pageInfo {{ hasNextPage }} }}
}}"""

DETAIL = f"""
query($id: ID!) {{
  run(id: $id) {{
    run {{ {NODE} }}
    artifacts {{ id uri sha256 managed }}
    rerunRequests {{ id status requestedById decidedById }}
    openRerunRequest {{ id }}
    reruns {{ {NODE} }}
    rerunOf {{ {NODE} }}
    classifiedUnder {{ policyNumber policyInForce }}
  }}
}}"""


async def _ledger(api, tenant, n: int) -> tuple[str, list[str]]:
    """`n` runs over three scenarios, every tenth a SEV1 with its own case; a viewer's token."""
    admin = await api.token(tenant, tenant.admin_user)
    keys = [key() for _ in range(3)]
    for k in keys:
        await baseline(tenant, k)
    items = [
        {"runId": rid(), "scenario": keys[i % 3], "creditsTotal": 600.0 if i % 10 == 0 else 90.0}
        for i in range(n)
    ]
    out = (await api.data(admin, RECORD, {"input": items}))["recordRuns"]
    assert out["itemErrors"] == [] and len(out["recorded"]) == n
    _, viewer = await tenant.user("viewer")
    token = await api.token(tenant, await _user(viewer))
    await api.data(token, PAGE, {"first": 1})  # the token's first use is recorded once
    return token, keys


async def _expected(run_ids: list[int]) -> dict[str, tuple[str, str | None]]:
    """(scenario key, case number) of each run, read straight from the tables."""
    rows = await Run.filter(id__in=run_ids).prefetch_related("scenario", "case")
    return {str(r.id): (r.scenario.key, r.case.display_number if r.case else None) for r in rows}


def _shown(nodes: list[dict]) -> dict[str, tuple[str, str | None]]:
    return {n["id"]: (n["scenario"], n["caseNumber"]) for n in nodes}


async def _cost(api, token: str, query: str, variables: dict) -> tuple:
    """The SQL queries one GraphQL request costs, and its data."""
    with Statements() as sql:
        data = await api.data(token, query, variables)
    return len(sql.sent), data


async def test_a_page_of_runs_costs_the_same_queries_for_5_and_50(api, tenant, monkeypatch):
    token, keys = await _ledger(api, tenant, 60)
    counts = {}
    for size in (5, 50):
        counts[size], data = await _cost(api, token, PAGE, {"first": size})
        nodes = [e["node"] for e in data["runs"]["edges"]]
        assert len(nodes) == size
        assert _shown(nodes) == await _expected([int(n["id"]) for n in nodes])
    assert {n["scenario"] for n in nodes} == set(keys)
    assert sum(n["caseNumber"] is not None for n in nodes) == 5  # every tenth: a SEV1 case
    assert counts[5] == counts[50], counts


async def _with_lineage(tenant, main: Run, parent: Run, others: list[Run], k: int) -> None:
    """`main` reruns `parent` and is rerun by `others`; it has `k` artifacts and requests."""
    await Run.filter(id=main.id).update(rerun_of_id=parent.id)
    await Run.filter(id__in=[o.id for o in others]).update(rerun_of_id=main.id)
    now = datetime.now(UTC)
    for i in range(k):
        await RunArtifact.create(run_id=main.id, uri=f"https://files.example.test/{i}.csv",
                                 sha256=f"{i:064x}")  # fmt: skip
        await RerunRequest.create(
            org_id=tenant.org_id, run_id=main.id, reason=f"attempt {i}",
            status=RerunStatus.DENIED, deny_reason="no", requested_by_id=tenant.admin_user.id,
            decided_by_id=tenant.admin_user.id, requested_at=now, decided_at=now,
        )  # fmt: skip


async def test_a_run_detail_costs_the_same_queries_with_5_or_50_reruns(api, tenant, monkeypatch):
    token, _ = await _ledger(api, tenant, 120)
    runs = await Run.filter(org_id=tenant.org_id).order_by("id")
    # Two lineages, each rerunning a run of another scenario that has a case of its own.
    small, big = runs[1], runs[2]
    parents = [r for r in runs[60:] if r.case_id is not None][:2]
    await _with_lineage(tenant, small, parents[0], runs[3:8], 5)
    await _with_lineage(tenant, big, parents[1], runs[8:58], 50)

    counts = {}
    for k, main, parent in ((5, small, parents[0]), (50, big, parents[1])):
        counts[k], data = await _cost(api, token, DETAIL, {"id": str(main.id)})
        d = data["run"]
        assert len(d["reruns"]) == len(d["artifacts"]) == len(d["rerunRequests"]) == k
        assert d["rerunOf"]["id"] == str(parent.id) and d["rerunOf"]["caseNumber"]
        nodes = [d["run"], d["rerunOf"], *d["reruns"]]
        assert _shown(nodes) == await _expected([int(n["id"]) for n in nodes])
    assert counts[5] == counts[50], counts


async def test_runs_loaded_bare_cost_one_query_per_relation_once(tenant, other_tenant, api,
                                                                 monkeypatch):  # fmt: skip
    """Rows loaded without their relations: one query for the scenarios and one for the cases
    of all of them, none when asked again; another organization's ids resolve to nothing."""
    await _ledger(api, tenant, 60)
    rows = await Run.filter(org_id=tenant.org_id).order_by("id")
    for size in (5, 50):
        loaders = RunLoaders(tenant.admin)
        with Statements() as sql:
            await loaders.load_for(rows[:size])
            assert len(sql.sent) == 2, size  # scenarios, cases
            await loaders.load_for(rows[:size])
            assert len(sql.sent) == 2, size
    expected = await _expected([r.id for r in rows[:50]])
    shown = {str(r.id): (loaders.scenario_key(r), loaders.case_number(r)) for r in rows[:50]}
    assert shown == expected

    theirs = await Scenario.create(org_id=other_tenant.org_id, key=key(), name="x",
                                   created_at=datetime.now(UTC))  # fmt: skip
    their_case = await Case.create(org_id=other_tenant.org_id, number=1, title="theirs",
                                   opened_at=datetime.now(UTC))  # fmt: skip
    stray = Run(id=0, org_id=tenant.org_id, scenario_id=theirs.id, case_id=their_case.id)
    await loaders.load_for([stray])
    assert (loaders.scenario_key(stray), loaders.case_number(stray)) == ("", None)
