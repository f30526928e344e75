"""Sending one outbox message to one organization channel (issue 16): a Slack-compatible
webhook, a generic webhook signed with the channel secret, PagerDuty Events API v2 (the secret is
the routing key) or mail through the channel's SMTP server. Used by the delivery job for rows
with a destination and by "send test". No database here."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx

from riskops.server.core import sealing
from riskops.server.notify import mail, pagerduty, webhooks
from riskops.server.notify.models import ChannelKind, NotificationChannel, OutboxMessage
from riskops.server.notify.webhooks import OrgRef, Outcome
from riskops.server.settings import WebhookTarget

SECRET_PURPOSE = "notification-channel-secret"  # noqa: S105  (the sealing purpose)


def secret_of(channel: NotificationChannel) -> str | None:
    """The channel's secret, opened (raises `sealing.Unsealable` when the key changed)."""
    if not channel.secret_sealed:
        return None
    return sealing.unseal(SECRET_PURPOSE, channel.secret_sealed)


def _config(channel: NotificationChannel) -> dict[str, Any]:
    return channel.config if isinstance(channel.config, dict) else {}


def _plain(line: str) -> str:
    """A Slack mrkdwn detail line as plain text for mail."""
    out = line.replace("*", "").replace("`", "")
    return out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def compose_mail(
    message: OutboxMessage, channel: NotificationChannel, base_url: str, org: OrgRef | None
) -> EmailMessage:
    config = _config(channel)
    who = org or OrgRef(message.org_id, f"org-{message.org_id}", f"organization {message.org_id}")
    text, lines = webhooks.summary(message, base_url)
    subject = " ".join(f"[riskops] {who.name}: {text}".split())
    out = EmailMessage()
    out["Subject"] = subject if len(subject) <= 200 else subject[:199] + "…"
    out["From"] = str(config.get("from") or "riskops <no-reply@riskops.local>")
    out["To"] = ", ".join(str(r) for r in config.get("recipients") or [])
    out["Message-ID"] = make_msgid(idstring=f"riskops-{message.id or 'test'}")
    out["Auto-Submitted"] = "auto-generated"
    body = "\n".join(_plain(line) for line in lines if line)
    out.set_content(
        f"{text}\n\n{body}\n\nOrganization: {who.label()}\nChannel: {channel.name}\n"
        f"Kind: {message.kind}\n\n-- riskops\n"
    )
    return out


def smtp_server(channel: NotificationChannel) -> mail.SmtpServer:
    config = _config(channel)
    return mail.SmtpServer(
        host=str(config.get("host") or ""),
        port=int(config.get("port") or 25),
        tls=False,
        user=str(config["username"]) if config.get("username") else None,
        password=secret_of(channel),
        starttls=bool(config.get("starttls")),
    )


async def send(
    client: httpx.AsyncClient,
    message: OutboxMessage,
    channel: NotificationChannel,
    *,
    base_url: str = "",
    org: OrgRef | None = None,
    seconds: float | None = None,
) -> Outcome:
    """Send `message` to `channel` once; never raises for a delivery failure (an outcome)."""
    config = _config(channel)
    try:
        secret = secret_of(channel)
    except sealing.Unsealable as exc:
        return Outcome(False, permanent=True, error=str(exc)[:500])
    if channel.kind == ChannelKind.PAGERDUTY:
        if not secret:
            return Outcome(False, permanent=True, error="no routing key stored: edit the channel")
        body = pagerduty.event(message, secret, base_url, org)
        url = str(config.get("events_url") or pagerduty.DEFAULT_EVENTS_URL)
        return await pagerduty.send(client, url, body)
    if channel.kind == ChannelKind.EMAIL:
        composed = compose_mail(message, channel, base_url, org)
        return await mail.deliver(smtp_server(channel), composed, seconds)
    fmt = "slack" if channel.kind == ChannelKind.SLACK else "generic"
    target = WebhookTarget(url=str(config.get("url") or ""), format=fmt, secret=secret)
    request = webhooks.build_request(message, target, base_url, org)
    return await webhooks.post(client, target.url, request)
