"""Invitation and reset links by mail (issue 14): the outbox's `email` channel, delivered by the
outbox job to a real SMTP server on loopback (aiosmtpd). The link is sealed in the outbox and
opened only at delivery, then dropped; a refused recipient fails for good, an unreachable or busy
server is retried; without a mail server an admin's link goes to the `review` webhook, and a
self-service reset never does."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from riskops.server.identity import links
from riskops.server.identity.auth import ClientInfo
from riskops.server.notify.delivery import deliver_due
from riskops.server.notify.models import OutboxMessage, OutboxStatus
from riskops.server.settings import Settings, WebhookTarget, get_settings, use_settings
from tests.support import smtp_server, webhook_server
from tests.support.smtp_server import MailServer, free_port
from tests.support.webhook_server import WebhookServer

CLIENT = ClientInfo(ip="192.0.2.40")


@pytest.fixture
def mailbox() -> Iterator[MailServer]:
    yield from smtp_server.serving()


@pytest.fixture
def hooks() -> Iterator[WebhookServer]:
    yield from webhook_server.serving()


@pytest.fixture
def configure(db: Any) -> Iterator[Any]:
    """Install settings changed for one test (what the services read), restored after."""
    original = get_settings()

    def apply(**update: Any) -> Settings:
        update = {"base_url": "https://riskops.example", "host": "127.0.0.1", "port": 8000,
                  **update}  # fmt: skip
        settings = original.model_copy(update=update)
        return use_settings(settings)

    yield apply
    use_settings(original)


def address(tenant: Any, who: str = "mia") -> str:
    return f"{who}-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"


async def settled(org_id: int, kind: str, *, attempts: int = 1) -> OutboxMessage:
    """The org's message of `kind`, once the outbox job (started by the service's kick) has
    made `attempts` attempts and settled it (sent, failed, or pending again with an error)."""
    for _ in range(200):
        msg = await OutboxMessage.filter(org_id=org_id, kind=kind).order_by("-id").first()
        if (
            msg is not None
            and msg.attempts >= attempts
            and (msg.status != OutboxStatus.PENDING or msg.last_error)
        ):
            return msg
        await asyncio.sleep(0.05)
    raise AssertionError(f"no settled {kind} message")


async def test_an_invitation_is_mailed_and_the_outbox_keeps_no_link(
    tenant, configure, mailbox: MailServer
) -> None:
    configure(smtp_url=mailbox.url, mail_from="riskops <robot@riskops.example>")
    to = address(tenant)
    created = await links.create_user(tenant.admin, email=to, name="Mia Mail", roles=["viewer"])
    issued = created.invitation
    assert issued is not None and issued.delivered_by == "email"
    token = issued.url.rsplit("/", 1)[1]
    assert issued.url == f"https://riskops.example/invite/{token}"
    [written] = await OutboxMessage.filter(org_id=tenant.org_id, kind="identity.invitation")
    assert written.channel == "email"
    assert token not in json.dumps(written.payload) and written.payload["link_sealed"]

    msg = await settled(tenant.org_id, "identity.invitation")
    assert msg.status == OutboxStatus.SENT, msg.last_error
    assert msg.payload["link_sealed"] is None and msg.payload["to"] == to  # the link is dropped
    [mail] = mailbox.to(to)
    assert mail["From"] == "riskops <robot@riskops.example>"
    assert mail["To"] == f"Mia Mail <{to}>"
    assert mail["Subject"] == f"You are invited to riskops (Tenant {tenant.slug})"
    body = mail.get_content()
    assert issued.url in body and "works once" in body
    assert mailbox.envelopes[-1] == ("robot@riskops.example", [to])


async def test_a_self_service_reset_is_mailed(tenant, db, configure, mailbox: MailServer) -> None:
    settings = configure(smtp_url=mailbox.url)
    user, _ = await tenant.user("viewer")
    await links.forgot_password(settings, user.email, CLIENT)
    msg = await settled(tenant.org_id, "identity.password_reset")
    assert msg.status == OutboxStatus.SENT, msg.last_error
    [mail] = mailbox.to(user.email)
    assert mail["Subject"].startswith("Reset your riskops password")
    url = next(w for w in mail.get_content().split() if "/reset-password/" in w)
    assert (await links.link_info(url.rsplit("/", 1)[1])).email == user.email


async def test_a_refused_recipient_fails_for_good(tenant, configure, mailbox: MailServer) -> None:
    configure(smtp_url=mailbox.url)
    to = address(tenant, "bounce")
    await links.create_user(tenant.admin, email=to, name="Bo Bounce", roles=["viewer"])
    msg = await settled(tenant.org_id, "identity.invitation")
    assert msg.status == OutboxStatus.FAILED and "550" in (msg.last_error or "")
    assert msg.payload["link_sealed"] is None
    assert mailbox.to(to) == []


async def test_a_busy_or_unreachable_server_is_tried_again(
    tenant, configure, mailbox: MailServer
) -> None:
    configure(smtp_url=mailbox.url)
    await links.create_user(tenant.admin, email=address(tenant, "busy"), name="Bea Busy",
                            roles=["viewer"])  # fmt: skip
    busy = await settled(tenant.org_id, "identity.invitation")
    assert busy.status == OutboxStatus.PENDING and "451" in (busy.last_error or "")
    assert busy.payload["link_sealed"]  # kept for the next attempt

    configure(smtp_url=f"smtp://127.0.0.1:{free_port()}")  # nobody listens there
    await links.create_user(tenant.admin, email=address(tenant, "late"), name="Lu Late",
                            roles=["viewer"])  # fmt: skip
    late = await OutboxMessage.filter(org_id=tenant.org_id).order_by("-id").first()
    assert late is not None
    for _ in range(200):
        late = await OutboxMessage.get(id=late.id)
        if late.last_error:
            break
        await asyncio.sleep(0.05)
    assert late.status == OutboxStatus.PENDING
    assert "could not reach the mail server" in (late.last_error or "")


async def test_without_mail_an_admins_link_goes_to_the_review_webhook(
    tenant, db, configure, hooks: WebhookServer
) -> None:
    settings = configure(
        smtp_url=None,
        webhooks={"review": WebhookTarget(url=hooks.url("/review"), format="generic")},
    )
    to = address(tenant)
    created = await links.create_user(tenant.admin, email=to, name="Wes Webhook", roles=["viewer"])
    assert created.invitation is not None and created.invitation.delivered_by == "webhook"
    await deliver_due(org_id=tenant.org_id, settings=settings)
    msg = await settled(tenant.org_id, "identity.invitation")
    assert msg.status == OutboxStatus.SENT and msg.payload["link_sealed"] is None
    [request] = [r for r in hooks.requests if to in r.body.decode()]
    body = request.json()
    assert body["kind"] == "identity.invitation"
    assert body["payload"]["link"] == created.invitation.url
    assert "link_sealed" not in body["payload"]

    # A self-service reset is never posted to a shared channel: it goes by mail or not at all.
    user, _ = await tenant.user("viewer")
    await links.forgot_password(settings, user.email, CLIENT)
    assert not await OutboxMessage.filter(org_id=tenant.org_id,
                                          kind="identity.password_reset").exists()  # fmt: skip


async def test_a_forged_host_header_never_reaches_a_mailed_link(
    tenant, browser, configure, mailbox: MailServer
) -> None:
    """Password-reset poisoning: the self-service link points at RISKOPS_BASE_URL (else the
    address riskops serves on), whatever Host the request named."""
    user, _ = await tenant.user("viewer")
    for base, expected in (("https://riskops.example", "https://riskops.example/reset-password/"),
                           ("", "http://127.0.0.1:8000/reset-password/")):  # fmt: skip
        configure(smtp_url=mailbox.url, base_url=base)
        b = await browser()
        await b.get("/forgot-password")
        r = await b.post("/forgot-password", {"email": user.email},
                         headers={"Host": "evil.example"})  # fmt: skip
        assert r.status_code == 200
        for _ in range(200):
            if len(mailbox.to(user.email)) == (1 if base else 2):
                break
            await asyncio.sleep(0.05)
        link = next(w for w in mailbox.to(user.email)[-1].get_content().split() if "/reset" in w)
        assert link.startswith(expected) and "evil" not in link
