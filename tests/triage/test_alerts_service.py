"""Alert ingest and the workflow actions, through the service layer, on SQLite and PostgreSQL.

Every refused request must leave nothing behind: same status, version, history and audit head."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from riskops.audit.models import AuditEvent, AuditHead
from riskops.server.core.errors import Conflict, Duplicate, Forbidden, Invalid, NotFound
from riskops.server.core.models import IdempotencyKey
from riskops.server.identity import users
from riskops.server.identity.teams import create_team
from riskops.server.triage import alerts as svc
from riskops.server.triage import ingest
from riskops.server.triage.models import (
    Alert,
    AlertDisposition,
    AlertEvent,
    AlertPriority,
    AlertStatus,
    InfoRequest,
    RuleHit,
    SignalContribution,
)


def item(**over):
    ext = over.pop("external_id", f"ext-{uuid.uuid4().hex[:10]}")
    base = {
        "external_id": ext,
        "source": "card-rules",
        "title": "Card testing burst",
        "score": 87.5,
        "priority": "high",
        "customer_ref": "cust-1",
        "account_ref": "acct-9",
        "amount": "125.40",
        "currency": "eur",
        "transaction": {"merchant": "ACME", "channel": "ecom", "counterparty": "x"},
        "rule_hits": [
            {
                "rule_id": "R-17",
                "name": "Velocity",
                "version": "3",
                "score_contribution": 40,
                "matched_values": {"tx_1h": 14},
            }
        ],
        "signals": [
            {"signal": "geo_mismatch", "value": True, "contribution": 12.5, "direction": "up"},
            {"signal": "tenure_days", "value": 900, "contribution": -5, "direction": "down"},
        ],
    }
    base.update(over)
    return base


async def head(org_id: int) -> int:
    row = await AuditHead.get_or_none(org_id=org_id)
    return row.seq if row else 0


async def snapshot(alert_id: int, org_id: int):
    a = await Alert.get(id=alert_id)
    events = await AlertEvent.filter(alert_id=alert_id).count()
    return (a.status, a.version, a.assignee_id, events, await head(org_id))


async def new_alert(principal, **over) -> Alert:
    result = await ingest.ingest_alerts(principal, [item(**over)])
    assert result.errors == []
    return await Alert.get(id=result.created[0].alert_id)


# --- ingest ------------------------------------------------------------------------------------


async def test_ingest_stores_alerts_hits_signals_history_and_one_audit_event(tenant):
    _, strat = await tenant.user("strategist")
    before = await head(tenant.org_id)
    items = [item(priority=p) for p in ("critical", "high", "medium", "low")]

    result = await ingest.ingest_alerts(strat, items)

    assert [c.index for c in result.created] == [0, 1, 2, 3]
    assert (result.unchanged, result.errors) == ([], [])
    alerts = {a.id: a for a in await Alert.filter(org_id=tenant.org_id)}
    assert len(alerts) == 4
    hours = {"critical": 1, "high": 4, "medium": 24, "low": 72}
    for c, raw in zip(result.created, items, strict=True):
        a = alerts[c.alert_id]
        assert (a.external_id, a.status, a.version) == (raw["external_id"], AlertStatus.NEW, 1)
        assert a.due_at - a.created_at == timedelta(hours=hours[raw["priority"]])
        assert (a.amount, a.currency, a.score) == (Decimal("125.40"), "EUR", 87.5)
        assert a.transaction["merchant"] == "ACME"
        hit = await RuleHit.get(alert_id=a.id)
        assert (hit.rule_id, hit.version, hit.matched_values) == ("R-17", "3", {"tx_1h": 14})
        signals = await SignalContribution.filter(alert_id=a.id).order_by("signal")
        assert [(s.signal, s.value, s.direction.value) for s in signals] == [
            ("geo_mismatch", True, "up"),
            ("tenure_days", 900, "down"),
        ]
        assert await AlertEvent.filter(alert_id=a.id, action="ingest").count() == 1
    assert await head(tenant.org_id) == before + 1
    event = await AuditEvent.get(org_id=tenant.org_id, seq=before + 1)
    assert event.action == "alert.ingest"
    assert '"created":4' in event.new_values


async def test_ingest_is_idempotent_on_external_id(tenant):
    _, strat = await tenant.user("strategist")
    first = await ingest.ingest_alerts(strat, [item(external_id="A-1")])
    again = await ingest.ingest_alerts(
        strat, [item(external_id="A-1", title="changed"), item(external_id="A-2")]
    )
    dup_in_batch = await ingest.ingest_alerts(strat, [item(external_id="A-3")] * 2)

    assert again.unchanged == [ingest.IngestedItem(0, "A-1", first.created[0].alert_id)]
    assert [c.external_id for c in again.created] == ["A-2"]
    assert len(dup_in_batch.created) == len(dup_in_batch.unchanged) == 1
    assert (await Alert.get(external_id="A-1", org_id=tenant.org_id)).title == "Card testing burst"
    assert await RuleHit.filter(alert__org_id=tenant.org_id).count() == 3


async def test_same_external_id_in_another_org_is_another_alert(tenant, other_tenant):
    _, mine = await tenant.user("strategist")
    _, theirs = await other_tenant.user("strategist")
    a = await ingest.ingest_alerts(mine, [item(external_id="X-1")])
    b = await ingest.ingest_alerts(theirs, [item(external_id="X-1")])
    assert len(a.created) == len(b.created) == 1
    assert a.created[0].alert_id != b.created[0].alert_id


BAD_ITEMS = [
    ({"external_id": ""}, "external_id", "External id is required"),
    ({"score": 101}, "score", "between 0 and 100"),
    ({"score": "high"}, "score", "must be a number"),
    ({"priority": "urgent"}, "priority", "'urgent' is unknown"),
    ({"priority": None}, "priority", "priority is required"),
    ({"amount": "12.3.4"}, "amount", "not a decimal number"),
    ({"amount": -1}, "amount", "from 0 to 9,999,999,999,999,999.9999"),
    ({"currency": "EURO"}, "currency", "limit is 3"),
    ({"currency": None}, "currency", "currency is required with an amount"),
    ({"transaction": [1]}, "transaction", "must be an object"),
    ({"prority": "high"}, "prority", "unknown field(s) prority"),
    ({"rule_hits": [{"rule_id": "R", "name": "n"}]}, "rule_hits[0].score_contribution", "number"),
    ({"rule_hits": "R-1"}, "rule_hits", "must be a list"),
    ({"signals": [{"signal": "s", "contribution": 1, "direction": "left"}]},
     "signals[0].direction", "'up' or 'down'"),
    ({"signals": [{}] * 101}, "signals", "limit is 100"),
]  # fmt: skip


async def test_invalid_items_get_typed_errors_while_valid_ones_are_stored(tenant):
    _, strat = await tenant.user("strategist")
    items = [item()]
    for over, _, _ in BAD_ITEMS:
        items.append(item(**over))
    items.append("not an object")
    items.append(item())

    result = await ingest.ingest_alerts(strat, items)

    assert [c.index for c in result.created] == [0, len(items) - 1]
    errors = {e.index: e for e in result.errors}
    assert sorted(errors) == list(range(1, len(items) - 1))
    for i, (_, field, message) in enumerate(BAD_ITEMS, start=1):
        assert errors[i].field == field, (i, errors[i])
        assert message in errors[i].message, (i, errors[i])
    assert errors[len(items) - 2].message == "each alert must be an object."
    assert await Alert.filter(org_id=tenant.org_id).count() == 2


@pytest.mark.parametrize(
    ("items", "message"),
    [([], "input is empty"), ([{}] * 1001, "input has 1001 alerts; send at most 1000")],
)
async def test_empty_or_oversize_batch_is_refused_whole(tenant, items, message):
    _, strat = await tenant.user("strategist")
    before = await head(tenant.org_id)
    with pytest.raises(Invalid, match=message):
        await ingest.ingest_alerts(strat, items)
    assert await Alert.filter(org_id=tenant.org_id).count() == 0
    assert await head(tenant.org_id) == before


@pytest.mark.parametrize("role", ["viewer", "operator", "approver", "compliance_reviewer"])
async def test_ingest_needs_alert_ingest(tenant, role):
    _, p = await tenant.user(role)
    before = await head(tenant.org_id)
    with pytest.raises(Forbidden, match=r"alert\.ingest"):
        await ingest.ingest_alerts(p, [item()])
    assert await Alert.filter(org_id=tenant.org_id).count() == 0
    assert await head(tenant.org_id) == before


async def test_admin_may_ingest(tenant):
    result = await ingest.ingest_alerts(tenant.admin, [item()])
    assert len(result.created) == 1


# --- workflow: happy paths ---------------------------------------------------------------------


async def test_full_lifecycle_writes_history_and_audit(tenant):
    strat_user, strat = await tenant.user("strategist")
    approver_user, approver = await tenant.user("approver")
    viewer_user, viewer = await tenant.user("viewer")
    alert = await new_alert(strat, priority="critical")
    seq0 = await head(tenant.org_id)

    r = await svc.assign_alert(strat, alert.id, assignee_id=strat_user.id, expected_version=1)
    assert (r.alert.status, r.alert.assignee_id, r.alert.version) == (
        AlertStatus.ASSIGNED,
        strat_user.id,
        2,
    )
    r = await svc.escalate_alert(
        strat, alert.id, reason="big amount", approver_id=approver_user.id, expected_version=2
    )
    assert (r.alert.status, r.alert.assignee_id) == (AlertStatus.ESCALATED, approver_user.id)
    r = await svc.request_alert_info(
        strat, alert.id, question="Known merchant?", answerer_id=viewer_user.id, expected_version=3
    )
    assert r.alert.status == AlertStatus.PENDING_INFO
    r = await svc.answer_alert_info(viewer, alert.id, answer="Yes", expected_version=4)
    assert r.alert.status == AlertStatus.ASSIGNED
    info = await InfoRequest.get(alert_id=alert.id)
    assert (info.question, info.answer, info.asked_by_id, info.answerer_id) == (
        "Known merchant?",
        "Yes",
        strat_user.id,
        viewer_user.id,
    )
    assert info.answered_at is not None
    r = await svc.close_alert(
        strat, alert.id, disposition="false_positive", comment="regular", expected_version=5
    )
    assert (r.alert.status, r.alert.disposition) == (
        AlertStatus.CLOSED,
        AlertDisposition.FALSE_POSITIVE,
    )
    assert r.alert.closed_at is not None
    r = await svc.reopen_alert(approver, alert.id, reason="chargeback came in", expected_version=6)
    assert (r.alert.status, r.alert.disposition, r.alert.closed_at, r.alert.version) == (
        AlertStatus.ASSIGNED,
        None,
        None,
        7,
    )

    events = await AlertEvent.filter(alert_id=alert.id).order_by("id")
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("ingest", None, "new"),
        ("assign", "new", "assigned"),
        ("escalate", "assigned", "escalated"),
        ("request_info", "escalated", "pending_info"),
        ("answer_info", "pending_info", "assigned"),
        ("close", "assigned", "closed"),
        ("reopen", "closed", "assigned"),
    ]
    assert events[5].data == {"disposition": "false_positive", "comment": "regular"}
    assert events[4].actor == f"user:{viewer_user.id}"
    audit = await AuditEvent.filter(org_id=tenant.org_id, seq__gt=seq0).order_by("seq")
    assert [a.action for a in audit] == [
        "alert.assign", "alert.escalate", "alert.request_info", "alert.answer_info",
        "alert.close", "alert.reopen",
    ]  # fmt: skip
    assert "regular" not in audit[4].new_values  # free text stays out of the chain
    assert '"disposition":"false_positive"' in audit[4].new_values


async def test_escalate_to_team(tenant):
    _, strat = await tenant.user("strategist")
    team = await create_team(tenant.admin, name=f"L2 {uuid.uuid4().hex[:6]}")
    alert = await new_alert(strat)
    r = await svc.escalate_alert(strat, alert.id, reason="L2", team_id=team.id, expected_version=1)
    assert (r.alert.status, r.alert.team_id, r.alert.assignee_id) == (
        AlertStatus.ESCALATED,
        team.id,
        None,
    )


# --- workflow: refusals change nothing ---------------------------------------------------------


async def test_wrong_role_is_forbidden_and_changes_nothing(tenant):
    strat_user, strat = await tenant.user("strategist")
    _, viewer = await tenant.user("viewer")
    alert = await new_alert(strat)
    await svc.assign_alert(strat, alert.id, assignee_id=strat_user.id, expected_version=1)
    await svc.close_alert(strat, alert.id, disposition="benign", comment="ok", expected_version=2)
    before = await snapshot(alert.id, tenant.org_id)

    with pytest.raises(Forbidden, match=r"alert\.triage"):
        await svc.assign_alert(viewer, alert.id, assignee_id=strat_user.id, expected_version=3)
    with pytest.raises(Forbidden, match="Only an approver may reopen"):
        await svc.reopen_alert(strat, alert.id, reason="again", expected_version=3)
    assert await snapshot(alert.id, tenant.org_id) == before


async def test_answer_by_someone_not_asked_is_forbidden(tenant):
    strat_user, strat = await tenant.user("strategist")
    asked, _ = await tenant.user("viewer")
    _, bystander = await tenant.user("viewer")
    alert = await new_alert(strat)
    await svc.assign_alert(strat, alert.id, assignee_id=strat_user.id, expected_version=1)
    await svc.request_alert_info(
        strat, alert.id, question="q?", answerer_id=asked.id, expected_version=2
    )
    before = await snapshot(alert.id, tenant.org_id)
    with pytest.raises(Forbidden, match="Only the person asked"):
        await svc.answer_alert_info(bystander, alert.id, answer="a", expected_version=3)
    assert await snapshot(alert.id, tenant.org_id) == before
    assert (await InfoRequest.get(alert_id=alert.id)).answer is None


async def test_other_orgs_alert_looks_like_a_missing_one(tenant, other_tenant):
    _, theirs = await other_tenant.user("strategist")
    mine_user, mine = await tenant.user("strategist")
    alert = await new_alert(theirs)
    before = await snapshot(alert.id, other_tenant.org_id)

    with pytest.raises(NotFound) as foreign:
        await svc.assign_alert(mine, alert.id, assignee_id=mine_user.id, expected_version=1)
    with pytest.raises(NotFound) as missing:
        await svc.assign_alert(mine, 2**31 - 1, assignee_id=mine_user.id, expected_version=1)
    assert foreign.value.message == f"Alert {alert.id} not found."
    assert missing.value.message == f"Alert {2**31 - 1} not found."
    with pytest.raises(NotFound):
        await svc.assign_alert(mine, "abc", assignee_id=mine_user.id, expected_version=1)
    assert await snapshot(alert.id, other_tenant.org_id) == before


async def test_stale_version_is_a_conflict_carrying_the_current_state(tenant):
    strat_user, strat = await tenant.user("strategist")
    alert = await new_alert(strat)
    await svc.assign_alert(strat, alert.id, assignee_id=strat_user.id, expected_version=1)
    before = await snapshot(alert.id, tenant.org_id)

    with pytest.raises(Conflict) as e:
        await svc.close_alert(
            strat, alert.id, disposition="benign", comment="c", expected_version=1
        )
    assert "it is now assigned at version 2 (you had version 1)" in e.value.message
    assert (e.value.extra["current_status"], e.value.extra["current_version"]) == ("assigned", 2)
    assert e.value.extra["current_assignee_id"] == strat_user.id
    assert await snapshot(alert.id, tenant.org_id) == before


async def test_action_not_allowed_from_status_is_a_conflict(tenant):
    _, strat = await tenant.user("strategist")
    alert = await new_alert(strat)
    before = await snapshot(alert.id, tenant.org_id)
    with pytest.raises(Conflict) as e:
        await svc.answer_alert_info(strat, alert.id, answer="a", expected_version=1)
    assert "status is new" in e.value.message
    assert e.value.extra["allowed_actions"] == ["assign", "escalate", "close"]
    assert await snapshot(alert.id, tenant.org_id) == before


async def test_idempotency_key_replays_without_a_second_change(tenant):
    strat_user, strat = await tenant.user("strategist")
    alert = await new_alert(strat)
    first = await svc.assign_alert(
        strat, alert.id, assignee_id=strat_user.id, expected_version=1, idempotency_key="k-1"
    )
    after_first = await snapshot(alert.id, tenant.org_id)

    again = await svc.assign_alert(
        strat, alert.id, assignee_id=strat_user.id, expected_version=1, idempotency_key="k-1"
    )

    assert (first.replayed, again.replayed) == (False, True)
    assert (again.alert.id, again.alert.version, again.alert.status) == (
        alert.id,
        2,
        AlertStatus.ASSIGNED,
    )
    assert await snapshot(alert.id, tenant.org_id) == after_first
    assert await IdempotencyKey.filter(org_id=tenant.org_id).count() == 1


async def test_idempotency_key_reused_for_another_request_is_duplicate(tenant):
    strat_user, strat = await tenant.user("strategist")
    alert = await new_alert(strat)
    other = await new_alert(strat)
    await svc.assign_alert(
        strat, alert.id, assignee_id=strat_user.id, expected_version=1, idempotency_key="k-2"
    )
    before = [await snapshot(a.id, tenant.org_id) for a in (alert, other)]

    with pytest.raises(Duplicate, match=f"assign on alert {alert.external_id}") as e:
        await svc.close_alert(
            strat, alert.id, disposition="benign", comment="c", expected_version=2,
            idempotency_key="k-2",
        )  # fmt: skip
    assert e.value.field == "idempotency_key"
    with pytest.raises(Duplicate):
        await svc.assign_alert(
            strat, other.id, assignee_id=strat_user.id, expected_version=1, idempotency_key="k-2"
        )
    assert [await snapshot(a.id, tenant.org_id) for a in (alert, other)] == before


async def test_idempotency_keys_are_per_organization(tenant, other_tenant):
    u1, p1 = await tenant.user("strategist")
    u2, p2 = await other_tenant.user("strategist")
    a1, a2 = await new_alert(p1), await new_alert(p2)
    r1 = await svc.assign_alert(
        p1, a1.id, assignee_id=u1.id, expected_version=1, idempotency_key="k"
    )
    r2 = await svc.assign_alert(
        p2, a2.id, assignee_id=u2.id, expected_version=1, idempotency_key="k"
    )
    assert (r1.replayed, r2.replayed) == (False, False)


BAD_ACTIONS = [
    ("close without disposition", "close_alert", {"disposition": "", "comment": "c"},
     Invalid, "Disposition is required"),
    ("close without comment", "close_alert", {"disposition": "benign", "comment": " "},
     Invalid, "Comment is required"),
    ("assign to a user of another org", "assign_alert", {"assignee_id": "FOREIGN"},
     Invalid, "there is no active user"),
    ("assign to someone who cannot read alerts", "assign_alert", {"assignee_id": "REVIEWER"},
     Invalid, "is not allowed to read alerts"),
    ("escalate to a non-approver", "escalate_alert", {"reason": "r", "approver_id": "SELF"},
     Invalid, "is not an approver"),
    ("assign to a service account", "assign_alert", {"assignee_id": "ROBOT"},
     Invalid, "Assignee: Nightly triage bot is a service account; choose a person"),
    ("escalate to a service account", "escalate_alert", {"reason": "r", "approver_id": "ROBOT"},
     Invalid, "Approver: Nightly triage bot is a service account; choose a person"),
    ("escalate to a missing team", "escalate_alert", {"reason": "r", "team_id": 2**31 - 1},
     Invalid, "there is no team"),
    ("idempotency key too long", "assign_alert", {"assignee_id": "SELF",
     "idempotency_key": "k" * 101}, Invalid, "limit is 100"),
    ("expected version not an int", "assign_alert", {"assignee_id": "SELF",
     "expected_version": "1"}, Invalid, "version you loaded"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "fn", "kwargs", "error", "message"), BAD_ACTIONS)
async def test_bad_input_is_refused_and_changes_nothing(
    tenant, other_tenant, case, fn, kwargs, error, message
):
    strat_user, strat = await tenant.user("strategist")
    reviewer, _ = await tenant.user("compliance_reviewer")
    foreign, _ = await other_tenant.user("strategist")
    _, admin = await tenant.user("admin")
    robot = await users.create_service_account(admin, name="Nightly triage bot", roles=["approver"])
    ids = {
        "SELF": strat_user.id, "REVIEWER": reviewer.id, "FOREIGN": foreign.id, "ROBOT": robot.id,
    }  # fmt: skip
    alert = await new_alert(strat)
    await svc.assign_alert(strat, alert.id, assignee_id=strat_user.id, expected_version=1)
    before = await snapshot(alert.id, tenant.org_id)
    kwargs = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    kwargs.setdefault("expected_version", 2)

    with pytest.raises(error, match=message):
        await getattr(svc, fn)(strat, alert.id, **kwargs)
    assert await snapshot(alert.id, tenant.org_id) == before, case
    assert await IdempotencyKey.filter(org_id=tenant.org_id).count() == 0


async def test_the_pickers_offer_people_not_service_accounts(tenant):
    """Service accounts are automation: nobody assigns them work, asks them a question or
    escalates to them, so no picker offers one (and the service refuses one, above)."""
    person, _ = await tenant.user("approver")
    _, admin = await tenant.user("admin")
    robot = await users.create_service_account(admin, name="Bot", roles=["approver"])
    for name in ("assignee_id", "answerer_id", "approver_id"):
        offered = {u.id for u in svc.eligible([person, robot], name)}
        assert offered == {person.id}, name


async def test_priority_enum_round_trips(tenant):
    _, strat = await tenant.user("strategist")
    alert = await new_alert(strat, priority="LOW")
    assert alert.priority is AlertPriority.LOW


@pytest.mark.postgres_only
async def test_concurrent_actions_on_one_version_one_wins(tenant):
    strat_user, strat = await tenant.user("strategist")
    alert = await new_alert(strat)

    results = await asyncio.gather(
        svc.close_alert(strat, alert.id, disposition="benign", comment="a", expected_version=1),
        svc.assign_alert(strat, alert.id, assignee_id=strat_user.id, expected_version=1),
        return_exceptions=True,
    )

    assert sorted(type(r).__name__ for r in results) == ["AlertActionResult", "Conflict"]
    assert (await Alert.get(id=alert.id)).version == 2
    assert await AlertEvent.filter(alert_id=alert.id).count() == 2


@pytest.mark.postgres_only
async def test_concurrent_retries_with_one_key_change_once(tenant):
    strat_user, strat = await tenant.user("strategist")
    alert = await new_alert(strat)
    key = {"idempotency_key": "retry"}

    results = await asyncio.gather(
        *(
            svc.assign_alert(strat, alert.id, assignee_id=strat_user.id, expected_version=1, **key)
            for _ in range(3)
        )
    )

    assert sorted(r.replayed for r in results) == [False, True, True]
    assert (await Alert.get(id=alert.id)).version == 2
    assert await AlertEvent.filter(alert_id=alert.id).count() == 2
