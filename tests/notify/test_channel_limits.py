"""The limits of notification channels (issue 16), on SQLite and PostgreSQL, through the service
and through each face that has a path of its own: at most 50 channels per organization, a secret
too long or with control characters, an SMTP host that is no host name, a delivery log page of
more than 100 and an `after` that is not a cursor of the list. Each refusal says what is wrong
and changes nothing."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from riskops.audit.models import AuditEvent
from riskops.server.core.errors import Invalid
from riskops.server.notify import channels, outbox
from riskops.server.notify.channels import ChannelInput
from riskops.server.notify.models import NotificationChannel
from riskops.server.notify.outbox import Channel

HOOK = "https://hooks.example/x"
CREATE = """mutation($kind: NotificationChannelKind!, $input: NotificationChannelInput!) {
  createNotificationChannel(kind: $kind, input: $input) { channel { id }
    errors { code field message } } }"""
LOG = """query($id: ID!, $first: Int!, $after: String) { notificationChannel(id: $id) {
  deliveries(first: $first, after: $after) { edges { cursor } pageInfo { hasNextPage } } } }"""


async def state(org_id: int) -> Any:
    rows = await NotificationChannel.filter(org_id=org_id).order_by("id").values()
    events = await AuditEvent.filter(org_id=org_id, action__startswith="channel.").count()
    return rows, events


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def test_fifty_channels_at_most(api, tenant, other_tenant) -> None:
    for i in range(channels.MAX_CHANNELS):
        await channels.create_channel(tenant.admin, "slack", ChannelInput(name=f"c{i}", url=HOOK))
    before = await state(tenant.org_id)
    full = "Your organization has 50 channels, the most it may have; remove one first."
    with pytest.raises(Invalid) as err:
        await channels.create_channel(tenant.admin, "slack", ChannelInput(name="one more",
                                                                          url=HOOK))  # fmt: skip
    assert err.value.message == full and err.value.field == "name"
    token = str(await api.token(tenant, tenant.admin_user))
    body = await api.data(token, CREATE, {"kind": "SLACK", "input": {"name": "one more",
                                                                     "url": HOOK}})  # fmt: skip
    payload = body["createNotificationChannel"]
    assert payload["channel"] is None
    assert payload["errors"] == [{"code": "INVALID", "field": "name", "message": full}]
    assert await state(tenant.org_id) == before
    # Another organization has its own 50; a removed channel frees a place.
    await channels.create_channel(other_tenant.admin, "slack", ChannelInput(name="c", url=HOOK))
    first = await NotificationChannel.get(org_id=tenant.org_id, name="c0")
    await channels.remove_channel(tenant.admin, first.id, expected_version=1)
    await channels.create_channel(tenant.admin, "slack", ChannelInput(name="one more", url=HOOK))


async def busy() -> None:
    async with in_transaction() as conn:
        await conn.execute_query("SELECT 1")
        await asyncio.sleep(0.05)


@pytest.mark.postgres_only  # SQLite has one writer: the race cannot happen there
async def test_two_creates_at_once_at_49_give_one_refusal(tenant) -> None:
    """The count and the insert are one step per organization: two admins creating the 50th
    channel at the same moment get one channel and one refusal, never 51."""
    for i in range(channels.MAX_CHANNELS - 1):
        await channels.create_channel(tenant.admin, "slack", ChannelInput(name=f"c{i}", url=HOOK))
    await asyncio.gather(busy(), busy())  # two pooled connections ready: the creates overlap
    results = await asyncio.gather(
        *(channels.create_channel(tenant.admin, "slack", ChannelInput(name=f"last {i}", url=HOOK))
          for i in range(2)),
        return_exceptions=True,
    )  # fmt: skip
    refused = [r for r in results if isinstance(r, Invalid)]
    assert len(refused) == 1, results
    assert refused[0].message.startswith("Your organization has 50 channels")
    assert await NotificationChannel.filter(org_id=tenant.org_id).count() == channels.MAX_CHANNELS


BAD_SECRETS = [
    # Each kind's secret is named as its form labels it.
    ("webhook", "s" * 501, "Signing secret is 501 characters long; the limit is 500."),
    ("webhook", "abc\x01def", "Signing secret contains control characters; remove them."),
    ("email", "pass\r\nword", "Password contains control characters; remove them."),
    ("email", "p" * 501, "Password is 501 characters long; the limit is 500."),
    ("pagerduty", "k" * 501, "Routing key is 501 characters long; the limit is 500."),
    ("pagerduty", "key\x1b", "Routing key contains control characters; remove them."),
    # DEL and the C1 controls too, like the C0 ones.
    ("webhook", "abc\x7fdef", "Signing secret contains control characters; remove them."),
    ("webhook", "abc\x80def", "Signing secret contains control characters; remove them."),
    ("email", "pass\x85word", "Password contains control characters; remove them."),
    ("pagerduty", "key\x9f", "Routing key contains control characters; remove them."),
    ("webhook", "abc\ud800", "Signing secret contains a lone UTF-16 surrogate, which is not "
     "text; send valid Unicode."),
]  # fmt: skip


def settings_of(kind: str, secret: str | None) -> ChannelInput:
    if kind == "email":
        return ChannelInput(name="chan", smtp_host="smtp.example.com", mail_from="a@b.example",
                            recipients=["c@d.example"], secret=secret)  # fmt: skip
    if kind == "pagerduty":
        return ChannelInput(name="chan", secret=secret or "k" * 32)
    return ChannelInput(name="chan", url=HOOK, secret=secret)


@pytest.mark.parametrize(("kind", "secret", "says"), BAD_SECRETS)
async def test_bad_secrets_change_nothing(tenant, kind, secret, says) -> None:
    kept = await channels.create_channel(tenant.admin, kind, settings_of(kind, "first1secret"))
    before = await state(tenant.org_id)
    with pytest.raises(Invalid) as err:
        await channels.create_channel(tenant.admin, kind, settings_of(kind, secret))
    assert (err.value.field, err.value.message) == ("secret", says)
    with pytest.raises(Invalid) as err:
        await channels.update_channel(tenant.admin, kept.id, settings_of(kind, secret),
                                      expected_version=1)  # fmt: skip
    assert (err.value.field, err.value.message) == ("secret", says)
    assert await state(tenant.org_id) == before  # the stored secret too


def test_del_and_every_c1_control_is_refused_in_a_secret() -> None:
    for code in [0x7F, *range(0x80, 0xA0)]:
        data = settings_of("webhook", f"sec{chr(code)}ret")
        with pytest.raises(Invalid) as err:
            channels.checked(channels.ChannelKind.WEBHOOK, data, has_secret=False)
        says = "Signing secret contains control characters; remove them."
        assert (err.value.field, err.value.message) == ("secret", says), hex(code)
    for fine in ("sec\xa0ret", "sécret", "秘密"):  # no-break space and letters are text
        _, secret = channels.checked(channels.ChannelKind.WEBHOOK, settings_of("webhook", fine),
                                     has_secret=False)  # fmt: skip
        assert secret == fine


FACES = [
    ("webhook", {"url": HOOK}, "Signing secret"),
    ("pagerduty", {}, "Routing key"),
    ("email", {"smtp_host": "smtp.example.com", "mail_from": "a@b.example",
               "recipients": "c@d.example"}, "Password"),
]  # fmt: skip
API_FIELDS = {"smtp_host": "smtpHost", "mail_from": "mailFrom"}


@pytest.mark.parametrize(("kind", "form", "labelled"), FACES)
async def test_both_faces_name_the_secret_as_its_form_labels_it(api, browser, tenant, kind, form,
                                                                  labelled) -> None:  # fmt: skip
    says = f"{labelled} is 501 characters long; the limit is 500."
    b = await browser(tenant.admin_user, tenant.password)
    page = await b.get(f"/admin/channels/new?kind={kind}")
    assert f"<span>{labelled} <span" in page.text  # the label the message uses
    r = await b.post("/admin/channels", {"kind": kind, "name": "x", "secret": "s" * 501, **form})
    assert r.status_code == 422 and 'id="secret-error"' in r.text and says in r.text
    given = {API_FIELDS.get(k, k): [v] if k == "recipients" else v for k, v in form.items()}
    token = str(await api.token(tenant, tenant.admin_user))
    body = await api.data(token, CREATE, {"kind": kind.upper(), "input": {
        "name": "x", "secret": "s" * 501, **given}})  # fmt: skip
    payload = body["createNotificationChannel"]
    assert payload["errors"] == [{"code": "INVALID", "field": "secret", "message": says}]
    assert await NotificationChannel.filter(org_id=tenant.org_id).count() == 0


BAD_HOSTS = [
    ("smtp example.com", "SMTP host: 'smtp example.com' is not a host name (like "
     "smtp.example.com)."),
    ("smtp.example.com:25", "SMTP host: 'smtp.example.com:25' is not a host name (like "
     "smtp.example.com)."),
    ("-smtp.example.com", "SMTP host: '-smtp.example.com' is not a host name (like "
     "smtp.example.com)."),
    ("smtp://mail.example", "SMTP host: 'smtp://mail.example' is not a host name (like "
     "smtp.example.com)."),
    ("", "SMTP host is required."),
    ("h" * 254, "SMTP host is 254 characters long; the limit is 253."),
]  # fmt: skip


@pytest.mark.parametrize(("host", "says"), BAD_HOSTS)
async def test_bad_smtp_hosts_change_nothing(tenant, host, says) -> None:
    before = await state(tenant.org_id)
    data = ChannelInput(name="mail", smtp_host=host, mail_from="a@b.example",
                        recipients=["c@d.example"])  # fmt: skip
    with pytest.raises(Invalid) as err:
        await channels.create_channel(tenant.admin, "email", data)
    assert (err.value.field, err.value.message) == ("smtpHost", says)
    assert await state(tenant.org_id) == before


async def test_smtp_port_as_typed_or_given() -> None:
    def port(raw: Any) -> int:
        data = ChannelInput(name="m", smtp_host="smtp.example.com", smtp_port=raw,
                            mail_from="a@b.example", recipients=["c@d.example"])  # fmt: skip
        values, _ = channels.checked(channels.ChannelKind.EMAIL, data, has_secret=False)
        return int(values["config"]["port"])

    assert [port(None), port(""), port(" 2525 "), port(25), port("65535")] == [
        587, 587, 2525, 25, 65535,
    ]  # fmt: skip
    for bad in ("0", "65536", "25.0", "²", "-1", True, 0, 70000):
        with pytest.raises(Invalid) as err:
            port(bad)
        assert err.value.message == "SMTP port: a number from 1 to 65535 (587, 25)."


NOT_CURSORS = ["garbage!", cursor("x:5"), cursor("d:abc"), cursor("d:" + "9" * 30),
               cursor("d:-5"), "é"]  # fmt: skip


async def test_delivery_log_pages_and_cursors(api, browser, tenant) -> None:
    chat = await channels.create_channel(
        tenant.admin, "slack", ChannelInput(name="c", url=HOOK, events=["critical"])
    )
    async with in_transaction() as conn:
        for i in range(3):
            await outbox.add(conn, tenant.org_id, Channel.CRITICAL, "run.sev0", {"run_id": i},
                             suppressed=False, now=datetime.now(UTC))  # fmt: skip
    token = str(await api.token(tenant, tenant.admin_user))
    assert len((await channels.deliveries(tenant.admin, chat.id, first=100)).items) == 3
    for first in (101, 0, -1):
        with pytest.raises(Invalid) as err:
            await channels.deliveries(tenant.admin, chat.id, first=first)
        assert (err.value.field, err.value.message) == ("first", "first must be between 1 and 100.")
        body = await api.gql(token, LOG, {"id": str(chat.id), "first": first})
        [error] = body["errors"]
        assert error["extensions"]["code"] == "INVALID"
        assert error["message"] == "first must be between 1 and 100."
    b = await browser(tenant.admin_user, tenant.password)
    says = "after is not a cursor of this list; start from the first page."
    for after in NOT_CURSORS:
        with pytest.raises(Invalid) as err:
            await channels.deliveries(tenant.admin, chat.id, after=after)
        assert (err.value.field, err.value.message) == ("after", says)
        body = await api.gql(token, LOG, {"id": str(chat.id), "first": 5, "after": after})
        [error] = body["errors"]
        assert error["extensions"]["code"] == "INVALID" and error["message"] == says
        page = await b.get(f"/admin/channels/{chat.id}", params={"after": after})
        assert page.status_code == 200 and says in page.text and "c" in page.text
