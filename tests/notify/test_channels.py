"""Notification channels per organization (issue 16), on SQLite and PostgreSQL, against real
receivers on 127.0.0.1: routing fan-out and the installation default, PagerDuty trigger /
acknowledge / resolve kept in step through the dedup_key (the loopback Events API v2 receiver),
400 and 429, the e-mail channel through aiosmtpd, suppression per destination, send test, the
delivery log, secrets sealed, and the service's bad-input table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from riskops.audit.models import AuditEvent
from riskops.server.core import sealing
from riskops.server.core.errors import Conflict, Duplicate, Forbidden, Invalid, NotFound
from riskops.server.credit import kill_switches
from riskops.server.notify import channels, outbox, routing
from riskops.server.notify.channels import ChannelInput
from riskops.server.notify.delivery import deliver_due
from riskops.server.notify.models import NotificationChannel, OutboxMessage, OutboxStatus
from riskops.server.notify.outbox import Channel, PagerAction
from riskops.server.settings import Settings, WebhookTarget, get_settings
from tests.support.pagerduty_server import PagerDutyServer, routing_key
from tests.support.pagerduty_server import serving as pd_serving
from tests.support.smtp_server import MailServer
from tests.support.smtp_server import serving as mail_serving
from tests.support.webhook_server import WebhookServer, serving

SEV0 = {"run_id": "r-1", "run_pk": 1, "scenario": "S", "severity": "SEV0", "multiplier": 12.0}


@pytest.fixture
def hooks() -> Iterator[WebhookServer]:
    yield from serving()


@pytest.fixture
def pd() -> Iterator[PagerDutyServer]:
    yield from pd_serving()


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    yield from mail_serving()


def settings_with(hooks: WebhookServer | None = None) -> Settings:
    targets = (
        {ch: WebhookTarget(url=hooks.url(f"/default-{ch}")) for ch in
         ("critical", "alerts", "review", "escalation")}
        if hooks else {}
    )  # fmt: skip
    return get_settings().model_copy(update={"webhooks": targets, "base_url": ""})


async def slack(tenant: Any, hooks: WebhookServer, name: str, events: list[str], **kw: Any):
    return await channels.create_channel(
        tenant.admin, "slack",
        ChannelInput(name=name, events=events, url=hooks.url(f"/{name}"), **kw),
    )  # fmt: skip


async def pager(tenant: Any, pd: PagerDutyServer, name: str, events: list[str], key: str = ""):
    return await channels.create_channel(
        tenant.admin, "pagerduty",
        ChannelInput(name=name, events=events, secret=key or routing_key(), events_url=pd.url),
    )  # fmt: skip


async def write(
    org_id: int, channel: Channel = Channel.CRITICAL, kind: str = "run.sev0",
    payload: dict[str, Any] | None = None, *, key: str | None = None,
    action: PagerAction | None = None, suppressed: bool = False,
) -> OutboxMessage:  # fmt: skip
    async with in_transaction() as conn:
        return await outbox.add(
            conn, org_id, channel, kind, dict(payload or SEV0), suppressed=suppressed,
            now=datetime.now(UTC), dedup_key=key, action=action,
        )  # fmt: skip


async def rows(org_id: int) -> list[OutboxMessage]:
    return await OutboxMessage.filter(org_id=org_id).order_by("id")


async def deliver(org_id: int, settings: Settings | None = None, later: float = 0) -> Any:
    return await deliver_due(
        datetime.now(UTC) + timedelta(seconds=later), org_id=org_id,
        settings=settings or settings_with(),
    )  # fmt: skip


# ----------------------------------------------------------------------------- routing


def test_events_of_messages() -> None:
    assert routing.event_of("critical", "run.sev0") is routing.RoutedEvent.CRITICAL
    assert routing.event_of("review", "assistant.budget") is routing.RoutedEvent.ASSISTANT_BUDGET
    assert routing.event_of("review", "view.promotion_published").value == "view_promotion"
    assert routing.event_of("escalation", "response.escalated").value == "escalation"
    assert routing.event_of("email", "identity.invitation") is None
    assert routing.event_of("review", "identity.password_reset") is None  # a link, never routed


async def test_no_channels_keeps_the_installation_default(tenant, hooks) -> None:
    msg = await write(tenant.org_id)
    assert msg.destination_id is None and len(await rows(tenant.org_id)) == 1
    counts = await deliver(tenant.org_id, settings_with(hooks))
    assert counts.sent == 1 and [r.path for r in hooks.requests] == ["/default-critical"]


async def test_fan_out_one_row_per_routed_channel(tenant, other_tenant, hooks) -> None:
    a = await slack(tenant, hooks, "ops-a", ["critical", "alerts"])
    b = await channels.create_channel(
        tenant.admin, "webhook",
        ChannelInput(name="siem", events=["critical"], url=hooks.url("/siem"), secret="s3cret"),
    )  # fmt: skip
    await slack(tenant, hooks, "reviews", ["review"])
    await slack(tenant, hooks, "off", ["critical"], enabled=False)
    await slack(other_tenant, hooks, "theirs", ["critical"])
    first = await write(tenant.org_id)
    written = await rows(tenant.org_id)
    assert sorted(r.destination_id for r in written) == sorted([a.id, b.id])  # type: ignore[type-var]
    assert first.id == written[0].id
    # An event no channel is routed for goes to the installation default.
    await write(tenant.org_id, Channel.REVIEW, "assistant.budget", {"text": "80% spent"})
    assert (await rows(tenant.org_id))[-1].destination_id is None
    counts = await deliver(tenant.org_id, settings_with(hooks))
    assert counts.sent == 3
    paths = sorted(r.path for r in hooks.requests)
    assert paths == ["/default-review", "/ops-a", "/siem"]
    siem = next(r for r in hooks.requests if r.path == "/siem")
    assert siem.header(
        "x-riskops-signature",
    ).startswith("sha256=")  # type: ignore[union-attr]
    assert siem.json()["payload"]["severity"] == "SEV0"


async def test_bulk_writers_route_with_two_queries(tenant, hooks, monkeypatch) -> None:
    """50 rows routed with one read of the channels (and none of earlier triggers: no row
    acknowledges or resolves), then one bulk insert."""
    a = await slack(tenant, hooks, "esc", ["escalation"])
    reads: list[Any] = []
    now = datetime.now(UTC)
    built = [
        outbox.outbox_rows(
            tenant.org_id,
            Channel.ESCALATION,
            "response.escalated",
            {"text": f"item {i} late"},
            suppressed=False,
            now=now,
            dedup_key=f"k-{i}",
        )
        for i in range(50)
    ]
    with monkeypatch.context() as counting:
        for model in (routing.NotificationChannel, routing.OutboxMessage):

            def counted(*args: Any, _real: Any = model.filter, _name: str = model.__name__,
                        **kw: Any) -> Any:  # fmt: skip
                reads.append(_name)
                return _real(*args, **kw)

            counting.setattr(model, "filter", counted)
        async with in_transaction() as conn:
            written = await outbox.add_many(conn, built)
    assert reads == ["NotificationChannel"], reads  # one read, whatever the number of rows
    assert len(written) == 50 and {r.destination_id for r in written} == {a.id}
    assert await OutboxMessage.filter(org_id=tenant.org_id, destination_id=a.id).count() == 50


async def test_one_transaction_reads_the_channels_once(tenant, hooks, monkeypatch) -> None:
    await slack(tenant, hooks, "chat", ["critical"])
    reads: list[Any] = []
    real = routing.NotificationChannel.filter

    def counted(*args: Any, **kw: Any) -> Any:
        reads.append(kw)
        return real(*args, **kw)

    monkeypatch.setattr(routing.NotificationChannel, "filter", counted)
    async with in_transaction() as conn:
        for i in range(20):
            await outbox.add(conn, tenant.org_id, Channel.CRITICAL, "run.sev0",
                             {**SEV0, "run_id": f"r-{i}"}, suppressed=False,
                             now=datetime.now(UTC))  # fmt: skip
    assert len(reads) == 1
    assert (
        await OutboxMessage.filter(org_id=tenant.org_id, destination_id__isnull=False).count() == 20
    )
    async with in_transaction() as conn:  # the next transaction reads them again
        await outbox.add(conn, tenant.org_id, Channel.CRITICAL, "run.sev0", SEV0,
                         suppressed=False, now=datetime.now(UTC))  # fmt: skip
    assert len(reads) == 2


async def test_link_mails_are_never_routed(tenant, hooks) -> None:
    await slack(tenant, hooks, "everything", [e.value for e in routing.RoutedEvent])
    msg = await write(tenant.org_id, Channel.EMAIL, "identity.invitation", {"to": "a@b.c"})
    assert msg.destination_id is None


# ----------------------------------------------------------------------------- PagerDuty


async def test_pagerduty_trigger_ack_resolve_in_step(tenant, pd, hooks) -> None:
    page = await pager(tenant, pd, "pd", ["escalation"])
    chat = await slack(tenant, hooks, "chat", ["escalation"])
    key = f"riskops-{tenant.slug}-case-1"
    esc = {"text": "CASE-000001 is 20 min past its target", "severity": "SEV0"}
    await write(tenant.org_id, Channel.ESCALATION, "response.escalated", esc, key=key,
                action=PagerAction.TRIGGER)  # fmt: skip
    assert (await deliver(tenant.org_id)).sent == 2
    assert pd.state_of(key) == "triggered"
    incident = pd.incidents[key]
    assert incident.severity == "critical" and tenant.slug in pd.events[0]["payload"]["source"]
    await write(tenant.org_id, Channel.ESCALATION, "response.acknowledged",
                {"text": "CASE-000001 acknowledged", "acknowledged_by": "Ann Lee"}, key=key,
                action=PagerAction.ACKNOWLEDGE)  # fmt: skip
    await deliver(tenant.org_id)
    assert pd.state_of(key) == "acknowledged"
    ack = pd.events[-1]
    assert set(ack) == {"routing_key", "event_action", "dedup_key"}
    await write(tenant.org_id, Channel.ESCALATION, "response.resolved",
                {"text": "CASE-000001 resolved"}, key=key, action=PagerAction.RESOLVE)  # fmt: skip
    await deliver(tenant.org_id)
    assert pd.state_of(key) == "resolved" and pd.actions(key) == ["trigger", "acknowledge",
                                                                   "resolve"]  # fmt: skip
    # The chat channel got all three and says what happened.
    texts = [r.json()["text"] for r in hooks.requests if r.path == "/chat"]
    assert len(texts) == 3 and "Acknowledged by Ann Lee" in texts[1] and "Resolved" in texts[2]
    log = await channels.deliveries(tenant.admin, page.id)
    assert [m.status for m in log.items] == [OutboxStatus.SENT] * 3
    assert (await channels.deliveries(tenant.admin, chat.id)).items[0].kind == "response.resolved"


async def test_acknowledge_goes_only_where_a_trigger_went(tenant, pd) -> None:
    first = await pager(tenant, pd, "pd-one", ["escalation"])
    key = "riskops-case-2"
    await write(tenant.org_id, Channel.ESCALATION, "response.escalated", {"text": "late"},
                key=key, action=PagerAction.TRIGGER)  # fmt: skip
    later = await pager(tenant, pd, "pd-two", ["escalation"])  # added after the trigger
    await write(tenant.org_id, Channel.ESCALATION, "response.acknowledged", {"text": "ack"},
                key=key, action=PagerAction.ACKNOWLEDGE)  # fmt: skip
    ack_rows = await OutboxMessage.filter(org_id=tenant.org_id, kind="response.acknowledged")
    assert [r.destination_id for r in ack_rows] == [first.id]
    # An acknowledge of a key never triggered reaches no PagerDuty channel (the default takes it).
    await write(tenant.org_id, Channel.ESCALATION, "response.acknowledged", {"text": "ack"},
                key="never-triggered", action=PagerAction.ACKNOWLEDGE)  # fmt: skip
    orphan = await OutboxMessage.filter(org_id=tenant.org_id, dedup_key="never-triggered").get()
    assert orphan.destination_id is None
    # Without action: a trigger when it has a key, nothing for PagerDuty without one.
    await write(tenant.org_id, Channel.ESCALATION, "response.escalated", {"text": "x"}, key="k3")
    keyed = await OutboxMessage.filter(org_id=tenant.org_id, dedup_key="k3").order_by("id")
    assert sorted(r.destination_id for r in keyed) == [first.id, later.id]
    plain = await write(tenant.org_id, Channel.ESCALATION, "response.escalated", {"text": "y"})
    assert plain.destination_id is None


async def test_acknowledge_waits_for_its_pending_trigger(tenant, pd) -> None:
    await pager(tenant, pd, "pd", ["critical"])
    key = "riskops-run-9"
    await write(tenant.org_id, key=key, action=PagerAction.TRIGGER)
    await write(tenant.org_id, Channel.CRITICAL, "run.ack", {"text": "ack"},
                key=key, action=PagerAction.ACKNOWLEDGE)  # fmt: skip
    pd.script = ["fail"]  # the trigger fails once (500): retried later
    counts = await deliver(tenant.org_id)
    assert (counts.retrying, counts.waiting, counts.sent) == (1, 1, 0)
    assert pd.actions() == []
    counts = await deliver(tenant.org_id, later=3600)
    assert counts.sent == 2 and pd.actions(key) == ["trigger", "acknowledge"]
    assert pd.state_of(key) == "acknowledged"


async def test_pagerduty_400_fails_with_its_message_and_429_retries(tenant, pd) -> None:
    await pager(tenant, pd, "pd", ["critical"])
    pd.mode = "bad"
    await write(tenant.org_id, key="k-bad", action=PagerAction.TRIGGER)
    counts = await deliver(tenant.org_id)
    [row] = await rows(tenant.org_id)
    assert counts.failed == 1 and row.status is OutboxStatus.FAILED
    assert row.last_error == "400: Event object is invalid; Invalid routing key"
    pd.mode, pd.retry_after = "rate_limited", "90"
    await write(tenant.org_id, key="k-busy", action=PagerAction.TRIGGER)
    counts = await deliver(tenant.org_id)
    busy = (await rows(tenant.org_id))[-1]
    assert counts.retrying == 1 and busy.status is OutboxStatus.PENDING
    assert busy.last_error.startswith("429") and busy.attempts == 1
    assert busy.next_attempt_at - datetime.now(UTC) > timedelta(seconds=60)
    pd.mode = "ok"
    assert (await deliver(tenant.org_id, later=120)).sent == 1
    assert pd.state_of("k-busy") == "triggered"


# ----------------------------------------------------------------------------- e-mail, suppression


async def test_email_channel_through_smtp(tenant, smtp) -> None:
    box = await channels.create_channel(
        tenant.admin, "email",
        ChannelInput(name="oncall mail", events=["critical"], smtp_host="127.0.0.1",
                     smtp_port=smtp.port, starttls=False, mail_from="riskops@example.test",
                     recipients=["oncall@example.test", "lead@example.test"]),
    )  # fmt: skip
    await write(tenant.org_id)
    assert (await deliver(tenant.org_id)).sent == 1
    [mail] = smtp.messages
    assert "SEV0" in str(mail["Subject"]) and "oncall@example.test" in str(mail["To"])
    assert smtp.envelopes[0][1] == ["oncall@example.test", "lead@example.test"]
    result = await channels.send_test(tenant.admin, box.id)
    assert result.ok and result.outcome == "250 accepted by the mail server"
    bounced = await channels.create_channel(
        tenant.admin, "email",
        ChannelInput(name="bounce", events=["critical"], smtp_host="127.0.0.1",
                     smtp_port=smtp.port, mail_from="riskops@example.test",
                     recipients=["bounce@example.test"]),
    )  # fmt: skip
    result = await channels.send_test(tenant.admin, bounced.id)
    assert not result.ok and "recipient refused" in result.outcome


async def test_suppression_holds_every_destination(tenant, hooks, pd) -> None:
    a = await slack(tenant, hooks, "chat", ["critical"])
    p = await pager(tenant, pd, "pd", ["critical"])
    _, approver = await tenant.user("approver")
    await kill_switches.set_kill_switch(approver, "alert_suppression", "", "storm")
    await write(tenant.org_id, key="k", action=PagerAction.TRIGGER)  # written while pending
    counts = await deliver(tenant.org_id)
    assert counts.suppressed == 2 and hooks.requests == [] and pd.events == []
    for channel in (a, p):
        [m] = (await channels.deliveries(tenant.admin, channel.id)).items
        assert m.status is OutboxStatus.SUPPRESSED and m.last_error.startswith("alert suppress")


# ----------------------------------------------------------------------------- send test, log


async def test_send_test_outcomes(tenant, pd, hooks) -> None:
    key = routing_key()
    good = await pager(tenant, pd, "pd", ["critical"], key)
    result = await channels.send_test(tenant.admin, good.id)
    assert result.ok and result.outcome == "202 accepted"
    [incident] = pd.incidents.values()
    assert incident.state == "resolved" and incident.routing_key == key  # opened and closed
    pd.mode = "bad"
    result = await channels.send_test(tenant.admin, good.id)
    assert not result.ok and result.outcome == "400: Event object is invalid; Invalid routing key"
    stored = await NotificationChannel.get(id=good.id)
    assert stored.last_test_outcome == result.outcome and stored.last_test_at is not None
    dead = await channels.create_channel(
        tenant.admin, "slack", ChannelInput(name="dead", url="http://127.0.0.1:9/hook"),
    )  # fmt: skip
    result = await channels.send_test(tenant.admin, dead.id)
    assert not result.ok and result.outcome == "connection refused"
    tested = await AuditEvent.filter(org_id=tenant.org_id, action="channel.test").count()
    assert tested == 3


async def test_delivery_log_pages_newest_first(tenant, hooks) -> None:
    a = await slack(tenant, hooks, "chat", ["critical"])
    for i in range(5):
        await write(tenant.org_id, payload={**SEV0, "run_id": f"r-{i}"})
    page1 = await channels.deliveries(tenant.admin, a.id, first=2)
    assert [m.payload["run_id"] for m in page1.items] == ["r-4", "r-3"] and page1.has_next_page
    page2 = await channels.deliveries(tenant.admin, a.id, first=2, after=page1.end_cursor)
    assert [m.payload["run_id"] for m in page2.items] == ["r-2", "r-1"]
    with pytest.raises(Invalid):
        await channels.deliveries(tenant.admin, a.id, after="garbage!")


async def test_remove_keeps_the_log_and_cancels_pending(tenant, hooks) -> None:
    a = await slack(tenant, hooks, "chat", ["critical"])
    await write(tenant.org_id)
    removed = await channels.remove_channel(tenant.admin, a.id, expected_version=1)
    assert removed.archived_at is not None and "removed" in removed.name
    [m] = (await channels.deliveries(tenant.admin, a.id)).items
    assert m.status is OutboxStatus.FAILED and m.last_error == "the channel was removed"
    assert [c.id for c in await channels.list_channels(tenant.admin)] == []
    assert [c.id for c in await channels.list_channels(tenant.admin, include_removed=True)] == [
        a.id
    ]
    await slack(tenant, hooks, "chat", ["critical"])  # the name is free again
    assert (await write(tenant.org_id)).destination_id != a.id


async def test_secrets_are_sealed_and_kept_when_empty(tenant, pd) -> None:
    key = routing_key()
    channel = await pager(tenant, pd, "pd", ["critical"], key)
    stored = await NotificationChannel.get(id=channel.id)
    assert key not in (stored.secret_sealed or "") and key not in str(stored.config)
    assert sealing.unseal("notification-channel-secret", stored.secret_sealed or "") == key
    changed = await channels.update_channel(
        tenant.admin, channel.id,
        ChannelInput(name="pd renamed", events=["critical", "escalation"], events_url=pd.url),
        expected_version=1,
    )  # fmt: skip
    assert changed.secret_sealed == stored.secret_sealed and changed.version == 2
    events = await AuditEvent.filter(org_id=tenant.org_id,
                                     action__startswith="channel.").order_by("seq")  # fmt: skip
    assert [e.action for e in events] == ["channel.create", "channel.update"]
    for e in events:
        assert key not in str(e.old_values) + str(e.new_values)
        assert "renamed" not in e.new_values and "name" not in e.new_values


# ----------------------------------------------------------------------------- bad input


async def _state(org_id: int) -> Any:
    chans = await NotificationChannel.filter(org_id=org_id).order_by("id").values()
    events = await AuditEvent.filter(org_id=org_id, action__startswith="channel.").count()
    return chans, events


BAD_INPUTS = [
    ("slack", {"url": "ftp://x.example/hook"}, "url", "http:// or https://"),
    ("slack", {"url": ""}, "url", "required"),
    ("slack", {"url": "https://h.example/x", "secret": "s"}, "secret", "takes no secret"),
    ("webhook", {"url": "https://h.example/" + "x" * 2100}, "url", "limit is 2000"),
    ("pagerduty", {}, "secret", "Routing key is required"),
    ("pagerduty", {"secret": "has space"}, "secret", "letters and digits"),
    ("pagerduty", {"secret": "a" * 65}, "secret", "1 to 64"),
    ("pagerduty", {"secret": "abc", "events_url": "javascript:alert(1)"}, "eventsUrl", "http"),
    ("email", {"smtp_host": "", "mail_from": "a@b.cd", "recipients": ["x@y.zz"]}, "smtpHost",
     "required"),
    ("email", {"smtp_host": "mail.example", "smtp_port": 70000, "mail_from": "a@b.cd",
               "recipients": ["x@y.zz"]}, "smtpPort", "1 to 65535"),
    ("email", {"smtp_host": "mail.example", "mail_from": "a@b.cd", "recipients": []},
     "recipients", "at least one"),
    ("email", {"smtp_host": "mail.example", "mail_from": "a@b.cd", "recipients": ["nope"]},
     "recipients", "not an e-mail address"),
    ("email", {"smtp_host": "mail.example", "mail_from": "a@b.cd",
               "recipients": [f"p{i}@x.example" for i in range(21)]}, "recipients", "at most 20"),
    ("slack", {"url": "https://h.example/x", "events": ["everything"]}, "events", "unknown"),
    ("slack", {"url": "https://h.example/x", "name": ""}, "name", "required"),
    ("slack", {"url": "https://h.example/x", "name": "n" * 101}, "name", "limit is 100"),
    ("slack", {"url": "https://h.example/x", "name": "bad\x00name"}, "name", "control"),
    ("fax", {"url": "https://h.example/x"}, "kind", "unknown"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "given", "field", "says"), BAD_INPUTS)
async def test_bad_input_changes_nothing(tenant, kind, given, field, says) -> None:
    before = await _state(tenant.org_id)
    data = ChannelInput(**{"name": "chan", **given})
    with pytest.raises(Invalid) as err:
        await channels.create_channel(tenant.admin, kind, data)
    assert err.value.field == field and says in err.value.message
    assert await _state(tenant.org_id) == before


async def test_refusals_conflicts_and_foreign_ids(tenant, other_tenant, hooks) -> None:
    mine = await slack(tenant, hooks, "chat", ["critical"])
    theirs = await slack(other_tenant, hooks, "chat", ["critical"])
    before = await _state(tenant.org_id), await _state(other_tenant.org_id)
    data = ChannelInput(name="x", url=hooks.url("/x"))
    for role in ("operator", "approver", "viewer", "strategist"):
        _, p = await tenant.user(role)
        with pytest.raises(Forbidden):
            await channels.create_channel(p, "slack", data)
        with pytest.raises(Forbidden):
            await channels.update_channel(p, mine.id, data, expected_version=1)
        with pytest.raises(Forbidden):
            await channels.send_test(p, mine.id)
        with pytest.raises(Forbidden):
            await channels.deliveries(p, mine.id)
    missing: list[Exception] = []
    for ident in (theirs.id, 2000000000):
        for call in (
            channels.update_channel(tenant.admin, ident, data, expected_version=1),
            channels.remove_channel(tenant.admin, ident, expected_version=1),
            channels.send_test(tenant.admin, ident),
            channels.deliveries(tenant.admin, ident),
            channels.get_channel(tenant.admin, ident),
        ):
            with pytest.raises(NotFound) as err:
                await call
            missing.append(err.value)
    # Another organization's channel reads exactly like a missing one.
    # (the long id first: a short one, say 2, is a part of it)
    texts = {e.args[0].replace("2000000000", "ID").replace(str(theirs.id), "ID") for e in missing}
    assert texts == {"Notification channel ID not found."}
    with pytest.raises(Conflict):
        await channels.update_channel(tenant.admin, mine.id, data, expected_version=7)
    with pytest.raises(Conflict):
        await channels.remove_channel(tenant.admin, mine.id, expected_version=0)
    with pytest.raises(Invalid):
        await channels.update_channel(tenant.admin, mine.id, data, expected_version="1")
    with pytest.raises(Duplicate):
        await slack(tenant, hooks, "chat", ["alerts"])
    assert (await _state(tenant.org_id), await _state(other_tenant.org_id)) == before
