"""Delivery of the notification outbox to webhooks (and the `email` channel's mail through
`riskops.server.notify.mail`): the `outbox.deliver` job.

One delivery pass takes the due pending messages (next_attempt_at ≤ now), oldest first, at most
`BATCH` of them. Each is claimed with a conditional UPDATE (still pending, same attempts, still
due → attempts + 1 and next_attempt_at = claim time + `LEASE`), so two deliverers running at
once (two workers, a kick and the cron sweep) never send one message twice; a deliverer that
dies after claiming leaves the message to be retried when the lease ends. Times are taken when
each message is claimed and settled (not when the pass started), and a pass stops claiming after
`PASS_SECONDS` so that slow receivers cannot make the next minute's pass overlap it: what is left
stays pending for the next pass (counted as `deferred`).

Before a message is claimed, its organization's alert-suppression switch is checked: if it is in
force now, the message is marked `suppressed` (last_error "alert suppression on at delivery")
and never sent. Messages written while suppression was on are suppressed already and never
selected.

A one-time link (an invitation or a password reset) is one person's mail, not an alert: the
suppression switch does not hold it. Once settled for good (sent or failed) its payload no
longer holds the sealed link.

A message with a destination (an organization channel, issue 16) goes to that channel
(`sending`): its webhook, PagerDuty or SMTP server. One to a removed channel fails ("the channel
was removed"), one to a disabled channel too, except an acknowledge or resolve (an incident the
channel opened is still closed). An acknowledge or resolve of a dedup_key waits (stays pending,
counted as `waiting`) while an older message of the same key to the same channel is still
pending: PagerDuty never sees the acknowledgement before the trigger. That rule (`waiting`, which
a channel's delivery log shows too) is read once per pass for all its messages, not once each.

Outcomes: 2xx → sent. Connect error, timeout, 5xx → stays pending, retried after 30 s, 1 min,
2 min, ... (at most 30 min), or after a 429's Retry-After. After `MAX_ATTEMPTS` attempts, any
other 4xx, or a channel without a webhook → failed, with `last_error` saying why.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from tortoise.expressions import Q

from riskops.jobs.registry import job
from riskops.server.core.scoping import scoped
from riskops.server.credit.kill_switches import active_switches, suppression_on
from riskops.server.identity.models import Organization
from riskops.server.notify import mail, routing, sending, webhooks
from riskops.server.notify.models import NotificationChannel, OutboxMessage, OutboxStatus
from riskops.server.notify.outbox import Channel
from riskops.server.settings import Settings, get_settings

log = logging.getLogger("riskops.outbox")

BATCH = 200
MAX_ATTEMPTS = 10
BACKOFF_FIRST = 30.0  # seconds
BACKOFF_MAX = 30 * 60.0
LEASE = timedelta(minutes=5)  # far longer than one POST (timeout ≤ 60 s)
PASS_SECONDS = 50.0  # stop claiming after this: the next pass starts a minute after this one
SUPPRESSED_AT_DELIVERY = "alert suppression on at delivery"

Clock = Callable[[], datetime]


def backoff(attempt: int) -> timedelta:
    """The pause after failed attempt `attempt` (1-based): 30 s, 1 min, 2 min, ... ≤ 30 min."""
    return timedelta(seconds=min(BACKOFF_FIRST * 2 ** max(attempt - 1, 0), BACKOFF_MAX))


@dataclass
class DeliveryCounts:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0  # claimed by another deliverer first
    suppressed: int = 0  # its organization's alert suppression was on at delivery
    deferred: int = 0  # left for the next pass (this one ran out of time)
    waiting: int = 0  # an acknowledge/resolve behind an older pending message of its key

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def _claim(msg: OutboxMessage, at: datetime) -> bool:
    claimed = (
        await scoped(OutboxMessage, org_id=msg.org_id)
        .filter(
            id=msg.id, status=OutboxStatus.PENDING, attempts=msg.attempts, next_attempt_at__lte=at
        )
        .update(attempts=msg.attempts + 1, next_attempt_at=at + LEASE)
    )
    return claimed == 1


async def _suppress(msg: OutboxMessage, at: datetime) -> bool:
    """Mark a due message suppressed (unless another deliverer took it first)."""
    done = (
        await scoped(OutboxMessage, org_id=msg.org_id)
        .filter(
            id=msg.id, status=OutboxStatus.PENDING, attempts=msg.attempts, next_attempt_at__lte=at
        )
        .update(status=OutboxStatus.SUPPRESSED, last_error=SUPPRESSED_AT_DELIVERY)
    )
    return done == 1


async def _settle(msg: OutboxMessage, attempt: int, **changes: Any) -> None:
    # Only while our claim holds (same attempts): a late result never overwrites a newer one.
    await (
        scoped(OutboxMessage, org_id=msg.org_id)
        .filter(id=msg.id, attempts=attempt)
        .update(**changes)
    )


async def _deliver_one(
    client: httpx.AsyncClient,
    msg: OutboxMessage,
    settings: Settings,
    clock: Clock,
    org: webhooks.OrgRef | None,
    channels: dict[int, NotificationChannel],
) -> str:
    """Send one claimed message; returns what became of it: sent, retrying or failed."""
    attempt = msg.attempts + 1
    if msg.destination_id is not None:
        channel = channels.get(msg.destination_id)
        follow_up = routing.action_of(msg.payload) in routing.FOLLOW_UPS
        problem = (
            "the channel was removed" if channel is None or channel.archived_at is not None
            else None if channel.enabled or follow_up
            else "the channel is disabled: enable it to send what is written from now on"
        )  # fmt: skip
        if problem is not None or channel is None:
            await _settle(msg, attempt, status=OutboxStatus.FAILED, last_error=problem)
            return "failed"
        outcome = await sending.send(client, msg, channel, base_url=settings.base_url, org=org)
        return await _settled(msg, attempt, outcome, clock)
    if msg.channel == Channel.EMAIL.value:
        return await _settled(msg, attempt, await mail.send(msg, settings), clock)
    target = settings.webhooks.get(msg.channel)
    if target is None:
        error = (
            f"no webhook configured for channel '{msg.channel}': add it to RISKOPS_WEBHOOKS "
            "(messages written meanwhile are not resent)"
        )
        await _settle(msg, attempt, status=OutboxStatus.FAILED, last_error=error)
        return "failed"
    request = webhooks.build_request(mail.opened(msg), target, settings.base_url, org)
    return await _settled(msg, attempt, await webhooks.post(client, target.url, request), clock)


async def _settled(
    msg: OutboxMessage, attempt: int, outcome: webhooks.Outcome, clock: Clock
) -> str:
    """Record one attempt's outcome; a message settled for good no longer holds a link."""
    done = {"payload": p} if (p := mail.scrubbed(msg)) is not None else {}
    if outcome.ok:
        await _settle(msg, attempt, status=OutboxStatus.SENT, sent_at=clock(), last_error=None,
                      **done)  # fmt: skip
        return "sent"
    error = outcome.error or "delivery failed"
    if outcome.permanent:
        await _settle(msg, attempt, status=OutboxStatus.FAILED, last_error=error, **done)
        return "failed"
    return await _retry_later(msg, attempt, error, clock(), outcome.retry_after)


async def _retry_later(
    msg: OutboxMessage, attempt: int, error: str, at: datetime, retry_after: float | None = None
) -> str:
    """Pending again, due `at` (the time the attempt ended) + the backoff or Retry-After."""
    if attempt >= MAX_ATTEMPTS:
        done = {"payload": p} if (p := mail.scrubbed(msg)) is not None else {}
        await _settle(
            msg, attempt, status=OutboxStatus.FAILED,
            last_error=f"gave up after {attempt} attempts; last: {error}", **done,
        )  # fmt: skip
        return "failed"
    pause = timedelta(seconds=retry_after) if retry_after is not None else backoff(attempt)
    await _settle(msg, attempt, next_attempt_at=at + pause, last_error=error)
    return "retrying"


def _follow_up(msg: OutboxMessage) -> bool:
    """An acknowledge or resolve of a dedup_key to a channel: what may have to wait."""
    return (
        msg.destination_id is not None
        and bool(msg.dedup_key)
        and routing.action_of(msg.payload) in routing.FOLLOW_UPS
    )


Ahead = dict[tuple[int, str], set[int]]  # (channel, dedup_key) -> ids of its pending messages


async def _pending_ahead(messages: Sequence[OutboxMessage]) -> Ahead:
    """The pending messages of the channels and keys the follow-ups among `messages` are
    about: one query, whatever their number (none when there is no follow-up)."""
    ups = [m for m in messages if _follow_up(m)]
    if not ups:
        return {}
    found = await OutboxMessage.filter(
        Q(dedup_key__in=sorted({str(m.dedup_key) for m in ups})) | Q(kind=routing.DIGEST_KIND),
        org_id__in=sorted({m.org_id for m in ups}),
        destination_id__in=sorted({int(m.destination_id or 0) for m in ups}),
        status=OutboxStatus.PENDING,
        id__lt=max(m.id for m in ups),
    ).values_list("destination_id", "dedup_key", "kind", "id")  # fmt: skip
    ahead: Ahead = defaultdict(set)
    for destination, key, kind, ident in found:
        ahead[(int(destination), _ahead_key(kind, key))].add(int(ident))
    return ahead


def _ahead_key(kind: str, key: str | None) -> str:
    """What a pending message holds back: its item's key, or, a digest (many items, no key),
    every follow-up to its channel."""
    return routing.DIGEST_KIND if kind == routing.DIGEST_KIND else str(key)


def _behind(msg: OutboxMessage, ahead: Ahead) -> bool:
    """The rule: an acknowledge or resolve to a channel waits while an older message of its
    dedup_key to the same channel is still pending (its trigger, being retried), or an older
    escalation digest (which stands for many items and has no key)."""
    if not _follow_up(msg):
        return False
    dest = int(msg.destination_id or 0)
    older = [
        *ahead.get((dest, str(msg.dedup_key)), ()),
        *ahead.get((dest, routing.DIGEST_KIND), ()),
    ]
    return any(ident < msg.id for ident in older)


async def waiting(messages: Sequence[OutboxMessage]) -> set[int]:
    """The ids of the pending messages among `messages` that wait for an older message of
    their item (`_behind`), judged on every pending message of their channel and key, not only
    on those given (a page of a delivery log shows some of them)."""
    ahead = await _pending_ahead(messages)
    return {m.id for m in messages if m.status == OutboxStatus.PENDING and _behind(m, ahead)}


def _settled_in_pass(ahead: Ahead, msg: OutboxMessage) -> None:
    """`msg` is pending no more: what waited for it may go."""
    if msg.destination_id is not None and (msg.dedup_key or msg.kind == routing.DIGEST_KIND):
        key = _ahead_key(msg.kind, msg.dedup_key)
        ahead.get((msg.destination_id, key), set()).discard(msg.id)


async def _organizations(ids: set[int]) -> dict[int, webhooks.OrgRef]:
    rows = await Organization.filter(id__in=sorted(ids)).values_list("id", "slug", "name")
    return {int(i): webhooks.OrgRef(int(i), str(slug), str(name)) for i, slug, name in rows}


async def deliver_due(
    now: datetime | None = None,
    *,
    org_id: int | None = None,
    limit: int = BATCH,
    settings: Settings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    max_seconds: float = PASS_SECONDS,
) -> DeliveryCounts:
    """One delivery pass over the due pending messages (of every organization, or of `org_id`).
    `now` is the clock at the start of the pass (tests move it; it advances with real time
    during the pass); `transport` replaces the network (tests); after `max_seconds` no further
    message is claimed."""
    settings = settings or get_settings()
    start = now or datetime.now(UTC)
    started = time.monotonic()

    def clock() -> datetime:
        return start + timedelta(seconds=time.monotonic() - started)

    q = OutboxMessage.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=start)
    if org_id is not None:
        q = q.filter(org_id=org_id)
    # One-time links first: a person is waiting for that mail, and a backlog of webhooks to a
    # receiver that is down must not hold an invitation or a reset until a later pass.
    by_age = ("created_at", "id")
    due = await q.filter(kind__in=sorted(mail.LINK_KINDS)).order_by(*by_age).limit(limit)
    if len(due) < limit:
        rest = q.exclude(kind__in=sorted(mail.LINK_KINDS)).order_by(*by_age)
        due += await rest.limit(limit - len(due))
    counts = DeliveryCounts()
    if not due:
        return counts
    orgs = await _organizations({m.org_id for m in due})
    destinations = {m.destination_id for m in due if m.destination_id is not None}
    channels = (
        {c.id: c for c in await NotificationChannel.filter(id__in=sorted(destinations))}
        if destinations
        else {}
    )
    async with httpx.AsyncClient(
        timeout=settings.webhook_timeout_seconds, transport=transport, follow_redirects=False
    ) as client:
        # What each acknowledge or resolve may wait for, read once for the pass and kept up to
        # date with what the pass itself settles (a trigger sent just before its
        # acknowledgement lets it go); one settled meanwhile by another deliverer still holds
        # it back until the next pass.
        ahead = await _pending_ahead(due)
        for index, msg in enumerate(due):
            if time.monotonic() - started >= max_seconds:
                counts.deferred = len(due) - index
                log.warning(
                    "outbox delivery pass stopped after %.0f s; %d message(s) left for the "
                    "next pass",
                    max_seconds,
                    counts.deferred,
                )
                break
            at = clock()
            # A one-time link is one person's mail, not an alert: suppression does not hold it.
            if msg.kind not in mail.LINK_KINDS and suppression_on(
                await active_switches(msg.org_id, at)
            ):
                if await _suppress(msg, at):
                    counts.suppressed += 1
                    _settled_in_pass(ahead, msg)
                else:
                    counts.skipped += 1
                continue
            if _behind(msg, ahead):
                counts.waiting += 1
                continue
            if not await _claim(msg, at):
                counts.skipped += 1
                continue
            try:
                result = await _deliver_one(
                    client, msg, settings, clock, orgs.get(msg.org_id), channels
                )
            except Exception as exc:
                # Our own failure (e.g. rendering the body): retried like a failed POST.
                log.exception("outbox message %s could not be delivered", msg.id)
                error = f"internal error: {type(exc).__name__}: {exc}"[:500]
                result = await _retry_later(msg, msg.attempts + 1, error, clock())
            setattr(counts, result, getattr(counts, result) + 1)
            if result != "retrying":
                _settled_in_pass(ahead, msg)
    if counts.sent or counts.failed or counts.retrying or counts.suppressed:
        log.info("outbox delivery: %s", counts.as_dict())
    return counts


@job("outbox.deliver")
async def outbox_deliver(ctx: dict[str, Any]) -> dict[str, Any]:
    return (await deliver_due()).as_dict()
