"""The notification outbox: a message is written in the same transaction as the change that
caused it (so a notification is never lost nor sent for a change that rolled back), and a job
delivers it after commit to the channel's webhook.

Channels are the runbook's Slack channels: `critical` (#ops-critical), `alerts` (#ops-alerts),
`review` (#ops-review), `escalation` (issue 16), and `email` (issue 14: a one-time link mailed to
its person through RISKOPS_SMTP_URL, `riskops.server.notify.mail`). While the alert-suppression
kill switch is on, messages are written with status `suppressed` and never sent: the record of
what would have been said stays (a one-time link is not an alert: it is never suppressed).

Routing (issue 16, `riskops.server.notify.routing`): when the organization has notification
channels routed for a message's event, one row is written per channel (`destination`); when none
of them takes it, one row without destination goes to the installation default
(RISKOPS_WEBHOOKS, RISKOPS_SMTP_URL), as before. `add` routes one message; bulk writers build
rows with `outbox_rows` and write them with `add_many` (one query for the channels of all their
organizations); the escalation pass builds plain `pending_row`s and inserts them itself.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from enum import StrEnum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from riskops.jobs import runner
from riskops.server.core import validation
from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.notify import routing
from riskops.server.notify.models import NotificationChannel, OutboxMessage, OutboxStatus
from riskops.server.settings import get_settings

log = logging.getLogger("riskops.outbox")

MAX_PAGE = 200


class Channel(StrEnum):
    CRITICAL = "critical"
    ALERTS = "alerts"
    REVIEW = "review"
    EMAIL = "email"  # one person's mail (an invitation or reset link), never an alert
    ESCALATION = "escalation"  # an unacknowledged SEV0/SEV1 past its target (issue 16)


class PagerAction(StrEnum):
    """PagerDuty Events API v2 event_action of a message about one item (its dedup_key)."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


async def add(
    conn: BaseDBAsyncClient,
    org_id: int,
    channel: Channel,
    kind: str,
    payload: dict[str, Any],
    *,
    suppressed: bool,
    now: datetime,
    dedup_key: str | None = None,
    action: PagerAction | None = None,
) -> OutboxMessage:
    """Write a message in the caller's transaction; call `kick()` after the commit.

    `dedup_key` names the item the message is about (a response clock's key) and `action` what
    it does to that item's PagerDuty incident: `trigger` opens it (on the PagerDuty channels
    routed for the message's event), `acknowledge` and `resolve` go to the PagerDuty channels a
    trigger of the same key went to, and nowhere else. The action is kept in the payload
    (`event_action`) so that chat channels can say it too.

    Returns the first row written (one per destination channel, or the one row of the
    installation default)."""
    row = outbox_rows(org_id, channel, kind, payload, suppressed=suppressed, now=now,
                      dedup_key=dedup_key, action=action)  # fmt: skip
    rows = await routing.route(conn, [row])
    for each in rows:
        await each.save(using_db=conn)
    return rows[0]


async def add_many(conn: BaseDBAsyncClient, rows: list[OutboxMessage]) -> list[OutboxMessage]:
    """Route and write many unsaved messages (`outbox_rows`) at once, in the caller's
    transaction: one query for the channels of their organizations (and one for the earlier
    triggers of acknowledge/resolve keys), one bulk insert. Returns the rows written."""
    if not rows:
        return []
    routed = await routing.route(conn, rows)
    await OutboxMessage.bulk_create(routed, using_db=conn)
    return routed


def outbox_rows(
    org_id: int,
    channel: Channel,
    kind: str,
    payload: dict[str, Any],
    *,
    suppressed: bool,
    now: datetime,
    dedup_key: str | None = None,
    action: PagerAction | None = None,
) -> OutboxMessage:
    """An unsaved message, for callers that bulk-create many at once (write them with
    `add_many`, which routes them to the organization's channels)."""
    row = pending_row(org_id, channel, kind, payload, suppressed=suppressed, now=now,
                      dedup_key=dedup_key, action=action)  # fmt: skip
    return OutboxMessage(**{f.name: getattr(row, f.name) for f in dataclasses.fields(row)})


def pending_row(
    org_id: int,
    channel: Channel,
    kind: str,
    payload: dict[str, Any],
    *,
    suppressed: bool,
    now: datetime,
    dedup_key: str | None = None,
    action: PagerAction | None = None,
) -> routing.Pending:
    """The same message as `outbox_rows`, as plain data (`routing.Pending`): for a writer that
    routes (`routing.route`) and inserts thousands of rows itself."""
    if action is not None:
        payload = {**payload, "event_action": action.value}
    return routing.Pending(
        org_id=org_id,
        channel=channel.value,
        kind=kind,
        payload=payload,
        status=OutboxStatus.SUPPRESSED if suppressed else OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        dedup_key=dedup_key,
    )


async def kick() -> None:
    """After a commit that wrote pending messages: have them delivered soon. Never raises (the
    messages are durable; the periodic delivery sweep sends them if this cannot).

    Without any webhook, mail server or organization channel configured there is nothing to
    send now: no job is queued, and the periodic sweep marks the messages failed ("no webhook
    configured")."""
    try:
        settings = get_settings()
        # Whether the installation has anywhere to deliver, across organizations on purpose:
        # the job it queues is one pass over the due messages of every organization (it reads
        # no row and says nothing to the caller). A disabled channel counts: an acknowledge or
        # resolve of an incident it opened is still sent to it.
        if (
            not settings.webhooks
            and not settings.smtp_url
            and not await NotificationChannel.filter(archived_at=None).exists()
        ):
            return
        await runner.enqueue("outbox.deliver")
    except Exception:
        log.exception("could not queue the outbox delivery; the periodic sweep will send")


async def list_messages(
    principal: Principal, status: str | OutboxStatus | None = None, first: int = 50
) -> list[OutboxMessage]:
    """The organization's notifications, newest first, optionally of one status."""
    principal.require(Perm.RUN_READ)
    size = validation.page_size(first, MAX_PAGE)
    q = scoped(OutboxMessage, principal)
    if status is not None and status != "":
        try:
            q = q.filter(status=OutboxStatus(str(status).strip().lower()))
        except ValueError:
            choices = ", ".join(s.value for s in OutboxStatus)
            raise Invalid(
                f"status '{status}' is unknown; choose one of {choices}.", field="status"
            ) from None
    return await q.order_by("-created_at", "-id").limit(size)
