"""Similar alerts (issue 11, item 11): the same customer, account or merchant weighs at least as
much as shared rules, so an alert whose customer has other alerts shows them however many alerts
share its rules; each says why it is similar, on the page and over GraphQL. SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid

from riskops.server.triage import queue as q
from riskops.server.triage.alerts import close_alert
from riskops.server.triage.ingest import ingest_alerts
from riskops.server.triage.models import Alert
from riskops.server.triage.similar import SIMILAR_LIMIT, similar_alerts, similar_closed_alerts
from tests.triage.test_alert_queue import item
from tests.triage.test_alerts_api import gql_item


def _rules(t: str, *names: str) -> list[dict[str, object]]:
    return [{"rule_id": f"{r}-{t}", "name": r, "score_contribution": 5} for r in names]


async def _customer_and_rule_sharers(tenant) -> tuple[object, dict[str, list[int]], int]:
    """A customer with 8 other alerts (no shared rule, another signal profile), 20 alerts of
    other customers that share both of the alert's rules and its signal profile, then the
    alert."""
    _, strat = await tenant.user("strategist")
    t = uuid.uuid4().hex[:6]
    other_signal = [{"signal": "geo", "value": 1, "contribution": -1.5, "direction": "down"}]
    customer = [
        item(n, t, external_id=f"cust-{n}-{t}", customer_ref=f"C-{t}", rule_hits=[],
             signals=other_signal)
        for n in range(8)
    ]  # fmt: skip
    sharers = [
        item(n, t, external_id=f"rule-{n}-{t}", customer_ref=f"other-{n}-{t}",
             rule_hits=_rules(t, "VEL", "GEO"))
        for n in range(20)
    ]  # fmt: skip
    made = await ingest_alerts(strat, customer + sharers)
    ids = {"customer": [], "sharers": []}
    for c in made.created:
        ids["customer" if c.external_id.startswith("cust-") else "sharers"].append(c.alert_id)
    target = await ingest_alerts(
        strat,
        [item(0, t, external_id=f"target-{t}", customer_ref=f"C-{t}",
              rule_hits=_rules(t, "VEL", "GEO"))],
    )  # fmt: skip
    return strat, ids, target.created[0].alert_id


async def test_the_same_customer_ranks_with_alerts_sharing_every_rule(tenant):
    strat, ids, target = await _customer_and_rule_sharers(tenant)

    detail = await q.get_alert_detail(strat, target)

    shown = [s.alert.id for s in detail.similar]
    assert len(shown) == 10
    assert set(ids["customer"]) <= set(shown), "the customer's other alerts are not shown"
    assert shown[:8] == sorted(ids["customer"], reverse=True)  # tie: same customer first
    assert set(shown[8:]) <= set(ids["sharers"])
    first, last = detail.similar[0], detail.similar[-1]
    assert first.reasons == ["same customer"]
    assert last.reasons == ["2 shared rules", "signals 100% alike"]
    assert first.score >= last.score


async def test_the_same_account_and_merchant_count_too(tenant):
    _, strat = await tenant.user("strategist")
    t = uuid.uuid4().hex[:6]
    quiet = [{"signal": "other", "value": 1, "contribution": 1, "direction": "up"}]
    items = [
        item(0, t, external_id=f"acct-{t}", customer_ref=f"x-{t}", account_ref=f"A-{t}",
             rule_hits=[], signals=quiet),
        item(1, t, external_id=f"merch-{t}", customer_ref=f"y-{t}", rule_hits=[], signals=quiet,
             transaction={"merchant": f"shop-{t}"}),
        item(2, t, external_id=f"rule-{t}", customer_ref=f"z-{t}", rule_hits=_rules(t, "A", "B"),
             signals=quiet),
        item(3, t, external_id=f"nothing-{t}", customer_ref=f"w-{t}", rule_hits=[], signals=quiet),
        item(4, t, external_id=f"target-{t}", customer_ref=f"v-{t}", account_ref=f"A-{t}",
             rule_hits=_rules(t, "A", "B", "C"), transaction={"merchant": f"shop-{t}"}),
    ]  # fmt: skip
    made = {c.external_id.split("-")[0]: c.alert_id for c in
            (await ingest_alerts(strat, items)).created}  # fmt: skip

    detail = await q.get_alert_detail(strat, made["target"])

    assert [(s.alert.id, s.reasons) for s in detail.similar] == [
        (made["acct"], ["same account"]),
        (made["rule"], ["2 shared rules"]),
        (made["merch"], ["same merchant"]),
    ]


async def test_why_similar_is_on_the_page_and_in_graphql(tenant, api, browser):
    strat_user, _ = await tenant.user("strategist")
    t = uuid.uuid4().hex[:6]
    items = [gql_item(0, t), gql_item(6, t)]  # both customer cust-0, both hit RA and RB
    secret = await api.token(tenant, strat_user)
    ingest = "mutation($i: [AlertInput!]!) { ingestAlerts(input: $i) { createdIds } }"
    first, second = (await api.data(secret, ingest, {"i": items}))["ingestAlerts"]["createdIds"]

    query = """query($id: ID!) { alert(id: $id) { similar {
        id sameCustomer sameAccount sameMerchant sharedRules similarity reasons } } }"""
    similar = (await api.data(secret, query, {"id": second}))["alert"]["similar"]
    assert [(s["id"], s["reasons"]) for s in similar] == [
        (first, ["same customer", "2 shared rules", "signals 100% alike"])
    ]
    assert similar[0]["similarity"] == 8.0 and similar[0]["sameCustomer"] is True

    b = await browser(strat_user, tenant.password)
    page = await b.get(f"/alerts/{second}")
    assert "Why similar" in page.text
    assert "same customer" in page.text and "2 shared rules" in page.text


async def test_a_merchant_given_as_an_object_matches_by_its_id_or_name(tenant):
    _, strat = await tenant.user("strategist")
    t = uuid.uuid4().hex[:6]

    def alert(name: str, merchant: object) -> dict[str, object]:
        own = [{"signal": f"s-{name}", "value": 1, "contribution": 1, "direction": "up"}]
        return item(0, t, external_id=f"{name}-{t}", customer_ref=f"{name}-{t}", rule_hits=[],
                    signals=own, transaction={"merchant": merchant})  # fmt: skip

    items = [
        alert("byname", {"name": f"Northwind {t}", "mcc": "5732"}),
        alert("byid", {"id": 4711, "name": "Other"}),
        alert("plain", f"Northwind {t}"),
        alert("other", {"name": "Elsewhere"}),
        alert("target", {"name": f"Northwind {t}", "mcc": "1"}),
        alert("target2", {"id": 4711}),
    ]
    made = {c.external_id.split("-")[0]: c.alert_id for c in
            (await ingest_alerts(strat, items)).created}  # fmt: skip

    detail = await q.get_alert_detail(strat, made["target"])
    assert {s.alert.id for s in detail.similar} == {made["byname"], made["plain"]}
    assert {tuple(s.reasons) for s in detail.similar} == {("same merchant",)}
    detail = await q.get_alert_detail(strat, made["target2"])
    assert [s.alert.id for s in detail.similar] == [made["byid"]]


async def test_closed_look_alikes_are_ranked_alike_among_closed_alerts_only(tenant):
    """The assistant's similar cases (issue 13): the same likeness, narrowed to closed alerts."""
    strat, ids, target = await _customer_and_rule_sharers(tenant)
    closed = [ids["customer"][0], ids["sharers"][0], ids["sharers"][1]]
    for alert_id in closed:
        await close_alert(
            strat, alert_id, disposition="false_positive", comment="ok", expected_version=1
        )
    alert = await Alert.get(id=target)

    found = await similar_closed_alerts(alert)
    every = await similar_alerts(alert)

    assert [s.alert.id for s in found] == [
        ids["customer"][0],
        *sorted(ids["sharers"][:2], reverse=True),
    ]
    assert found[0].reasons == ["same customer"]
    assert found[1].reasons == ["2 shared rules", "signals 100% alike"]
    assert {s.alert.status.value for s in found} == {"closed"}
    assert len(every) == SIMILAR_LIMIT  # open or closed, as before
    assert await similar_closed_alerts(alert, limit=1) == found[:1]
