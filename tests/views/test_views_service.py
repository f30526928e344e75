"""Saved views through the service layer, on SQLite and PostgreSQL: save, open (in words, with
what no longer exists), edit (a standard view: its draft), share, archive, restore, default and
pinned views; who sees which view; a view applied to its queue. Every refused request leaves
nothing behind: the same views, preferences, idempotency keys and audit head."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from riskops.audit.models import AuditEvent, AuditHead
from riskops.server.core.errors import Conflict, Duplicate, Forbidden, Invalid, NotFound
from riskops.server.core.models import IdempotencyKey
from riskops.server.credit import recording
from riskops.server.credit.models import Scenario
from riskops.server.credit.runs import RunFilter, list_runs
from riskops.server.identity import teams
from riskops.server.triage import ingest, queue
from riskops.server.triage.queue_filters import AlertFilter, FilterErrors
from riskops.server.views import applying, definitions, preferences
from riskops.server.views import service as svc
from riskops.server.views.models import SavedView, ViewPreference, ViewScope, ViewStatus

ALERTS_DEF = {"filters": {"priority": ["high"]}, "sort": "score"}


# --- helpers -----------------------------------------------------------------------------------


async def head(org_id: int) -> int:
    row = await AuditHead.get_or_none(org_id=org_id)
    return row.seq if row else 0


async def state(org_id: int) -> tuple[Any, ...]:
    """Everything a view change could move in an organization."""
    views = await SavedView.filter(org_id=org_id).order_by("id").values_list(
        "id", "name", "description", "definition", "version", "status", "scope", "team_id",
        "draft", "draft_by_id",
    )  # fmt: skip
    prefs = await ViewPreference.filter(org_id=org_id).order_by("id").values_list(
        "id", "view_id", "is_default", "pinned"
    )  # fmt: skip
    keys = await IdempotencyKey.filter(org_id=org_id).count()
    return (views, prefs, keys, await head(org_id))


@dataclasses.dataclass
class Event:
    entity_id: str
    old: dict[str, Any]
    new: dict[str, Any]


async def events(org_id: int, action: str) -> list[Event]:
    rows = await AuditEvent.filter(org_id=org_id, action=action).order_by("id")
    return [Event(e.entity_id, json.loads(e.old_values), json.loads(e.new_values)) for e in rows]


@dataclasses.dataclass
class World:
    org_id: int
    s1: Any  # strategist, member of team "Desk"
    s2: Any  # strategist, member of team "Desk"
    s3: Any  # strategist, no team
    operator: Any
    viewer: Any
    admin: Any
    team: int
    other_team: int  # a team s1 is not a member of
    u1: Any  # s1's user row


@pytest.fixture
async def w(tenant) -> World:
    u1, s1 = await tenant.user("strategist", name="Sam Strategist")
    _, s2 = await tenant.user("strategist", name="Sue Strategist")
    _, s3 = await tenant.user("strategist", name="Sid Strategist")
    _, operator = await tenant.user("operator", name="Olga Operator")
    _, viewer = await tenant.user("viewer", name="Vic Viewer")
    members = [str(s1.user_id), str(s2.user_id)]
    desk = await teams.create_team(tenant.admin, name="Desk", member_ids=members)
    other = await teams.create_team(tenant.admin, name="Other desk", member_ids=[str(s3.user_id)])
    return World(tenant.org_id, s1, s2, s3, operator, viewer, tenant.admin, desk.id, other.id, u1)


async def standard(w: World, queue: str = "alerts", raw: dict | None = None, name: str = "Std"):
    """A standard view as a published promotion leaves it."""
    now = datetime.now(UTC)
    defn = definitions.parse(queue, raw or ALERTS_DEF if queue == "alerts" else raw or {})
    return await SavedView.create(
        org_id=w.org_id, owner_id=w.s2.user_id, queue=queue, scope=ViewScope.STANDARD,
        name=name, definition=defn.to_json(), published_number=1, created_at=now,
        updated_at=now,
    )  # fmt: skip


async def save(p, name: str = "High", raw: Any = None, queue: str = "alerts", **kw) -> SavedView:
    return (await svc.save_view(p, queue=queue, name=name, definition=raw or ALERTS_DEF, **kw)).view


async def new_alerts(p, items: list[dict]) -> list[int]:
    ingester = dataclasses.replace(p, roles=frozenset({"strategist"}))
    for item in items:
        item.setdefault("external_id", f"ext-{uuid.uuid4().hex[:10]}")
        item.setdefault("source", "card-rules")
        item.setdefault("title", "Card testing burst")
    result = await ingest.ingest_alerts(ingester, items)
    assert result.errors == []
    return [c.alert_id for c in result.created]


# --- save and open -----------------------------------------------------------------------------


async def test_save_opens_in_words_and_is_audited(w: World) -> None:
    result = await svc.save_view(
        w.s1, queue="alerts", name="  My high ones ", description="Mine.",
        definition={"filters": {"priority": ["HIGH"], "score_min": 50}, "sort": "due"},
    )  # fmt: skip
    v = result.view
    assert (v.name, v.description, v.scope, v.status, v.version) == (
        "My high ones", "Mine.", ViewScope.PERSONAL, ViewStatus.ACTIVE, 1,
    )  # fmt: skip
    assert v.owner_id == w.s1.user_id and not result.replayed
    opened = await svc.open_view(w.s1, v.id)
    assert opened.lines[:2] == ["Priority: high", "Score from: 50"]
    assert "Sort: SLA due soonest first" in opened.lines
    assert opened.missing == [] and opened.can_edit and opened.can_request_promotion
    (event,) = await events(w.org_id, "view.created")
    assert event.entity_id == str(v.id) and event.new["queue"] == "alerts"


async def test_save_replays_an_idempotency_key(w: World) -> None:
    first = await svc.save_view(w.s1, queue="alerts", name="A", definition=ALERTS_DEF,
                                idempotency_key="k-1")  # fmt: skip
    before = await state(w.org_id)
    again = await svc.save_view(w.s1, queue="alerts", name="A", definition=ALERTS_DEF,
                                idempotency_key="k-1")  # fmt: skip
    assert again.replayed and again.view.id == first.view.id
    assert await state(w.org_id) == before
    # A key another kind of request used is refused, naming what it was used for.
    (alert,) = await new_alerts(w.s1, [{"score": 10, "priority": "low"}])
    from riskops.server.triage import alerts

    await alerts.assign_alert(w.s1, alert, assignee_id=w.s1.user_id, expected_version=1,
                              idempotency_key="k-2")  # fmt: skip
    before = await state(w.org_id)
    with pytest.raises(Duplicate) as exc:
        await svc.save_view(w.s1, queue="alerts", name="B", definition=ALERTS_DEF,
                            idempotency_key="k-2")  # fmt: skip
    assert exc.value.field == "idempotency_key" and "assign on alert" in exc.value.message
    assert await state(w.org_id) == before


async def tenant_user(w: World, role: str, name: str):  # -> tuple[User, Principal]
    from tests.conftest import make_user

    return await make_user(w.org_id, [role], name=name)


async def test_open_says_what_no_longer_exists(w: World) -> None:
    v = await save(w.s1, raw={"filters": {"team": 999999, "assignee": 999998,
                                          "rule_id": "NO-SUCH-RULE"}})  # fmt: skip
    opened = await svc.open_view(w.s1, v.id)
    assert opened.missing == [
        "Team #999999 no longer exists: the view selects no alert of it.",
        "User #999998 (assignee) no longer exists.",
        "Rule NO-SUCH-RULE: no alert of your organization was hit by it.",
    ]
    assert "Team: team #999999 (no longer exists)" in opened.lines
    runs = await save(w.operator, queue="runs", raw={"filters": {"scenario": "GONE_SCENARIO"}})
    assert (await svc.open_view(w.operator, runs.id)).missing == [
        "Scenario GONE_SCENARIO no longer exists."
    ]
    # A deleted person is missing as an assignee, and named as the product names them.
    gone, _ = await tenant_user(w, "strategist", "Gone Person")
    await type(gone).filter(id=gone.id).update(deleted_at=datetime.now(UTC))
    theirs = await save(w.s1, "Theirs", {"filters": {"assignee": gone.id}})
    opened = await svc.open_view(w.s1, theirs.id)
    assert opened.missing == [f"User #{gone.id} (assignee) no longer exists."]
    assert "Assignee: deleted user" in opened.lines
    # Names that exist are shown by name.
    named = await save(w.s1, "Named", {"filters": {"team": w.team, "assignee": w.s1.user_id}})
    opened = await svc.open_view(w.s1, named.id)
    assert opened.missing == []
    assert "Team: Desk" in opened.lines and "Assignee: Sam Strategist" in opened.lines


# --- who sees which view -----------------------------------------------------------------------


async def ids(p, queue: str | None = None, archived: bool = False) -> list[int]:
    return [v.id for v in await svc.list_views(p, queue, archived=archived)]


async def test_visibility_personal_team_standard(w: World) -> None:
    mine = await save(w.s1, "Mine")
    std = await standard(w)
    runs_std = await standard(w, "runs", {"filters": {"severities": ["SEV0"]}}, name="Sev0")
    # Personal: the owner only; standard: everyone who reads its queue, first in the list.
    assert await ids(w.s1) == [std.id, mine.id]
    assert await ids(w.s2) == [std.id]
    assert await ids(w.viewer) == [runs_std.id, std.id]  # by name: Sev0, Std
    assert await ids(w.operator, "runs") == [runs_std.id]
    # A strategist reads no runs ledger: no runs view, and asking for them is refused.
    assert runs_std.id not in await ids(w.s1)
    with pytest.raises(Forbidden) as exc:
        await svc.list_views(w.s1, "runs")
    assert "run.read" in exc.value.message
    with pytest.raises(NotFound):
        await svc.open_view(w.s1, runs_std.id)
    # An admin reads neither queue: no view at all.
    assert await ids(w.admin) == []
    with pytest.raises(NotFound):
        await svc.open_view(w.admin, std.id)
    for other in (w.s2, w.s3, w.viewer):
        with pytest.raises(NotFound):
            await svc.open_view(other, mine.id)
    # Team: the members of its team (s2), not the others (s3).
    shared = (await svc.share_view_with_team(w.s1, mine.id, expected_version=1,
                                             team_id=w.team)).view  # fmt: skip
    assert shared.scope is ViewScope.TEAM and shared.team_id == w.team
    assert await ids(w.s2) == [std.id, mine.id]
    assert (await svc.open_view(w.s2, mine.id)).can_edit is False
    assert await ids(w.s3) == [std.id]
    with pytest.raises(NotFound):
        await svc.open_view(w.s3, mine.id)
    # Archived: the owner alone, among their archived views.
    await svc.archive_view(w.s1, mine.id, expected_version=2)
    assert await ids(w.s2) == [std.id] and await ids(w.s1) == [std.id]
    assert await ids(w.s1, archived=True) == [mine.id]
    assert await ids(w.s2, archived=True) == []
    with pytest.raises(NotFound):
        await svc.open_view(w.s2, mine.id)


async def test_another_organizations_view_is_not_found(w: World, other_tenant) -> None:
    _, stranger = await other_tenant.user("strategist")
    theirs = await save(stranger, "Theirs")
    before = await state(w.org_id), await state(other_tenant.org_id)
    for call in (
        svc.open_view(w.s1, theirs.id),
        svc.update_view(w.s1, theirs.id, expected_version=1, name="Mine now"),
        svc.share_view_with_team(w.s1, theirs.id, expected_version=1, team_id=w.team),
        svc.archive_view(w.s1, theirs.id, expected_version=1),
        svc.restore_view(w.s1, theirs.id, expected_version=1),
        preferences.set_default_view(w.s1, "alerts", theirs.id),
        preferences.pin_view(w.s1, theirs.id, True),
        applying.alert_filter_of(w.s1, theirs.id),
    ):
        with pytest.raises(NotFound) as exc:
            await call
        assert exc.value.message == f"View {theirs.id} not found."
    assert (await state(w.org_id), await state(other_tenant.org_id)) == before


# --- update, share, archive, restore -----------------------------------------------------------


async def test_update_renames_and_edits_own_view(w: World) -> None:
    v = await save(w.s1, "Old")
    r = await svc.update_view(
        w.s1, v.id, expected_version=1, name="New", description="Why",
        definition={"filters": {"status": ["new"]}, "columns": ["title", "score"]},
    )  # fmt: skip
    assert (r.view.name, r.view.description, r.view.version) == ("New", "Why", 2)
    assert r.view.definition == {"filters": {"status": ["new"]}, "columns": ["title", "score"],
                                 "sort": "score"}  # fmt: skip
    (event,) = await events(w.org_id, "view.updated")
    assert event.new["changed"] == ["name", "description", "definition"]
    assert event.old["version"] == 1 and event.new["version"] == 2


async def test_editing_a_standard_view_makes_a_draft(w: World) -> None:
    std = await standard(w)
    r = await svc.update_view(w.operator, std.id, expected_version=1, name="Std v2",
                              definition={"filters": {"priority": ["critical"]}})  # fmt: skip
    row = await SavedView.get(id=std.id)
    assert row.definition == std.definition and row.name == "Std"  # the version in force stays
    assert row.draft["name"] == "Std v2" and row.draft_by_id == w.operator.user_id
    assert row.draft["definition"]["filters"] == {"priority": ["critical"]}
    assert r.view.version == 2
    opened = await svc.open_view(w.s1, std.id)
    assert opened.draft is not None and opened.draft_lines[0] == "Priority: critical"
    assert opened.lines[0] == "Priority: high" and opened.can_request_promotion
    (event,) = await events(w.org_id, "view.updated")
    assert event.new["draft"] is True


async def test_share_with_one_of_ones_teams_and_back(w: World) -> None:
    v = await save(w.s1)
    r = await svc.share_view_with_team(w.s1, v.id, expected_version=1, team_id=str(w.team))
    assert (r.view.scope, r.view.team_id) == (ViewScope.TEAM, w.team)
    r = await svc.share_view_with_team(w.s1, v.id, expected_version=2, team_id=None)
    assert (r.view.scope, r.view.team_id, r.view.version) == (ViewScope.PERSONAL, None, 3)
    assert [e.new["scope"] for e in await events(w.org_id, "view.shared")] == ["team", "personal"]


async def test_archive_and_restore(w: World) -> None:
    v = await save(w.s1)
    r = await svc.archive_view(w.s1, v.id, expected_version=1)
    assert r.view.status is ViewStatus.ARCHIVED
    # The name is free again; restoring while another active view has it is refused.
    twin = await save(w.s1)
    before = await state(w.org_id)
    with pytest.raises(Conflict) as exc:
        await svc.restore_view(w.s1, v.id, expected_version=2)
    assert exc.value.field == "name" and "rename or archive that one first" in exc.value.message
    assert await state(w.org_id) == before
    await svc.archive_view(w.s1, twin.id, expected_version=1)
    r = await svc.restore_view(w.s1, v.id, expected_version=2)
    assert (r.view.status, r.view.version) == (ViewStatus.ACTIVE, 3)
    assert len(await events(w.org_id, "view.archived")) == 2
    assert len(await events(w.org_id, "view.restored")) == 1


# --- default and pinned views ------------------------------------------------------------------


async def test_default_and_pinned_views(w: World) -> None:
    std = await standard(w)
    mine = await save(w.s1)
    assert await preferences.default_view(w.s1, "alerts") is None
    assert (await preferences.set_default_view(w.s1, "alerts", std.id)).id == std.id
    assert (await preferences.set_default_view(w.s1, "alerts", mine.id)).id == mine.id
    assert (await preferences.default_view(w.s1, "alerts")).id == mine.id
    assert await preferences.default_view(w.s2, "alerts") is None  # one's own default
    pref = await preferences.pin_view(w.s1, std.id, True)
    assert pref.pinned and not pref.is_default
    assert [(v.id, p.is_default, p.pinned) for v, p in await preferences.my_views(w.s1)] == [
        (mine.id, True, False), (std.id, False, True),
    ]  # fmt: skip
    opened = await svc.open_view(w.s1, mine.id)
    assert opened.is_default and not opened.pinned
    assert await preferences.set_default_view(w.s1, "alerts", None) is None
    assert await preferences.default_view(w.s1, "alerts") is None
    await preferences.pin_view(w.s1, std.id, False)
    assert await preferences.my_views(w.s1) == []
    sets = await events(w.org_id, "view.default_set")
    assert [e.new["default_view_id"] for e in sets] == [std.id, mine.id, None]
    assert [e.new["pinned"] for e in await events(w.org_id, "view.pinned")] == [True, False]


async def test_an_archived_default_is_no_default(w: World) -> None:
    mine = await save(w.s1)
    await svc.share_view_with_team(w.s1, mine.id, expected_version=1, team_id=w.team)
    await preferences.set_default_view(w.s2, "alerts", mine.id)  # a team member's default
    await preferences.pin_view(w.s2, mine.id, True)
    await svc.archive_view(w.s1, mine.id, expected_version=2)
    assert await preferences.default_view(w.s2, "alerts") is None
    assert await preferences.my_views(w.s2) == []


# --- applying a view ---------------------------------------------------------------------------


async def alert_world(w: World) -> dict[str, int]:
    ids_ = await new_alerts(w.s1, [
        {"score": 90, "priority": "high", "amount": "500", "currency": "EUR"},
        {"score": 80, "priority": "high", "amount": "50", "currency": "EUR"},
        {"score": 70, "priority": "high", "amount": "900", "currency": "USD"},
        {"score": 60, "priority": "low", "amount": "700", "currency": "EUR"},
        {"score": 50, "priority": "high"},
    ])  # fmt: skip
    return dict(zip(("eur500", "eur50", "usd900", "low", "none"), ids_, strict=True))


async def rows(p, flt: AlertFilter, sort: str = "score", within=()) -> list[int]:
    page = await queue.list_alerts(p, flt, sort=sort, first=200, within=within)
    return [a.id for a in page.alerts]


async def test_a_view_selects_exactly_its_filters_rows(w: World) -> None:
    a = await alert_world(w)
    raw = {"filters": {"priority": ["high"], "currency": "EUR"}, "sort": "amount"}
    v = await save(w.s1, raw=raw)
    view, flt, sort = await applying.alert_filter_of(w.s1, v.id)
    assert view.id == v.id and sort == "amount"
    direct = await rows(w.s1, AlertFilter(priority=["high"], currency="EUR"), "amount")
    assert direct == [a["eur500"], a["eur50"]]
    assert await rows(w.s1, AlertFilter(), sort, within=[flt]) == direct
    count = await queue.count_alerts(w.s1, AlertFilter(), sort=sort, within=[flt])
    assert (count.count, count.exact) == (2, True)


@pytest.mark.parametrize(
    "extra",
    [
        AlertFilter(),
        AlertFilter(priority=["low"]),  # outside the view: nothing, never the low alert
        AlertFilter(currency="USD"),  # another currency: nothing, never the USD alert
        AlertFilter(score_min=85),
        AlertFilter(amount_min="100"),  # bounds compare in the view's currency
        AlertFilter(status=["new", "closed"], priority=["high", "low"]),
    ],
)
async def test_extra_filters_never_widen_a_view(w: World, extra: AlertFilter) -> None:
    a = await alert_world(w)
    v = await save(w.s1, raw={"filters": {"priority": ["high"], "currency": "EUR"}})
    _, flt, _ = await applying.alert_filter_of(w.s1, v.id)
    inside = set(await rows(w.s1, AlertFilter(), within=[flt]))
    assert inside == {a["eur500"], a["eur50"]}
    for sort in ("score", "amount", "created"):
        got = await rows(w.s1, extra, sort, within=[flt])
        assert set(got) <= inside, (extra, sort)


async def test_the_amount_sort_needs_a_currency_from_either_filter(w: World) -> None:
    await alert_world(w)
    v = await save(w.s1, "No currency", {"filters": {"priority": ["high"]}})
    _, flt, _ = await applying.alert_filter_of(w.s1, v.id)
    with pytest.raises(FilterErrors) as exc:
        await rows(w.s1, AlertFilter(), "amount", within=[flt])
    assert "currency" in exc.value.errors
    assert len(await rows(w.s1, AlertFilter(currency="EUR"), "amount", within=[flt])) == 2


async def test_a_runs_view_applies_to_the_runs_ledger_only(w: World) -> None:
    key = f"VIEW_{uuid.uuid4().hex[:8].upper()}"
    await Scenario.create(org_id=w.org_id, key=key, name=key, created_at=datetime.now(UTC))
    other = f"OTHER_{uuid.uuid4().hex[:8].upper()}"
    await Scenario.create(org_id=w.org_id, key=other, name=other, created_at=datetime.now(UTC))
    recorded = await recording.record_runs(w.admin, [
        {"run_id": f"r-{n}-{key}", "scenario": k, "credits_total": 100.0}
        for n, k in enumerate((key, key, other))
    ])  # fmt: skip
    assert not recorded.errors
    v = await save(w.operator, "Scenario", {"filters": {"scenario": key}}, queue="runs")
    _, flt = await applying.run_filter_of(w.operator, v.id)
    inside = await list_runs(w.operator, RunFilter(), within=[flt])
    direct = await list_runs(w.operator, RunFilter(scenario=key))
    assert [r.id for r in inside.runs] == [r.id for r in direct.runs] and len(direct.runs) == 2
    narrowed = await list_runs(w.operator, RunFilter(scenario=other), within=[flt])
    assert narrowed.runs == []
    with pytest.raises(Invalid) as exc:
        await applying.alert_filter_of(w.operator, v.id)
    assert "view of the runs ledger" in exc.value.message and exc.value.field == "view_id"
    alerts_view = await save(w.operator, "Alerts")
    with pytest.raises(Invalid) as exc:
        await applying.run_filter_of(w.operator, alerts_view.id)
    assert "view of the alert queue" in exc.value.message


# --- the bad-input table -----------------------------------------------------------------------


@dataclasses.dataclass
class Ctx:
    w: World
    mine: SavedView  # s1's personal view "High", version 1
    shared: SavedView  # s1's view shared with Desk, version 2
    std: SavedView  # a standard alert view
    runs: SavedView  # the operator's runs view
    archived: SavedView  # s1's archived view, version 2
    foreign_team: int


HUGE = {"filters": {"text": "x" * 5000}}
LONG_LIST = {"filters": {"status": ["new"] * 50}}

# name -> (call, error, field, words in the message)
BAD: dict[str, tuple[Any, type[Exception], str | None, str]] = {
    "save: a viewer": (
        lambda c: svc.save_view(c.w.viewer, queue="alerts", name="V", definition=ALERTS_DEF),
        Forbidden, None, "view.save",
    ),
    "save: an admin": (
        lambda c: svc.save_view(c.w.admin, queue="alerts", name="V", definition=ALERTS_DEF),
        Forbidden, None, "view.save",
    ),
    "save: a strategist, of the runs ledger": (
        lambda c: svc.save_view(c.w.s1, queue="runs", name="V", definition={}),
        Forbidden, None, "run.read",
    ),
    "save: an unknown queue": (
        lambda c: svc.save_view(c.w.s1, queue="cases", name="V", definition={}),
        Invalid, "queue", "Queue 'cases' is unknown",
    ),
    "save: an unknown filter": (
        lambda c: svc.save_view(c.w.s1, queue="alerts", name="V",
                                definition={"filters": {"colour": "red"}}),
        FilterErrors, "filters.colour", "Filter 'colour' is not a filter of the alert queue",
    ),
    "save: a filter of the other queue": (
        lambda c: svc.save_view(c.w.s1, queue="alerts", name="V",
                                definition={"filters": {"severities": ["SEV0"]}}),
        FilterErrors, "filters.severities", "not a filter of the alert queue",
    ),
    "save: a bad filter value": (
        lambda c: svc.save_view(c.w.s1, queue="alerts", name="V",
                                definition={"filters": {"priority": ["urgent"]}}),
        FilterErrors, "filters.priority", "Priority 'urgent' is unknown",
    ),
    "save: an oversized definition": (
        lambda c: svc.save_view(c.w.s1, queue="alerts", name="V", definition=HUGE),
        FilterErrors, "definition", "the limit is 4096",
    ),
    "save: a huge list": (
        lambda c: svc.save_view(c.w.s1, queue="alerts", name="V", definition=LONG_LIST),
        FilterErrors, "filters.status", "at most",
    ),
    "save: no definition": (
        lambda c: svc.save_view(c.w.s1, queue="alerts", name="V", definition=None),
        FilterErrors, "definition", "required",
    ),
    "save: an empty name": (
        lambda c: svc.save_view(c.w.s1, queue="alerts", name="  ", definition=ALERTS_DEF),
        Invalid, "name", "Name is required",
    ),
    "save: a name over 120": (
        lambda c: svc.save_view(c.w.s1, queue="alerts", name="n" * 121, definition=ALERTS_DEF),
        Invalid, "name", "the limit is 120",
    ),
    "save: a control character": (
        lambda c: svc.save_view(c.w.s1, queue="alerts", name="a\x07b", definition=ALERTS_DEF),
        Invalid, "name", "control characters",
    ),
    "save: a duplicate name": (
        lambda c: svc.save_view(c.w.s1, queue="alerts", name="HIGH", definition=ALERTS_DEF),
        Conflict, "name", "You already have a view of the alert queue named 'HIGH'",
    ),
    "save: a description over 2000": (
        lambda c: svc.save_view(c.w.s1, queue="alerts", name="V", definition=ALERTS_DEF,
                                description="d" * 2001),
        Invalid, "description", "the limit is 2000",
    ),
    "update: a viewer": (
        lambda c: svc.update_view(c.w.viewer, c.std.id, expected_version=1, name="V"),
        Forbidden, None, "view.save",
    ),
    "update: a stale version": (
        lambda c: svc.update_view(c.w.s1, c.mine.id, expected_version=7, name="V"),
        Conflict, "expected_version", "it is now active at version 1 (you had version 7)",
    ),
    "update: not the owner": (
        lambda c: svc.update_view(c.w.s2, c.shared.id, expected_version=2, name="V"),
        Forbidden, None, "only the owner of view 'Shared' may edit it",
    ),
    "update: someone else's personal view": (
        lambda c: svc.update_view(c.w.s2, c.mine.id, expected_version=1, name="V"),
        NotFound, None, "not found",
    ),
    "update: nothing to change": (
        lambda c: svc.update_view(c.w.s1, c.mine.id, expected_version=1),
        Invalid, "name", "Nothing to change",
    ),
    "update: an unknown filter": (
        lambda c: svc.update_view(c.w.s1, c.mine.id, expected_version=1,
                                  definition={"filters": {"colour": "red"}}),
        FilterErrors, "filters.colour", "not a filter of the alert queue",
    ),
    "update: an oversized definition": (
        lambda c: svc.update_view(c.w.s1, c.mine.id, expected_version=1, definition=HUGE),
        FilterErrors, "definition", "the limit is 4096",
    ),
    "update: a name over 120": (
        lambda c: svc.update_view(c.w.s1, c.mine.id, expected_version=1, name="n" * 121),
        Invalid, "name", "the limit is 120",
    ),
    "update: an empty name": (
        lambda c: svc.update_view(c.w.s1, c.mine.id, expected_version=1, name=""),
        Invalid, "name", "Name is required",
    ),
    "update: a duplicate name": (
        lambda c: svc.update_view(c.w.s1, c.mine.id, expected_version=1, name="shared"),
        Conflict, "name", "named 'shared'",
    ),
    "update: an archived view": (
        lambda c: svc.update_view(c.w.s1, c.archived.id, expected_version=2, name="V"),
        Conflict, None, "restore it before you edit it",
    ),
    "update: a version that is not a number": (
        lambda c: svc.update_view(c.w.s1, c.mine.id, expected_version="1", name="V"),
        Invalid, "expected_version", "reload the page",
    ),
    "share: a viewer": (
        lambda c: svc.share_view_with_team(c.w.viewer, c.mine.id, expected_version=1,
                                           team_id=c.w.team),
        Forbidden, None, "view.save",
    ),
    "share: a stale version": (
        lambda c: svc.share_view_with_team(c.w.s1, c.mine.id, expected_version=2,
                                           team_id=c.w.team),
        Conflict, "expected_version", "at version 1",
    ),
    "share: a team one is not a member of": (
        lambda c: svc.share_view_with_team(c.w.s1, c.mine.id, expected_version=1,
                                           team_id=c.w.other_team),
        Invalid, "team_id", "is not one of your teams",
    ),
    "share: another organization's team": (
        lambda c: svc.share_view_with_team(c.w.s1, c.mine.id, expected_version=1,
                                           team_id=c.foreign_team),
        Invalid, "team_id", "is not one of your teams",
    ),
    "share: not a team id": (
        lambda c: svc.share_view_with_team(c.w.s1, c.mine.id, expected_version=1, team_id="x"),
        Invalid, "team_id", "Team x is not one of your teams",
    ),
    "share: not the owner": (
        lambda c: svc.share_view_with_team(c.w.s2, c.shared.id, expected_version=2, team_id=None),
        Forbidden, None, "only the owner",
    ),
    "share: a standard view": (
        lambda c: svc.share_view_with_team(c.w.s2, c.std.id, expected_version=1,
                                           team_id=c.w.team),
        Conflict, None, "is a standard view and cannot be shared",
    ),
    "archive: a viewer": (
        lambda c: svc.archive_view(c.w.viewer, c.mine.id, expected_version=1),
        Forbidden, None, "view.save",
    ),
    "archive: a stale version": (
        lambda c: svc.archive_view(c.w.s1, c.mine.id, expected_version=0),
        Conflict, "expected_version", "at version 1",
    ),
    "archive: not the owner": (
        lambda c: svc.archive_view(c.w.s2, c.shared.id, expected_version=2),
        Forbidden, None, "only the owner",
    ),
    "archive: a standard view": (
        lambda c: svc.archive_view(c.w.s2, c.std.id, expected_version=1),
        Conflict, None, "stays in force for everyone",
    ),
    "archive: archived already": (
        lambda c: svc.archive_view(c.w.s1, c.archived.id, expected_version=2),
        Conflict, None, "is archived already",
    ),
    "restore: a viewer": (
        lambda c: svc.restore_view(c.w.viewer, c.archived.id, expected_version=2),
        Forbidden, None, "view.save",
    ),
    "restore: a stale version": (
        lambda c: svc.restore_view(c.w.s1, c.archived.id, expected_version=1),
        Conflict, "expected_version", "at version 2",
    ),
    "restore: someone else's archived view": (
        lambda c: svc.restore_view(c.w.s2, c.archived.id, expected_version=2),
        NotFound, None, "not found",
    ),
    "restore: not archived": (
        lambda c: svc.restore_view(c.w.s1, c.mine.id, expected_version=1),
        Conflict, None, "is not archived",
    ),
    "default: a viewer": (
        lambda c: preferences.set_default_view(c.w.viewer, "alerts", c.std.id),
        Forbidden, None, "view.save",
    ),
    "default: a strategist, of the runs ledger": (
        lambda c: preferences.set_default_view(c.w.s1, "runs", None),
        Forbidden, None, "run.read",
    ),
    "default: a view of the other queue": (
        lambda c: preferences.set_default_view(c.w.operator, "alerts", c.runs.id),
        Invalid, "view_id", "is a view of the runs ledger; choose a view of the alert queue",
    ),
    "default: someone else's personal view": (
        lambda c: preferences.set_default_view(c.w.s2, "alerts", c.mine.id),
        NotFound, None, "not found",
    ),
    "default: an archived view": (
        lambda c: preferences.set_default_view(c.w.s1, "alerts", c.archived.id),
        Conflict, None, "is archived",
    ),
    "pin: a viewer": (
        lambda c: preferences.pin_view(c.w.viewer, c.std.id, True),
        Forbidden, None, "view.save",
    ),
    "pin: not true or false": (
        lambda c: preferences.pin_view(c.w.s1, c.mine.id, "yes"),
        Invalid, "pinned", "true or false",
    ),
    "pin: someone else's personal view": (
        lambda c: preferences.pin_view(c.w.s3, c.mine.id, True),
        NotFound, None, "not found",
    ),
}  # fmt: skip


@pytest.fixture
async def ctx(w: World, other_tenant) -> Ctx:
    mine = await save(w.s1, "High")
    shared = await save(w.s1, "Shared")
    shared = (await svc.share_view_with_team(w.s1, shared.id, expected_version=1,
                                             team_id=w.team)).view  # fmt: skip
    archived = await save(w.s1, "Old")
    archived = (await svc.archive_view(w.s1, archived.id, expected_version=1)).view
    runs = await save(w.operator, "Runs", {"filters": {"severities": ["SEV1"]}}, queue="runs")
    foreign = await teams.create_team(other_tenant.admin, name="Far", member_ids=[])
    return Ctx(w, mine, shared, await standard(w), runs, archived, foreign.id)


@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_input_is_refused_and_changes_nothing(ctx: Ctx, case: str) -> None:
    call, error, field, words = BAD[case]
    before = await state(ctx.w.org_id)
    with pytest.raises(error) as exc:
        await call(ctx)
    assert type(exc.value) is error or issubclass(type(exc.value), error)
    if field is not None:
        assert exc.value.field == field, exc.value.message
    assert words in exc.value.message, exc.value.message
    assert await state(ctx.w.org_id) == before


async def test_a_stale_version_says_where_the_view_is(ctx: Ctx) -> None:
    with pytest.raises(Conflict) as exc:
        await svc.update_view(ctx.w.s1, ctx.shared.id, expected_version=1, name="V")
    assert exc.value.extra["current_version"] == 2
    assert exc.value.message.startswith("View 'Shared' was changed by someone else")
