"""An incident's acknowledgement and resolution are routed all at once, on SQLite and PostgreSQL:
acknowledging a case with its run, and resolving it, write one PagerDuty acknowledge (resolve)
per triggered clock, with one look for the earlier triggers of all their keys (counted in SQL
statements), not one per message."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from riskops.server.notify import channels, outbox
from riskops.server.notify.channels import ChannelInput
from riskops.server.notify.models import OutboxMessage
from riskops.server.notify.outbox import Channel, PagerAction
from riskops.server.response import clocks as rc
from riskops.server.response import service as svc
from riskops.server.response.models import ResponseClock
from riskops.server.triage import case_resolution
from tests.response.helpers import ask_to_resolve, clock, sev0_run
from tests.support.pagerduty_server import routing_key
from tests.support.statements import Statements

DEAD = "http://127.0.0.1:9/v2/enqueue"  # nothing is delivered: only the routed rows are checked


async def test_acknowledge_and_resolve_look_for_their_triggers_once(tenant) -> None:
    pd = await channels.create_channel(
        tenant.admin, "pagerduty",
        ChannelInput(name="pd", events=["escalation"], secret=routing_key(), events_url=DEAD),
    )  # fmt: skip
    run = await sev0_run(tenant)
    both = [await clock("case", run.case_id), await clock("run", run.id)]
    # Both clocks reached the last level: each one's incident was triggered on the channel.
    await ResponseClock.filter(id__in=[c.id for c in both]).update(level=rc.PAGER_LEVEL)
    async with in_transaction() as conn:
        for c in both:
            await outbox.add(conn, tenant.org_id, Channel.ESCALATION, "response.escalated",
                             {"text": "late"}, suppressed=False, now=datetime.now(UTC),
                             dedup_key=c.dedup_key, action=PagerAction.TRIGGER)  # fmt: skip
    keys = sorted(str(c.dedup_key) for c in both)

    async def sent(action: str) -> list[tuple[str | None, int | None]]:
        rows = await OutboxMessage.filter(org_id=tenant.org_id, channel="escalation")
        found = [r for r in rows if (r.payload or {}).get("event_action") == action]
        return sorted((r.dedup_key, r.destination_id) for r in found)

    _, approver = await tenant.user("approver")
    with Statements() as sql:
        result = await svc.acknowledge(approver, "case", run.case_id)
    assert len(result.acknowledged) == 2
    assert await sent("acknowledge") == [(k, pd.id) for k in keys]
    assert len(sql.selecting("outbox_message", where="dedup_key")) == 1, sql.sent

    res = await ask_to_resolve(tenant, run.case_id)
    with Statements() as sql:
        await case_resolution.approve_case_resolution(
            approver, run.case_id, expected_version=res.case.version
        )
    assert await sent("resolve") == [(k, pd.id) for k in keys]
    assert len(sql.selecting("outbox_message", where="dedup_key")) == 1, sql.sent
