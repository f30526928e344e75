"""Routing of outbox messages to an organization's notification channels (issue 16).

Every message maps to one routing event (`event_of`): the outbox channel `critical`, `alerts`,
`review` or `escalation` by name, except the kinds `assistant.budget` (event `assistant_budget`)
and `view.promotion_*` (event `view_promotion`). One-time links (the `email` channel, and an
invitation or reset link passed on through the `review` webhook) are one person's mail, never
routed: they keep going to the installation's mail server or webhook.

`route` turns the unsaved rows a transaction writes into the rows to store:

- a chat channel (Slack, generic webhook, e-mail) that is enabled and routed for the event gets
  every message of it, and says the message's `event_action` when it has one;
- a PagerDuty channel gets a message with action `trigger` when routed for its event; a message
  with action `acknowledge` or `resolve` only when a trigger of the same `dedup_key` went to that
  very channel (pending or sent: a suppressed or failed trigger opened nothing), whatever its
  routing is now, and never otherwise (so an incident opened before the channel was disabled or
  re-routed is still closed); a message without action only as a trigger, and only with a
  `dedup_key` (PagerDuty needs one to keep the incident in step);
- a message no channel takes is written once without destination: the installation default
  (RISKOPS_WEBHOOKS, RISKOPS_SMTP_URL), as before channels existed.

Cost: one query for the channels of the organizations of all the rows, plus one for the earlier
triggers when some rows acknowledge or resolve, whatever the number of rows; and the channels
are read once per transaction (kept with the transaction's connection), so a transaction that
writes one message per item (`outbox.add` in a loop) pays that query once."""

from __future__ import annotations

import dataclasses
import functools
import json
import weakref
from collections import defaultdict
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient

from riskops.server.notify.mail import LINK_KINDS
from riskops.server.notify.models import (
    ChannelKind,
    NotificationChannel,
    OutboxMessage,
    OutboxStatus,
)


@dataclasses.dataclass(slots=True)
class Pending:
    """An unsaved outbox row as plain data: what a bulk writer (the escalation pass: 10,000
    messages) builds instead of `OutboxMessage` instances, whose construction costs more than
    routing and inserting them. Same field names; `route` takes either."""

    org_id: int
    channel: str
    kind: str
    payload: Any
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    dedup_key: str | None = None
    destination_id: int | None = None


Row = TypeVar("Row", OutboxMessage, Pending)

EMAIL_CHANNEL = "email"  # `outbox.Channel.EMAIL`: one person's mail, never routed
FOLLOW_UPS = frozenset({"acknowledge", "resolve"})


class RoutedEvent(StrEnum):
    """What an organization routes to a channel."""

    CRITICAL = "critical"
    ALERTS = "alerts"
    REVIEW = "review"
    ESCALATION = "escalation"
    ASSISTANT_BUDGET = "assistant_budget"
    VIEW_PROMOTION = "view_promotion"


EVENT_TEXT = {
    RoutedEvent.CRITICAL: "Critical (SEV0 runs)",
    RoutedEvent.ALERTS: "Alerts (SEV1 runs)",
    RoutedEvent.REVIEW: "Review (SEV2 patterns, weekly reports)",
    RoutedEvent.ESCALATION: "Escalation (unacknowledged SEV0/SEV1 past target)",
    RoutedEvent.ASSISTANT_BUDGET: "Assistant budget",
    RoutedEvent.VIEW_PROMOTION: "View promotion",
}


@functools.lru_cache(maxsize=256)  # a few known values; a pass routes 10,000 messages
def event_of(channel: str, kind: str) -> RoutedEvent | None:
    """The routing event of a message of outbox channel `channel` and kind `kind` (None: never
    routed to organization channels)."""
    if channel == EMAIL_CHANNEL or kind in LINK_KINDS:
        return None
    if kind == "assistant.budget":
        return RoutedEvent.ASSISTANT_BUDGET
    if kind.startswith("view.promotion_"):
        return RoutedEvent.VIEW_PROMOTION
    try:
        return RoutedEvent(channel)
    except ValueError:
        return None


def action_of(payload: Any) -> str | None:
    """The PagerDuty event_action a message carries (`outbox.PagerAction`), if any."""
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return None
    value = payload.get("event_action") if isinstance(payload, dict) else None
    return str(value) if value else None


def _events(channel: NotificationChannel) -> set[str]:
    return {str(e) for e in (channel.events or [])}


def _takes(
    channel: NotificationChannel,
    row: OutboxMessage | Pending,
    event: RoutedEvent,
    triggered: set[tuple[str, int]],
) -> bool:
    action = action_of(row.payload)
    if channel.kind == ChannelKind.PAGERDUTY:
        if action in FOLLOW_UPS:
            return bool(row.dedup_key) and (str(row.dedup_key), channel.id) in triggered
        if not row.dedup_key:
            return False  # PagerDuty needs a key to keep the incident in step
    return channel.enabled and event.value in _events(channel)


async def _triggered(
    conn: BaseDBAsyncClient, rows: list[OutboxMessage] | list[Pending], pagerduty: list[int]
) -> set[tuple[str, int]]:
    """(dedup_key, channel id) of the triggers already written to PagerDuty channels for the
    keys the rows acknowledge or resolve."""
    keys = sorted(
        {str(r.dedup_key) for r in rows if r.dedup_key and action_of(r.payload) in FOLLOW_UPS}
    )
    if not keys or not pagerduty:
        return set()
    found = (
        await OutboxMessage.filter(
            dedup_key__in=keys,
            destination_id__in=pagerduty,
            status__in=[OutboxStatus.PENDING, OutboxStatus.SENT],
        )
        .using_db(conn)
        .values_list("dedup_key", "destination_id", "payload")
    )
    return {
        (str(key), int(dest))
        for key, dest, payload in found
        if action_of(payload) in (None, "trigger")
    }


def _copy(row: Row, destination: int) -> Row:
    if isinstance(row, Pending):  # positional, in field order: replace() costs 3 times more
        copy = Pending(row.org_id, row.channel, row.kind, row.payload, row.status, row.attempts,
                       row.next_attempt_at, row.created_at, row.dedup_key, destination)  # fmt: skip
        return copy  # type: ignore[return-value]  # Row is Pending here
    return OutboxMessage(
        org_id=row.org_id, channel=row.channel, kind=row.kind, payload=row.payload,
        status=row.status, attempts=row.attempts, next_attempt_at=row.next_attempt_at,
        created_at=row.created_at, dedup_key=row.dedup_key, destination_id=destination,
    )  # fmt: skip


# The channels of each organization, read once per transaction (the key is the transaction's
# connection object, new for every transaction; it goes with it).
_PER_TRANSACTION: weakref.WeakKeyDictionary[Any, dict[int, list[NotificationChannel]]] = (
    weakref.WeakKeyDictionary()
)


async def _channels_of(
    conn: BaseDBAsyncClient, orgs: list[int]
) -> dict[int, list[NotificationChannel]]:
    known: dict[int, list[NotificationChannel]] | None = None
    if isinstance(conn, TransactionalDBClient):
        try:
            known = _PER_TRANSACTION.get(conn)
        except TypeError:  # not weakly referenceable: no cache
            known = None
    missing = [o for o in orgs if known is None or o not in known]
    by_org: dict[int, list[NotificationChannel]] = defaultdict(list)
    if missing:
        found = (
            await NotificationChannel.filter(org_id__in=missing, archived_at__isnull=True)
            .using_db(conn)
            .order_by("id")
        )
        for c in found:
            by_org[c.org_id].append(c)
    if known is not None:
        by_org.update({o: known[o] for o in orgs if o in known})
    if isinstance(conn, TransactionalDBClient):
        try:
            cache = _PER_TRANSACTION.setdefault(conn, {})
        except TypeError:  # not weakly referenceable: no cache
            return by_org
        cache.update({o: list(by_org.get(o, [])) for o in orgs})
    return by_org


# Channels people read: many messages at once to one of them are better one digest (the
# escalation pass), where a generic webhook (a program) and PagerDuty (its own incidents) keep
# one message per item.
READ_BY_PEOPLE = frozenset({ChannelKind.SLACK, ChannelKind.EMAIL})
# The kind of such a digest: it has no dedup_key (it stands for many items), so an acknowledge
# or resolve to its channel waits for any older digest still pending there
# (`delivery._behind`), as it waits for its own item's trigger.
DIGEST_KIND = "response.escalation_digest"


async def read_by_people(conn: BaseDBAsyncClient, org_id: int) -> set[int]:
    """The organization's enabled channels that people read (`READ_BY_PEOPLE`), by id: from
    the transaction's channels (`prefetch`)."""
    chans = (await _channels_of(conn, [org_id])).get(org_id, [])
    return {c.id for c in chans if c.kind in READ_BY_PEOPLE and c.enabled}


async def prefetch(conn: BaseDBAsyncClient, orgs: list[int]) -> None:
    """Read the channels of `orgs` now, in the transaction `conn`: a later `route` in it asks
    the database nothing more (but for the earlier triggers of an acknowledge or resolve)."""
    await _channels_of(conn, orgs)


async def route(conn: BaseDBAsyncClient, rows: list[Row]) -> list[Row]:
    """The rows to write for the unsaved `rows` (see the module docstring), in their order:
    `OutboxMessage` instances or `Pending` rows, copied per destination channel as the same
    type."""
    routable = [(r, e) for r in rows if (e := event_of(r.channel, r.kind)) is not None]
    if not routable:
        return rows
    by_org = await _channels_of(conn, sorted({r.org_id for r, _ in routable}))
    channels = [c for chans in by_org.values() for c in chans]
    if not channels:
        return rows
    pagerduty = [c.id for c in channels if c.kind == ChannelKind.PAGERDUTY]
    triggered = await _triggered(conn, [r for r, _ in routable], pagerduty)
    out: list[Row] = []
    # Where a row goes depends on its organization, event and whether it has a key, except for
    # an acknowledge or resolve (its own key's triggers): decided once per such combination.
    decided: dict[tuple[int, RoutedEvent, bool], list[NotificationChannel]] = {}
    for row in rows:
        event = event_of(row.channel, row.kind)
        if event is None:
            targets = []
        elif action_of(row.payload) in FOLLOW_UPS:
            targets = [c for c in by_org.get(row.org_id, []) if _takes(c, row, event, triggered)]
        else:
            key = (row.org_id, event, bool(row.dedup_key))
            if (found := decided.get(key)) is None:
                found = decided[key] = [
                    c for c in by_org.get(row.org_id, []) if _takes(c, row, event, triggered)
                ]
            targets = found
        if not targets:
            out.append(row)  # the installation default
        elif len(targets) == 1:  # the row itself (unsaved, the caller's): no copy
            row.destination_id = targets[0].id
            out.append(row)
        else:
            out.extend(_copy(row, c.id) for c in targets)
    return out
