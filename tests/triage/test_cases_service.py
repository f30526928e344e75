"""Cases through the service layer, on SQLite and PostgreSQL: create from alerts, notes, links,
status, and the maker-checker resolution. Every refused request must leave nothing behind: same
status, version, notes, links, history and audit head."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest

from riskops.audit.models import AuditEvent, AuditHead
from riskops.server.core import approvals
from riskops.server.core.errors import Conflict, Duplicate, Forbidden, Invalid, NotFound
from riskops.server.core.models import IdempotencyKey
from riskops.server.triage import case_create, case_queries, case_resolution, ingest
from riskops.server.triage import cases as svc
from riskops.server.triage.models import (
    Alert,
    Case,
    CaseAlert,
    CaseEvent,
    CaseNote,
    CaseSeverity,
    CaseStatus,
    RootCause,
)


async def head(org_id: int) -> int:
    row = await AuditHead.get_or_none(org_id=org_id)
    return row.seq if row else 0


async def new_alerts(principal, n: int = 2) -> list[int]:
    items = [
        {
            "external_id": f"ext-{uuid.uuid4().hex[:10]}",
            "source": "card-rules",
            "title": "Card testing burst",
            "score": 80,
            "priority": "high",
        }
        for _ in range(n)
    ]
    ingester = dataclasses.replace(principal, roles=frozenset({"strategist"}))
    result = await ingest.ingest_alerts(ingester, items)
    assert result.errors == []
    return [c.alert_id for c in result.created]


async def snapshot(case_id: int, org_id: int):
    c = await Case.get(id=case_id)
    return (
        c.status,
        c.version,
        c.root_cause,
        c.severity,
        c.assignee_id,
        c.requested_by_id,
        c.approved_by_id,
        c.resolved_at,
        await CaseNote.filter(case_id=case_id).count(),
        sorted(await CaseAlert.filter(case_id=case_id).values_list("alert_id", flat=True)),
        await CaseEvent.filter(case_id=case_id).count(),
        await head(org_id),
    )


async def org_state(org_id: int):
    return (
        await Case.filter(org_id=org_id).count(),
        await CaseAlert.filter(case__org_id=org_id).count(),
        await IdempotencyKey.filter(org_id=org_id).count(),
        await head(org_id),
    )


async def new_case(principal, **over) -> Case:
    ids = over.pop("alert_ids", None) or await new_alerts(principal, 1)
    result = await case_create.create_case(
        principal, title=over.pop("title", "Card testing"), alert_ids=ids,
        severity=over.pop("severity", "high"), **over,
    )  # fmt: skip
    return result.case


async def pending_case(tenant):
    """A case of a strategist, pending approval; returns (case, strategist user, principal)."""
    strat_user, strat = await tenant.user("strategist")
    case = await new_case(strat)
    await case_resolution.request_case_resolution(
        strat, case.id, expected_version=1, summary="regular customer", root_cause="false_positive"
    )
    return await Case.get(id=case.id), strat_user, strat


# --- happy path --------------------------------------------------------------------------------


async def test_case_from_two_alerts_to_approved_resolution(tenant):
    strat_user, strat = await tenant.user("strategist")
    approver_user, approver = await tenant.user("approver")
    alert_ids = await new_alerts(strat, 2)
    seq0 = await head(tenant.org_id)

    created = await case_create.create_case(
        strat, title="Card testing on ACME", alert_ids=alert_ids, severity="high"
    )
    case = created.case
    assert created.replayed is False
    assert (case.number, case.display_number, case.status, case.severity, case.version) == (
        1,
        "CASE-000001",
        CaseStatus.OPEN,
        CaseSeverity.HIGH,
        1,
    )
    assert case.opened_by_id == strat_user.id
    links = await CaseAlert.filter(case_id=case.id).values_list("alert_id", flat=True)
    assert sorted(links) == sorted(alert_ids)

    note = await svc.add_case_note(strat, case.id, "Merchant ACME\nseen before: secret detail")
    assert (note.case_id, note.author_id) == (case.id, strat_user.id)

    r = await svc.update_case(strat, case.id, expected_version=1, status="investigating")
    assert (r.case.status, r.case.version) == (CaseStatus.INVESTIGATING, 2)
    r = await case_resolution.request_case_resolution(
        strat, case.id, expected_version=2, summary="private summary", root_cause="false_positive"
    )
    assert (r.case.status, r.case.root_cause, r.case.requested_by_id, r.case.version) == (
        CaseStatus.PENDING_APPROVAL,
        RootCause.FALSE_POSITIVE,
        strat_user.id,
        3,
    )
    assert r.case.resolution_summary == "private summary"
    r = await case_resolution.approve_case_resolution(approver, case.id, expected_version=3)
    stored = await Case.get(id=case.id)
    assert (stored.status, stored.approved_by_id, stored.version) == (
        CaseStatus.RESOLVED,
        approver_user.id,
        4,
    )
    assert stored.resolved_at is not None
    r = await svc.update_case(strat, case.id, expected_version=4, status="closed")
    assert r.case.status == CaseStatus.CLOSED

    events = await CaseEvent.filter(case_id=case.id).order_by("id")
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("create", None, "open"),
        ("add_note", "open", "open"),
        ("update", "open", "investigating"),
        ("request_resolution", "investigating", "pending_approval"),
        ("approve_resolution", "pending_approval", "resolved"),
        ("update", "resolved", "closed"),
    ]
    assert events[1].data == {"note_id": note.id}
    audit = await AuditEvent.filter(org_id=tenant.org_id, seq__gt=seq0).order_by("seq")
    assert [a.action for a in audit] == [
        "case.create", "case.add_note", "case.update", "case.request_resolution",
        "case.approve_resolution", "case.update",
    ]  # fmt: skip
    assert all(a.entity_id == str(case.id) for a in audit)
    assert f'"note_id":{note.id}' in audit[1].new_values
    chain = " ".join(a.new_values + a.old_values for a in audit)
    for secret in ("secret detail", "private summary", "Card testing on ACME"):
        assert secret not in chain  # free text stays out of the chain
    assert '"root_cause":"false_positive"' in audit[3].new_values


async def test_case_numbers_are_per_organization(tenant, other_tenant):
    _, mine = await tenant.user("strategist")
    _, theirs = await other_tenant.user("strategist")
    a = await new_case(mine)
    b = await new_case(mine)
    c = await new_case(theirs)
    assert (a.number, b.number, c.number) == (1, 2, 1)


async def test_reject_sends_the_case_back_with_the_reason_in_history(tenant):
    case, strat_user, _ = await pending_case(tenant)
    _, approver = await tenant.user("approver")
    seq0 = await head(tenant.org_id)

    r = await case_resolution.reject_case_resolution(
        approver, case.id, expected_version=2, reason="check the chargebacks first"
    )

    assert (r.case.status, r.case.requested_by_id, r.case.version) == (
        CaseStatus.INVESTIGATING,
        None,
        3,
    )
    event = await CaseEvent.filter(case_id=case.id).order_by("-id").first()
    assert event is not None
    assert event.data == {"requested_by_id": strat_user.id, "reason": "check the chargebacks first"}
    audit = await AuditEvent.get(org_id=tenant.org_id, seq=seq0 + 1)
    assert audit.action == "case.reject_resolution"
    assert "chargebacks" not in audit.new_values


async def test_link_and_unlink_alerts(tenant):
    _, strat = await tenant.user("strategist")
    first, second, third = await new_alerts(strat, 3)
    case = await new_case(strat, alert_ids=[first])

    await svc.link_alerts(strat, case.id, [second, third, first])
    links = sorted(await CaseAlert.filter(case_id=case.id).values_list("alert_id", flat=True))
    assert links == sorted([first, second, third])
    await svc.unlink_alerts(strat, case.id, [first, third])
    assert await CaseAlert.filter(case_id=case.id).values_list("alert_id", flat=True) == [second]
    actions = await CaseEvent.filter(case_id=case.id).order_by("id").values_list("action", "data")
    assert actions[1:] == [
        ("link_alerts", {"alert_ids": [second, third]}),
        ("unlink_alerts", {"alert_ids": [first, third]}),
    ]

    before = await snapshot(case.id, tenant.org_id)
    with pytest.raises(Invalid, match="must keep at least one alert"):
        await svc.unlink_alerts(strat, case.id, [second])
    first_ext = (await Alert.get(id=first)).external_id  # named as the queue shows it
    with pytest.raises(Invalid, match=f"Alert {first_ext} is not linked"):
        await svc.unlink_alerts(strat, case.id, [first])
    assert await snapshot(case.id, tenant.org_id) == before


async def test_update_fields_and_assignee(tenant):
    strat_user, strat = await tenant.user("strategist")
    reviewer, _ = await tenant.user("compliance_reviewer")
    case = await new_case(strat)
    r = await svc.update_case(
        strat, case.id, expected_version=1, root_cause="misconfig", severity="low",
        assignee_id=strat_user.id,
    )  # fmt: skip
    assert (r.case.root_cause, r.case.severity, r.case.assignee_id, r.case.status) == (
        RootCause.MISCONFIG,
        CaseSeverity.LOW,
        strat_user.id,
        CaseStatus.OPEN,
    )
    before = await snapshot(case.id, tenant.org_id)
    with pytest.raises(Invalid, match="is not allowed to work cases"):
        await svc.update_case(strat, case.id, expected_version=2, assignee_id=reviewer.id)
    with pytest.raises(Invalid, match="Nothing to change"):
        await svc.update_case(strat, case.id, expected_version=2)
    assert await snapshot(case.id, tenant.org_id) == before


async def test_get_case_writes_an_access_event_and_list_pages_by_keyset(tenant, other_tenant):
    _, strat = await tenant.user("strategist")
    _, viewer = await tenant.user("viewer")
    _, foreign = await other_tenant.user("strategist")
    cases = [await new_case(strat) for _ in range(5)]
    await svc.update_case(strat, cases[1].id, expected_version=1, status="investigating")
    theirs = await new_case(foreign)
    seq0 = await head(tenant.org_id)

    got = await case_queries.get_case(viewer, cases[0].id)
    assert got.id == cases[0].id
    event = await AuditEvent.get(org_id=tenant.org_id, seq=seq0 + 1)
    assert (event.action, event.entity_type, event.entity_id) == (
        "case.view",
        "case",
        str(cases[0].id),
    )
    with pytest.raises(NotFound, match=f"Case {theirs.id} not found"):
        await case_queries.get_case(viewer, theirs.id)
    assert await head(tenant.org_id) == seq0 + 1

    page1 = await case_queries.list_cases(viewer, first=2)
    assert [c.id for c in page1.items] == [cases[4].id, cases[3].id]
    assert page1.has_next_page
    page2 = await case_queries.list_cases(viewer, first=2, after=page1.end_cursor)
    assert [c.id for c in page2.items] == [cases[2].id, cases[1].id]
    page3 = await case_queries.list_cases(viewer, first=2, after=page2.end_cursor)
    assert ([c.id for c in page3.items], page3.has_next_page, page3.end_cursor) == (
        [cases[0].id],
        False,
        None,
    )
    investigating = await case_queries.list_cases(viewer, status="investigating")
    assert [c.id for c in investigating.items] == [cases[1].id]
    with pytest.raises(Invalid, match="first must be between 1 and 200"):
        await case_queries.list_cases(viewer, first=0)
    with pytest.raises(Invalid, match="Status 'done' is unknown"):
        await case_queries.list_cases(viewer, status="done")
    with pytest.raises(Invalid, match="not a cursor"):
        await case_queries.list_cases(viewer, after="abc")


# --- refusals change nothing -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "compliance_reviewer", "admin"])
async def test_creating_needs_case_work(tenant, role):
    _, strat = await tenant.user("strategist")
    _, p = await tenant.user(role)
    ids = await new_alerts(strat, 1)
    before = await org_state(tenant.org_id)
    with pytest.raises(Forbidden, match=r"case\.work"):
        await case_create.create_case(p, title="t", alert_ids=ids, severity="high")
    assert await org_state(tenant.org_id) == before


async def test_wrong_role_is_forbidden_and_changes_nothing(tenant):
    case, _, strat = await pending_case(tenant)
    _, viewer = await tenant.user("viewer")
    _, other_strat = await tenant.user("strategist")
    before = await snapshot(case.id, tenant.org_id)

    with pytest.raises(Forbidden, match=r"case\.work"):
        await svc.add_case_note(viewer, case.id, "hello")
    with pytest.raises(Forbidden, match=r"case\.work"):
        await svc.update_case(viewer, case.id, expected_version=2, severity="low")
    with pytest.raises(Forbidden, match=r"case\.approve"):
        await case_resolution.approve_case_resolution(other_strat, case.id, expected_version=2)
    with pytest.raises(Forbidden, match=r"case\.approve"):
        await case_resolution.reject_case_resolution(
            strat, case.id, expected_version=2, reason="no"
        )
    with pytest.raises(Forbidden, match=r"case\.read"):
        await case_queries.get_case((await tenant.user("compliance_reviewer"))[1], case.id)
    assert await snapshot(case.id, tenant.org_id) == before


async def test_nobody_approves_their_own_request(tenant):
    _, approver = await tenant.user("approver")
    case = await new_case(approver)
    await case_resolution.request_case_resolution(
        approver, case.id, expected_version=1, summary="s", root_cause="legit_load"
    )
    before = await snapshot(case.id, tenant.org_id)

    with pytest.raises(Forbidden, match="nobody decides their own request"):
        await case_resolution.approve_case_resolution(approver, case.id, expected_version=2)
    with pytest.raises(Forbidden, match="nobody decides their own request"):
        await case_resolution.reject_case_resolution(
            approver, case.id, expected_version=2, reason="r"
        )
    assert await snapshot(case.id, tenant.org_id) == before
    # another approver may
    _, second = await tenant.user("approver")
    r = await case_resolution.approve_case_resolution(second, case.id, expected_version=2)
    assert r.case.status == CaseStatus.RESOLVED


async def test_other_orgs_alert_looks_like_a_missing_one_and_nothing_is_created(
    tenant, other_tenant
):
    _, mine = await tenant.user("strategist")
    _, theirs = await other_tenant.user("strategist")
    [own] = await new_alerts(mine, 1)
    [foreign] = await new_alerts(theirs, 1)
    before = await org_state(tenant.org_id)

    with pytest.raises(NotFound) as e_foreign:
        await case_create.create_case(mine, title="t", alert_ids=[own, foreign], severity="low")
    with pytest.raises(NotFound) as e_missing:
        await case_create.create_case(mine, title="t", alert_ids=[own, 2**31 - 1], severity="low")
    assert e_foreign.value.message == f"Alert {foreign} not found."
    assert e_missing.value.message == f"Alert {2**31 - 1} not found."
    with pytest.raises(NotFound):
        await case_create.create_case(mine, title="t", alert_ids=["abc"], severity="low")
    assert await org_state(tenant.org_id) == before

    case = await new_case(mine, alert_ids=[own])
    snap = await snapshot(case.id, tenant.org_id)
    with pytest.raises(NotFound, match=f"Alert {foreign} not found"):
        await svc.link_alerts(mine, case.id, [foreign])
    with pytest.raises(NotFound, match=f"Alert {foreign} not found"):
        await svc.unlink_alerts(mine, case.id, [foreign])
    assert await snapshot(case.id, tenant.org_id) == snap


async def test_other_orgs_case_looks_like_a_missing_one(tenant, other_tenant):
    theirs_case, _, _ = await pending_case(other_tenant)
    _, mine = await tenant.user("approver")
    [own_alert] = await new_alerts((await tenant.user("strategist"))[1], 1)
    before = await snapshot(theirs_case.id, other_tenant.org_id)
    cid = theirs_case.id
    message = f"Case {cid} not found."

    calls = [
        svc.add_case_note(mine, cid, "x"),
        svc.link_alerts(mine, cid, [own_alert]),
        svc.unlink_alerts(mine, cid, [own_alert]),
        svc.update_case(mine, cid, expected_version=2, severity="low"),
        case_resolution.request_case_resolution(
            mine, cid, expected_version=2, summary="s", root_cause="unknown"
        ),
        case_resolution.approve_case_resolution(mine, cid, expected_version=2),
        case_resolution.reject_case_resolution(mine, cid, expected_version=2, reason="r"),
        case_queries.get_case(mine, cid),
    ]
    for call in calls:
        with pytest.raises(NotFound) as e:
            await call
        assert e.value.message == message
    assert await snapshot(theirs_case.id, other_tenant.org_id) == before


async def test_stale_version_is_a_conflict_carrying_the_current_state(tenant):
    case, _, _ = await pending_case(tenant)
    _, approver = await tenant.user("approver")
    before = await snapshot(case.id, tenant.org_id)

    with pytest.raises(Conflict) as e:
        await case_resolution.approve_case_resolution(approver, case.id, expected_version=1)
    assert "it is now pending_approval at version 2 (you had version 1)" in e.value.message
    assert (e.value.extra["current_status"], e.value.extra["current_version"]) == (
        "pending_approval",
        2,
    )
    with pytest.raises(Conflict):
        await case_resolution.reject_case_resolution(
            approver, case.id, expected_version=3, reason="r"
        )
    with pytest.raises(Invalid, match="version you loaded"):
        await case_resolution.approve_case_resolution(approver, case.id, expected_version="2")  # type: ignore[arg-type]
    assert await snapshot(case.id, tenant.org_id) == before


async def test_idempotent_create_replays_and_a_reused_key_is_duplicate(tenant):
    _, strat = await tenant.user("strategist")
    ids = await new_alerts(strat, 2)
    first = await case_create.create_case(
        strat, title="t", alert_ids=ids, severity="high", idempotency_key="c-1"
    )
    after_first = await org_state(tenant.org_id)

    again = await case_create.create_case(
        strat, title="t", alert_ids=ids, severity="high", idempotency_key="c-1"
    )
    assert (first.replayed, again.replayed, again.case.id) == (False, True, first.case.id)
    assert await org_state(tenant.org_id) == after_first

    snap = await snapshot(first.case.id, tenant.org_id)
    with pytest.raises(Duplicate, match=f"create on case {first.case.display_number}") as e:
        await case_resolution.request_case_resolution(
            strat, first.case.id, expected_version=1, summary="s", root_cause="unknown",
            idempotency_key="c-1",
        )  # fmt: skip
    assert e.value.field == "idempotency_key"
    assert await snapshot(first.case.id, tenant.org_id) == snap
    assert await org_state(tenant.org_id) == after_first


async def test_idempotent_request_and_approve_replay_without_a_second_change(tenant):
    _, strat = await tenant.user("strategist")
    _, approver = await tenant.user("approver")
    case = await new_case(strat)
    kwargs = {"expected_version": 1, "summary": "s", "root_cause": "unknown"}
    await case_resolution.request_case_resolution(strat, case.id, idempotency_key="r-1", **kwargs)
    snap = await snapshot(case.id, tenant.org_id)
    again = await case_resolution.request_case_resolution(
        strat, case.id, idempotency_key="r-1", **kwargs
    )
    assert (again.replayed, again.case.version) == (True, 2)
    assert await snapshot(case.id, tenant.org_id) == snap

    await case_resolution.approve_case_resolution(
        approver, case.id, expected_version=2, idempotency_key="a"
    )
    snap = await snapshot(case.id, tenant.org_id)
    again = await case_resolution.approve_case_resolution(
        approver, case.id, expected_version=2, idempotency_key="a"
    )
    assert (again.replayed, again.case.status) == (True, CaseStatus.RESOLVED)
    assert await snapshot(case.id, tenant.org_id) == snap
    other = await new_case(strat)
    with pytest.raises(Duplicate, match=f"approve resolution on case {case.display_number}"):
        await case_resolution.request_case_resolution(
            strat, other.id, idempotency_key="a", **kwargs
        )


BAD_CREATES = [
    ("101 alert ids", {"alert_ids": "MANY"}, "Alerts has 101 entries; the limit is 100"),
    ("101 run ids", {"run_ids": [f"RUN-{i}" for i in range(101)]}, "Runs has 101 entries"),
    ("run ids not a list", {"run_ids": "RUN-1"}, "Runs must be a list of run ids"),
    ("empty title", {"title": "   "}, "Title is required"),
    ("long title", {"title": "t" * 301}, "the limit is 300"),
    ("unknown severity", {"severity": "huge"}, "Severity 'huge' is unknown"),
    ("long key", {"idempotency_key": "k" * 101}, "limit is 100"),
]


@pytest.mark.parametrize(("case", "over", "message"), BAD_CREATES)
async def test_bad_create_is_refused_and_creates_nothing(tenant, case, over, message):
    _, strat = await tenant.user("strategist")
    ids = await new_alerts(strat, 1)
    before = await org_state(tenant.org_id)
    kwargs = {"title": "t", "alert_ids": ids, "severity": "high", **over}
    if kwargs["alert_ids"] == "MANY":
        kwargs["alert_ids"] = list(range(1, 102))
    with pytest.raises(Invalid, match=message):
        await case_create.create_case(strat, **kwargs)
    assert await org_state(tenant.org_id) == before, case


async def test_bad_notes_and_requests_change_nothing(tenant):
    _, strat = await tenant.user("strategist")
    case = await new_case(strat)
    before = await snapshot(case.id, tenant.org_id)

    with pytest.raises(Invalid, match="Note is required"):
        await svc.add_case_note(strat, case.id, " \n ")
    with pytest.raises(Invalid, match="Note is 10001 characters long; the limit is 10000"):
        await svc.add_case_note(strat, case.id, "x" * 10_001)
    with pytest.raises(Invalid, match="Root cause is required"):
        await case_resolution.request_case_resolution(
            strat, case.id, expected_version=1, summary="s", root_cause=""
        )
    with pytest.raises(Invalid, match="Root cause 'gremlins' is unknown"):
        await case_resolution.request_case_resolution(
            strat, case.id, expected_version=1, summary="s", root_cause="gremlins"
        )
    with pytest.raises(Invalid, match="Summary is required"):
        await case_resolution.request_case_resolution(
            strat, case.id, expected_version=1, summary="", root_cause="unknown"
        )
    assert await snapshot(case.id, tenant.org_id) == before
    await svc.add_case_note(strat, case.id, "x" * 10_000)  # the limit itself is fine


ILLEGAL_UPDATES = [
    ("open", {"status": "resolved"}, "from open to resolved"),
    ("open", {"status": "closed"}, "from open to closed"),
    ("open", {"status": "pending_approval"}, "use request resolution"),
    ("pending_approval", {"status": "open"}, "from pending_approval to open"),
    ("pending_approval", {"root_cause": "misconfig"}, "while it is pending_approval"),
    ("resolved", {"status": "investigating"}, "from resolved to investigating"),
    ("closed", {"status": "open"}, "from closed to open"),
]


async def case_in(tenant, status: str) -> Case:
    _, strat = await tenant.user("strategist")
    _, approver = await tenant.user("approver")
    case = await new_case(strat)
    if status == "open":
        return case
    await case_resolution.request_case_resolution(
        strat, case.id, expected_version=1, summary="s", root_cause="unknown"
    )
    if status != "pending_approval":
        await case_resolution.approve_case_resolution(approver, case.id, expected_version=2)
    if status == "closed":
        await svc.update_case(strat, case.id, expected_version=3, status="closed")
    return await Case.get(id=case.id)


@pytest.mark.parametrize(("status", "kwargs", "message"), ILLEGAL_UPDATES)
async def test_illegal_status_transitions_are_conflicts(tenant, status, kwargs, message):
    case = await case_in(tenant, status)
    _, strat = await tenant.user("strategist")
    before = await snapshot(case.id, tenant.org_id)
    with pytest.raises(Conflict, match=message) as e:
        await svc.update_case(strat, case.id, expected_version=case.version, **kwargs)
    assert e.value.extra["current_status"] == status
    assert await snapshot(case.id, tenant.org_id) == before


async def test_actions_need_the_right_status(tenant):
    _, strat = await tenant.user("strategist")
    _, approver = await tenant.user("approver")
    open_case = await case_in(tenant, "open")
    resolved = await case_in(tenant, "resolved")
    closed = await case_in(tenant, "closed")
    [alert] = await new_alerts(strat, 1)
    snaps = [await snapshot(c.id, tenant.org_id) for c in (open_case, resolved, closed)]

    with pytest.raises(Conflict, match="while it is open"):
        await case_resolution.approve_case_resolution(approver, open_case.id, expected_version=1)
    with pytest.raises(Conflict, match="while it is open"):
        await case_resolution.reject_case_resolution(
            approver, open_case.id, expected_version=1, reason="r"
        )
    with pytest.raises(Conflict, match="while it is resolved"):
        await case_resolution.request_case_resolution(
            strat, resolved.id, expected_version=3, summary="s", root_cause="unknown"
        )
    with pytest.raises(Conflict, match="while it is resolved"):
        await svc.link_alerts(strat, resolved.id, [alert])
    with pytest.raises(Conflict, match="is closed"):
        await svc.add_case_note(strat, closed.id, "late")
    assert [await snapshot(c.id, tenant.org_id) for c in (open_case, resolved, closed)] == snaps


# --- concurrency -------------------------------------------------------------------------------


@pytest.mark.postgres_only
async def test_parallel_creates_get_distinct_consecutive_numbers(tenant):
    _, strat = await tenant.user("strategist")
    ids = await new_alerts(strat, 10)

    results = await asyncio.gather(
        *(case_create.create_case(strat, title=f"c{i}", alert_ids=[a], severity="low") for i, a in
          enumerate(ids))
    )  # fmt: skip

    assert sorted(r.case.number for r in results) == list(range(1, 11))
    assert await Case.filter(org_id=tenant.org_id).count() == 10


@pytest.mark.postgres_only
async def test_parallel_approvals_one_wins(tenant):
    case, _, _ = await pending_case(tenant)
    _, a1 = await tenant.user("approver")
    _, a2 = await tenant.user("approver")

    results = await asyncio.gather(
        case_resolution.approve_case_resolution(a1, case.id, expected_version=2),
        case_resolution.reject_case_resolution(a2, case.id, expected_version=2, reason="no"),
        return_exceptions=True,
    )

    assert sorted(type(r).__name__ for r in results) == ["CaseResult", "Conflict"]
    assert (await Case.get(id=case.id)).version == 3
    assert await Alert.filter(org_id=tenant.org_id).count() == 1


async def test_the_detail_says_what_the_caller_may_do_by_the_rules_the_changes_enforce(tenant):
    _, worker = await tenant.user("strategist")
    _, viewer = await tenant.user("viewer")
    _, approver = await tenant.user("approver")
    case = await new_case(worker)
    mine = await case_queries.get_case_detail(worker, case.id)
    assert mine.actions == svc.CaseActions(
        change_fields=True, next_statuses=["investigating"], add_note=True
    )
    assert mine.resolution is None  # nothing pending
    seen = await case_queries.get_case_detail(viewer, case.id)
    assert seen.actions == svc.CaseActions(change_fields=False, next_statuses=[], add_note=False)

    await case_resolution.request_case_resolution(
        worker, case.id, expected_version=1, summary="done", root_cause="unknown"
    )
    pending = await case_queries.get_case_detail(worker, case.id)
    assert pending.actions.change_fields is False and pending.actions.add_note is True
    assert pending.resolution == approvals.Decision(own=True, can_decide=False)
    checker = await case_queries.get_case_detail(approver, case.id)
    assert checker.resolution == approvals.Decision(own=False, can_decide=True)
    # what the page offers is what the service accepts
    with pytest.raises(Conflict):
        await svc.update_case(worker, case.id, expected_version=2, severity="low")
