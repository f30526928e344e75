"""An acknowledge or resolve waits while an older message of its item to the same channel is
pending (`delivery.waiting`, issue 16), on SQLite and PostgreSQL: a delivery pass asks the
database once for all its messages (counted in SQL statements), lets an acknowledgement go in the
same pass as its trigger, and a channel's delivery log shows "waits" by the same rule (on its
page and in GraphQL, one question for a whole page), also when the trigger is on an older page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from riskops.server.notify import channels, delivery, outbox
from riskops.server.notify.channels import ChannelInput
from riskops.server.notify.delivery import deliver_due
from riskops.server.notify.models import NotificationChannel, OutboxMessage, OutboxStatus
from riskops.server.notify.outbox import Channel, PagerAction
from riskops.server.settings import get_settings
from tests.support.pagerduty_server import PagerDutyServer, routing_key
from tests.support.pagerduty_server import serving as pd_serving
from tests.support.statements import Statements

WAITS = "waits for the older message of its item to be sent"
LOG = """query($id: ID!) { notificationChannel(id: $id) { deliveries(first: 25) {
  edges { node { id status waiting } } } } }"""


@pytest.fixture
def pd() -> Iterator[PagerDutyServer]:
    yield from pd_serving()


async def pager(tenant: Any, pd: PagerDutyServer) -> NotificationChannel:
    return await channels.create_channel(
        tenant.admin, "pagerduty",
        ChannelInput(name="pd", events=["critical"], secret=routing_key(), events_url=pd.url),
    )  # fmt: skip


async def write(org_id: int, key: str, action: PagerAction) -> OutboxMessage:
    async with in_transaction() as conn:
        return await outbox.add(
            conn, org_id, Channel.CRITICAL, "run.sev0",
            {"severity": "SEV0", "run_id": key, "scenario": "S"}, suppressed=False,
            now=datetime.now(UTC), dedup_key=key, action=action,
        )  # fmt: skip


async def deliver(org_id: int, later: float = 0) -> delivery.DeliveryCounts:
    return await deliver_due(datetime.now(UTC) + timedelta(seconds=later), org_id=org_id,
                             settings=get_settings())  # fmt: skip


async def test_a_pass_asks_once_what_its_acknowledgements_wait_for(tenant, pd) -> None:
    await pager(tenant, pd)
    keys = [f"riskops-run-{i}" for i in range(12)]
    for key in keys:
        await write(tenant.org_id, key, PagerAction.TRIGGER)
    for key in keys:
        await write(tenant.org_id, key, PagerAction.ACKNOWLEDGE)
    pd.mode = "fail"  # every trigger is answered 500: retried later, its acknowledgement waits
    with Statements() as sql:
        counts = await deliver(tenant.org_id)
    assert (counts.retrying, counts.waiting, counts.sent) == (12, 12, 0)
    assert len(sql.selecting("outbox_message", where="dedup_key")) == 1, sql.sent
    assert pd.actions() == []
    # Next pass: each trigger is sent, then its acknowledgement in the same pass (what the pass
    # settles itself frees what waited for it), still with one question for all of them.
    pd.mode = "ok"
    with Statements() as sql:
        counts = await deliver(tenant.org_id, later=3600)
    assert (counts.sent, counts.waiting) == (24, 0)
    assert len(sql.selecting("outbox_message", where="dedup_key")) == 1, sql.sent
    assert all(pd.actions(key) == ["trigger", "acknowledge"] for key in keys)


async def test_nothing_to_wait_for_asks_nothing(tenant, pd) -> None:
    await pager(tenant, pd)
    await write(tenant.org_id, "riskops-run-x", PagerAction.TRIGGER)
    with Statements() as sql:
        assert (await deliver(tenant.org_id)).sent == 1
    assert sql.selecting("outbox_message", where="dedup_key") == []


async def test_the_delivery_log_shows_waiting_by_the_delivery_rule(api, browser, tenant,
                                                                   pd) -> None:  # fmt: skip
    """The acknowledgement waits for a trigger 26 rows down: on the log's first page (25 rows)
    without it, the page still says why it waits, as the delivery pass decided."""
    channel = await pager(tenant, pd)
    pd.script = ["fail"]
    await write(tenant.org_id, "riskops-run-old", PagerAction.TRIGGER)
    assert (await deliver(tenant.org_id)).retrying == 1
    for i in range(25):
        await write(tenant.org_id, f"riskops-run-{i}", PagerAction.TRIGGER)
    ack = await write(tenant.org_id, "riskops-run-old", PagerAction.ACKNOWLEDGE)
    counts = await deliver(tenant.org_id)
    assert (counts.sent, counts.waiting) == (25, 1)
    first = await channels.deliveries(tenant.admin, channel.id, first=25)
    assert "riskops-run-old" not in {m.dedup_key for m in first.items if m.id != ack.id}
    assert await delivery.waiting(first.items) == {ack.id}
    assert first.waiting == {ack.id}  # the service says it, for both faces
    b = await browser(tenant.admin_user, tenant.password)
    page = await b.get(f"/admin/channels/{channel.id}")
    assert page.status_code == 200 and page.text.count(WAITS) == 1
    # GraphQL says it too, asking once for the whole page (not once per row).
    token = str(await api.token(tenant, tenant.admin_user))
    with Statements() as sql:
        body = await api.data(token, LOG, {"id": str(channel.id)})
    nodes = [e["node"] for e in body["notificationChannel"]["deliveries"]["edges"]]
    assert len(nodes) == 25
    assert [n["id"] for n in nodes if n["waiting"]] == [str(ack.id)]
    assert all(n["status"] == "SENT" for n in nodes if not n["waiting"])
    assert len(sql.selecting("outbox_message", where="dedup_key")) == 1, sql.sent
    # Once the trigger is sent, nothing waits, on the page either.
    assert (await deliver(tenant.org_id, later=3600)).sent == 2
    assert pd.actions("riskops-run-old") == ["trigger", "acknowledge"]
    later = await channels.deliveries(tenant.admin, channel.id, first=25)
    assert await delivery.waiting(later.items) == set()
    assert WAITS not in (await b.get(f"/admin/channels/{channel.id}")).text
    body = await api.data(token, LOG, {"id": str(channel.id)})
    assert not any(e["node"]["waiting"] for e in body["notificationChannel"]["deliveries"]["edges"])


async def test_waiting_judges_only_pending_acknowledgements(tenant, pd) -> None:
    channel = await pager(tenant, pd)
    pd.mode = "fail"
    await write(tenant.org_id, "k", PagerAction.TRIGGER)
    await write(tenant.org_id, "k", PagerAction.ACKNOWLEDGE)
    await write(tenant.org_id, "k", PagerAction.RESOLVE)
    await deliver(tenant.org_id)
    rows = await OutboxMessage.filter(org_id=tenant.org_id).order_by("id")
    assert [r.status for r in rows] == [OutboxStatus.PENDING] * 3
    # The resolve waits behind the acknowledgement, which waits behind the trigger.
    assert await delivery.waiting(rows) == {rows[1].id, rows[2].id}
    await channels.remove_channel(tenant.admin, channel.id, expected_version=1)
    assert await delivery.waiting(await OutboxMessage.filter(org_id=tenant.org_id)) == set()


async def test_a_chat_follow_up_waits_for_an_older_escalation_digest(tenant) -> None:
    """A digest stands for many items and has no dedup_key: an acknowledgement to its channel
    written after it waits while it is pending (so "acknowledged" never reaches the channel
    before "paging PagerDuty"), and goes once it is settled; an older one does not wait."""
    from riskops.server.notify import routing

    chat = await channels.create_channel(
        tenant.admin, "slack",
        ChannelInput(name="esc chat", events=["escalation"], url="http://127.0.0.1:9/chat"),
    )  # fmt: skip
    now = datetime.now(UTC)

    async def write(kind: str, payload: dict[str, Any], key: str | None) -> OutboxMessage:
        return await OutboxMessage.create(
            org_id=tenant.org_id, channel="escalation", kind=kind, payload=payload,
            status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
            dedup_key=key, destination_id=chat.id,
        )  # fmt: skip

    ack = {"event_action": "acknowledge", "text": "acknowledged"}
    before = await write("response.escalated", ack, "riskops-x-case-1")
    digest = await write(routing.DIGEST_KIND, {"subject": "digest", "text": "3 items"}, None)
    after = await write("response.escalated", ack, "riskops-x-case-2")
    assert await delivery.waiting([before, after]) == {after.id}
    await OutboxMessage.filter(id=digest.id).update(status=OutboxStatus.SENT)
    assert await delivery.waiting([before, after]) == set()
