"""An organization's notification channels (issue 16), configured by its admins
(channel.manage): create, edit, remove, send a test, and each channel's delivery log.

A channel is a Slack-compatible webhook, a generic JSON webhook (optionally signed with a
secret), PagerDuty Events API v2 (the routing key is the secret) or e-mail through an SMTP server
(its password is the secret). Secrets are sealed with the installation key and never shown
again: the faces say "set" or "not set"; a new secret replaces the stored one, an empty one keeps
it. Which events go to a channel (`routing.RoutedEvent`) is set per channel.

A removed channel keeps its row (`archived_at`) so its delivery log stays readable; its name is
freed for a new channel. Every change is audited (`channel.create|update|remove|test`) with
facts only: kind, events, enabled, whether a secret is set or was replaced, counts; never the
secret, nor the name or addresses people typed."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server.core import sealing, validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Duplicate, Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, lock_scoped, scoped
from riskops.server.core.versioning import check_version, parse_version
from riskops.server.identity.models import Organization
from riskops.server.identity.orgs import lock_organization
from riskops.server.notify import delivery, pagerduty, sending
from riskops.server.notify.models import (
    ChannelKind,
    NotificationChannel,
    OutboxMessage,
    OutboxStatus,
)
from riskops.server.notify.routing import RoutedEvent
from riskops.server.notify.webhooks import OrgRef, Outcome

KIND = "Notification channel"
MAX_CHANNELS = 50
MAX_RECIPIENTS = 20
MAX_URL = 2000
MAX_SECRET = 500
MAX_PAGE = 100
MAX_ID = 2**63 - 1  # outbox message ids are 64-bit
TEST_TIMEOUT = 5.0  # seconds: "send test" answers while the admin waits
ROUTING_KEY_RE = re.compile(r"^[A-Za-z0-9]{1,64}$")
PORT_RE = re.compile(r"[0-9]{1,5}")
SMTP_PORT = 587
HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
KIND_TEXT = {
    ChannelKind.SLACK: "Slack-compatible webhook",
    ChannelKind.WEBHOOK: "Generic signed webhook",
    ChannelKind.PAGERDUTY: "PagerDuty (Events API v2)",
    ChannelKind.EMAIL: "E-mail (SMTP)",
}


@dataclass(frozen=True)
class ChannelInput:
    """What an admin enters for a channel (the page's form, the API's input). Fields that do not
    belong to the channel's kind are ignored; `secret` None or empty keeps the stored one."""

    name: str
    events: list[str] = field(default_factory=list)
    enabled: bool = True
    url: str | None = None  # slack, webhook
    secret: str | None = None  # webhook secret, PagerDuty routing key, SMTP password
    events_url: str | None = None  # PagerDuty: the Events API address (tests: a loopback one)
    smtp_host: str | None = None
    smtp_port: int | str | None = None  # a number, or as typed on the page; none: 587
    starttls: bool = False
    smtp_username: str | None = None
    mail_from: str | None = None
    recipients: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TestResult:
    channel: NotificationChannel
    ok: bool
    outcome: str


@dataclass(frozen=True)
class DeliveryPage:
    items: list[OutboxMessage]
    end_cursor: str | None
    has_next_page: bool
    # The ids of the pending items held back behind an older pending message of their item
    # (`delivery.waiting`: the delivery pass's own rule), asked once for the whole page.
    waiting: frozenset[int] = frozenset()


# ----------------------------------------------------------------------------- input checks


def _url(raw: str | None, field_name: str, what: str, *, required: bool = True) -> str | None:
    value = validation.text(raw, field_name, max_len=MAX_URL, required=required)
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(
            f"{what}: give an http:// or https:// address (like "
            "https://hooks.slack.com/services/…).",
            field=field_name,
        )
    return value


def _events(raw: list[str] | None) -> list[str]:
    if len(raw or []) > len(RoutedEvent):
        raise Invalid(f"Events: each event once (there are {len(RoutedEvent)}).", field="events")
    chosen: list[str] = []
    for value in raw or []:
        event = validation.member(RoutedEvent, value, "Event", "events")
        if event.value not in chosen:
            chosen.append(event.value)
    order = [e.value for e in RoutedEvent]
    return sorted(chosen, key=order.index)


def _port(raw: int | str | None) -> int:
    """The SMTP port: a whole number from 1 to 65535, given as a number or as typed; 587 when
    none is given."""
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return SMTP_PORT
        raw = int(text) if PORT_RE.fullmatch(text) else 0  # 0: not a port, refused below
    if raw is None:
        return SMTP_PORT
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 65535:
        raise Invalid("SMTP port: a number from 1 to 65535 (587, 25).", field="smtpPort")
    return raw


# The secret's label on the page, by kind: its errors name it so (a Slack-compatible webhook has
# no such field; a secret given to one through the API is refused as "Secret").
SECRET_LABEL = {
    ChannelKind.SLACK: "Secret",
    ChannelKind.WEBHOOK: "Signing secret",
    ChannelKind.PAGERDUTY: "Routing key",
    ChannelKind.EMAIL: "Password",
}


def _secret(kind: ChannelKind, raw: str | None) -> str | None:
    """A new secret (None: keep the stored one): text like any other field's, one line."""
    named = SECRET_LABEL[kind]
    secret = validation.text(raw, "secret", max_len=MAX_SECRET, required=False, named=named)
    # A secret goes into a header, an HMAC or an SMTP login: DEL and the C1 controls (which
    # `text` lets through, as other fields may hold them) are refused like the C0 ones.
    if any(c == "\x7f" or "\x80" <= c <= "\x9f" for c in secret):
        raise Invalid(f"{named} contains control characters; remove them.", field="secret")
    return secret or None


def checked(
    kind: ChannelKind, data: ChannelInput, *, has_secret: bool
) -> tuple[dict[str, Any], str | None]:
    """Every input check of a channel before anything is written: (its values, the new secret
    or None to keep the stored one)."""
    values: dict[str, Any] = {
        "name": validation.text(data.name, "name", max_len=100),
        "events": _events(data.events),
        "enabled": bool(data.enabled),
    }
    secret = _secret(kind, data.secret)
    if kind in (ChannelKind.SLACK, ChannelKind.WEBHOOK):
        values["config"] = {"url": _url(data.url, "url", "Webhook URL")}
        if kind == ChannelKind.SLACK and secret:
            raise Invalid(
                "Secret: a Slack-compatible webhook takes no secret (its URL is the secret); "
                "leave it empty, or choose a generic webhook to sign the body.",
                field="secret",
            )
    elif kind == ChannelKind.PAGERDUTY:
        if secret is None and not has_secret:
            raise Invalid(
                "Routing key is required: the integration key of the PagerDuty service "
                "(Events API v2), 32 letters and digits.",
                field="secret",
            )
        if secret is not None and not ROUTING_KEY_RE.match(secret):
            raise Invalid(
                "Routing key: 1 to 64 letters and digits (PagerDuty gives 32), without spaces.",
                field="secret",
            )
        events_url = _url(data.events_url, "eventsUrl", "Events API URL", required=False)
        values["config"] = {"events_url": events_url or pagerduty.DEFAULT_EVENTS_URL}
    else:
        host = validation.text(data.smtp_host, "smtpHost", max_len=253)
        if not HOST_RE.match(host):
            raise Invalid(
                f"SMTP host: '{host[:100]}' is not a host name (like smtp.example.com).",
                field="smtpHost",
            )
        port = _port(data.smtp_port)
        username = validation.text(data.smtp_username, "smtpUsername", max_len=200,
                                   required=False)  # fmt: skip
        recipients: list[str] = []
        if len(data.recipients) > MAX_RECIPIENTS:
            raise Invalid(f"Recipients: at most {MAX_RECIPIENTS} addresses.", field="recipients")
        for raw in data.recipients:
            address = validation.email(raw, "recipients")
            if address not in recipients:
                recipients.append(address)
        if not recipients:
            raise Invalid("Recipients: give at least one e-mail address.", field="recipients")
        values["config"] = {
            "host": host, "port": port, "starttls": bool(data.starttls),
            "username": username or None,
            "from": validation.email(data.mail_from, "mailFrom"),
            "recipients": recipients,
        }  # fmt: skip
    return values, secret


def facts(channel: NotificationChannel) -> dict[str, Any]:
    """What the audit trail says of a channel: facts, never the secret nor typed text."""
    config = channel.config if isinstance(channel.config, dict) else {}
    shown: dict[str, Any] = {
        "kind": channel.kind.value if isinstance(channel.kind, ChannelKind) else channel.kind,
        "events": list(channel.events or []),
        "enabled": channel.enabled,
        "secret_set": bool(channel.secret_sealed),
    }
    if channel.kind == ChannelKind.EMAIL:
        shown["recipients"] = len(config.get("recipients") or [])
        shown["starttls"] = bool(config.get("starttls"))
    return shown


def secret_set(channel: NotificationChannel) -> bool:
    return bool(channel.secret_sealed)


def sealed(secret: str) -> str:
    return sealing.seal(sending.SECRET_PURPOSE, secret)


# ----------------------------------------------------------------------------- reads


async def list_channels(
    principal: Principal, *, include_removed: bool = False
) -> list[NotificationChannel]:
    """The organization's channels, by name (removed ones only when asked)."""
    principal.require(Perm.CHANNEL_MANAGE)
    q = scoped(NotificationChannel, principal)
    if not include_removed:
        q = q.filter(archived_at__isnull=True)
    return await q.order_by("name", "id")


async def get_channel(principal: Principal, channel_id: str | int) -> NotificationChannel:
    """One channel of the organization (a removed one too: its delivery log stays readable)."""
    principal.require(Perm.CHANNEL_MANAGE)
    return await get_scoped(NotificationChannel, principal, channel_id, KIND)


def cursor_of(message: OutboxMessage) -> str:
    return base64.urlsafe_b64encode(f"d:{message.id}".encode()).decode().rstrip("=")


def _after(raw: str) -> int:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        if not text.startswith("d:"):
            raise ValueError(text)
        after = int(text[2:])
        if not 1 <= after <= MAX_ID:  # no id of this list; a larger one no database takes
            raise ValueError(text)
        return after
    except (ValueError, UnicodeDecodeError):
        raise Invalid("after is not a cursor of this list; start from the first page.",
                      field="after") from None  # fmt: skip


async def deliveries(
    principal: Principal, channel_id: str | int, *, first: int = 20, after: str | None = None
) -> DeliveryPage:
    """What was sent (or suppressed, or is waiting) to one channel, newest first; which of the
    page's pending messages wait for an older one of their item (`DeliveryPage.waiting`)."""
    channel = await get_channel(principal, channel_id)
    size = validation.page_size(first, MAX_PAGE)
    q = scoped(OutboxMessage, principal).filter(destination_id=channel.id)
    if after:
        q = q.filter(id__lt=_after(after))
    rows = await q.order_by("-id").limit(size + 1)
    more = len(rows) > size
    items = rows[:size]
    held = frozenset(await delivery.waiting(items))
    return DeliveryPage(items, cursor_of(items[-1]) if items and more else None, more, held)


# ----------------------------------------------------------------------------- changes


def _duplicate(name: str) -> Duplicate:
    return Duplicate(
        f"A channel named '{name}' exists already in your organization; choose another name.",
        field="name",
    )


async def create_channel(
    principal: Principal, kind: str | ChannelKind, data: ChannelInput
) -> NotificationChannel:
    """A new channel of the organization (channel.manage)."""
    principal.require(Perm.CHANNEL_MANAGE)
    chosen = validation.member(ChannelKind, kind, "Channel kind", "kind")
    values, secret = checked(chosen, data, has_secret=False)
    now = datetime.now(UTC)
    try:
        async with in_transaction() as conn:
            # The count and the insert are one step per organization, or two creates at once
            # at 49 would both see room and make 51 (the organization's row lock, as other
            # org-wide limits take it; SQLite has a single writer).
            await lock_organization(principal, conn)
            live = await scoped(NotificationChannel, principal).filter(
                archived_at__isnull=True).using_db(conn).count()  # fmt: skip
            if live >= MAX_CHANNELS:
                raise Invalid(f"Your organization has {live} channels, the most it may have; "
                              "remove one first.", field="name")  # fmt: skip
            if await scoped(NotificationChannel, principal).filter(
                name=values["name"]).using_db(conn).exists():  # fmt: skip
                raise _duplicate(values["name"])
            channel = await NotificationChannel.create(
                org_id=principal.org_id, kind=chosen,
                secret_sealed=sealed(secret) if secret else None,
                created_by_id=principal.user_id, created_at=now, updated_at=now,
                using_db=conn, **values,
            )  # fmt: skip
            await record(principal, conn, "channel.create", "notification_channel", channel.id,
                         new=facts(channel), risk=RiskLevel.MEDIUM)  # fmt: skip
    except IntegrityError:
        raise _duplicate(values["name"]) from None
    return channel


async def update_channel(
    principal: Principal, channel_id: str | int, data: ChannelInput, *, expected_version: Any
) -> NotificationChannel:
    """Edit a channel (channel.manage): name, events, enabled and its kind's settings; a new
    secret replaces the stored one, an empty one keeps it."""
    principal.require(Perm.CHANNEL_MANAGE)
    expected = _version(expected_version)
    now = datetime.now(UTC)
    try:
        async with in_transaction() as conn:
            channel = await lock_scoped(NotificationChannel, principal, conn, channel_id, KIND,
                                        archived_at__isnull=True)  # fmt: skip
            check_version(f"Channel {channel.name}", channel.version, expected, verb="save")
            values, secret = checked(channel.kind, data, has_secret=secret_set(channel))
            if values["name"] != channel.name and await scoped(
                NotificationChannel, principal).filter(name=values["name"]).using_db(
                conn).exists():  # fmt: skip
                raise _duplicate(values["name"])
            before = facts(channel)
            for name, value in values.items():
                setattr(channel, name, value)
            if secret:
                channel.secret_sealed = sealed(secret)
            channel.updated_at, channel.version = now, channel.version + 1
            await channel.save(using_db=conn)
            await record(
                principal, conn, "channel.update", "notification_channel", channel.id,
                old=before, new={**facts(channel), "secret_replaced": bool(secret)},
                risk=RiskLevel.MEDIUM,
            )  # fmt: skip
    except IntegrityError:
        raise _duplicate(str(data.name).strip()) from None
    return channel


def _version(raw: Any) -> int:
    return parse_version(raw, of="of the channel ")


async def remove_channel(
    principal: Principal, channel_id: str | int, *, expected_version: Any
) -> NotificationChannel:
    """Remove a channel (channel.manage): nothing more is routed to it and what is still
    pending to it is not sent; its row and delivery log stay, its name is freed."""
    principal.require(Perm.CHANNEL_MANAGE)
    expected = _version(expected_version)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        channel = await lock_scoped(NotificationChannel, principal, conn, channel_id, KIND,
                                    archived_at__isnull=True)  # fmt: skip
        check_version(f"Channel {channel.name}", channel.version, expected, verb="remove it")
        before = facts(channel)
        channel.archived_at, channel.updated_at = now, now
        channel.enabled = False
        channel.name = f"{channel.name[:70]} (removed #{channel.id})"
        channel.version += 1
        await channel.save(using_db=conn)
        pending = await scoped(OutboxMessage, principal).filter(
            destination_id=channel.id, status=OutboxStatus.PENDING).using_db(conn).update(
            status=OutboxStatus.FAILED, last_error="the channel was removed")  # fmt: skip
        await record(
            principal, conn, "channel.remove", "notification_channel", channel.id,
            old=before, new={"removed": True, "pending_cancelled": pending},
            risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    return channel


# ----------------------------------------------------------------------------- send test


def outcome_text(channel: NotificationChannel, outcome: Outcome) -> str:
    """How a test went, as the admin reads it: "202 accepted", "connection refused",
    "400: Invalid routing key"."""
    if outcome.ok:
        if channel.kind == ChannelKind.EMAIL:
            return "250 accepted by the mail server"
        return f"{outcome.code or 200} accepted"
    error = outcome.error or "failed"
    if "ConnectError" in error or "connection refused" in error:
        return "connection refused"
    if outcome.code and not error.startswith(str(outcome.code)):
        return f"{outcome.code}: {error}"
    return error


def test_message(channel: NotificationChannel, org: Organization, now: datetime) -> OutboxMessage:
    """The message "send test" sends (never stored)."""
    return OutboxMessage(
        id=0, org_id=org.id, channel="review", kind="channel.test",
        payload={"text": f"Test message from riskops to the channel '{channel.name}': it "
                 "works. Nothing to do.", "severity": "info"},
        status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
        dedup_key=f"riskops-{org.slug}-channel-test-{channel.id}-{int(now.timestamp())}",
    )  # fmt: skip


async def send_test(
    principal: Principal,
    channel_id: str | int,
    *,
    base_url: str = "",
    transport: httpx.AsyncBaseTransport | None = None,
) -> TestResult:
    """Send a test message to a channel now and wait for the answer (at most a few seconds);
    the outcome is kept on the channel (last test) and audited. A PagerDuty test triggers an
    incident of its own key and resolves it at once."""
    principal.require(Perm.CHANNEL_MANAGE)
    channel = await get_scoped(NotificationChannel, principal, channel_id, KIND)
    if channel.archived_at is not None:
        raise Invalid("This channel was removed; it sends nothing.", field="id")
    org = await scoped(Organization, principal).get()
    now = datetime.now(UTC)
    message = test_message(channel, org, now)
    ref = OrgRef(org.id, org.slug, org.name)
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT, transport=transport,
                                 follow_redirects=False) as client:  # fmt: skip
        outcome = await sending.send(client, message, channel, base_url=base_url, org=ref,
                                     seconds=TEST_TIMEOUT)  # fmt: skip
        if outcome.ok and channel.kind == ChannelKind.PAGERDUTY:
            message.payload = {**message.payload, "event_action": "resolve"}
            await sending.send(client, message, channel, base_url=base_url, org=ref)
    text = outcome_text(channel, outcome)[:500]
    async with in_transaction() as conn:
        await scoped(NotificationChannel, principal).filter(id=channel.id).using_db(conn).update(
            last_test_at=now, last_test_outcome=text)  # fmt: skip
        await record(principal, conn, "channel.test", "notification_channel", channel.id,
                     new={"ok": outcome.ok, "code": outcome.code})  # fmt: skip
    channel.last_test_at, channel.last_test_outcome = now, text
    return TestResult(channel, outcome.ok, text)


send_test.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
test_message.__test__ = False  # type: ignore[attr-defined]
