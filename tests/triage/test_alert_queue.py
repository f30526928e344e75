"""The triage queue (filters, sorts, keyset paging) and alert detail, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import pytest_asyncio

from riskops.audit.models import AuditEvent, AuditHead
from riskops.server.core.errors import Forbidden, Invalid, NotFound
from riskops.server.core.principal import Principal
from riskops.server.identity.models import Team
from riskops.server.triage import queue as q
from riskops.server.triage.ingest import ingest_alerts
from riskops.server.triage.models import (
    Alert,
    AlertEvent,
    AlertStatus,
    Case,
    CaseAlert,
    InfoRequest,
)
from riskops.server.triage.queue_filters import AlertFilter, apply_filter
from tests.support.statements import Statements

BASE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STATUSES = list(AlertStatus)
PRIORITIES = ["critical", "high", "medium", "low"]


def item(i: int, tag: str, **over):
    hits = []
    if i % 2 == 0:
        hits.append({"rule_id": f"RA-{tag}", "name": "Velocity", "score_contribution": 20})
    if i % 3 == 0:
        hits.append({"rule_id": f"RB-{tag}", "name": "Geo", "score_contribution": 10})
    amount = None if i % 10 == 0 else str(Decimal((i * 13) % 40) * 10 + Decimal("9.5"))
    base = {
        "external_id": f"EXT-{tag}-{i:03d}",
        "source": "card-rules",
        "title": "Wire Transfer spike" if i % 4 == 0 else "Card testing burst",
        "score": float((i * 7) % 50) + 10.5,
        "priority": PRIORITIES[i % 4],
        "customer_ref": f"cust-{i % 6}",
        "amount": amount,
        "currency": "EUR" if amount else None,
        "rule_hits": hits,
        "signals": [{"signal": "geo", "value": i, "contribution": 1.5, "direction": "up"}],
    }
    base.update(over)
    return base


@dataclass
class Data:
    tag: str
    viewer: object
    viewer_user: object
    strat: object
    other_user: object
    team: Team
    alerts: list[Alert]


@pytest_asyncio.fixture
async def data(tenant) -> Data:
    tag = uuid.uuid4().hex[:6]
    viewer_user, viewer = await tenant.user("viewer")
    other_user, _ = await tenant.user("operator")
    _, strat = await tenant.user("strategist")
    team = await Team.create(org_id=tenant.org_id, name=f"team-{tag}")
    result = await ingest_alerts(strat, [item(i, tag) for i in range(60)])
    assert result.errors == [] and len(result.created) == 60
    for n, c in enumerate(result.created):
        created = BASE - timedelta(minutes=n // 2)  # pairs share created_at: tie-break by id
        await Alert.filter(id=c.alert_id).update(
            status=STATUSES[n % 5],
            assignee_id=viewer_user.id if n % 5 == 0 else other_user.id if n % 5 == 1 else None,
            team_id=team.id if n % 3 == 1 else None,
            created_at=created,
            due_at=BASE + timedelta(hours=(n * 5) % 17),
        )
    alerts = list(await Alert.filter(org_id=tenant.org_id))
    return Data(tag, viewer, viewer_user, strat, other_user, team, alerts)


def sort_key(sort: str):
    def amount_key(a):
        return (a.amount is not None, a.amount or 0, a.id)

    return {
        "score": (lambda a: (a.score, a.id), True),
        "created": (lambda a: (a.created_at, a.id), True),
        "due": (lambda a: (a.due_at, a.id), False),
        "amount": (amount_key, True),
    }[sort]


def expected_order(alerts, sort):
    key, desc = sort_key(sort)
    return [a.id for a in sorted(alerts, key=key, reverse=desc)]


async def all_ids(principal, flt=None, sort="score", first=200):
    page = await q.list_alerts(principal, flt or AlertFilter(), sort=sort, first=first)
    assert not page.has_next
    return [a.id for a in page.alerts]


# --- filters -----------------------------------------------------------------------------------


async def test_every_filter_returns_exactly_the_expected_alerts(data):
    a, me = data.alerts, data.viewer_user
    t = data.tag
    cases = [
        (AlertFilter(), lambda x: True),
        (AlertFilter(status=["new", "closed"]), lambda x: x.status in ("new", "closed")),
        (AlertFilter(priority=["critical"]), lambda x: x.priority == "critical"),
        (AlertFilter(score_min=20, score_max=40.5), lambda x: 20 <= x.score <= 40.5),
        (AlertFilter(score_min=55), lambda x: x.score >= 55),
        (AlertFilter(assignee="me"), lambda x: x.assignee_id == me.id),
        (AlertFilter(assignee="unassigned"), lambda x: x.assignee_id is None),
        (AlertFilter(assignee=data.other_user.id), lambda x: x.assignee_id == data.other_user.id),
        (AlertFilter(team=data.team.id), lambda x: x.team_id == data.team.id),
        (AlertFilter(rule_id=f"RB-{t}"), lambda x: int(x.external_id[-3:]) % 3 == 0),
        (
            AlertFilter(amount_min="100", amount_max=Decimal("309.5"), currency="eur"),
            lambda x: x.amount is not None and 100 <= x.amount <= Decimal("309.5"),
        ),
        (
            AlertFilter(amount_max=19.5, currency="EUR"),
            lambda x: x.amount is not None and x.amount <= 19.5,
        ),
        (
            AlertFilter(created_from=BASE - timedelta(minutes=10), created_to=BASE),
            lambda x: BASE - timedelta(minutes=10) <= x.created_at < BASE,
        ),
        (AlertFilter(text="wire transfer"), lambda x: "Wire" in x.title),
        (AlertFilter(text="CUST-4"), lambda x: x.customer_ref == "cust-4"),
        (AlertFilter(text=f"ext-{t}-05"), lambda x: x.external_id.startswith(f"EXT-{t}-05")),
        (
            AlertFilter(status=["new"], priority=["critical", "low"], text="burst"),
            lambda x: (
                x.status == "new" and x.priority in ("critical", "low") and "burst" in x.title
            ),
        ),
    ]
    for flt, pred in cases:
        expected = expected_order([x for x in a if pred(x)], "score")
        assert await all_ids(data.viewer, flt) == expected, flt
        assert expected or flt.score_min == 55, flt  # the data exercises each filter
    for literal in ("no-such-thing", "Card%burst", "Car_ testing", "100%"):
        # LIKE wildcards match literally
        assert await all_ids(data.viewer, AlertFilter(text=literal)) == [], literal


@pytest.mark.parametrize("text", ["%", "_", "X1", "1,2", "a-b-c", "  "])
async def test_text_search_needs_three_letters_or_digits_in_a_row(data, text):
    if not text.strip():
        assert await all_ids(data.viewer, AlertFilter(text=text))  # blank: no text filter
        return
    with pytest.raises(Invalid, match="at least 3 letters or digits in a row"):
        await q.list_alerts(data.viewer, AlertFilter(text=text))


@pytest.mark.parametrize("sort", ["score", "created", "due", "amount"])
async def test_each_sort_order(data, sort):
    flt, alerts = sort_filter(data.alerts, sort)
    assert await all_ids(data.viewer, flt, sort=sort) == expected_order(alerts, sort)


def sort_filter(alerts, sort):
    """The amount sort needs a currency (amounts are not converted): sort within EUR."""
    if sort != "amount":
        return AlertFilter(), alerts
    return AlertFilter(currency="EUR"), [a for a in alerts if a.currency == "EUR"]


@pytest.mark.parametrize("sort", ["score", "created", "due", "amount"])
async def test_paging_yields_every_alert_once_in_order_while_new_alerts_arrive(data, sort):
    seen: list[int] = []
    after = None
    pages = 0
    flt, alerts = sort_filter(data.alerts, sort)
    while True:
        page = await q.list_alerts(data.viewer, flt, sort=sort, first=7, after=after)
        assert len(page.alerts) <= 7
        seen += [a.id for a in page.alerts]
        pages += 1
        if pages in (1, 4):  # new alerts at both ends of every order arrive mid-way
            new = [
                item(900 + pages * 10 + k, data.tag, score=s, amount=am, currency="EUR")
                for k, (s, am) in enumerate([(100.0, "99999"), (0.0, "0.0001"), (60.0, None)])
            ]
            new[2]["currency"] = None
            assert (await ingest_alerts(data.strat, new)).errors == []
        if not page.has_next:
            assert page.end_cursor is not None
            break
        after = page.end_cursor
    assert len(seen) == len(set(seen))
    original = {x.id for x in alerts}
    assert original <= set(seen)
    current = {x.id: x for x in await Alert.filter(id__in=seen)}
    assert seen == expected_order([current[i] for i in seen], sort)
    assert [i for i in seen if i in original] == expected_order(alerts, sort)


# --- invalid input -----------------------------------------------------------------------------


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


async def test_invalid_input_names_the_field_and_does_nothing(data, tenant):
    before = await AuditHead.get_or_none(org_id=tenant.org_id)
    page = await q.list_alerts(data.viewer, AlertFilter(), sort="score", first=7)
    bad = [
        ({"first": 0}, "first"),
        ({"first": 201}, "first"),
        ({"sort": "title"}, "sort"),
        ({"after": "not a cursor"}, "after"),
        ({"after": _cursor("score:abc:12")}, "after"),
        ({"after": _cursor("score:50:0")}, "after"),
        ({"after": _cursor("score:50:99999999999")}, "after"),
        ({"after": _cursor("score:101:5")}, "after"),
        ({"after": _cursor("score:null:5")}, "after"),
        ({"after": _cursor("created:2024-01-01T00:00:00:5")}, "after"),  # naive
        ({"after": page.end_cursor, "sort": "created"}, "after"),  # another sort's cursor
        ({"flt": AlertFilter(score_min=-1)}, "score_min"),
        ({"flt": AlertFilter(score_max=100.5)}, "score_max"),
        ({"flt": AlertFilter(score_min=60, score_max=20)}, "score_min"),
        ({"flt": AlertFilter(text="x" * 101)}, "text"),
        ({"flt": AlertFilter(status=["open"])}, "status"),
        ({"flt": AlertFilter(priority=["urgent"])}, "priority"),
        ({"flt": AlertFilter(assignee="someone")}, "assignee"),
        ({"flt": AlertFilter(team="x")}, "team"),
        ({"flt": AlertFilter(amount_min="-1", currency="EUR")}, "amount_min"),
        ({"flt": AlertFilter(amount_min="abc", currency="EUR")}, "amount_min"),
        ({"flt": AlertFilter(amount_min=10, amount_max=5, currency="EUR")}, "amount_min"),
        ({"flt": AlertFilter(amount_min=10)}, "currency"),
        ({"flt": AlertFilter(currency="euro")}, "currency"),
        ({"sort": "amount"}, "currency"),
        ({"flt": AlertFilter(created_from=datetime(2024, 1, 1))}, "created_from"),
    ]
    for kwargs, fld in bad:
        flt = kwargs.pop("flt", AlertFilter())
        with pytest.raises(Invalid) as e:
            await q.list_alerts(data.viewer, flt, **kwargs)
        assert e.value.field == fld, (kwargs, flt)
    assert await q.list_alerts(data.viewer, AlertFilter(text="x" * 100)) is not None
    after = await AuditHead.get_or_none(org_id=tenant.org_id)
    assert (after.seq if after else 0) == (before.seq if before else 0)


async def test_every_invalid_filter_is_reported_at_once(data):
    flt = AlertFilter(
        status=["open"], score_min=-1, amount_min="abc", currency="EUR", team="x",
        text="X1", created_from=datetime(2024, 1, 1),
    )  # fmt: skip
    with pytest.raises(q.FilterErrors) as e:
        await q.list_alerts(data.viewer, flt, sort="title", after="junk")
    assert set(e.value.errors) == {
        "status", "score_min", "amount_min", "team", "text", "created_from", "sort",
    }  # fmt: skip
    assert e.value.field == "sort" and "is unknown" in e.value.errors["status"]
    assert "not a decimal number" in e.value.errors["amount_min"]
    # `after` is judged once the sort is known
    with pytest.raises(q.FilterErrors) as e:
        await q.list_alerts(data.viewer, AlertFilter(score_max=101), sort="score", after="junk")
    assert set(e.value.errors) == {"score_max", "after"}
    with pytest.raises(q.FilterErrors) as e:
        await q.count_alerts(data.viewer, AlertFilter(score_max=101, team="x"))
    assert set(e.value.errors) == {"score_max", "team"}


async def test_rule_filter_ignores_case(data):
    t = data.tag
    expected = [x for x in data.alerts if int(x.external_id[-3:]) % 3 == 0]
    for typed in (f"RB-{t}", f"rb-{t}", f"Rb-{t.upper()}", f"  rb-{t}  "):
        assert await all_ids(data.viewer, AlertFilter(rule_id=typed)) == expected_order(
            expected, "score"
        ), typed
    assert await all_ids(data.viewer, AlertFilter(rule_id=f"rb-{t}x")) == []


async def test_amount_sort_and_bounds_stay_within_one_currency(data):
    big_usd = await ingest_alerts(
        data.strat,
        [item(700, data.tag, amount="999999", currency="usd"),
         item(701, data.tag, amount="5", currency="JPY")],
    )  # fmt: skip
    usd_id = big_usd.created[0].alert_id
    eur = await all_ids(data.viewer, AlertFilter(currency="eur"), sort="amount")
    assert usd_id not in eur and eur == expected_order(
        [a for a in data.alerts if a.currency == "EUR"], "amount"
    )
    assert await all_ids(data.viewer, AlertFilter(currency="USD"), sort="amount") == [usd_id]
    for flt, sort in [(AlertFilter(), "amount"), (AlertFilter(amount_min="1"), "score"),
                      (AlertFilter(amount_max="1"), "created")]:  # fmt: skip
        with pytest.raises(Invalid) as e:
            await q.list_alerts(data.viewer, flt, sort=sort)
        assert e.value.field == "currency" and "not converted" in e.value.message


async def test_count_is_the_same_filter_and_capped(data, monkeypatch):
    t = data.tag
    for flt in (AlertFilter(), AlertFilter(rule_id=f"ra-{t}"), AlertFilter(status=["new"]),
                AlertFilter(currency="EUR", amount_min="100")):  # fmt: skip
        counted = await q.count_alerts(data.viewer, flt)
        assert counted == q.AlertCount(len(await all_ids(data.viewer, flt)), True), flt
    monkeypatch.setattr(q, "COUNT_CAP", 10)
    assert await q.count_alerts(data.viewer, AlertFilter()) == q.AlertCount(10, False)
    with pytest.raises(Forbidden):
        await q.count_alerts(Principal(user_id=1, org_id=1, roles=frozenset()), AlertFilter())


# --- access ------------------------------------------------------------------------------------


async def test_other_org_is_invisible_and_roles_are_checked(data, tenant, other_tenant):
    _, outsider = await other_tenant.user("viewer")
    _, other_strat = await other_tenant.user("strategist")
    result = await ingest_alerts(other_strat, [item(1, data.tag)])  # same external id: other org
    foreign = result.created[0].alert_id

    assert await all_ids(outsider) == [foreign]
    assert foreign not in await all_ids(data.viewer)
    events = await AuditEvent.filter(action="alert.view").count()
    for who, alert_id in ((data.viewer, foreign), (outsider, data.alerts[0].id)):
        with pytest.raises(NotFound) as e:
            await q.get_alert_detail(who, alert_id)
        assert e.value.message == f"alert {alert_id} not found."
    with pytest.raises(NotFound) as missing:
        await q.get_alert_detail(data.viewer, 2**31 - 1)
    assert missing.value.message == f"alert {2**31 - 1} not found."
    assert await AuditEvent.filter(action="alert.view").count() == events

    _, nobody = await tenant.user()
    with pytest.raises(Forbidden):
        await q.list_alerts(nobody, AlertFilter())
    with pytest.raises(Forbidden):
        await q.get_alert_detail(nobody, data.alerts[0].id)
    _, admin_only = await tenant.user("admin")  # admins manage, they do not read alerts
    with pytest.raises(Forbidden):
        await q.list_alerts(admin_only, AlertFilter())


# --- detail ------------------------------------------------------------------------------------


async def test_detail_audits_one_view_and_ranks_similar_alerts(tenant, other_tenant):
    _, strat = await tenant.user("strategist")
    _, viewer = await tenant.user("viewer")
    _, other_strat = await other_tenant.user("strategist")
    t = uuid.uuid4().hex[:6]

    def hits(*rules):
        return [{"rule_id": f"{r}-{t}", "name": r, "score_contribution": 5} for r in rules]

    spec = [
        ("target", "c-sim", hits("X", "Y", "Z")),
        ("two", "c-1", hits("X", "Y")),
        ("one_same_cust", "c-sim", hits("Z")),
        ("one", "c-2", hits("Y")),
        ("cust_only", "c-sim", hits("Q")),
        ("unrelated", "c-3", hits("Q")),
        ("none", None, []),
    ]
    items = [
        item(n, t, external_id=f"{name}-{t}", customer_ref=cust, rule_hits=h)
        for n, (name, cust, h) in enumerate(spec)
    ]
    created = {spec[c.index][0]: c.alert_id for c in (await ingest_alerts(strat, items)).created}
    await ingest_alerts(  # another org sharing every rule and the customer: never similar
        other_strat, [item(0, t, customer_ref="c-sim", rule_hits=hits("X", "Y", "Z"))]
    )
    target = created["target"]
    before = await AuditEvent.filter(org_id=tenant.org_id, action="alert.view").count()

    detail = await q.get_alert_detail(viewer, str(target))

    views = await AuditEvent.filter(org_id=tenant.org_id, action="alert.view")
    assert len(views) == before + 1
    assert (views[-1].entity_type, views[-1].entity_id) == ("alert", str(target))
    assert views[-1].actor == f"user:{viewer.user_id}"
    assert detail.alert.id == target
    assert [h.rule_id for h in detail.rule_hits] == [f"X-{t}", f"Y-{t}", f"Z-{t}"]
    assert [s.signal for s in detail.signals] == ["geo"]
    assert [e.action for e in detail.history] == ["ingest"]
    assert (detail.info_requests, detail.case_ids) == ([], [])
    # Every alert here has the same signal profile (geo +1.5), so the ones sharing neither a
    # rule nor the customer are similar too, ranked after the others. The same customer weighs
    # as much as every rule (issue 11, item 11).
    assert [(s.alert.id, s.shared_rules, s.same_customer) for s in detail.similar] == [
        (created["one_same_cust"], 1, True),
        (created["cust_only"], 0, True),
        (created["two"], 2, False),
        (created["one"], 1, False),
        (created["none"], 0, False),
        (created["unrelated"], 0, False),
    ]
    assert {s.signal_similarity for s in detail.similar} == {1.0}
    await AlertEvent.create(
        alert_id=target, org_id=tenant.org_id, action="note", actor="x", at=datetime.now(UTC)
    )
    case = await Case.create(org_id=tenant.org_id, number=1, title="c", opened_at=BASE)
    await CaseAlert.create(case_id=case.id, alert_id=target, linked_at=BASE)
    await InfoRequest.create(alert_id=target, question="why?", asked_at=BASE)
    again = await q.get_alert_detail(viewer, target)
    assert [e.action for e in again.history] == ["ingest", "note"]
    assert again.case_ids == [case.id]
    assert [r.question for r in again.info_requests] == ["why?"]


async def test_close_signal_profile_makes_an_alert_similar(tenant):
    _, strat = await tenant.user("strategist")
    t = uuid.uuid4().hex[:6]

    def sig(**contribs):
        return [
            {"signal": name, "contribution": c, "direction": "up" if c >= 0 else "down"}
            for name, c in contribs.items()
        ]

    spec = {
        "target": sig(geo=10, velocity=8, tenure=-4),
        "same": sig(geo=10, velocity=8, tenure=-4),
        "close": sig(geo=9, velocity=7, tenure=-4),
        "opposite": sig(geo=-10, velocity=-8, tenure=4),
        "partial": sig(geo=10),  # one of three signals: 1/3, not close enough
        "other_signals": sig(amount_z=10, night=3),
    }
    items = [
        item(1, t, external_id=f"{name}-{t}", customer_ref=f"c-{name}-{t}", rule_hits=[],
             signals=signals)
        for name, signals in spec.items()
    ]  # fmt: skip
    res = await ingest_alerts(strat, items)
    ids = {items[c.index]["external_id"].split("-")[0]: c.alert_id for c in res.created}
    detail = await q.get_alert_detail(strat, ids["target"])
    got = {s.alert.id: s.signal_similarity for s in detail.similar}
    assert list(got) == [ids["same"], ids["close"]]
    assert got[ids["same"]] == 1.0
    assert 0.9 < got[ids["close"]] < 1.0
    assert all(s.shared_rules == 0 and not s.same_customer for s in detail.similar)


async def test_similar_is_capped_at_ten(tenant):
    _, strat = await tenant.user("strategist")
    t = uuid.uuid4().hex[:6]
    rule = [{"rule_id": f"S-{t}", "name": "s", "score_contribution": 1}]
    res = await ingest_alerts(strat, [item(n, t, rule_hits=rule) for n in range(14)])
    detail = await q.get_alert_detail(strat, res.created[0].alert_id)
    assert len(detail.similar) == 10
    assert res.created[0].alert_id not in {s.alert.id for s in detail.similar}


# --- bounded queries ---------------------------------------------------------------------------


async def test_a_page_with_nested_data_costs_the_same_queries_for_10_50_200(tenant):
    _, strat = await tenant.user("strategist")
    t = uuid.uuid4().hex[:6]
    assert not (await ingest_alerts(strat, [item(n, t) for n in range(200)])).errors
    counts = {}
    for size in (10, 50, 200):
        with Statements() as sql:
            page = await q.list_alerts(strat, AlertFilter(), first=size)
            details = await q.load_page_details(page.alerts)
        counts[size] = len(sql.sent)
        assert len(page.alerts) == size and set(details) == {a.id for a in page.alerts}
        for a in page.alerts:
            hits, signals = details[a.id]
            n = int(a.external_id[-3:])
            assert len(hits) == (n % 2 == 0) + (n % 3 == 0)
            assert [s.value for s in signals] == [n]
    assert counts == {10: 3, 50: 3, 200: 3}


async def test_rule_filter_on_sqlite_uses_the_expression_index(backend, db):
    """PostgreSQL: tests/triage/test_alert_queue_indexes.py. SQLite indexes the same expression."""
    if backend.name != "sqlite":
        pytest.skip("SQLite's plan; PostgreSQL's is checked in test_alert_queue_indexes.py")
    from tortoise.connection import connections

    p = Principal(user_id=1, org_id=1, roles=frozenset({"admin"}))
    sql = apply_filter(Alert.filter(org_id=1), p, AlertFilter(rule_id="vel-002")).sql()
    inner = sql.split("IN (", 1)[1].rsplit(")", 1)[0]
    plan = await connections.get("default").execute_query_dict(
        f"EXPLAIN QUERY PLAN {inner}".replace("?", "'vel-002'")
    )
    assert any("alert_rule_hit_rule_id_upper" in str(r) for r in plan), plan
