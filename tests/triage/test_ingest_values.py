"""Ingest's values, item by item, on SQLite and PostgreSQL: a signal value may be text, a number
or a boolean and comes back as it was sent (issue 11, item 6); every number is finite and within
its documented range, refused per item with the field and the range (item 5)."""

from __future__ import annotations

import json
import math
import uuid

from riskops.server.triage.ingest import ingest_alerts
from riskops.server.triage.models import Alert, SignalContribution
from tests.triage.test_alert_queue import item
from tests.triage.test_alerts_api import DETAIL, INGEST, gql_item


def _with_signal(i: int, tag: str, value: object, **over: object) -> dict[str, object]:
    signal = {"signal": "device", "value": value, "contribution": 2.5, "direction": "up"}
    return item(i, tag, signals=[signal], **over)


async def test_text_number_and_boolean_signal_values_round_trip(tenant):
    _, strat = await tenant.user("strategist")
    tag = uuid.uuid4().hex[:6]
    values = ["abc", "123", "true", "", '{"a": 1}', 7, 2.5, True, False, None]
    result = await ingest_alerts(strat, [_with_signal(i, tag, v) for i, v in enumerate(values)])

    assert result.errors == []
    assert len(result.created) == len(values)
    for created, sent in zip(result.created, values, strict=True):
        stored = await SignalContribution.get(alert_id=created.alert_id)
        assert stored.value == sent and type(stored.value) is type(sent), (sent, stored.value)
    rows = await SignalContribution.filter(alert__org_id=tenant.org_id).values("value")
    assert sorted(map(repr, (r["value"] for r in rows))) == sorted(map(repr, values))


async def test_a_text_signal_value_over_graphql_is_stored_and_shown(tenant, api):
    strat_user, _ = await tenant.user("strategist")
    secret = await api.token(tenant, strat_user)
    tag = uuid.uuid4().hex[:6]
    items = [gql_item(i, tag) for i in range(3)]
    items[0]["signals"][0]["value"] = "abc"
    items[1]["signals"][0]["value"] = ["a list"]  # not text, a number or a boolean
    items[2]["signals"][0]["value"] = "42"

    out = (await api.data(secret, INGEST, {"input": items}))["ingestAlerts"]

    assert out["errors"] == []
    assert (out["created"], out["invalid"]) == (2, 1)
    assert [(e["index"], e["field"]) for e in out["itemErrors"]] == [(1, "signals[0].value")]
    assert "text, a number or a boolean" in out["itemErrors"][0]["message"]
    first, third = (int(i) for i in out["createdIds"])
    shown = (await api.data(secret, DETAIL, {"id": str(first)}))["alert"]
    assert [s["value"] for s in shown["signals"]] == ["abc"]
    shown = (await api.data(secret, DETAIL, {"id": str(third)}))["alert"]
    assert [s["value"] for s in shown["signals"]] == ["42"]


async def test_a_text_signal_value_is_shown_on_the_alert_page(tenant, browser):
    user, strat = await tenant.user("strategist")
    tag = uuid.uuid4().hex[:6]
    result = await ingest_alerts(strat, [_with_signal(0, tag, "<b>new-device</b>")])
    b = await browser(user, tenant.password)
    page = await b.get(f"/alerts/{result.created[0].alert_id}")
    assert page.status_code == 200
    assert "&lt;b&gt;new-device&lt;/b&gt;" in page.text


# --- numbers without bounds (item 5) ------------------------------------------------------------


async def test_huge_infinite_and_nan_numbers_are_refused_per_item(tenant):
    _, strat = await tenant.user("strategist")
    tag = uuid.uuid4().hex[:6]
    hit = {"rule_id": "R1", "name": "Velocity", "score_contribution": 20}
    sig = {"signal": "geo", "value": 1, "contribution": 1.5, "direction": "up"}
    bad = {
        "score": 1e308,
        "amount": "1e308",
        "rule_hits[0].score_contribution": 1e308,
        "signals[0].contribution": 1e308,
        "signals[0].value": 1e308,
        "rule_hits[0].score_contribution ": 10**400,  # too large for a float
    }
    items = [item(0, tag)]
    for k, (name, value) in enumerate(bad.items(), start=1):
        over: dict[str, object] = {}
        if name.startswith("rule_hits"):
            over["rule_hits"] = [{**hit, "score_contribution": value}]
            name = name.strip()
        elif name.startswith("signals"):
            over["signals"] = [{**sig, name.split(".")[1]: value}]
        else:
            over[name] = value
        items.append(item(k, tag, **over))
    for value in (math.inf, -math.inf, math.nan):
        k = len(items)
        items.append(item(k, tag, score=value))
        items.append(item(k + 1, tag, rule_hits=[{**hit, "score_contribution": value}]))
        items.append(item(k + 2, tag, signals=[{**sig, "contribution": value}]))
        items.append(item(k + 3, tag, signals=[{**sig, "value": value}]))
        items.append(item(k + 4, tag, amount=str(value)))
    items.append(item(len(items), tag))

    result = await ingest_alerts(strat, items)

    assert [c.index for c in result.created] == [0, len(items) - 1]
    assert len(result.errors) == len(items) - 2
    first = {e.index: e for e in result.errors}
    for k, name in enumerate(bad, start=1):
        assert first[k].field == name.strip(), (name, first[k])
    for e in result.errors:
        assert "between" in e.message or "from 0 to" in e.message, e
    assert await Alert.filter(org_id=tenant.org_id).count() == 2


async def test_graphql_refuses_huge_numbers_per_item(tenant, api):
    strat_user, _ = await tenant.user("strategist")
    secret = await api.token(tenant, strat_user)
    tag = uuid.uuid4().hex[:6]
    items = [gql_item(i, tag) for i in range(5)]
    items[1]["ruleHits"] = [{"ruleId": "R1", "name": "Velocity", "scoreContribution": 1e308}]
    items[2]["signals"][0]["contribution"] = 1e308
    items[3]["signals"][0]["value"] = 1e308
    items[4]["amount"] = "1e308"

    out = (await api.data(secret, INGEST, {"input": items}))["ingestAlerts"]

    assert out["errors"] == []
    assert out["created"] == 1
    assert [(e["index"], e["field"]) for e in out["itemErrors"]] == [
        (1, "rule_hits[0].score_contribution"),
        (2, "signals[0].contribution"),
        (3, "signals[0].value"),
        (4, "amount"),
    ]
    # inf and nan are not JSON; a client that sends them anyway (Python's json does) gets them
    # refused per item where the input is JSON, and as a variable error where it is a Float.
    items = [gql_item(i, tag + "x") for i in range(4)]
    items[1]["signals"][0]["value"] = math.inf
    items[2]["amount"] = "Infinity"
    items[3]["amount"] = "NaN"
    body = json.dumps({"query": INGEST, "variables": {"input": items}})
    assert "Infinity" in body
    r = await api.client.post(
        "/graphql", content=body,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )  # fmt: skip
    out = r.json()["data"]["ingestAlerts"]
    assert out["created"] == 1
    assert [(e["index"], e["field"]) for e in out["itemErrors"]] == [
        (1, "signals[0].value"),
        (2, "amount"),
        (3, "amount"),
    ]
    assert await Alert.filter(org_id=tenant.org_id).count() == 2
