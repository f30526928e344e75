"""Saved views over GraphQL, on SQLite and PostgreSQL, with bearer tokens: every mutation with
its payload (errors as data), `views` and `view` (in words, with what no longer exists), and
`alerts(viewId:)` / `runs(viewId:)` giving exactly a view's rows, never widened by extra
filters. Every refused call leaves the views, preferences and audit trail as they were."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.credit import recording
from riskops.server.credit.models import Scenario
from riskops.server.identity import teams
from riskops.server.triage import ingest
from riskops.server.views import definitions
from riskops.server.views.models import SavedView, ViewPreference, ViewScope

ERRORS = "errors { code message field }"
VIEW = """id queue scope status name description version owner { id name } team { id name }
  definition { filters columns sort words } draft { filters words } draftName
  missing isDefault pinned canEdit path"""
PAYLOAD = f"view {{ {VIEW} }} replayed {ERRORS}"

SAVE = f"""
mutation($queue: ViewQueue!, $name: String!, $def: ViewDefinitionInput!, $desc: String,
         $key: String) {{
  saveView(queue: $queue, name: $name, definition: $def, description: $desc,
           idempotencyKey: $key) {{ {PAYLOAD} }}
}}"""
UPDATE = f"""
mutation($id: ID!, $v: Int!, $name: String, $desc: String, $def: ViewDefinitionInput) {{
  updateView(viewId: $id, expectedVersion: $v, name: $name, description: $desc,
             definition: $def) {{ {PAYLOAD} }}
}}"""
SHARE = f"""
mutation($id: ID!, $v: Int!, $team: ID) {{
  shareViewWithTeam(viewId: $id, expectedVersion: $v, teamId: $team) {{ {PAYLOAD} }}
}}"""
ARCHIVE = f"""
mutation($id: ID!, $v: Int!) {{ archiveView(viewId: $id, expectedVersion: $v) {{ {PAYLOAD} }} }}"""
RESTORE = f"""
mutation($id: ID!, $v: Int!) {{ restoreView(viewId: $id, expectedVersion: $v) {{ {PAYLOAD} }} }}"""
DEFAULT = f"""
mutation($queue: ViewQueue!, $id: ID) {{
  setDefaultView(queue: $queue, viewId: $id) {{ {PAYLOAD} }}
}}"""
PIN = f"""
mutation($id: ID!, $pinned: Boolean!) {{ pinView(viewId: $id, pinned: $pinned) {{ {PAYLOAD} }} }}"""
VIEWS = f"""
query($queue: ViewQueue, $archived: Boolean) {{
  views(queue: $queue, archived: $archived) {{ {VIEW} }}
}}"""
ONE = f"query($id: ID!) {{ view(id: $id) {{ {VIEW} }} }}"
ALERTS = """
query($view: ID, $filter: AlertFilterInput, $sort: AlertSort) {
  alerts(viewId: $view, filter: $filter, sort: $sort, first: 200) {
    edges { node { id priority currency } } totalCount totalCountIsExact
  }
}"""
RUNS = """
query($view: ID, $filter: RunFilterInput) {
  runs(viewId: $view, filter: $filter, first: 200) { edges { node { id runId } } }
}"""

HIGH = {"alertFilter": {"priority": ["HIGH"]}}


class People:
    def __init__(self, api: Any, tenant: Any) -> None:
        self.api, self.tenant = api, tenant
        self.secrets: dict[str, str] = {}
        self.ids: dict[str, int] = {}

    async def add(self, who: str, role: str) -> None:
        user, _ = await self.tenant.user(role, name=who.title())
        self.ids[who] = user.id
        self.secrets[who] = await self.api.token(self.tenant, user)

    async def call(self, who: str, query: str, **variables: Any) -> dict[str, Any]:
        return await self.api.data(self.secrets[who], query, variables)

    async def raw(self, who: str, query: str, **variables: Any) -> dict[str, Any]:
        return await self.api.gql(self.secrets[who], query, variables)

    async def ok(self, who: str, query: str, **variables: Any) -> dict[str, Any]:
        """A mutation's payload, which must carry no error."""
        data = await self.call(who, query, **variables)
        (payload,) = data.values()
        assert payload["errors"] == [], payload["errors"]
        return payload  # type: ignore[no-any-return]


@pytest.fixture
async def people(api, tenant) -> People:
    p = People(api, tenant)
    for who, role in (("sam", "strategist"), ("sue", "strategist"), ("sid", "strategist"),
                      ("olga", "operator"), ("vic", "viewer")):  # fmt: skip
        await p.add(who, role)
    p.secrets["admin"] = await api.token(tenant, tenant.admin_user)
    desk = await teams.create_team(tenant.admin, name="Desk",
                                   member_ids=[str(p.ids["sam"]), str(p.ids["sue"])])  # fmt: skip
    p.ids["desk"] = desk.id
    return p


async def state(org_id: int) -> tuple[Any, ...]:
    views = await SavedView.filter(org_id=org_id).order_by("id").values_list(
        "id", "name", "description", "definition", "version", "status", "scope", "team_id",
        "draft",
    )  # fmt: skip
    prefs = await ViewPreference.filter(org_id=org_id).order_by("id").values_list(
        "view_id", "is_default", "pinned"
    )  # fmt: skip
    # A refused call is audited (permission.denied…): that record is not a change.
    audit = await AuditEvent.filter(org_id=org_id).exclude(action__startswith="permission.denied")
    return views, prefs, len(audit)


async def standard(people: People, raw: dict | None = None, queue: str = "alerts") -> SavedView:
    now = datetime.now(UTC)
    defn = definitions.parse(queue, raw or {"filters": {"priority": ["high"]}})
    return await SavedView.create(
        org_id=people.tenant.org_id, owner_id=people.ids["sue"], queue=queue,
        scope=ViewScope.STANDARD, name="Standard high", definition=defn.to_json(),
        published_number=1, created_at=now, updated_at=now,
    )  # fmt: skip


# --- every action ------------------------------------------------------------------------------


async def test_the_life_of_a_view(people: People, tenant) -> None:
    saved = await people.ok(
        "sam", SAVE, queue="ALERTS", name="My high", desc="Mine", key="save-1",
        **{"def": {"alertFilter": {"priority": ["HIGH"], "team": str(people.ids["desk"])},
                   "columns": ["title", "score"], "sort": "due"}},
    )  # fmt: skip
    v = saved["view"]
    assert (v["queue"], v["scope"], v["status"], v["version"]) == ("ALERTS", "PERSONAL",
                                                                  "ACTIVE", 1)  # fmt: skip
    assert v["definition"]["filters"] == {"priority": ["high"], "team": people.ids["desk"]}
    assert v["definition"]["columns"] == ["title", "score"] and v["definition"]["sort"] == "due"
    assert v["definition"]["words"][:2] == ["Priority: high", "Team: Desk"]
    assert v["path"] == f"/alerts?view={v['id']}" and v["canEdit"] and v["missing"] == []
    again = await people.ok("sam", SAVE, queue="ALERTS", name="My high", key="save-1",
                            **{"def": HIGH})  # fmt: skip
    assert again["replayed"] and again["view"]["id"] == v["id"]

    updated = await people.ok("sam", UPDATE, id=v["id"], v=1, name="Renamed")
    assert (updated["view"]["name"], updated["view"]["version"]) == ("Renamed", 2)
    shared = await people.ok("sam", SHARE, id=v["id"], v=2, team=str(people.ids["desk"]))
    assert shared["view"]["scope"] == "TEAM" and shared["view"]["team"]["name"] == "Desk"
    seen = (await people.call("sue", ONE, id=v["id"]))["view"]
    assert seen["name"] == "Renamed" and seen["canEdit"] is False
    assert (await people.call("sid", ONE, id=v["id"]))["view"] is None

    default = await people.ok("sue", DEFAULT, queue="ALERTS", id=v["id"])
    assert default["view"]["isDefault"] is True
    pinned = await people.ok("sue", PIN, id=v["id"], pinned=True)
    assert pinned["view"]["pinned"] is True and pinned["view"]["isDefault"] is True
    cleared = await people.ok("sue", DEFAULT, queue="ALERTS", id=None)
    assert cleared["view"] is None

    archived = await people.ok("sam", ARCHIVE, id=v["id"], v=3)
    assert archived["view"]["status"] == "ARCHIVED"
    assert [x["id"] for x in (await people.call("sam", VIEWS, archived=True))["views"]] == [v["id"]]
    restored = await people.ok("sam", RESTORE, id=v["id"], v=4)
    assert (restored["view"]["status"], restored["view"]["version"]) == ("ACTIVE", 5)

    actions = await AuditEvent.filter(org_id=tenant.org_id, action__startswith="view.").order_by(
        "seq"
    ).values_list("action", flat=True)  # fmt: skip
    assert actions == [
        "view.created", "view.updated", "view.shared", "view.default_set", "view.pinned",
        "view.default_set", "view.archived", "view.restored",
    ]  # fmt: skip


async def test_editing_a_standard_view_drafts_it(people: People) -> None:
    std = await standard(people)
    r = await people.ok("olga", UPDATE, id=str(std.id), v=1, name="Standard critical",
                        **{"def": {"alertFilter": {"priority": ["CRITICAL"]}}})  # fmt: skip
    view = r["view"]
    assert view["definition"]["words"][0] == "Priority: high"  # in force until published
    assert view["draft"]["words"][0] == "Priority: critical"
    assert view["draftName"] == "Standard critical" and view["name"] == "Standard high"


async def test_who_sees_which_view(people: People) -> None:
    std = await standard(people)
    runs_std = await standard(people, {"filters": {"severities": ["SEV0"]}}, "runs")
    mine = (await people.ok("sam", SAVE, queue="ALERTS", name="Mine", **{"def": HIGH}))["view"]

    async def names(who: str, **kw: Any) -> list[str]:
        return [v["name"] for v in (await people.call(who, VIEWS, **kw))["views"]]

    assert await names("sam") == ["Standard high", "Mine"]
    assert await names("sue") == ["Standard high"]
    assert await names("vic") == ["Standard high", "Standard high"]  # both queues
    assert await names("olga", queue="RUNS") == ["Standard high"]
    assert await names("admin") == []
    body = await people.raw("sam", VIEWS, queue="RUNS")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "run.read" in body["errors"][0]["message"]
    assert (await people.call("sam", ONE, id=str(runs_std.id)))["view"] is None
    assert (await people.call("sue", ONE, id=mine["id"]))["view"] is None
    assert (await people.call("vic", ONE, id=str(std.id)))["view"]["canEdit"] is False
    missing = await people.ok("sam", SAVE, queue="ALERTS", name="Gone",
                              **{"def": {"alertFilter": {"team": "999999",
                                                         "ruleId": "NO-SUCH"}}})  # fmt: skip
    assert missing["view"]["missing"] == [
        "Team #999999 no longer exists: the view selects no alert of it.",
        "Rule NO-SUCH: no alert of your organization was hit by it.",
    ]


# --- applying a view ---------------------------------------------------------------------------


async def some_alerts(tenant) -> dict[str, int]:
    _, ingester = await tenant.user("strategist")
    items = [
        {"priority": "high", "amount": "500", "currency": "EUR", "score": 90},
        {"priority": "high", "amount": "50", "currency": "EUR", "score": 80},
        {"priority": "high", "amount": "900", "currency": "USD", "score": 70},
        {"priority": "low", "amount": "700", "currency": "EUR", "score": 60},
    ]
    for n, item in enumerate(items):
        item.update(external_id=f"v-{n}-{uuid.uuid4().hex[:8]}", source="card-rules",
                    title="Card testing")  # fmt: skip
    result = await ingest.ingest_alerts(ingester, items)
    assert not result.errors
    return dict(zip(("eur500", "eur50", "usd900", "low"), (c.alert_id for c in result.created),
                    strict=True))  # fmt: skip


def alert_ids(data: dict[str, Any]) -> list[str]:
    return [e["node"]["id"] for e in data["alerts"]["edges"]]


async def test_alerts_of_a_view_are_its_filters_rows(people: People, tenant) -> None:
    a = await some_alerts(tenant)
    v = (
        await people.ok("sam", SAVE, queue="ALERTS", name="EUR high", **{"def": {
            "alertFilter": {"priority": ["HIGH"], "currency": "eur"}, "sort": "amount"}})
    )["view"]  # fmt: skip
    by_view = await people.call("sam", ALERTS, view=v["id"])
    direct = await people.call("sam", ALERTS, filter={"priority": ["HIGH"], "currency": "EUR"},
                               sort="AMOUNT")  # fmt: skip
    assert alert_ids(by_view) == alert_ids(direct) == [str(a["eur500"]), str(a["eur50"])]
    assert (by_view["alerts"]["totalCount"], by_view["alerts"]["totalCountIsExact"]) == (2, True)
    inside = set(alert_ids(by_view))
    for extra in (
        {"priority": ["LOW"]},
        {"currency": "USD"},
        {"scoreMin": 85},
        {"amountMin": "100"},
        {"priority": ["HIGH", "LOW"], "status": ["NEW"]},
    ):
        for sort in ("SCORE", "AMOUNT", "CREATED"):
            got = await people.call("sam", ALERTS, view=v["id"], filter=extra, sort=sort)
            assert set(alert_ids(got)) <= inside, (extra, sort)
    assert alert_ids(await people.call("sam", ALERTS, view=v["id"], filter={"scoreMin": 85})) == [
        str(a["eur500"])
    ]


async def test_a_view_that_cannot_apply_is_a_clear_error(people: People, tenant, other_tenant,
                                                         api) -> None:  # fmt: skip
    runs_view = (
        await people.ok("olga", SAVE, queue="RUNS", name="Sev1",
                        **{"def": {"runFilter": {"severity": ["SEV1"]}}})
    )["view"]  # fmt: skip
    body = await people.raw("olga", ALERTS, view=runs_view["id"])
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "INVALID"
    assert "is a view of the runs ledger, not of the alert queue" in error["message"]
    user, _ = await other_tenant.user("strategist")
    theirs = await api.token(other_tenant, user)
    their_view = await api.data(theirs, SAVE, {"queue": "ALERTS", "name": "T", "def": HIGH})
    foreign = their_view["saveView"]["view"]["id"]
    body = await people.raw("sam", ALERTS, view=foreign)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert body["errors"][0]["message"] == f"View {foreign} not found."
    body = await people.raw("sam", ALERTS, view="2000000000")
    assert body["errors"][0]["message"] == "View 2000000000 not found."


async def test_runs_of_a_view(people: People, tenant) -> None:
    keys = [f"GQL_{uuid.uuid4().hex[:8].upper()}" for _ in range(2)]
    for key in keys:
        await Scenario.create(org_id=tenant.org_id, key=key, name=key, created_at=datetime.now(UTC))
    recorded = await recording.record_runs(tenant.admin, [
        {"run_id": f"g-{n}-{k}", "scenario": k, "credits_total": 100.0}
        for n, k in enumerate((keys[0], keys[0], keys[1]))
    ])  # fmt: skip
    assert not recorded.errors
    v = (await people.ok("olga", SAVE, queue="RUNS", name="One scenario",
                         **{"def": {"runFilter": {"scenario": keys[0]}}}))["view"]  # fmt: skip
    by_view = await people.call("olga", RUNS, view=v["id"])
    direct = await people.call("olga", RUNS, filter={"scenario": keys[0]})
    assert by_view == direct and len(by_view["runs"]["edges"]) == 2
    assert (await people.call("olga", RUNS, view=v["id"],
                              filter={"scenario": keys[1]}))["runs"]["edges"] == []  # fmt: skip
    body = await people.raw("sam", RUNS, view=v["id"])
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# --- the bad-input table -----------------------------------------------------------------------

# name -> (who, query, variables with {mine}/{std}/{foreign}, code, field, words)
BAD: dict[str, tuple[str, str, dict[str, Any], str, str | None, str]] = {
    "save: a viewer": ("vic", SAVE, {"queue": "ALERTS", "name": "V", "def": HIGH},
                       "FORBIDDEN", None, "view.save"),
    "save: an admin": ("admin", SAVE, {"queue": "ALERTS", "name": "V", "def": HIGH},
                       "FORBIDDEN", None, "view.save"),
    "save: runs, a strategist": ("sam", SAVE, {"queue": "RUNS", "name": "V", "def": {}},
                                 "FORBIDDEN", None, "run.read"),
    "save: a filter of the other queue": (
        "olga", SAVE, {"queue": "RUNS", "name": "V", "def": HIGH},
        "INVALID", "filters.priority", "is not a filter of the runs ledger"),
    "save: an unknown column": (
        "sam", SAVE, {"queue": "ALERTS", "name": "V", "def": {"columns": ["colour"]}},
        "INVALID", "columns", "Column 'colour' is not a column of the alert queue"),
    "save: an unknown sort": (
        "sam", SAVE, {"queue": "ALERTS", "name": "V", "def": {"sort": "newest"}},
        "INVALID", "sort", "Sort 'newest' is unknown for the alert queue"),
    "save: an oversized definition": (
        "sam", SAVE, {"queue": "ALERTS", "name": "V",
                      "def": {"alertFilter": {"text": "abc" * 2000}}},
        "INVALID", "definition", "the limit is 4096"),
    "save: a huge list": (
        "sam", SAVE, {"queue": "ALERTS", "name": "V",
                      "def": {"alertFilter": {"status": ["NEW"] * 40}}},
        "INVALID", "filters.status", "at most"),
    "save: an empty name": ("sam", SAVE, {"queue": "ALERTS", "name": "", "def": HIGH},
                            "INVALID", "name", "Name is required"),
    "save: a name over 120": ("sam", SAVE, {"queue": "ALERTS", "name": "n" * 121, "def": HIGH},
                              "INVALID", "name", "the limit is 120"),
    "save: a duplicate name": ("sam", SAVE, {"queue": "ALERTS", "name": "mine", "def": HIGH},
                               "CONFLICT", "name", "named 'mine'"),
    "update: a viewer": ("vic", UPDATE, {"id": "{std}", "v": 1, "name": "V"},
                         "FORBIDDEN", None, "view.save"),
    "update: another organization's view": (
        "sam", UPDATE, {"id": "{foreign}", "v": 1, "name": "V"}, "NOT_FOUND", None, "not found"),
    "update: a stale version": ("sam", UPDATE, {"id": "{mine}", "v": 9, "name": "V"},
                                "CONFLICT", "expected_version", "you had version 9"),
    "update: an unknown filter value": (
        "sam", UPDATE, {"id": "{mine}", "v": 1, "def": {"alertFilter": {"scoreMin": 500}}},
        "INVALID", "filters.score_min", "between 0 and 100"),
    "update: a name over 120": ("sam", UPDATE, {"id": "{mine}", "v": 1, "name": "n" * 121},
                                "INVALID", "name", "the limit is 120"),
    "share: a viewer": ("vic", SHARE, {"id": "{mine}", "v": 1, "team": None},
                        "FORBIDDEN", None, "view.save"),
    "share: another organization's view": ("sam", SHARE, {"id": "{foreign}", "v": 1},
                                           "NOT_FOUND", None, "not found"),
    "share: a stale version": ("sam", SHARE, {"id": "{mine}", "v": 3}, "CONFLICT",
                               "expected_version", "at version 1"),
    "share: a team one is not in": ("sam", SHARE, {"id": "{mine}", "v": 1, "team": "{other}"},
                                    "INVALID", "team_id", "is not one of your teams"),
    "archive: a viewer": ("vic", ARCHIVE, {"id": "{mine}", "v": 1}, "FORBIDDEN", None,
                          "view.save"),
    "archive: another organization's view": ("sam", ARCHIVE, {"id": "{foreign}", "v": 1},
                                             "NOT_FOUND", None, "not found"),
    "archive: a stale version": ("sam", ARCHIVE, {"id": "{mine}", "v": 2}, "CONFLICT",
                                 "expected_version", "at version 1"),
    "archive: a standard view": ("sam", ARCHIVE, {"id": "{std}", "v": 1}, "CONFLICT", None,
                                 "stays in force for everyone"),
    "restore: a viewer": ("vic", RESTORE, {"id": "{mine}", "v": 1}, "FORBIDDEN", None,
                          "view.save"),
    "restore: another organization's view": ("sam", RESTORE, {"id": "{foreign}", "v": 1},
                                             "NOT_FOUND", None, "not found"),
    "restore: a stale version": ("sam", RESTORE, {"id": "{mine}", "v": 5}, "CONFLICT",
                                 "expected_version", "at version 1"),
    "default: a viewer": ("vic", DEFAULT, {"queue": "ALERTS", "id": "{std}"}, "FORBIDDEN",
                          None, "view.save"),
    "default: another organization's view": (
        "sam", DEFAULT, {"queue": "ALERTS", "id": "{foreign}"}, "NOT_FOUND", None, "not found"),
    "pin: a viewer": ("vic", PIN, {"id": "{std}", "pinned": True}, "FORBIDDEN", None,
                      "view.save"),
    "pin: another organization's view": ("sam", PIN, {"id": "{foreign}", "pinned": True},
                                         "NOT_FOUND", None, "not found"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_input_is_an_error_as_data_and_changes_nothing(
    people: People, tenant, other_tenant, api, case: str
) -> None:
    who, query, template, code, field, words = BAD[case]
    mine = (await people.ok("sam", SAVE, queue="ALERTS", name="Mine", **{"def": HIGH}))["view"]
    std = await standard(people)
    user, _ = await other_tenant.user("strategist")
    theirs = await api.data(await api.token(other_tenant, user), SAVE,
                            {"queue": "ALERTS", "name": "T", "def": HIGH})  # fmt: skip
    other = await teams.create_team(tenant.admin, name="Other", member_ids=[])
    ids = {"{mine}": mine["id"], "{std}": str(std.id), "{other}": str(other.id),
           "{foreign}": theirs["saveView"]["view"]["id"]}  # fmt: skip
    variables = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in template.items()}
    before = await state(tenant.org_id), await state(other_tenant.org_id)
    (payload,) = (await people.call(who, query, **variables)).values()
    (error,) = payload["errors"]
    assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error
    assert words in error["message"], error
    if code == "CONFLICT" and field == "expected_version":
        assert payload["view"]["version"] == 1  # the view as it is now, to retry on
    assert (await state(tenant.org_id), await state(other_tenant.org_id)) == before
