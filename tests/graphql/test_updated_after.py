"""Incremental sync over GraphQL, on SQLite and PostgreSQL: `alerts`, `cases` and `runs` with
`updatedAfter: T` list exactly the rows changed after T (a change after T shows up, an
untouched row does not, another organization's rows never), oldest change first on
(updatedAt, id), cursor-paged; every kind of change bumps updatedAt (an alert's assignment, a
case's note and status, a run's rerun request, release and rerun). Bad input is refused with
its field and changes nothing; a role without the read permission is refused first."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from riskops.server.credit import quarantine, reruns
from riskops.server.credit import recording as rec
from riskops.server.credit.models import Baseline, BaselineSource, Run, Scenario
from riskops.server.identity.models import User
from riskops.server.triage import alerts as alert_actions
from riskops.server.triage import case_create, cases
from riskops.server.triage.ingest import ingest_alerts
from riskops.server.triage.models import Alert, Case, CaseStatus
from tests.support.gql import org_state

ALERTS = """
query($t: DateTime, $first: Int, $after: String, $sort: AlertSort) {
  alerts(updatedAfter: $t, first: $first, after: $after, sort: $sort) {
    edges { cursor node { id externalId updatedAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""

CASES = """
query($t: DateTime, $first: Int, $after: String) {
  cases(updatedAfter: $t, first: $first, after: $after) {
    edges { cursor node { id number updatedAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""

RUNS = """
query($t: DateTime, $first: Int, $after: String) {
  runs(updatedAfter: $t, first: $first, after: $after) {
    edges { cursor node { id runId updatedAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def tag() -> str:
    return uuid.uuid4().hex[:8]


def alert_item(ext: str) -> dict[str, object]:
    return {"external_id": ext, "source": "rules", "title": "Card testing burst",
            "score": 50.0, "priority": "high"}  # fmt: skip


async def user_of(principal) -> User:  # type: ignore[no-untyped-def]
    return await User.get(id=principal.user_id)


async def everything(api, token: str, doc: str, field: str, t: str, first: int = 2) -> list[dict]:  # type: ignore[no-untyped-def]
    """Every node of the sync, page by page."""
    nodes: list[dict] = []
    after = None
    for _ in range(20):
        page = (await api.data(token, doc, {"t": t, "first": first, "after": after}))[field]
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("the sync did not end")


def in_order(nodes: list[dict]) -> bool:
    keys = [(datetime.fromisoformat(n["updatedAt"]), int(n["id"])) for n in nodes]
    return keys == sorted(keys)


async def test_alerts_changed_after_t(api, tenant, other_tenant):
    _, strat = await tenant.user("strategist")
    t0 = tag()
    made = await ingest_alerts(strat, [alert_item(f"S-{t0}-{i}") for i in range(4)])
    ids = [c.alert_id for c in made.created]
    _, other_strat = await other_tenant.user("strategist")
    theirs = (await ingest_alerts(other_strat, [alert_item(f"S-{t0}-x")])).created[0].alert_id
    t = datetime.now(UTC)
    for pk in (ids[2], ids[0], ids[3]):
        a = await Alert.get(id=pk)
        await alert_actions.assign_alert(
            strat, pk, assignee_id=strat.user_id, expected_version=a.version
        )
    a = await Alert.get(id=theirs)  # changed after t too, in the other organization
    await alert_actions.assign_alert(
        other_strat, theirs, assignee_id=other_strat.user_id, expected_version=a.version
    )

    token = await api.token(tenant, await user_of(strat))
    nodes = await everything(api, token, ALERTS, "alerts", t.isoformat())
    assert [int(n["id"]) for n in nodes] == [ids[2], ids[0], ids[3]]  # oldest change first
    assert in_order(nodes) and all(datetime.fromisoformat(n["updatedAt"]) > t for n in nodes)
    # The last cursor is the position of the next pass: nothing changed since, nothing listed;
    # a change since, and only it, is listed.
    last = (await api.data(token, ALERTS, {"t": t.isoformat(), "first": 10}))["alerts"]
    cursor = last["pageInfo"]["endCursor"]
    again = await api.data(token, ALERTS, {"t": t.isoformat(), "after": cursor})
    assert again["alerts"]["edges"] == []
    a = await Alert.get(id=ids[1])
    await alert_actions.assign_alert(
        strat, ids[1], assignee_id=strat.user_id, expected_version=a.version
    )
    again = await api.data(token, ALERTS, {"t": t.isoformat(), "after": cursor})
    assert [int(e["node"]["id"]) for e in again["alerts"]["edges"]] == [ids[1]]
    # The initial full sync: sort UPDATED without updatedAfter, every alert of the organization.
    full = (await api.data(token, ALERTS, {"sort": "UPDATED", "first": 50}))["alerts"]["edges"]
    assert sorted(int(e["node"]["id"]) for e in full) == sorted(ids)
    assert in_order([e["node"] for e in full])


async def test_cases_changed_after_t(api, tenant, other_tenant):
    _, strat = await tenant.user("strategist")
    t0 = tag()
    made = await ingest_alerts(strat, [alert_item(f"C-{t0}-{i}") for i in range(3)])
    a1, a2, a3 = (c.alert_id for c in made.created)
    c1 = (await case_create.create_case(strat, title="One", alert_ids=[a1])).case
    c2 = (await case_create.create_case(strat, title="Two", alert_ids=[a2])).case
    c3 = (await case_create.create_case(strat, title="Three", alert_ids=[a3])).case
    _, other_strat = await other_tenant.user("strategist")
    o_alert = (await ingest_alerts(other_strat, [alert_item(f"C-{t0}-x")])).created[0].alert_id
    theirs = (await case_create.create_case(other_strat, title="Theirs", alert_ids=[o_alert])).case
    t = datetime.now(UTC)
    await cases.update_case(
        strat, c3.id, status=CaseStatus.INVESTIGATING.value, expected_version=c3.version
    )
    await cases.add_case_note(strat, c1.id, "Looked at it.")
    await cases.add_case_note(other_strat, theirs.id, "Theirs changed too.")

    token = await api.token(tenant, await user_of(strat))
    nodes = await everything(api, token, CASES, "cases", t.isoformat(), first=1)
    assert [int(n["id"]) for n in nodes] == [c3.id, c1.id]  # c2 untouched, theirs never
    assert in_order(nodes)
    # Linking an alert is a change too; the case list without updatedAfter is unchanged.
    made = await ingest_alerts(strat, [alert_item(f"C-{t0}-9")])
    t2 = datetime.now(UTC)
    await cases.link_alerts(strat, c2.id, [made.created[0].alert_id])
    nodes = await everything(api, token, CASES, "cases", t2.isoformat())
    assert [int(n["id"]) for n in nodes] == [c2.id]
    plain = (await api.data(token, CASES, {"first": 50}))["cases"]["edges"]
    assert [int(e["node"]["id"]) for e in plain] == [c3.id, c2.id, c1.id]  # newest first
    assert [e["cursor"] for e in plain] == [str(c3.id), str(c2.id), str(c1.id)]


async def _scenario(org_id: int) -> str:
    key = f"SYNC_{tag().upper()}"
    s = await Scenario.create(org_id=org_id, key=key, name=key, created_at=datetime.now(UTC))
    await Baseline.create(
        org_id=org_id, scenario_id=s.id, median=100.0, cv=0.1, sample_size=20,
        source=BaselineSource.MANUAL, set_at=datetime.now(UTC),
    )  # fmt: skip
    return key


def run_item(key: str, credits: float, run_id: str, **over: object) -> dict[str, object]:
    started = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    return {"run_id": run_id, "scenario": key, "credits_total": credits, "started_at": started,
            **over}  # fmt: skip


async def test_runs_changed_after_t(api, tenant, other_tenant):
    key = await _scenario(tenant.org_id)
    spike, calm, later = f"RUN-{tag()}", f"RUN-{tag()}", f"RUN-{tag()}"
    out = await rec.record_runs(
        tenant.admin,
        [run_item(key, 2000.0, spike, data_classification="PII"), run_item(key, 90.0, calm),
         run_item(key, 95.0, later)],
    )  # fmt: skip
    pk = {r.run_id: r.pk for r in out.recorded}
    other_key = await _scenario(other_tenant.org_id)
    await rec.record_runs(other_tenant.admin, [run_item(other_key, 90.0, f"RUN-{tag()}")])
    _, op = await tenant.user("operator")
    _, ap = await tenant.user("approver")
    t = datetime.now(UTC)

    # A rerun request shows on its run; an untouched run does not.
    req = await reruns.request_rerun(op, pk[spike], "max_items now 1000")
    token = await api.token(tenant, await user_of(ap))
    nodes = await everything(api, token, RUNS, "runs", t.isoformat())
    assert [n["runId"] for n in nodes] == [spike]
    t2 = datetime.now(UTC)
    await reruns.approve_rerun(ap, req.id, "max_items 1000", expected_version=req.version)
    assert [n["runId"] for n in await everything(api, token, RUNS, "runs", t2.isoformat())] == [
        spike
    ]
    # Its quarantine released (the case resolved first), then a rerun recorded: the original
    # changes with the rerun, which is new; the calm runs stay out.
    run = await Run.get(id=pk[spike])
    await Case.filter(id=run.case_id).update(status=CaseStatus.RESOLVED)
    t3 = datetime.now(UTC)
    await quarantine.release_quarantine(ap, pk[spike], "false positive", expected_version=1)
    rerun_id = f"RUN-{tag()}"
    await rec.record_runs(tenant.admin, [run_item(key, 90.0, rerun_id, rerun_of=spike)])
    nodes = await everything(api, token, RUNS, "runs", t3.isoformat(), first=1)
    assert sorted(n["runId"] for n in nodes) == sorted([spike, rerun_id])
    assert in_order(nodes)
    assert calm not in [
        n["runId"] for n in await everything(api, token, RUNS, "runs", t.isoformat())
    ]


async def test_bad_input_is_refused_with_its_field_and_changes_nothing(api, tenant):
    _, strat = await tenant.user("strategist")
    _, viewer = await tenant.user("viewer")
    _, product = await tenant.user("product_reviewer")
    vt = await api.token(tenant, await user_of(viewer))
    pt = await api.token(tenant, await user_of(product))
    st = await api.token(tenant, await user_of(strat))
    before = await org_state(tenant.org_id)
    naive = "2026-12-01T00:00:00"
    for doc, field in ((ALERTS, "alerts"), (CASES, "cases"), (RUNS, "runs")):
        body = await api.gql(vt, doc, {"t": naive})
        err = body["errors"][0]
        assert err["extensions"]["code"] == "INVALID", body
        assert "time zone" in err["message"] and err["extensions"]["field"] == "updated_after"
        body = await api.gql(vt, doc, {"t": "2026-12-01T00:00:00Z", "after": "garbage"})
        assert body["errors"][0]["extensions"]["field"] == "after", body
        # Permission first: a role that may not read the list is refused before its input.
        body = await api.gql(pt, doc, {"t": naive})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (field, body)
    body = await api.gql(st, RUNS, {"t": naive})  # strategists do not read runs
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # A cursor of the plain list is not a position of a sync, and the other way round.
    body = await api.gql(vt, ALERTS, {"t": "2026-12-01T00:00:00Z", "sort": "SCORE",
                                      "after": _alert_cursor()})  # fmt: skip
    assert body["errors"][0]["extensions"]["field"] == "after"
    assert await org_state(tenant.org_id) == before


def _alert_cursor() -> str:
    import base64

    return base64.urlsafe_b64encode(b"updated:2026-12-01T00:00:00+00:00:5").decode()
