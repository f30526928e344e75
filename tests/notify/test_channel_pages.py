"""The admin's notification channel pages (issue 16), on SQLite and PostgreSQL: the list, a new
channel of each kind, editing with the secret kept, send test against the loopback PagerDuty
receiver, the delivery log, removal, bad input shown under its field with nothing changed, wrong
roles and another organization's channel answering like a missing one, and no secret ever in the
HTML."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from riskops.server.notify import channels, outbox
from riskops.server.notify.channels import ChannelInput
from riskops.server.notify.models import NotificationChannel
from riskops.server.notify.outbox import Channel, PagerAction
from tests.support.pagerduty_server import PagerDutyServer, routing_key
from tests.support.pagerduty_server import serving as pd_serving
from tests.support.pages import flash_code


@pytest.fixture
def pd() -> Iterator[PagerDutyServer]:
    yield from pd_serving()


async def admin(browser: Any, tenant: Any) -> Any:
    return await browser(tenant.admin_user, tenant.password)


async def test_create_edit_test_and_remove_a_pagerduty_channel(browser, tenant, pd) -> None:
    b = await admin(browser, tenant)
    home = await b.get("/")
    assert 'href="/admin/channels"' in home.text
    empty = await b.get("/admin/channels")
    assert empty.status_code == 200 and "No channels yet" in empty.text
    chooser = await b.get("/admin/channels/new")
    assert "Choose what kind of channel to add." in chooser.text
    form = await b.get("/admin/channels/new?kind=pagerduty")
    assert 'name="events_url"' in form.text and "Routing key" in form.text
    key = routing_key()
    made = await b.post("/admin/channels", {
        "kind": "pagerduty", "name": "PD on call", "secret": key, "events_url": pd.url,
        "events": ["critical", "escalation"], "enabled": "on",
    })  # fmt: skip
    assert made.status_code == 303 and flash_code(made) == "channel.created"
    page = await b.get(made.headers["location"])
    assert page.status_code == 200 and key not in page.text
    assert "set; enter a new one to replace it" in page.text
    channel = await NotificationChannel.get(org_id=tenant.org_id)
    # Send test: the receiver's answer on the page, kept as the last test.
    tested = await b.post(f"/admin/channels/{channel.id}/test")
    assert tested.status_code == 200 and "Test sent: 202 accepted." in tested.text
    pd.mode = "bad"
    failed = await b.post(f"/admin/channels/{channel.id}/test")
    assert "Test failed: 400: Event object is invalid; Invalid routing key." in failed.text
    listed = await b.get("/admin/channels")
    assert "PD on call" in listed.text and "400: Event object is invalid" in listed.text
    pd.mode = "ok"
    # The delivery log: what was sent, with its action.
    async with in_transaction() as conn:
        await outbox.add(conn, tenant.org_id, Channel.CRITICAL, "run.sev0",
                         {"severity": "SEV0", "run_id": "r-77", "scenario": "S"},
                         suppressed=False, now=datetime.now(UTC), dedup_key="riskops-run-77",
                         action=PagerAction.TRIGGER)  # fmt: skip
    log = await b.get(f"/admin/channels/{channel.id}")
    assert "run.sev0" in log.text and "trigger" in log.text and "r-77" in log.text
    assert "pending" in log.text
    reader, _ = await tenant.user("operator")
    outbox_page = await (await browser(reader, tenant.password)).get("/notifications")
    assert "PD on call" in outbox_page.text  # the destination by name, not #ops-critical
    # Editing without a secret keeps it.
    saved = await b.post(f"/admin/channels/{channel.id}", {
        "name": "PD primary", "events": ["escalation"], "enabled": "on", "events_url": pd.url,
        "version": "1",
    })  # fmt: skip
    assert saved.status_code == 303 and flash_code(saved) == "channel.saved"
    after = await NotificationChannel.get(id=channel.id)
    assert after.secret_sealed == channel.secret_sealed and after.events == ["escalation"]
    # A stale form changes nothing and says so.
    stale = await b.post(f"/admin/channels/{channel.id}", {
        "name": "PD stale", "events": ["critical"], "version": "1", "events_url": pd.url,
    })  # fmt: skip
    assert stale.status_code == 409 and "changed by someone else" in stale.text
    assert (await NotificationChannel.get(id=channel.id)).name == "PD primary"
    gone = await b.post(f"/admin/channels/{channel.id}/remove", {"version": "2"})
    assert gone.status_code == 303 and flash_code(gone) == "channel.removed"
    kept = await b.get(f"/admin/channels/{channel.id}")
    assert kept.status_code == 200 and "removed" in kept.text and "run.sev0" in kept.text
    assert "Send test" not in kept.text


async def test_email_and_webhook_forms(browser, tenant) -> None:
    b = await admin(browser, tenant)
    await b.get("/admin/channels/new?kind=email")
    made = await b.post("/admin/channels", {
        "kind": "email", "name": "oncall mail", "smtp_host": "smtp.example.test",
        "smtp_port": "2525", "starttls": "on", "smtp_username": "riskops",
        "secret": "smtp-password-xyz", "mail_from": "riskops@example.test",
        "recipients": "a@example.test\nb@example.test", "events": ["review"], "enabled": "on",
    })  # fmt: skip
    assert made.status_code == 303
    page = await b.get(made.headers["location"])
    assert "smtp-password-xyz" not in page.text and "a@example.test" in page.text
    mail = await NotificationChannel.get(org_id=tenant.org_id, name="oncall mail")
    assert mail.config["recipients"] == ["a@example.test", "b@example.test"]
    await b.get("/admin/channels/new?kind=webhook")
    hook = await b.post("/admin/channels", {
        "kind": "webhook", "name": "siem", "url": "https://siem.example.test/in",
        "secret": "hook-secret-abc", "events": ["critical"],
    })  # fmt: skip
    assert hook.status_code == 303
    listed = await b.get("/admin/channels")
    assert "hook-secret-abc" not in listed.text and "disabled" in listed.text  # not ticked


BAD_FORMS = [
    ({"kind": "slack", "name": "x", "url": "ftp://nope"}, "url", "http:// or https://"),
    ({"kind": "pagerduty", "name": "x", "secret": "bad key!"}, "secret", "letters and digits"),
    ({"kind": "email", "name": "x", "smtp_host": "h.example", "smtp_port": "port",
      "mail_from": "a@b.example", "recipients": "c@d.example"}, "smtp_port", "1 to 65535"),
    ({"kind": "email", "name": "x", "smtp_host": "h.example", "smtp_port": "²",
      "mail_from": "a@b.example", "recipients": "c@d.example"}, "smtp_port",
     "SMTP port: a number from 1 to 65535 (587, 25)."),  # a digit to str.isdigit, not to int
    ({"kind": "email", "name": "x", "smtp_host": "h.example", "smtp_port": "65536",
      "mail_from": "a@b.example", "recipients": "c@d.example"}, "smtp_port", "1 to 65535"),
    ({"kind": "email", "name": "x", "smtp_host": "h.example", "mail_from": "a@b.example",
      "recipients": "not an address"}, "recipients", "not an e-mail address"),
    ({"kind": "slack", "name": "", "url": "https://h.example/"}, "name", "required"),
]  # fmt: skip


@pytest.mark.parametrize(("form", "field", "says"), BAD_FORMS)
async def test_bad_forms_show_the_error_under_the_field(browser, tenant, form, field, says) -> None:
    b = await admin(browser, tenant)
    await b.get(f"/admin/channels/new?kind={form['kind']}")
    r = await b.post("/admin/channels", form)
    assert r.status_code == 422 and f'id="{field}-error"' in r.text and says in r.text
    assert "bad key!" not in r.text  # a typed secret is not shown back
    assert await NotificationChannel.filter(org_id=tenant.org_id).count() == 0


async def test_wrong_role_and_foreign_channel(browser, tenant, other_tenant) -> None:
    theirs = await channels.create_channel(
        other_tenant.admin, "slack", ChannelInput(name="theirs", url="https://t.example/")
    )
    mine = await channels.create_channel(
        tenant.admin, "slack", ChannelInput(name="mine", url="https://m.example/")
    )
    b = await admin(browser, tenant)
    missing = await b.get("/admin/channels/2000000000")
    foreign = await b.get(f"/admin/channels/{theirs.id}")
    assert missing.status_code == foreign.status_code == 404
    assert "theirs" not in foreign.text
    for path in ("", "/test", "/remove"):
        r = await b.post(f"/admin/channels/{theirs.id}{path}", {"version": "1", "name": "x"})
        assert r.status_code == 404
    assert (await NotificationChannel.get(id=theirs.id)).name == "theirs"
    user, _ = await tenant.user("operator")
    op = await browser(user, tenant.password)
    assert 'href="/admin/channels"' not in (await op.get("/")).text
    assert (await op.get("/admin/channels")).status_code == 403
    assert (await op.get(f"/admin/channels/{mine.id}")).status_code == 403
    r = await op.post(f"/admin/channels/{mine.id}/remove", {"version": "1"})
    assert r.status_code == 403 and (await NotificationChannel.get(id=mine.id)).archived_at is None
