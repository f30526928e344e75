"""Archiving cases (issue 16, seed 002 weekly checks "Archive resolved cases older than 30 days"):
one case, the bulk archive by the policy's age, unarchive; archived cases hidden from the default
lists and My work, readable by id and with the filter, read-only until unarchived. Service,
GraphQL, page and CLI; SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.core.errors import Conflict, Forbidden, Invalid, NotFound
from riskops.server.triage import case_archive, case_create, case_queries, case_resolution
from riskops.server.triage import cases as svc
from riskops.server.triage.models import Case, CaseEvent, CaseStatus
from tests.triage.support_runs import audited, case_state
from tests.triage.test_case_pages import signed_in


async def resolved(principal: Any, title: str, days_ago: float) -> Case:
    case = (await case_create.create_case(principal, title=title, severity="low")).case
    await case_resolution.resolve_case(principal, case.id, expected_version=1,
                                       root_cause="legit_load", note="Batch.")  # fmt: skip
    when = datetime.now(UTC) - timedelta(days=days_ago)
    await Case.filter(id=case.id).update(resolved_at=when)
    return await Case.get(id=case.id)


async def test_archive_one_hides_it_keeps_it_readable_and_read_only(tenant):
    _, op = await tenant.user("operator")
    case = await resolved(op, "Old batch", 2)
    result = await case_archive.archive_case(op, case.id, expected_version=2)
    assert result.case.archived_at is not None and result.case.version == 3

    listed = [c.id for c in (await case_queries.list_cases(op)).items]
    assert case.id not in listed
    assert [c.id for c in (await case_queries.list_cases(op, archived=True)).items] == [case.id]
    assert (await case_queries.get_case(op, case.id)).id == case.id  # readable by id
    # A sync sees the change.
    since = datetime.now(UTC) - timedelta(minutes=5)
    synced = await case_queries.list_cases(op, updated_after=since)
    assert case.id in [c.id for c in synced.items]

    before = await case_state(case.id), await audited(tenant.org_id)
    for attempt in (
        svc.update_case(op, case.id, expected_version=3, status="closed"),
        svc.add_case_note(op, case.id, "late note"),
        case_archive.archive_case(op, case.id, expected_version=3),
    ):
        with pytest.raises(Conflict, match="archived"):
            await attempt
    assert (await case_state(case.id), await audited(tenant.org_id)) == before

    back = await case_archive.unarchive_case(op, case.id, expected_version=3)
    assert back.case.archived_at is None
    assert case.id in [c.id for c in (await case_queries.list_cases(op)).items]
    actions = [e.action for e in await CaseEvent.filter(case_id=case.id).order_by("id")]
    assert actions[-2:] == ["archive", "unarchive"]


async def test_bulk_archive_takes_what_the_policy_says_and_audits_each(tenant):
    _, op = await tenant.user("operator")
    old1 = await resolved(op, "Old 1", 45)
    old2 = await resolved(op, "Old 2", 31)
    recent = await resolved(op, "Recent", 10)
    working = (await case_create.create_case(op, title="Open one")).case
    await Case.filter(id=working.id).update(opened_at=datetime.now(UTC) - timedelta(days=90))

    dry = await case_archive.archive_resolved_cases(op, dry_run=True)
    assert (dry.count, dry.older_than_days, dry.dry_run) == (2, 30, True)
    assert dry.case_numbers == [old1.display_number, old2.display_number]
    assert await Case.filter(org_id=tenant.org_id, archived_at__isnull=False).count() == 0

    seq = await AuditEvent.filter(org_id=tenant.org_id).count()
    done = await case_archive.archive_resolved_cases(op)
    assert (done.count, done.remaining) == (2, 0)
    archived = await Case.filter(org_id=tenant.org_id, archived_at__isnull=False).order_by("id")
    assert [c.id for c in archived] == [old1.id, old2.id]
    events = await AuditEvent.filter(org_id=tenant.org_id, seq__gt=seq).order_by("seq")
    assert [e.action for e in events] == ["case.archive", "case.archive"]
    assert json.loads(events[0].new_values)["older_than_days"] == 30
    assert (await Case.get(id=recent.id)).archived_at is None

    again = await case_archive.archive_resolved_cases(op, older_than_days=40, dry_run=True)
    assert again.count == 0  # Old 1 is archived already


BAD_BULK = [
    ("viewer", {}, Forbidden, "case.work"),
    ("operator", {"older_than_days": 29}, Invalid, "give 30 or more days"),
    ("operator", {"older_than_days": 0}, Invalid, "a whole number of days from 30 to 3660"),
    ("operator", {"older_than_days": "soon"}, Invalid, "not 'soon'"),
    ("operator", {"older_than_days": 5000}, Invalid, "from 30 to 3660"),
]


@pytest.mark.parametrize(("role", "kw", "error", "message"), BAD_BULK,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_BULK)])  # fmt: skip
async def test_bad_bulk_archives_change_nothing(tenant, role, kw, error, message):
    _, op = await tenant.user("operator")
    _, caller = await tenant.user(role)
    old = await resolved(op, "Old", 60)
    before = await case_state(old.id), await audited(tenant.org_id)
    with pytest.raises(error) as refused:
        await case_archive.archive_resolved_cases(caller, **kw)
    assert message in refused.value.message
    assert (await case_state(old.id), await audited(tenant.org_id)) == before


BAD_ONE = [
    ("viewer", "resolved", 2, Forbidden, "case.work"),
    ("operator", "open", 1, Conflict, "only resolved or closed cases are archived"),
    ("operator", "resolved", 1, Conflict, "version"),
    ("operator", "theirs", 2, NotFound, "not found"),
]


@pytest.mark.parametrize(("role", "which", "version", "error", "message"), BAD_ONE,
                         ids=[f"{b[0]}-{b[1]}-{i}" for i, b in enumerate(BAD_ONE)])  # fmt: skip
async def test_bad_archives_change_nothing(tenant, other_tenant, role, which, version, error,
                                           message):  # fmt: skip
    _, op = await tenant.user("operator")
    _, caller = await tenant.user(role)
    done = await resolved(op, "Done", 1)
    open_case = (await case_create.create_case(op, title="Open")).case
    theirs = await resolved((await other_tenant.user("operator"))[1], "Theirs", 1)
    target = {"resolved": done, "open": open_case, "theirs": theirs}[which]
    before = [await case_state(c.id) for c in (done, open_case, theirs)]
    with pytest.raises(error) as refused:
        await case_archive.archive_case(caller, target.id, expected_version=version)
    assert message in refused.value.message
    assert [await case_state(c.id) for c in (done, open_case, theirs)] == before
    with pytest.raises((Conflict, Forbidden, NotFound)):
        await case_archive.unarchive_case(caller, target.id, expected_version=version)
    assert [await case_state(c.id) for c in (done, open_case, theirs)] == before


# --- GraphQL -----------------------------------------------------------------------------------


async def test_graphql_archive_filter_and_bulk(tenant, api):
    user, op = await tenant.user("operator")
    secret = await api.token(tenant, user)
    old = await resolved(op, "Old", 40)
    one = await resolved(op, "One", 1)
    bulk = """mutation($days: Int, $dry: Boolean!) {
      archiveResolvedCases(olderThanDays: $days, dryRun: $dry) {
        count caseNumbers olderThanDays remaining dryRun errors { code field message } } }"""
    out = (await api.data(secret, bulk, {"days": None, "dry": True}))["archiveResolvedCases"]
    assert (out["count"], out["caseNumbers"], out["olderThanDays"]) == (
        1, [old.display_number], 30)  # fmt: skip
    out = (await api.data(secret, bulk, {"days": 3, "dry": False}))["archiveResolvedCases"]
    assert out["errors"][0]["field"] == "older_than_days" and out["count"] == 0
    out = (await api.data(secret, bulk, {"days": None, "dry": False}))["archiveResolvedCases"]
    assert out["count"] == 1 and out["errors"] == []

    archive = """mutation($id: ID!, $v: Int!) { archiveCase(caseId: $id, expectedVersion: $v) {
      case { archivedAt version } errors { code message } } }"""
    out = (await api.data(secret, archive, {"id": str(one.id), "v": 2}))["archiveCase"]
    assert out["errors"] == [] and out["case"]["archivedAt"] is not None

    cases = "query($a: Boolean) { cases(archived: $a) { edges { node { id archivedAt } } } }"
    default = (await api.data(secret, cases, {"a": None}))["cases"]["edges"]
    only = (await api.data(secret, cases, {"a": True}))["cases"]["edges"]
    assert {e["node"]["id"] for e in default} & {str(old.id), str(one.id)} == set()
    assert {e["node"]["id"] for e in only} == {str(old.id), str(one.id)}

    unarchive = """mutation($id: ID!, $v: Int!) { unarchiveCase(caseId: $id, expectedVersion: $v) {
      case { archivedAt } errors { code message } } }"""
    out = (await api.data(secret, unarchive, {"id": str(one.id), "v": 2}))["unarchiveCase"]
    assert out["errors"][0]["code"] == "CONFLICT"  # stale: it is version 3 now
    out = (await api.data(secret, unarchive, {"id": str(one.id), "v": 3}))["unarchiveCase"]
    assert out["errors"] == [] and out["case"]["archivedAt"] is None


# --- the pages ---------------------------------------------------------------------------------


async def test_pages_archive_show_archived_and_bulk(browser: Any, tenant: Any):
    b = await signed_in(browser, tenant, "operator")
    old = await resolved(b.principal, "Old archived one", 40)
    one = await resolved(b.principal, "Fresh resolved one", 1)

    page = await b.get("/cases")
    assert "1 resolved case older than 30 days" in page.text
    r = await b.post("/cases/archive-resolved", {})
    assert r.status_code == 303
    page = await b.get("/cases")
    assert "Old archived one" not in page.text and "Fresh resolved one" in page.text
    page = await b.get("/cases?archived=1")
    assert "Old archived one" in page.text and "Fresh resolved one" not in page.text

    page = await b.get(f"/cases/{one.id}")
    assert f'action="/cases/{one.id}/archive"' in page.text
    r = await b.post(f"/cases/{one.id}/archive", {"expected_version": "1"})
    assert r.status_code == 409  # stale: the page shows the case as it is now
    assert (await Case.get(id=one.id)).archived_at is None
    r = await b.post(f"/cases/{one.id}/archive", {"expected_version": "2"})
    assert r.status_code == 303
    page = await b.get(f"/cases/{one.id}")
    assert "Archived" in page.text and f'action="/cases/{one.id}/unarchive"' in page.text
    assert f'action="/cases/{one.id}/notes"' not in page.text  # read-only
    r = await b.post(f"/cases/{one.id}/unarchive", {"expected_version": "3"})
    assert r.status_code == 303
    assert (await Case.get(id=one.id)).status is CaseStatus.RESOLVED
    assert (await Case.get(id=old.id)).archived_at is not None


async def test_an_archived_case_leaves_my_work(tenant):
    from riskops.server.work.service import my_work

    _, op = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    case = (await case_create.create_case(op, title="Asked", severity="high")).case
    await case_resolution.request_case_resolution(
        op, case.id, expected_version=1, summary="Done.", root_cause="legit_load"
    )
    await case_resolution.approve_case_resolution(approver, case.id, expected_version=2)

    def mine(work: Any) -> list[str]:
        section = work.section("requests")
        found = {i.key: i for i in section.items} if section else {}
        item = found.get("mine.case_resolutions")
        return [e.href for e in item.entries] if item else []

    assert mine(await my_work(op)) == [f"/cases/{case.id}"]
    await case_archive.archive_case(op, case.id, expected_version=3)
    assert mine(await my_work(op)) == []


# --- who may archive: one rule, on both faces ---------------------------------------------------

ARCHIVE_BUTTONS = "query($id: ID!) { case(id: $id) { canArchive canUnarchive } }"


async def test_who_may_archive_is_the_services_rule_on_the_page_and_in_graphql(
    browser: Any, tenant: Any, api: Any
) -> None:
    """`case_archive.can_archive` / `can_unarchive` decide it (archive_case's rule): an open
    case cannot be archived, a resolved one can, an archived one can be unarchived, and a
    reader who does not work cases may do neither. The page shows its buttons by them and
    GraphQL answers canArchive / canUnarchive by them, in the detail and in the list."""
    _, op = await tenant.user("operator")
    working = (await case_create.create_case(op, title="Still open", severity="low")).case
    done = await resolved(op, "Done", 1)
    shelved = await resolved(op, "Shelved", 1)
    await case_archive.archive_case(op, shelved.id, expected_version=2)
    shelved = await Case.get(id=shelved.id)
    expected = {  # role -> case -> (canArchive, canUnarchive)
        "operator": {working.id: (False, False), done.id: (True, False), shelved.id: (False, True)},
        "viewer": {working.id: (False, False), done.id: (False, False), shelved.id: (False, False)},
    }  # fmt: skip
    for role, per_case in expected.items():
        user, who = await tenant.user(role)
        secret = await api.token(tenant, user)
        b = await signed_in(browser, tenant, role)
        for case_id, (may_archive, may_unarchive) in per_case.items():
            case = await Case.get(id=case_id)
            decided = case_archive.can_archive(who, case), case_archive.can_unarchive(who, case)
            assert decided == (may_archive, may_unarchive)
            got = (await api.data(secret, ARCHIVE_BUTTONS, {"id": str(case_id)}))["case"]
            assert (got["canArchive"], got["canUnarchive"]) == (may_archive, may_unarchive)
            page = (await b.get(f"/cases/{case_id}")).text
            assert (f'action="/cases/{case_id}/archive"' in page) is may_archive
            assert (f'action="/cases/{case_id}/unarchive"' in page) is may_unarchive
        listed = (await api.data(secret, "query { cases(archived: false) { edges { node {"
                                 " id canArchive } } } }"))["cases"]["edges"]  # fmt: skip
        flags = {int(e["node"]["id"]): e["node"]["canArchive"] for e in listed}
        assert flags[working.id] is False and flags[done.id] is (role == "operator")


async def test_archiving_a_case_that_may_not_be_archived_changes_nothing(tenant):
    """archive_case refuses exactly where can_archive is false (an open case: Conflict naming
    its status; a reader: Forbidden), and nothing changes."""
    _, op = await tenant.user("operator")
    _, viewer = await tenant.user("viewer")
    working = (await case_create.create_case(op, title="Still open", severity="low")).case
    done = await resolved(op, "Done", 1)
    before = [await case_state(working.id), await case_state(done.id), await audited(tenant.org_id)]
    assert not case_archive.can_archive(op, working)
    with pytest.raises(Conflict, match="while it is open; only resolved or closed cases"):
        await case_archive.archive_case(op, working.id, expected_version=1)
    assert not case_archive.can_archive(viewer, done)
    with pytest.raises(Forbidden):
        await case_archive.archive_case(viewer, done.id, expected_version=2)
    assert not case_archive.can_unarchive(op, done)
    with pytest.raises(Conflict, match="is not archived"):
        await case_archive.unarchive_case(op, done.id, expected_version=2)
    after = [await case_state(working.id), await case_state(done.id), await audited(tenant.org_id)]
    assert after == before
