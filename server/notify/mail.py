"""Mail of the outbox's `email` channel: one person's invitation or password-reset link, sent
through the SMTP server of RISKOPS_SMTP_URL (`smtp://user:password@host:port`, STARTTLS when the
server offers it; `smtps://` for TLS from the first byte) with smtplib, in a thread.

The link travels in the message's payload sealed with the installation key (`link_sealed`) and
is opened here, at delivery, only; once the message is sent (or has failed for good) the sealed
link is dropped from the payload (`scrubbed`): the outbox keeps who was written to and when, not
a way into their account. The same opening serves a link an admin issued through the `review`
webhook when no mail server is configured (`opened`)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from typing import Any
from urllib.parse import unquote, urlsplit

from riskops.server.core import sealing
from riskops.server.core.formatting import when
from riskops.server.notify.models import OutboxMessage
from riskops.server.notify.webhooks import Outcome
from riskops.server.settings import Settings

LINK_SEAL = "outbox-link"  # the sealing purpose of `identity.links`
LINK_KINDS = frozenset({"identity.invitation", "identity.password_reset"})
TIMEOUT_SECONDS = 20.0
SUBJECTS = {
    "invitation": "You are invited to riskops ({org})",
    "password_reset": "Reset your riskops password ({org})",
}


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: bool  # TLS from the first byte (smtps://)
    user: str | None
    password: str | None
    # STARTTLS: None when the server offers it (RISKOPS_SMTP_URL), True required, False never
    # (an organization's e-mail channel says which)
    starttls: bool | None = None


def server_of(url: str) -> SmtpServer:
    """RISKOPS_SMTP_URL read; a ValueError says what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(
            "RISKOPS_SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465"
        )
    tls = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname,
        port=parts.port or (465 if tls else 25),
        tls=tls,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def link_of(message: OutboxMessage) -> str | None:
    """The link a message carries, opened (None when it has none, or no longer)."""
    payload = message.payload if isinstance(message.payload, dict) else {}
    sealed = payload.get("link_sealed")
    return sealing.unseal(LINK_SEAL, sealed) if isinstance(sealed, str) and sealed else None


def opened(message: OutboxMessage) -> OutboxMessage:
    """A copy of a link message whose payload holds the link itself (for a webhook body)."""
    if message.kind not in LINK_KINDS:
        return message
    payload = {k: v for k, v in (message.payload or {}).items() if k != "link_sealed"}
    payload["link"] = link_of(message)
    copy = OutboxMessage(**{f: getattr(message, f) for f in message._meta.db_fields})
    copy.payload = payload
    return copy


def scrubbed(message: OutboxMessage) -> dict[str, Any] | None:
    """The payload to keep once the message is settled for good: without the sealed link."""
    if message.kind not in LINK_KINDS or not isinstance(message.payload, dict):
        return None
    return {**message.payload, "link_sealed": None}


def compose(message: OutboxMessage, settings: Settings) -> EmailMessage:
    p = message.payload if isinstance(message.payload, dict) else {}
    purpose, org, name = str(p.get("purpose")), str(p.get("organization") or ""), p.get("name")
    link = link_of(message)
    if link is None:
        raise ValueError("the message no longer holds its link")
    expires = when(datetime.fromisoformat(str(p["expires_at"]))) if p.get("expires_at") else "?"
    if purpose == "invitation":
        lead = f"You have been invited to {org} on riskops. Choose your password here to sign in:"
    else:
        lead = (
            f"A password reset was asked for your riskops account at {org}. Choose a new "
            "password here:"
        )
    mail = EmailMessage()
    mail["Subject"] = SUBJECTS.get(purpose, "riskops ({org})").format(org=org)
    mail["From"] = settings.mail_from
    mail["To"] = f"{name} <{p.get('to')}>" if name else str(p.get("to"))
    mail["Message-ID"] = make_msgid(idstring=f"riskops-{message.id}")
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(
        f"Hello {name or ''},\n\n{lead}\n\n{link}\n\n"
        f"The link works once and until {expires}. If you did not expect this message, ignore "
        "it: nothing changes until the link is used.\n\n-- riskops\n"
    )
    return mail


def _send(server: SmtpServer, mail: EmailMessage, timeout: float = TIMEOUT_SECONDS) -> None:
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if server.tls:
        smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=timeout)
    with smtp:
        smtp.ehlo()
        if not server.tls and server.starttls is not False:
            if smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            elif server.starttls:
                raise smtplib.SMTPNotSupportedError(
                    "the mail server does not offer STARTTLS; turn STARTTLS off or use another port"
                )
        if server.user:
            smtp.login(server.user, server.password or "")
        smtp.send_message(mail, from_addr=parseaddr(str(mail["From"]))[1])


async def send(message: OutboxMessage, settings: Settings) -> Outcome:
    """Send one `email` message; never raises for a mail failure (it is an outcome): a 5xx
    answer or a refused recipient is permanent, a 4xx or a network failure is retried."""
    if not settings.smtp_url:
        return Outcome(False, permanent=True, error="no mail server configured: set "
                       "RISKOPS_SMTP_URL (messages written meanwhile are not resent)")  # fmt: skip
    try:
        server = server_of(settings.smtp_url)
        mail = compose(message, settings)
    except (ValueError, sealing.Unsealable) as exc:
        return Outcome(False, permanent=True, error=str(exc)[:500])
    return await deliver(server, mail)


async def deliver(server: SmtpServer, mail: EmailMessage, seconds: float | None = None) -> Outcome:
    """Send one composed mail through `server` (in a thread); never raises for a mail failure:
    a 5xx answer or a refused recipient is permanent, a 4xx or a network failure is retried.
    Shared by the one-time links and the organizations' e-mail channels."""
    try:
        await asyncio.to_thread(_send, server, mail, seconds or TIMEOUT_SECONDS)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        permanent = all(code >= 500 for code in codes)
        return Outcome(False, permanent=permanent, error=f"recipient refused ({codes})")
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        return Outcome(
            False, permanent=exc.smtp_code >= 500,
            error=" ".join(f"mail server answered {exc.smtp_code}: {text}".split())[:500],
        )  # fmt: skip
    except smtplib.SMTPNotSupportedError as exc:
        return Outcome(False, permanent=True, error=str(exc)[:500])
    except ConnectionRefusedError:
        return Outcome(
            False,
            error=f"could not reach the mail server: connection refused by "
            f"{server.host}:{server.port}",
        )
    except (OSError, smtplib.SMTPException) as exc:
        return Outcome(False, error=f"could not reach the mail server: {type(exc).__name__}: "
                       f"{exc}"[:500])  # fmt: skip
    return Outcome(True)
