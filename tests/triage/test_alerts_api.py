"""Alerts and cases over GraphQL, on SQLite and PostgreSQL, with bearer tokens: ingest, the
queue (filters, keyset paging, a fixed number of SQL queries per page), alert detail with its
audit event, the workflow with expected versions, and cases with maker-checker approval."""

from __future__ import annotations

import uuid

from riskops.audit.models import AuditEvent
from riskops.server.triage.ingest import ingest_alerts
from riskops.server.triage.models import Alert, AlertEvent, Case, CaseStatus
from tests.support.statements import Statements
from tests.triage.test_alert_queue import item

ERRORS = "errors { code message field }"
NODE = """id externalId title score priority status version dueAt transaction
  assignee { id name } ruleHits { ruleId name scoreContribution matchedValues }
  signals { signal value contribution direction }"""

INGEST = f"""
mutation($input: [AlertInput!]!) {{
  ingestAlerts(input: $input) {{
    batchId created unchanged invalid createdIds
    itemErrors {{ index field code message }} {ERRORS}
  }}
}}"""

ALERTS = f"""
query($filter: AlertFilterInput, $sort: AlertSort, $first: Int, $after: String) {{
  alerts(filter: $filter, sort: $sort, first: $first, after: $after) {{
    edges {{ cursor node {{ {NODE} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""

DETAIL = f"""
query($id: ID!) {{
  alert(id: $id) {{
    {NODE}
    history {{ action fromStatus toStatus }}
    infoRequests {{ question }}
    caseIds
    similar {{ id sharedRules sameCustomer }}
  }}
}}"""

ALERT_RESULT = f"alert {{ id status version assignee {{ id }} }} replayed {ERRORS}"

ASSIGN = f"""
mutation($id: ID!, $to: ID!, $v: Int!, $key: String) {{
  assignAlert(alertId: $id, assigneeId: $to, expectedVersion: $v, idempotencyKey: $key) {{
    {ALERT_RESULT}
  }}
}}"""

CLOSE = f"""
mutation($id: ID!, $v: Int!) {{
  closeAlert(alertId: $id, disposition: FALSE_POSITIVE, comment: "known merchant",
             expectedVersion: $v) {{ {ALERT_RESULT} }}
}}"""

REOPEN = f"""
mutation($id: ID!, $v: Int!) {{
  reopenAlert(alertId: $id, reason: "new evidence", expectedVersion: $v) {{ {ALERT_RESULT} }}
}}"""

CASE_RESULT = f"case {{ id number status version requestedById approvedById }} {ERRORS}"

CREATE_CASE = f"""
mutation($title: String!, $ids: [ID!]!) {{
  createCase(title: $title, alertIds: $ids, severity: HIGH) {{ {CASE_RESULT} }}
}}"""

REQUEST = f"""
mutation($id: ID!, $v: Int!) {{
  requestCaseResolution(caseId: $id, expectedVersion: $v, summary: "Merchant whitelisted.",
                        rootCause: FALSE_POSITIVE) {{ {CASE_RESULT} }}
}}"""

APPROVE = f"""
mutation($id: ID!, $v: Int!) {{
  approveCaseResolution(caseId: $id, expectedVersion: $v) {{ {CASE_RESULT} }}
}}"""

CASE = """
query($id: ID!) {
  case(id: $id) { id number title status severity alertIds notes { body } }
}"""


def gql_item(i: int, tag: str, **over):
    """`item` of the queue tests, in the shape of AlertInput (amounts as text)."""
    raw = item(i, tag, **over)
    out = {
        "externalId": raw["external_id"],
        "source": raw["source"],
        "title": raw["title"],
        "score": raw["score"],
        "priority": raw["priority"].upper(),
        "customerRef": raw["customer_ref"],
        "amount": raw["amount"],
        "currency": raw["currency"],
        "transaction": {"merchant": f"shop-{i}", "mcc": "5999"},
        "ruleHits": [
            {"ruleId": h["rule_id"], "name": h["name"],
             "scoreContribution": h["score_contribution"]}
            for h in raw["rule_hits"]
        ],
        "signals": [
            {"signal": s["signal"], "value": s["value"], "contribution": s["contribution"],
             "direction": s["direction"]}
            for s in raw["signals"]
        ],
    }  # fmt: skip
    return out


async def _seed(tenant, n: int) -> tuple[str, list[int]]:
    _, strat = await tenant.user("strategist")
    tag = uuid.uuid4().hex[:6]
    result = await ingest_alerts(strat, [item(i, tag) for i in range(n)])
    assert not result.errors
    return tag, [c.alert_id for c in result.created]


# --- ingest ------------------------------------------------------------------------------------


async def test_ingest_stores_valid_items_and_reports_invalid_ones_by_index(tenant, api):
    strat_user, _ = await tenant.user("strategist")
    secret = await api.token(tenant, strat_user)
    tag = uuid.uuid4().hex[:6]
    items = [gql_item(0, tag), gql_item(1, tag, score=150), gql_item(2, tag, currency="EURO")]
    items.append(gql_item(3, tag))

    out = (await api.data(secret, INGEST, {"input": items}))["ingestAlerts"]

    assert out["errors"] == []
    assert (out["created"], out["unchanged"], out["invalid"]) == (2, 0, 2)
    assert [(e["index"], e["field"], e["code"]) for e in out["itemErrors"]] == [
        (1, "score", "INVALID"),
        (2, "currency", "INVALID"),
    ]
    stored = await Alert.filter(org_id=tenant.org_id).order_by("external_id")
    assert [a.external_id for a in stored] == [f"EXT-{tag}-000", f"EXT-{tag}-003"]
    assert sorted(int(i) for i in out["createdIds"]) == sorted(a.id for a in stored)
    assert stored[0].transaction == {"merchant": "shop-0", "mcc": "5999"}

    again = (await api.data(secret, INGEST, {"input": [gql_item(0, tag)]}))["ingestAlerts"]
    assert (again["created"], again["unchanged"]) == (0, 1)
    assert await Alert.filter(org_id=tenant.org_id).count() == 2


async def test_ingest_refuses_1001_items_and_viewers(tenant, api):
    strat_user, _ = await tenant.user("strategist")
    viewer_user, _ = await tenant.user("viewer")
    tag = uuid.uuid4().hex[:6]

    too_many = [gql_item(i, tag) for i in range(1001)]
    out = await api.data(await api.token(tenant, strat_user), INGEST, {"input": too_many})
    out = out["ingestAlerts"]
    assert [(e["code"], e["field"]) for e in out["errors"]] == [("INVALID", "input")]
    assert "at most 1000" in out["errors"][0]["message"]
    assert out["created"] == 0 and out["batchId"] is None

    viewer = await api.token(tenant, viewer_user)
    out = (await api.data(viewer, INGEST, {"input": [gql_item(0, tag)]}))["ingestAlerts"]
    assert [e["code"] for e in out["errors"]] == ["FORBIDDEN"]
    assert await Alert.filter(org_id=tenant.org_id).count() == 0


# --- queue -------------------------------------------------------------------------------------


async def test_queue_filters_and_pages_every_alert_once_in_score_order(tenant, other_tenant, api):
    tag, _ = await _seed(tenant, 30)
    await _seed(other_tenant, 5)
    viewer_user, _ = await tenant.user("viewer")
    secret = await api.token(tenant, viewer_user)

    flt = {"priority": ["CRITICAL", "HIGH"], "text": tag}
    expected = (
        await Alert.filter(org_id=tenant.org_id, priority__in=["critical", "high"])
        .order_by("-score", "-id")
        .values_list("id", flat=True)
    )
    seen: list[int] = []
    after = None
    while True:
        page = (await api.data(secret, ALERTS, {"filter": flt, "first": 4, "after": after}))[
            "alerts"
        ]
        for edge in page["edges"]:
            node = edge["node"]
            assert node["priority"] in ("CRITICAL", "HIGH")
            n = int(node["externalId"][-3:])
            assert len(node["ruleHits"]) == (n % 2 == 0) + (n % 3 == 0)
            assert [s["value"] for s in node["signals"]] == [n]
            seen.append(int(node["id"]))
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert seen == list(expected) and len(seen) == 16  # priorities cycle; i % 4 in (0, 1)

    bad = await api.gql(secret, ALERTS, {"filter": {"scoreMin": 120}})
    assert bad["errors"][0]["extensions"]["code"] == "INVALID"


COUNTED = """
query($filter: AlertFilterInput, $sort: AlertSort, $first: Int) {
  alerts(filter: $filter, sort: $sort, first: $first) {
    totalCount totalCountIsExact edges { node { id amount currency } }
  }
}"""


async def test_queue_total_count_rule_case_currency_and_every_error(tenant, api):
    tag, _ = await _seed(tenant, 30)
    viewer_user, _ = await tenant.user("viewer")
    secret = await api.token(tenant, viewer_user)
    page = (await api.data(secret, COUNTED, {"first": 5}))["alerts"]
    assert page["totalCount"] == 30 and page["totalCountIsExact"] and len(page["edges"]) == 5
    # the same filter: rule ids in any case (RB-… fires on every third item)
    flt = {"ruleId": f"rb-{tag}"}
    page = (await api.data(secret, COUNTED, {"filter": flt, "first": 3}))["alerts"]
    assert page["totalCount"] == 10 and len(page["edges"]) == 3
    # amount sort within one currency, named in any case
    eur = {"currency": "eur"}
    page = await api.data(secret, COUNTED, {"filter": eur, "sort": "AMOUNT", "first": 50})
    amounts = [float(e["node"]["amount"]) for e in page["alerts"]["edges"]]
    assert amounts == sorted(amounts, reverse=True) and len(amounts) == 27  # every 10th: none
    assert {e["node"]["currency"] for e in page["alerts"]["edges"]} == {"EUR"}

    bad = await api.gql(secret, COUNTED, {"sort": "AMOUNT"})
    assert bad["data"] is None
    ext = bad["errors"][0]["extensions"]
    assert ext["code"] == "INVALID" and ext["field"] == "currency"
    assert "not converted" in bad["errors"][0]["message"]
    bad = await api.gql(
        secret, COUNTED,
        {"filter": {"scoreMin": 120, "team": "x", "text": "X1", "amountMin": "5"}},
    )  # fmt: skip
    ext = bad["errors"][0]["extensions"]
    assert [e["field"] for e in ext["errors"]] == ["score_min", "currency", "team", "text"]
    assert [e["argument"] for e in ext["errors"]] == [
        "filter.scoreMin", "filter.currency", "filter.team", "filter.text",
    ]  # fmt: skip
    assert all(e["message"] in bad["errors"][0]["message"] for e in ext["errors"])


async def test_signals_come_largest_first_on_every_alert(tenant, api):
    _, strat = await tenant.user("strategist")
    tag = uuid.uuid4().hex[:6]
    signals = [
        {"signal": "b_small", "value": 1, "contribution": 1, "direction": "up"},
        {"signal": "c_down", "value": 2, "contribution": -9, "direction": "down"},
        {"signal": "a_big", "value": 3, "contribution": 9, "direction": "up"},
    ]
    result = await ingest_alerts(
        strat, [item(1, tag, signals=signals), item(2, tag, signals=signals[::-1])]
    )
    viewer_user, _ = await tenant.user("viewer")
    secret = await api.token(tenant, viewer_user)
    page = (await api.data(secret, ALERTS, {"filter": {"text": tag}}))["alerts"]
    for edge in page["edges"]:
        assert [s["signal"] for s in edge["node"]["signals"]] == ["a_big", "c_down", "b_small"]
    one = await api.data(
        secret, "query($id: ID!) { alert(id: $id) { signals { signal } } }",
        {"id": str(result.created[1].alert_id)},
    )  # fmt: skip
    assert [s["signal"] for s in one["alert"]["signals"]] == ["a_big", "c_down", "b_small"]


async def test_a_page_costs_the_same_sql_queries_for_10_50_200(tenant, api):
    _, ids = await _seed(tenant, 200)
    strat_user, _ = await tenant.user("strategist", name="Sam Strategist")
    await Alert.filter(id__in=ids).update(assignee_id=strat_user.id)
    secret = await api.token(tenant, strat_user)
    await api.data(secret, ALERTS, {"first": 1})  # the token's first use is recorded once

    counts = {}
    for size in (10, 50, 200):
        with Statements() as sql:
            edges = (await api.data(secret, ALERTS, {"first": size}))["alerts"]["edges"]
        counts[size] = len(sql.sent)
        assert len(edges) == size
        assert {e["node"]["assignee"]["name"] for e in edges} == {"Sam Strategist"}
        assert sum(len(e["node"]["ruleHits"]) for e in edges) > 0
    assert 0 < counts[10] == counts[50] == counts[200], counts

    # Nested relations not selected are not loaded; selected through a fragment, they are.
    with Statements() as sql:
        await api.data(secret, "{ alerts(first: 50) { edges { node { id score } } } }")
    assert len(sql.sent) == counts[50] - 3  # no rule hits, signals or assignees query
    fragment = """query { alerts(first: 5) { edges { node { ...N } } } }
      fragment N on Alert { id ... on Alert { ruleHits { ruleId } } }"""
    with Statements() as sql:
        edges = (await api.data(secret, fragment))["alerts"]["edges"]
    assert len(sql.sent) == counts[50] - 2 and any(e["node"]["ruleHits"] for e in edges)


# --- detail ------------------------------------------------------------------------------------


async def test_alert_detail_writes_one_view_event_and_hides_other_orgs(tenant, other_tenant, api):
    _, ids = await _seed(tenant, 6)
    _, other_ids = await _seed(other_tenant, 1)
    viewer_user, _ = await tenant.user("viewer")
    secret = await api.token(tenant, viewer_user)

    def views():
        return AuditEvent.filter(org_id=tenant.org_id, action="alert.view").count()

    before = await views()
    detail = (await api.data(secret, DETAIL, {"id": str(ids[0])}))["alert"]
    assert detail["id"] == str(ids[0])
    assert detail["externalId"].endswith("-000")
    assert [r["ruleId"].split("-")[0] for r in detail["ruleHits"]] == ["RA", "RB"]
    assert [h["action"] for h in detail["history"]] == ["ingest"]
    assert detail["caseIds"] == [] and detail["infoRequests"] == []
    assert detail["similar"] and all(s["id"] != str(ids[0]) for s in detail["similar"])
    assert await views() == before + 1

    for missing in (str(other_ids[0]), "2147483000"):
        assert (await api.data(secret, DETAIL, {"id": missing}))["alert"] is None
    assert await views() == before + 1


# --- workflow ----------------------------------------------------------------------------------


async def test_workflow_happy_path_and_a_stale_version_is_a_conflict(tenant, api):
    _, ids = await _seed(tenant, 1)
    strat_user, _ = await tenant.user("strategist")
    approver_user, _ = await tenant.user("approver")
    secret = await api.token(tenant, strat_user)
    alert_id = str(ids[0])

    vars_ = {"id": alert_id, "to": str(strat_user.id), "v": 1, "key": "assign-1"}
    out = (await api.data(secret, ASSIGN, vars_))["assignAlert"]
    assert out["errors"] == []
    assert out["alert"] == {
        "id": alert_id, "status": "ASSIGNED", "version": 2, "assignee": {"id": str(strat_user.id)}
    }  # fmt: skip
    replay = (await api.data(secret, ASSIGN, vars_))["assignAlert"]
    assert replay["replayed"] is True and replay["alert"]["version"] == 2

    events = await AlertEvent.filter(alert_id=ids[0]).count()
    stale = (await api.data(secret, CLOSE, {"id": alert_id, "v": 1}))["closeAlert"]
    assert [(e["code"], e["field"]) for e in stale["errors"]] == [("CONFLICT", "expected_version")]
    assert stale["alert"]["status"] == "ASSIGNED" and stale["alert"]["version"] == 2
    alert = await Alert.get(id=ids[0])
    assert (alert.status.value, alert.version) == ("assigned", 2)
    assert await AlertEvent.filter(alert_id=ids[0]).count() == events

    closed = (await api.data(secret, CLOSE, {"id": alert_id, "v": 2}))["closeAlert"]
    assert closed["errors"] == [] and closed["alert"]["status"] == "CLOSED"

    refused = (await api.data(secret, REOPEN, {"id": alert_id, "v": 3}))["reopenAlert"]
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    approver = await api.token(tenant, approver_user)
    reopened = (await api.data(approver, REOPEN, {"id": alert_id, "v": 3}))["reopenAlert"]
    assert reopened["errors"] == [] and reopened["alert"]["status"] != "CLOSED"
    assert reopened["alert"]["version"] == 4


async def test_other_orgs_alert_is_not_found_exactly_like_a_missing_one(tenant, other_tenant, api):
    _, other_ids = await _seed(other_tenant, 1)
    strat_user, _ = await tenant.user("strategist")
    secret = await api.token(tenant, strat_user)
    missing = 2147483000

    answers = []
    for target in (other_ids[0], missing):
        vars_ = {"id": str(target), "to": str(strat_user.id), "v": 1}
        out = (await api.data(secret, ASSIGN, vars_))["assignAlert"]
        assert out["alert"] is None
        answers.append(
            [(e["code"], e["message"].replace(str(target), "<id>")) for e in out["errors"]]
        )
    assert answers[0] == answers[1] and answers[0][0][0] == "NOT_FOUND"
    other = await Alert.get(id=other_ids[0])
    assert (other.status.value, other.version, other.assignee_id) == ("new", 1, None)


# --- cases -------------------------------------------------------------------------------------


async def test_case_is_approved_by_a_second_approver_never_by_its_requester(tenant, api):
    _, ids = await _seed(tenant, 3)
    strat_user, _ = await tenant.user("strategist")
    approver_user, _ = await tenant.user("approver")
    second_user, _ = await tenant.user("approver")
    strat = await api.token(tenant, strat_user)
    approver = await api.token(tenant, approver_user)
    second = await api.token(tenant, second_user)

    made = (
        await api.data(
            strat, CREATE_CASE, {"title": "Card testing ring", "ids": [str(i) for i in ids[:2]]}
        )
    )["createCase"]
    assert made["errors"] == [] and made["case"]["status"] == "OPEN"
    case_id = made["case"]["id"]
    assert made["case"]["number"].startswith("CASE-")

    # Requested by the strategist, approved by an approver: resolved.
    asked = (await api.data(strat, REQUEST, {"id": case_id, "v": 1}))["requestCaseResolution"]
    assert asked["case"]["status"] == "PENDING_APPROVAL"
    done = (await api.data(approver, APPROVE, {"id": case_id, "v": 2}))["approveCaseResolution"]
    assert done["errors"] == []
    assert done["case"]["status"] == "RESOLVED"
    assert done["case"]["approvedById"] == str(approver_user.id)

    detail = (await api.data(strat, CASE, {"id": case_id}))["case"]
    assert detail["status"] == "RESOLVED"
    assert detail["alertIds"] == [str(i) for i in sorted(ids[:2])]

    # An approver who requested it cannot approve it; another approver can.
    made = await api.data(approver, CREATE_CASE, {"title": "Geo", "ids": [str(ids[2])]})
    own_id = made["createCase"]["case"]["id"]
    await api.data(approver, REQUEST, {"id": own_id, "v": 1})
    own = (await api.data(approver, APPROVE, {"id": own_id, "v": 2}))["approveCaseResolution"]
    assert [e["code"] for e in own["errors"]] == ["FORBIDDEN"] and own["case"] is None
    case = await Case.get(id=int(own_id))
    assert (case.status, case.version, case.approved_by_id) == (
        CaseStatus.PENDING_APPROVAL, 2, None
    )  # fmt: skip
    ok = (await api.data(second, APPROVE, {"id": own_id, "v": 2}))["approveCaseResolution"]
    assert ok["case"]["status"] == "RESOLVED"


async def test_cases_list_and_missing_case_is_null(tenant, other_tenant, api):
    _, ids = await _seed(tenant, 2)
    _, other_ids = await _seed(other_tenant, 1)
    strat_user, _ = await tenant.user("strategist")
    strat = await api.token(tenant, strat_user)
    other_user, _ = await other_tenant.user("strategist")
    other = await api.token(other_tenant, other_user)
    theirs = (await api.data(other, CREATE_CASE, {"title": "Theirs", "ids": [str(other_ids[0])]}))[
        "createCase"
    ]["case"]["id"]
    mine = [
        (await api.data(strat, CREATE_CASE, {"title": f"Mine {i}", "ids": [str(i)]}))["createCase"][
            "case"
        ]["id"]
        for i in ids
    ]

    q = "query($a: String) { cases(first: 1, after: $a) { edges { cursor node { id } } " \
        "pageInfo { hasNextPage endCursor } } }"  # fmt: skip
    first = (await api.data(strat, q))["cases"]
    assert [e["node"]["id"] for e in first["edges"]] == [mine[1]]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await api.data(strat, q, {"a": first["pageInfo"]["endCursor"]}))["cases"]
    assert [e["node"]["id"] for e in rest["edges"]] == [mine[0]]
    assert rest["pageInfo"]["hasNextPage"] is False

    assert (await api.data(strat, CASE, {"id": theirs}))["case"] is None
    assert (await api.data(strat, CASE, {"id": "2147483000"}))["case"] is None


async def test_case_notes_links_and_a_stale_version_carries_the_current_case(tenant, api):
    _, ids = await _seed(tenant, 3)
    strat_user, _ = await tenant.user("strategist")
    strat = await api.token(tenant, strat_user)
    made = await api.data(strat, CREATE_CASE, {"title": "Ring", "ids": [str(ids[0])]})
    case_id = made["createCase"]["case"]["id"]

    link = f"""mutation($id: ID!, $ids: [ID!]!) {{
      linkAlertsToCase(caseId: $id, alertIds: $ids) {{ {CASE_RESULT} }} }}"""
    linked = await api.data(strat, link, {"id": case_id, "ids": [str(ids[1]), str(ids[2])]})
    assert linked["linkAlertsToCase"]["errors"] == []
    too_many = [str(i) for i in range(1, 102)]
    capped = (await api.data(strat, link, {"id": case_id, "ids": too_many}))["linkAlertsToCase"]
    assert [(e["code"], e["field"]) for e in capped["errors"]] == [("INVALID", "alert_ids")]

    note = f"""mutation($id: ID!) {{
      addCaseNote(caseId: $id, body: "Called the customer.\\nNo answer.") {{
        note {{ id body authorId }} {ERRORS} }} }}"""
    added = (await api.data(strat, note, {"id": case_id}))["addCaseNote"]
    assert added["note"]["body"] == "Called the customer.\nNo answer."
    assert added["note"]["authorId"] == str(strat_user.id)

    update = f"""mutation($id: ID!, $v: Int!) {{
      updateCase(caseId: $id, expectedVersion: $v, status: INVESTIGATING) {{ {CASE_RESULT} }}
    }}"""
    moved = (await api.data(strat, update, {"id": case_id, "v": 1}))["updateCase"]
    assert moved["case"]["status"] == "INVESTIGATING" and moved["case"]["version"] == 2
    stale = (await api.data(strat, REQUEST, {"id": case_id, "v": 1}))["requestCaseResolution"]
    assert [e["code"] for e in stale["errors"]] == ["CONFLICT"]
    assert stale["case"]["status"] == "INVESTIGATING" and stale["case"]["version"] == 2
    case = await Case.get(id=int(case_id))
    assert (case.status, case.version, case.requested_by_id) == (
        CaseStatus.INVESTIGATING, 2, None
    )  # fmt: skip

    detail = (await api.data(strat, CASE, {"id": case_id}))["case"]
    assert detail["alertIds"] == [str(i) for i in sorted(ids)]
    assert [n["body"] for n in detail["notes"]] == ["Called the customer.\nNo answer."]


async def test_cases_filter_by_severity_assignee_and_text(tenant, api):
    _, ids = await _seed(tenant, 3)
    strat_user, _ = await tenant.user("strategist")
    strat = await api.token(tenant, strat_user)
    made = []
    for title, severity in (("Card ring", "HIGH"), ("Geo drift", "LOW")):
        q = f"""mutation($ids: [ID!]!) {{ createCase(title: "{title}", alertIds: $ids,
          severity: {severity}) {{ {CASE_RESULT} }} }}"""
        made.append((await api.data(strat, q, {"ids": [str(ids[0])]}))["createCase"]["case"])
    listing = """query($sev: CaseSeverity, $text: String, $who: ID) {
      cases(severity: $sev, text: $text, assigneeId: $who) { edges { node { id severity } } } }"""

    async def ids_of(**variables):
        data = await api.data(strat, listing, variables)
        return [e["node"]["id"] for e in data["cases"]["edges"]]

    assert await ids_of(sev="HIGH") == [made[0]["id"]]
    assert await ids_of(text="geo") == [made[1]["id"]]
    assert await ids_of(text=made[0]["number"]) == [made[0]["id"]]
    assert await ids_of(who=str(strat_user.id)) == []
    bad = await api.gql(strat, listing, {"who": "nobody"})
    assert bad["errors"][0]["extensions"]["code"] == "INVALID"


async def test_case_alert_ids_cap_is_the_services_and_creates_nothing(tenant, api):
    _, ids = await _seed(tenant, 1)
    strat_user, _ = await tenant.user("strategist")
    strat = await api.token(tenant, strat_user)
    too_many = [str(ids[0])] * 101
    out = (await api.data(strat, CREATE_CASE, {"title": "Big", "ids": too_many}))["createCase"]
    assert out["case"] is None
    assert out["errors"] == [
        {"code": "INVALID", "field": "alert_ids",
         "message": "Alerts has 101 entries; the limit is 100."}
    ]  # fmt: skip
    assert not await Case.filter(org_id=tenant.org_id).exists()
