"""Delivery of the notification outbox to a real HTTP receiver on 127.0.0.1, on SQLite and
PostgreSQL: Slack and generic bodies (HMAC verified), retries with backoff on a controlled clock,
429 with Retry-After, permanent failures, suppressed messages (written suppressed, or suppressed at
delivery while the switch is on), organization names in bodies, leases and backoff from each
claim on a slow pass and its time budget, channels without a webhook, two
deliverers at once, `kick()`, and the kill-switch expiry job. One test goes through a real arq
worker process (PostgreSQL and Redis)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tortoise.transactions import in_transaction

from riskops.audit.models import AuditEvent
from riskops.jobs import runner
from riskops.jobs.models import Job, JobStatus
from riskops.server.credit import jobs, kill_switches
from riskops.server.credit.models import KillSwitch
from riskops.server.identity.models import Organization
from riskops.server.notify import delivery as notify_tasks
from riskops.server.notify import outbox
from riskops.server.notify.delivery import MAX_ATTEMPTS, backoff, deliver_due
from riskops.server.notify.models import NotificationChannel, OutboxMessage, OutboxStatus
from riskops.server.notify.outbox import Channel
from riskops.server.settings import (
    WEBHOOK_CHANNELS,
    ConfigError,
    Settings,
    WebhookTarget,
    get_settings,
    load_settings,
    use_settings,
)
from tests.support.webhook_server import WebhookServer, serving

SECRET = "whsec-test-" + "k" * 20

SEV1 = {
    "run_id": "r-2024-01-23-001", "run_pk": 42, "scenario": "BINDER_EXPORT_WEEKLY",
    "severity": "SEV1", "multiplier": 6.25, "baseline_median": 1250.5, "credits_total": 7815.6,
    "flags": ["retry_loop", "unbounded_iterator"], "misconfig_likelihood": "high",
    "case_number": "CASE-000123",
}  # fmt: skip
WEEKLY = {
    "report_id": 7, "period_start": "2024-01-15T00:00:00+00:00",
    "period_end": "2024-01-22T00:00:00+00:00", "severity_counts": {"SEV1": 1, "SEV2": 4},
    "top_scenarios": [{"scenario": "BINDER_EXPORT_WEEKLY", "total": 98765.4}],
    "violations": 2, "candidates": 3, "sha256": "ab" * 32,
}  # fmt: skip


@pytest.fixture
def hooks() -> Iterator[WebhookServer]:
    yield from serving()


def configured(
    hooks: WebhookServer, *, fmt: str = "slack", secret: str | None = None, **kw: Any
) -> Settings:
    """The active backend's settings with a webhook per channel on `hooks`."""
    targets = {
        ch: WebhookTarget(url=hooks.url(f"/{ch}"), format=fmt, secret=secret)
        for ch in kw.pop("channels", WEBHOOK_CHANNELS)
    }
    update = {"webhooks": targets, "base_url": "https://riskops.example", **kw}
    return get_settings().model_copy(update=update)


async def message(
    org_id: int,
    channel: Channel = Channel.ALERTS,
    kind: str = "run.sev1",
    payload: dict[str, Any] | None = None,
    *,
    suppressed: bool = False,
    now: datetime | None = None,
) -> OutboxMessage:
    async with in_transaction() as conn:
        return await outbox.add(
            conn, org_id, channel, kind, SEV1 if payload is None else payload,
            suppressed=suppressed, now=now or datetime.now(UTC),
        )  # fmt: skip


async def reload(msg: OutboxMessage) -> OutboxMessage:
    return await OutboxMessage.get(id=msg.id)


def near(actual: datetime, expected: datetime, slack: float = 5.0) -> bool:
    """`actual` is `expected` plus the (short) time the pass took: times are taken per message."""
    return timedelta(0) <= actual - expected <= timedelta(seconds=slack)


# ----------------------------------------------------------------------------- bodies


async def test_slack_body_summarises_a_sev1_run(tenant, hooks: WebhookServer) -> None:
    settings = configured(hooks)
    msg = await message(tenant.org_id)
    counts = await deliver_due(org_id=tenant.org_id, settings=settings)
    assert counts.as_dict() == {
        "sent": 1, "retrying": 0, "failed": 0, "skipped": 0, "suppressed": 0, "deferred": 0,
        "waiting": 0,
    }  # fmt: skip

    [req] = hooks.requests
    assert req.path == "/alerts" and req.header("content-type") == "application/json"
    assert req.header("x-riskops-message-id") == str(msg.id)
    assert req.header("x-riskops-signature") is None  # no secret, no signature
    body = req.json()
    org = await Organization.get(id=tenant.org_id)
    assert body["text"] == (
        f":red_circle: {org.name} ({org.slug}): SEV1: BINDER_EXPORT_WEEKLY run r-2024-01-23-001 "
        "at \u00d76.25 the baseline (CASE-000123)"
    )
    detail = body["blocks"][1]["text"]["text"]
    for part in ("*Severity*: SEV1", "retry_loop, unbounded_iterator", "CASE-000123",
                 "baseline median 1,250.5", "*Misconfig likelihood*: high",
                 "<https://riskops.example/runs/42|r-2024-01-23-001>"):  # fmt: skip
        assert part in detail, detail
    row = await reload(msg)
    assert row.status is OutboxStatus.SENT and row.sent_at is not None
    assert (row.attempts, row.last_error) == (1, None)
    # Sent once: a second pass has nothing to do.
    assert (await deliver_due(org_id=tenant.org_id, settings=settings)).sent == 0
    assert len(hooks.requests) == 1


async def test_generic_body_is_signed_with_the_secret(tenant, hooks: WebhookServer) -> None:
    settings = configured(hooks, fmt="generic", secret=SECRET)
    msg = await message(tenant.org_id, Channel.CRITICAL, "run.sev0", {**SEV1, "severity": "SEV0"})
    await deliver_due(org_id=tenant.org_id, settings=settings)

    [req] = hooks.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), req.body, hashlib.sha256).hexdigest()
    assert req.header("x-riskops-signature") == expected
    body = req.json()
    assert set(body) == {"id", "org_id", "org", "channel", "kind", "payload", "created_at"}
    org = await Organization.get(id=tenant.org_id)
    assert body["org"] == {"slug": org.slug, "name": org.name}
    assert (body["id"], body["org_id"], body["channel"], body["kind"]) == (
        msg.id, tenant.org_id, "critical", "run.sev0",
    )  # fmt: skip
    assert body["payload"]["severity"] == "SEV0" and body["created_at"].endswith("Z")


async def test_weekly_report_and_unknown_kinds_render(tenant, hooks: WebhookServer) -> None:
    settings = configured(hooks)
    await message(tenant.org_id, Channel.REVIEW, "report.weekly", WEEKLY)
    await message(tenant.org_id, Channel.REVIEW, "something.new", {"x": "<b>"})
    await message(tenant.org_id, Channel.REVIEW, "run.sev2_pattern", {"odd": True})
    counts = await deliver_due(org_id=tenant.org_id, settings=settings)
    assert counts.sent == 3
    report, unknown, odd = hooks.bodies("/review")
    assert report["text"].endswith("Weekly credit review 2024-01-15 to 2024-01-22: SEV1 1, SEV2 4")
    detail = report["blocks"][1]["text"]["text"]
    assert "BINDER_EXPORT_WEEKLY 98,765.4" in detail and "*Policy violations*: 2" in detail
    assert "<https://riskops.example/reports/7|Open the report>" in detail
    assert unknown["text"].endswith("something.new notification")
    assert "&lt;b&gt;" in unknown["blocks"][1]["text"]["text"]  # escaped for Slack
    assert "run.sev2_pattern" in odd["blocks"][2]["elements"][0]["text"]


# ----------------------------------------------------------------------------- failures


async def test_failure_is_retried_with_backoff_then_sent(tenant, hooks: WebhookServer) -> None:
    settings = configured(hooks)
    t0 = datetime.now(UTC)
    msg = await message(tenant.org_id, now=t0)
    hooks.mode = "fail"

    assert (await deliver_due(t0, org_id=tenant.org_id, settings=settings)).retrying == 1
    row = await reload(msg)
    assert row.status is OutboxStatus.PENDING and row.attempts == 1
    assert row.last_error == "HTTP 500: internal error"
    assert near(row.next_attempt_at, t0 + timedelta(seconds=30))

    # Not due yet: nothing happens.
    assert (await deliver_due(t0 + timedelta(seconds=29), org_id=tenant.org_id,
                              settings=settings)).as_dict()["retrying"] == 0  # fmt: skip
    assert len(hooks.requests) == 1
    t1 = row.next_attempt_at
    await deliver_due(t1, org_id=tenant.org_id, settings=settings)
    row = await reload(msg)
    assert row.attempts == 2 and near(row.next_attempt_at, t1 + timedelta(minutes=1))

    hooks.mode = "ok"
    t2 = row.next_attempt_at
    assert (await deliver_due(t2, org_id=tenant.org_id, settings=settings)).sent == 1
    row = await reload(msg)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT, 3, None)
    assert len(hooks.requests) == 3


def test_backoff_doubles_up_to_thirty_minutes() -> None:
    assert [backoff(a).total_seconds() for a in range(1, 9)] == [
        30, 60, 120, 240, 480, 960, 1800, 1800,
    ]  # fmt: skip


async def test_connect_errors_and_timeouts_are_retried(tenant, hooks: WebhookServer) -> None:
    closed = WebhookServer().start()
    url = closed.url("/gone")
    closed.stop()
    base = configured(hooks, webhook_timeout_seconds=0.3)
    settings = base.model_copy(
        update={"webhooks": {**base.webhooks, "critical": WebhookTarget(url=url)}}
    )
    refused = await message(tenant.org_id, Channel.CRITICAL, "run.sev0")
    hooks.mode, hooks.slow_seconds = "slow", 1.5
    slow = await message(tenant.org_id, Channel.ALERTS)
    assert (await deliver_due(org_id=tenant.org_id, settings=settings)).retrying == 2
    assert (await reload(refused)).last_error.startswith("could not connect: ConnectError")
    assert (await reload(slow)).last_error.startswith("timed out")
    assert {(await reload(m)).status for m in (refused, slow)} == {OutboxStatus.PENDING}


async def test_429_honours_retry_after(tenant, hooks: WebhookServer) -> None:
    settings = configured(hooks)
    t0 = datetime.now(UTC)
    msg = await message(tenant.org_id, now=t0)
    hooks.mode, hooks.retry_after = "rate_limited", "120"
    await deliver_due(t0, org_id=tenant.org_id, settings=settings)
    row = await reload(msg)
    assert row.status is OutboxStatus.PENDING
    assert near(row.next_attempt_at, t0 + timedelta(minutes=2))
    assert row.last_error is not None and row.last_error.startswith("rate limited (HTTP 429")


async def test_other_4xx_fails_for_good(tenant, hooks: WebhookServer) -> None:
    settings = configured(hooks)
    msg = await message(tenant.org_id)
    hooks.mode = "gone"
    assert (await deliver_due(org_id=tenant.org_id, settings=settings)).failed == 1
    row = await reload(msg)
    assert row.status is OutboxStatus.FAILED and row.attempts == 1
    assert row.last_error == "refused by the webhook (HTTP 410: no such hook)"
    later = datetime.now(UTC) + timedelta(days=1)
    await deliver_due(later, org_id=tenant.org_id, settings=settings)
    assert len(hooks.requests) == 1  # never again


async def test_gives_up_after_ten_attempts(tenant, hooks: WebhookServer) -> None:
    settings = configured(hooks)
    msg = await message(tenant.org_id)
    await OutboxMessage.filter(id=msg.id).update(attempts=MAX_ATTEMPTS - 1)
    hooks.mode = "fail"
    assert (await deliver_due(org_id=tenant.org_id, settings=settings)).failed == 1
    row = await reload(msg)
    assert row.status is OutboxStatus.FAILED and row.attempts == MAX_ATTEMPTS
    assert row.last_error == "gave up after 10 attempts; last: HTTP 500: internal error"


async def test_suppressed_messages_are_never_sent(tenant, hooks: WebhookServer) -> None:
    settings = configured(hooks)
    msg = await message(tenant.org_id, suppressed=True)
    later = datetime.now(UTC) + timedelta(days=1)
    assert (await deliver_due(later, org_id=tenant.org_id, settings=settings)).as_dict() == {
        "sent": 0, "retrying": 0, "failed": 0, "skipped": 0, "suppressed": 0, "deferred": 0,
        "waiting": 0,
    }  # fmt: skip
    assert hooks.requests == []
    row = await reload(msg)
    assert (row.status, row.attempts) == (OutboxStatus.SUPPRESSED, 0)


async def test_suppression_switched_on_after_writing_stops_delivery(
    tenant, hooks: WebhookServer
) -> None:
    settings = configured(hooks)
    _, approver = await tenant.user("approver")
    pending = await message(tenant.org_id)
    assert (await reload(pending)).status is OutboxStatus.PENDING
    await kill_switches.set_kill_switch(approver, "alert_suppression", "", "API outage storm")
    counts = await deliver_due(org_id=tenant.org_id, settings=settings)
    assert (counts.suppressed, counts.sent, counts.failed) == (1, 0, 0)
    assert hooks.requests == []
    row = await reload(pending)
    assert (row.status, row.attempts) == (OutboxStatus.SUPPRESSED, 0)
    assert row.last_error == "alert suppression on at delivery"
    # Never sent later either, even once the switch is cleared.
    await deliver_due(datetime.now(UTC) + timedelta(days=1), org_id=tenant.org_id,
                      settings=settings)  # fmt: skip
    assert hooks.requests == []


async def test_suppression_is_per_organization(tenant, other_tenant, hooks: WebhookServer) -> None:
    settings = configured(hooks)
    _, approver = await tenant.user("approver")
    quiet = await message(tenant.org_id)
    loud = await message(other_tenant.org_id)
    await kill_switches.set_kill_switch(approver, "alert_suppression", "", "storm")
    for org in (tenant.org_id, other_tenant.org_id):
        await deliver_due(org_id=org, settings=settings)
    assert (await reload(quiet)).status is OutboxStatus.SUPPRESSED
    assert (await reload(loud)).status is OutboxStatus.SENT
    assert [int(r.header("x-riskops-message-id") or 0) for r in hooks.requests] == [loud.id]


async def test_bodies_name_the_organization(tenant, other_tenant, hooks: WebhookServer) -> None:
    """All organizations share the webhooks: the receiver must see whose message it is."""
    settings = configured(hooks)
    ours = await Organization.get(id=tenant.org_id)
    theirs = await Organization.get(id=other_tenant.org_id)
    await message(tenant.org_id, Channel.REVIEW, "report.weekly", WEEKLY)
    await message(other_tenant.org_id, Channel.REVIEW, "something.new", {"x": 1})
    for org in (tenant.org_id, other_tenant.org_id):
        await deliver_due(org_id=org, settings=settings)
    first, second = hooks.bodies("/review")
    for body, org in ((first, ours), (second, theirs)):
        assert body["text"].split(" ", 1)[1].startswith(f"{org.name} ({org.slug}): ")
        assert body["blocks"][0]["text"]["text"].startswith(f"{org.name} ({org.slug}): ")
        assert f"*Organization*: {org.name} (`{org.slug}`)" in body["blocks"][1]["text"]["text"]
        assert f"riskops · {org.slug} · #ops-review" in body["blocks"][2]["elements"][0]["text"]

    generic = configured(hooks, fmt="generic")
    hooks.requests.clear()
    await message(other_tenant.org_id, Channel.ALERTS)
    await deliver_due(org_id=other_tenant.org_id, settings=generic)
    [req] = hooks.requests
    body = req.json()
    assert body["org_id"] == theirs.id
    assert body["org"] == {"slug": theirs.slug, "name": theirs.name}


async def test_a_slow_pass_leases_and_backs_off_from_each_claim(
    tenant, hooks: WebhookServer
) -> None:
    """Each claim's lease and each retry's backoff start when that message is handled, not
    when the pass started; a pass stops claiming after its time budget."""
    settings = configured(hooks)
    t0 = datetime.now(UTC)
    msgs = [await message(tenant.org_id, now=t0 - timedelta(seconds=i)) for i in (3, 2, 1)]
    leases: dict[int, datetime] = {}

    async def slow_failing(request: httpx.Request) -> httpx.Response:
        mid = int(request.headers["x-riskops-message-id"])
        leases[mid] = (await OutboxMessage.get(id=mid)).next_attempt_at  # the claim's lease
        await asyncio.sleep(0.5)
        return httpx.Response(500, text="busy")

    counts = await deliver_due(
        t0, org_id=tenant.org_id, settings=settings, transport=httpx.MockTransport(slow_failing),
        max_seconds=0.75,
    )  # fmt: skip
    # 0.0 s: first claimed; 0.5 s: second claimed; 1.0 s: out of time, third left pending.
    assert (counts.retrying, counts.deferred) == (2, 1), counts
    first, second, third = [await reload(m) for m in msgs]
    assert near(leases[first.id], t0 + notify_tasks.LEASE, 0.3)
    assert near(leases[second.id], t0 + notify_tasks.LEASE + timedelta(seconds=0.5), 0.3)
    assert near(first.next_attempt_at, t0 + timedelta(seconds=30.5), 0.3)
    assert near(second.next_attempt_at, t0 + timedelta(seconds=31.0), 0.3)
    assert (third.status, third.attempts, third.next_attempt_at) == (
        OutboxStatus.PENDING, 0, msgs[2].next_attempt_at,
    )  # fmt: skip
    assert hooks.requests == []  # the mock transport answered


async def test_a_channel_without_webhook_fails_clearly(tenant, hooks: WebhookServer) -> None:
    settings = configured(hooks, channels=("alerts",))
    msg = await message(tenant.org_id, Channel.CRITICAL, "run.sev0")
    assert (await deliver_due(org_id=tenant.org_id, settings=settings)).failed == 1
    row = await reload(msg)
    assert row.status is OutboxStatus.FAILED
    assert row.last_error is not None
    assert row.last_error.startswith("no webhook configured for channel 'critical'")
    assert hooks.requests == []


async def test_two_deliverers_at_once_send_each_message_once(tenant, hooks: WebhookServer) -> None:
    settings = configured(hooks)
    msgs = [await message(tenant.org_id) for _ in range(6)]
    results = await asyncio.gather(
        deliver_due(org_id=tenant.org_id, settings=settings),
        deliver_due(org_id=tenant.org_id, settings=settings),
    )
    assert sum(r.sent for r in results) == 6
    ids = sorted(int(r.header("x-riskops-message-id") or 0) for r in hooks.requests)
    assert ids == sorted(m.id for m in msgs)
    assert {(await reload(m)).attempts for m in msgs} == {1}


async def test_only_due_messages_oldest_first_up_to_the_limit(tenant, hooks: WebhookServer) -> None:
    settings = configured(hooks)
    t0 = datetime.now(UTC)
    first = await message(tenant.org_id, now=t0 - timedelta(minutes=2))
    second = await message(tenant.org_id, now=t0 - timedelta(minutes=1))
    future = await message(tenant.org_id, now=t0 + timedelta(hours=1))
    await deliver_due(t0, org_id=tenant.org_id, settings=settings, limit=1)
    await deliver_due(t0, org_id=tenant.org_id, settings=settings, limit=1)
    sent = [int(r.header("x-riskops-message-id") or 0) for r in hooks.requests]
    assert sent == [first.id, second.id]
    assert (await reload(future)).status is OutboxStatus.PENDING


async def test_one_time_links_go_before_a_backlog(tenant, hooks: WebhookServer) -> None:
    """An invitation written after a pass-full of webhooks goes out in the first pass."""
    settings = configured(hooks)
    t0 = datetime.now(UTC)
    backlog = await message(tenant.org_id, now=t0 - timedelta(minutes=2))
    invite = {"purpose": "invitation", "to": "mia@example.com", "link_sealed": None}
    link = await message(
        tenant.org_id, Channel.REVIEW, "identity.invitation", invite, now=t0 - timedelta(minutes=1)
    )
    await deliver_due(t0, org_id=tenant.org_id, settings=settings, limit=1)
    sent = [int(r.header("x-riskops-message-id") or 0) for r in hooks.requests]
    assert sent == [link.id]
    assert (await reload(backlog)).status is OutboxStatus.PENDING


# ----------------------------------------------------------------------------- kick and jobs


async def test_kick_queues_a_delivery_and_never_raises(
    tenant, hooks: WebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = get_settings()
    use_settings(configured(hooks))
    try:
        msg = await message(tenant.org_id, Channel.CRITICAL, "run.sev0")
        jobs_before = await Job.filter(kind="outbox.deliver").count()
        await outbox.kick()
        await runner.drain(timeout=20)
        assert await Job.filter(kind="outbox.deliver").count() == jobs_before + 1
        row = await reload(msg)
        assert row.status is OutboxStatus.SENT, row.last_error

        async def broken(*a: Any, **kw: Any) -> Any:
            raise ConnectionError("queue down")

        monkeypatch.setattr(runner, "enqueue", broken)
        await outbox.kick()  # logged, not raised
    finally:
        use_settings(original)


async def test_kick_without_webhooks_queues_nothing(db) -> None:
    assert not get_settings().webhooks
    # Nor any organization channel (those earlier tests left are done with).
    await NotificationChannel.filter(archived_at=None).update(archived_at=datetime.now(UTC))
    before = await Job.filter(kind="outbox.deliver").count()
    await outbox.kick()
    assert await Job.filter(kind="outbox.deliver").count() == before


async def test_kick_with_only_a_disabled_channel_queues_delivery(db, tenant) -> None:
    """A disabled PagerDuty channel still gets the resolve of an incident it opened: sent now,
    not at the next sweep."""
    await NotificationChannel.filter(archived_at=None).update(archived_at=datetime.now(UTC))
    now = datetime.now(UTC)
    await NotificationChannel.create(
        org_id=tenant.org_id, name="pd", kind="pagerduty", enabled=False, events=["critical"],
        config={"events_url": "http://127.0.0.1:9/v2/enqueue"}, created_at=now, updated_at=now,
    )  # fmt: skip
    before = await Job.filter(kind="outbox.deliver").count()
    await outbox.kick()
    assert await Job.filter(kind="outbox.deliver").count() == before + 1


async def test_kick_with_an_organization_channel_queues_delivery(tenant) -> None:
    assert not get_settings().webhooks
    now = datetime.now(UTC)
    await NotificationChannel.create(
        org_id=tenant.org_id, name="chat", kind="slack", config={"url": "http://127.0.0.1:9/"},
        events=["critical"], created_at=now, updated_at=now,
    )  # fmt: skip
    before = await Job.filter(kind="outbox.deliver").count()
    await outbox.kick()
    assert await Job.filter(kind="outbox.deliver").count() == before + 1


async def test_the_expiry_job_records_expired_switches(tenant) -> None:
    now = datetime.now(UTC)
    row = await KillSwitch.create(
        org_id=tenant.org_id, name="alert_suppression", scope="", reason="storm",
        set_at=now - timedelta(hours=1), expires_at=now - timedelta(seconds=1),
    )  # fmt: skip
    result = await jobs.kill_switch_expire({})
    assert result["expired"] >= 1
    assert (await KillSwitch.get(id=row.id)).cleared_at == row.expires_at
    assert await AuditEvent.filter(org_id=tenant.org_id, action="kill_switch.expired").count() == 1


# ----------------------------------------------------------------------------- settings


def test_webhook_settings_are_checked_at_load(tmp_path: Any) -> None:
    assert set(WEBHOOK_CHANNELS) == {c.value for c in Channel} - {"email"}  # email: no webhook
    base = {"var_dir": tmp_path, "secret_key": "s" * 40}
    ok = load_settings(
        **base, webhooks={"critical": {"url": "https://hooks.example/x", "secret": SECRET}}
    )
    assert ok.webhooks["critical"].format == "slack" and SECRET not in repr(ok)
    for bad, says in (
        ({"ops": {"url": "https://x"}}, "unknown channel 'ops'"),
        ({"alerts": {"url": "https://x", "format": "teams"}}, "format 'teams'; use slack"),
        ({"alerts": {"url": "ftp://x"}}, "needs a url"),
        ({"alerts": "https://x"}, "must be an object"),
    ):
        with pytest.raises(ConfigError, match=says):
            load_settings(**base, webhooks=bad)
    with pytest.raises(ConfigError, match="TIMEOUT"):
        load_settings(**base, webhook_timeout_seconds=0)


def test_webhooks_come_from_the_environment(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "RISKOPS_WEBHOOKS",
        json.dumps({"review": {"url": "https://hooks.example/r", "format": "generic"}}),
    )
    s = load_settings(var_dir=tmp_path, secret_key="s" * 40)
    assert s.webhooks["review"].format == "generic"
    monkeypatch.setenv("RISKOPS_WEBHOOKS", json.dumps({"nope": {"url": "https://x"}}))
    with pytest.raises(ConfigError, match="unknown channel 'nope'"):
        load_settings(var_dir=tmp_path, secret_key="s" * 40)


# ----------------------------------------------------------------------------- arq worker


@pytest.mark.slow
@pytest.mark.postgres_only
async def test_delivery_through_a_real_arq_worker(
    db, tenant, hooks: WebhookServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`outbox.deliver` run by `riskops worker` (arq on Redis), configured by RISKOPS_WEBHOOKS."""
    from tests.jobs.test_arq_worker import (
        REDIS_URL,
        on_queue,
        require_redis,
        start_worker,
        stop,
        wait_finished,
        wait_until_ready,
        worker_command,
    )

    require_redis()
    queue = f"riskops:test:{uuid.uuid4().hex[:12]}"
    var_dir = tmp_path_factory.mktemp("notify-worker")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env.update(
        RISKOPS_ENV="dev", RISKOPS_DATABASE_URL=db.settings.db_url, RISKOPS_REDIS_URL=REDIS_URL,
        RISKOPS_JOB_QUEUE=queue, RISKOPS_VAR_DIR=str(var_dir),
        RISKOPS_SECRET_KEY=db.settings.secret_key or "",
        RISKOPS_AUDIT_CHECKPOINT_MINUTES=str(24 * 60), PYTHONUNBUFFERED="1",
        RISKOPS_WEBHOOKS=json.dumps(
            {"critical": {"url": hooks.url("/critical"), "format": "generic", "secret": SECRET}}
        ),
    )  # fmt: skip
    worker = start_worker(worker_command(var_dir, env), queue, var_dir, env)
    original = get_settings()
    try:
        await wait_until_ready(worker)
        msg = await message(tenant.org_id, Channel.CRITICAL, "run.sev0")
        use_settings(on_queue(db.settings, queue))
        job = await runner.enqueue("outbox.deliver")
        done = await wait_finished(job.id, worker)
        assert done.status == JobStatus.SUCCEEDED, f"{done.error}\n{worker.describe()}"
        row = await reload(msg)
        assert row.status is OutboxStatus.SENT, row.last_error
        [req] = [r for r in hooks.requests if r.json()["id"] == msg.id]
        expected = "sha256=" + hmac.new(SECRET.encode(), req.body, hashlib.sha256).hexdigest()
        assert req.header("x-riskops-signature") == expected
    finally:
        await runner.close_pool()
        use_settings(original)
        stop(worker.proc)
