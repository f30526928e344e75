"""Bulk assign and bulk close: up to 100 alerts, all or nothing, per-item errors, on SQLite and
PostgreSQL. A refused bulk request leaves every alert, its history and the audit head as they
were."""

from __future__ import annotations

import asyncio

import pytest

from riskops.server.core.errors import ErrorCode, Forbidden, Invalid
from riskops.server.core.models import IdempotencyKey
from riskops.server.triage import alerts as svc
from riskops.server.triage import bulk, ingest
from riskops.server.triage.bulk import BulkFailed, BulkItem
from riskops.server.triage.models import Alert, AlertEvent, AlertStatus
from tests.triage.test_alerts_service import head, item


async def make_alerts(principal, n: int) -> list[Alert]:
    result = await ingest.ingest_alerts(principal, [item() for _ in range(n)])
    assert result.errors == []
    return list(await Alert.filter(id__in=[c.alert_id for c in result.created]).order_by("id"))


async def state(alerts: list[Alert], org_id: int):
    rows = {a.id: a for a in await Alert.filter(id__in=[a.id for a in alerts])}
    events = await AlertEvent.filter(alert_id__in=[a.id for a in alerts]).count()
    return (
        [(rows[a.id].status, rows[a.id].version, rows[a.id].assignee_id) for a in alerts],
        events,
        await head(org_id),
    )


def items(alerts: list[Alert]) -> list[BulkItem]:
    return [BulkItem(a.id, a.version) for a in alerts]


async def test_bulk_assign_changes_every_alert_with_history_and_audit_each(tenant):
    user, strat = await tenant.user("strategist")
    alerts = await make_alerts(strat, 5)
    seq0 = await head(tenant.org_id)

    result = await bulk.bulk_assign_alerts(strat, items(alerts), assignee_id=user.id)

    assert [a.id for a in result.alerts] == [a.id for a in alerts]
    assert not result.replayed
    for a in await Alert.filter(id__in=[a.id for a in alerts]):
        assert (a.status, a.assignee_id, a.version) == (AlertStatus.ASSIGNED, user.id, 2)
    assert (
        await AlertEvent.filter(alert_id__in=[a.id for a in alerts], action="assign").count() == 5
    )
    assert await head(tenant.org_id) == seq0 + 5


async def test_bulk_close_closes_every_alert(tenant):
    user, strat = await tenant.user("strategist")
    alerts = await make_alerts(strat, 3)
    assigned = await bulk.bulk_assign_alerts(strat, items(alerts), assignee_id=user.id)

    result = await bulk.bulk_close_alerts(
        strat, items(assigned.alerts), disposition="false_positive", comment="known merchant"
    )
    assert {a.status for a in result.alerts} == {AlertStatus.CLOSED}
    assert all(a.closed_at is not None for a in result.alerts)


async def test_one_bad_item_changes_nothing_and_names_every_failure(tenant, other_tenant):
    user, strat = await tenant.user("strategist")
    _, theirs = await other_tenant.user("strategist")
    alerts = await make_alerts(strat, 4)
    foreign = (await make_alerts(theirs, 1))[0]
    # alerts[1] is changed by someone else first: its version is stale in the request.
    await svc.assign_alert(strat, alerts[1].id, assignee_id=user.id, expected_version=1)
    before = await state(alerts, tenant.org_id)
    their_before = await state([foreign], other_tenant.org_id)

    request = [*items(alerts), BulkItem(foreign.id, 1), BulkItem(2**31 - 1, 1)]
    with pytest.raises(BulkFailed) as failed:
        await bulk.bulk_assign_alerts(strat, request, assignee_id=user.id)

    errors = {e.index: e for e in failed.value.errors}
    assert set(errors) == {1, 4, 5}
    assert errors[1].code is ErrorCode.CONFLICT and "version 2" in errors[1].message
    # Another organization's alert and a missing one fail identically.
    assert errors[4].code is errors[5].code is ErrorCode.NOT_FOUND
    assert errors[4].message == f"Alert {foreign.id} not found."
    assert "3 of 6 alerts cannot be changed, so none was" in failed.value.message
    assert await state(alerts, tenant.org_id) == before
    assert await state([foreign], other_tenant.org_id) == their_before


async def test_bulk_close_without_comment_fails_whole_and_changes_nothing(tenant):
    user, strat = await tenant.user("strategist")
    alerts = (await bulk.bulk_assign_alerts(strat, items(await make_alerts(strat, 2)),
                                           assignee_id=user.id)).alerts  # fmt: skip
    before = await state(alerts, tenant.org_id)
    with pytest.raises(Invalid) as failed:
        await bulk.bulk_close_alerts(
            strat, items(alerts), disposition="true_positive", comment="  "
        )
    # An error of the comment field, not one per alert (issue 11, item 16).
    assert not isinstance(failed.value, BulkFailed) and failed.value.field == "comment"
    assert await state(alerts, tenant.org_id) == before


@pytest.mark.parametrize(
    ("make_request", "message"),
    [
        (lambda a: [], "at least one alert"),
        (lambda a: [BulkItem(a.id, 1)] * 101, "at most 100 alerts"),
    ],
)
async def test_empty_or_oversized_bulk_is_refused_whole(tenant, make_request, message):
    user, strat = await tenant.user("strategist")
    alert = (await make_alerts(strat, 1))[0]
    before = await state([alert], tenant.org_id)
    with pytest.raises(Invalid, match=message):
        await bulk.bulk_assign_alerts(strat, make_request(alert), assignee_id=user.id)
    assert await state([alert], tenant.org_id) == before


async def test_malformed_items_are_reported_before_anything_is_read(tenant):
    user, strat = await tenant.user("strategist")
    alerts = await make_alerts(strat, 2)
    before = await state(alerts, tenant.org_id)
    request = [
        BulkItem(alerts[0].id, 1),
        BulkItem("abc", 1),
        BulkItem(alerts[1].id, "1"),  # type: ignore[arg-type]
        BulkItem(alerts[0].id, 1),
    ]
    with pytest.raises(BulkFailed) as failed:
        await bulk.bulk_assign_alerts(strat, request, assignee_id=user.id)
    assert [(e.index, e.field) for e in failed.value.errors] == [
        (1, "alert_id"),
        (2, "expected_version"),
        (3, "alert_id"),
    ]
    assert "listed twice" in failed.value.errors[2].message
    assert await state(alerts, tenant.org_id) == before


async def test_bulk_needs_the_triage_role(tenant):
    user, viewer = await tenant.user("viewer")
    _, strat = await tenant.user("strategist")
    alerts = await make_alerts(strat, 2)
    before = await state(alerts, tenant.org_id)
    with pytest.raises(Forbidden):
        await bulk.bulk_assign_alerts(viewer, items(alerts), assignee_id=user.id)
    with pytest.raises(Forbidden):
        await bulk.bulk_close_alerts(
            viewer, items(alerts), disposition="true_positive", comment="x"
        )
    assert await state(alerts, tenant.org_id) == before


async def test_idempotency_key_replays_a_bulk_request_once(tenant):
    user, strat = await tenant.user("strategist")
    alerts = await make_alerts(strat, 3)
    first = await bulk.bulk_assign_alerts(strat, items(alerts), assignee_id=user.id,
                                         idempotency_key="bulk-1")  # fmt: skip
    after = await state(alerts, tenant.org_id)
    again = await bulk.bulk_assign_alerts(strat, items(alerts), assignee_id=user.id,
                                         idempotency_key="bulk-1")  # fmt: skip
    assert again.replayed and [a.id for a in again.alerts] == [a.id for a in first.alerts]
    assert await state(alerts, tenant.org_id) == after
    assert await IdempotencyKey.filter(org_id=tenant.org_id, key="bulk-1").count() == 1

    # The same key for another set of alerts is a duplicate, not a replay.
    with pytest.raises(Exception) as dup:
        await bulk.bulk_assign_alerts(strat, items(alerts[:2]), assignee_id=user.id,
                                     idempotency_key="bulk-1")  # fmt: skip
    assert getattr(dup.value, "code", None) is ErrorCode.DUPLICATE
    assert await state(alerts, tenant.org_id) == after


async def test_overlapping_concurrent_bulk_requests_do_not_deadlock(tenant):
    user, strat = await tenant.user("strategist")
    alerts = await make_alerts(strat, 6)
    forward, backward = items(alerts), list(reversed(items(alerts)))
    results = await asyncio.gather(
        bulk.bulk_assign_alerts(strat, forward, assignee_id=user.id),
        bulk.bulk_assign_alerts(strat, backward, assignee_id=user.id),
        return_exceptions=True,
    )
    # One wins; the other finds every version stale and changes nothing.
    wins = [r for r in results if not isinstance(r, BaseException)]
    assert len(wins) == 1, results
    loser = next(r for r in results if isinstance(r, BaseException))
    assert isinstance(loser, BulkFailed)
    assert {e.code for e in loser.errors} == {ErrorCode.CONFLICT}
    assert {a.version for a in await Alert.filter(id__in=[a.id for a in alerts])} == {2}
