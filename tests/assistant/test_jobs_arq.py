"""The `assistant.respond` job through real arq worker processes on Redis and PostgreSQL, each
configured only by its environment (RISKOPS_ASSISTANT_* pointing at the loopback provider):
success with no PII on the wire, the fallback model, bounded retries ending `unavailable`, every
off condition (AGENT_SAFE_MODE in the worker's environment, the governed switch, no model, the
budget spent), the 80/95% warnings once per day, and a worker killed while the provider holds
its request: the next worker answers, and the response counts one call."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from riskops.audit.models import AuditEvent
from riskops.jobs import runner
from riskops.jobs.models import Job, JobStatus
from riskops.server.assistant.models import AssistantResponse, BudgetNotice, ResponseStatus
from riskops.server.credit import kill_switches
from riskops.server.notify.models import OutboxMessage
from riskops.server.settings import Settings, get_settings, use_settings
from tests.assistant.conftest import FALLBACK, MODEL
from tests.assistant.helpers import enqueue, pending, pii_alert
from tests.conftest import REDIS_URL, Backend
from tests.jobs.test_arq_worker import (
    WorkerProc,
    on_queue,
    redis_client,
    require_redis,
    start_worker,
    stop,
    wait_finished,
    wait_until_ready,
    worker_command,
)
from tests.support.fake_llm import FakeLLM

S = ResponseStatus
pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]


def worker_env(
    backend: Backend, queue: str, var_dir: Path, llm: FakeLLM, **extra: str | None
) -> dict[str, str]:
    """A worker's environment: the test database and Redis, a queue of its own, the assistant
    pointed at the loopback provider (2 s per attempt, one retry); `extra` overrides (None
    removes a variable)."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("RISKOPS_") and k != "AGENT_SAFE_MODE"
    }  # fmt: skip
    env.update(
        RISKOPS_ENV="dev", RISKOPS_DATABASE_URL=backend.settings.db_url,
        RISKOPS_REDIS_URL=REDIS_URL, RISKOPS_JOB_QUEUE=queue, RISKOPS_VAR_DIR=str(var_dir),
        RISKOPS_SECRET_KEY=backend.settings.secret_key or "",
        RISKOPS_AUDIT_CHECKPOINT_MINUTES=str(24 * 60), PYTHONUNBUFFERED="1",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        RISKOPS_ASSISTANT_MODEL=MODEL, RISKOPS_ASSISTANT_API_BASE=llm.url,
        RISKOPS_ASSISTANT_API_KEY="sk-test-not-a-real-key",
        RISKOPS_ASSISTANT_TIMEOUT_SECONDS="2", RISKOPS_ASSISTANT_RETRIES="1",
        RISKOPS_ASSISTANT_DAILY_BUDGET="1.00",
    )  # fmt: skip
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


async def launch(
    backend: Backend, var_dir: Path, llm: FakeLLM, queue: str | None = None, **extra: str | None
) -> WorkerProc:
    queue = queue or f"riskops:test:{uuid.uuid4().hex[:12]}"
    os.makedirs(var_dir, exist_ok=True)
    env = worker_env(backend, queue, var_dir, llm, **extra)
    proc = start_worker(worker_command(var_dir, env), queue, var_dir, env)
    try:
        await wait_until_ready(proc)
    except BaseException:
        stop(proc.proc)
        raise
    return proc


async def forget_queue(queue: str) -> None:
    client = await redis_client()
    try:
        await client.delete(queue, f"{queue}:health-check")
    finally:
        await client.aclose()


@asynccontextmanager
async def enqueuing_to(db: Backend, queue: str) -> AsyncIterator[Settings]:
    original = get_settings()
    settings = use_settings(on_queue(db.settings, queue))
    try:
        yield settings
    finally:
        await runner.close_pool()
        use_settings(original)


@asynccontextmanager
async def one_worker(
    db: Backend, var_dir: Path, llm: FakeLLM, **extra: str | None
) -> AsyncIterator[WorkerProc]:
    """A worker of its own for one test (an environment the shared one does not have)."""
    worker = await launch(db, var_dir, llm, **extra)
    try:
        async with enqueuing_to(db, worker.queue):
            yield worker
    finally:
        stop(worker.proc)
        await forget_queue(worker.queue)


@pytest_asyncio.fixture(scope="module")
async def llm_worker(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory, fake_llm_server: FakeLLM
) -> AsyncIterator[WorkerProc]:
    """The shared worker: the primary model with one fallback, a daily budget of $1.00."""
    if backend.name != "postgres":
        pytest.skip("the arq worker runs against PostgreSQL only")
    require_redis()
    worker = await launch(
        backend, tmp_path_factory.mktemp("assistant-worker"), fake_llm_server,
        RISKOPS_ASSISTANT_FALLBACKS=json.dumps([FALLBACK]),
    )  # fmt: skip
    try:
        yield worker
    finally:
        stop(worker.proc)
        await forget_queue(worker.queue)


@pytest_asyncio.fixture
async def on_worker(db: Backend, llm_worker: WorkerProc) -> AsyncIterator[Settings]:
    async with enqueuing_to(db, llm_worker.queue) as settings:
        yield settings


async def answered(row: AssistantResponse, worker: WorkerProc) -> AssistantResponse:
    job = await enqueue(row)
    done = await wait_finished(job.id, worker)
    assert done.status == JobStatus.SUCCEEDED, f"{done.error}\n{worker.describe()}"
    return await AssistantResponse.get(id=row.id)


async def call_events(org_id: int, response_id: int) -> list[dict[str, Any]]:
    rows = await AuditEvent.filter(
        org_id=org_id, action="assistant.call", entity_id=str(response_id)
    ).values_list("new_values", flat=True)
    return [json.loads(r) for r in rows]


# ----------------------------------------------------------------------------- shared worker


async def test_success_through_the_worker(on_worker, llm_worker, tenant, fake_llm) -> None:
    alert_id, pii = await pii_alert(tenant)
    row = await answered(await pending(tenant.org_id, alert_id), llm_worker)
    assert (row.status, row.model, row.attempts) == (S.SUCCEEDED, MODEL, 1), row.reason
    assert row.cost > 0 and row.tokens_out == 42 and row.citations
    assert row.output is not None and pii["customer"] in row.output
    wire = fake_llm.all_bytes()
    assert wire and all(v.encode() not in wire for v in pii.values())
    (event,) = await call_events(tenant.org_id, row.id)
    assert (event["outcome"], event["cost"]) == ("succeeded", str(row.cost))


async def test_the_fallback_through_the_worker(on_worker, llm_worker, tenant, fake_llm) -> None:
    fake_llm.behave("gpt-4o-mini", "error", status=502)
    alert_id, _ = await pii_alert(tenant)
    row = await answered(await pending(tenant.org_id, alert_id), llm_worker)
    assert (row.status, row.model) == (S.SUCCEEDED, FALLBACK), row.reason
    assert [r.model for r in fake_llm.received] == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]


async def test_bounded_retries_then_unavailable_through_the_worker(
    on_worker, llm_worker, tenant, fake_llm
) -> None:
    fake_llm.behave("*", "error", status=500)
    alert_id, _ = await pii_alert(tenant)
    row = await answered(await pending(tenant.org_id, alert_id), llm_worker)
    assert row.status is S.UNAVAILABLE
    assert row.reason == (
        "The provider refused with HTTP 500 after 2 attempts of gpt-4o-mini, 2 of gpt-4o."
    )
    assert len(fake_llm.requests_for("gpt-4o-mini")) == 2
    assert len(fake_llm.requests_for("gpt-4o")) == 2
    job = await Job.get(dedupe_key=f"assistant.respond:{row.id}")
    assert job.attempts == 1  # the provider's retries, never the runner's


async def test_the_governed_switch_through_the_worker(
    on_worker, llm_worker, tenant, fake_llm
) -> None:
    _, approver = await tenant.user("approver", name="Ana Ruiz")
    await kill_switches.set_kill_switch(approver, "assistant", None, "Provider incident")
    alert_id, _ = await pii_alert(tenant)
    row = await answered(await pending(tenant.org_id, alert_id), llm_worker)
    assert row.status is S.UNAVAILABLE
    assert row.reason is not None
    assert row.reason.startswith("The assistant is off: Ana Ruiz set the assistant kill switch")
    assert row.reason.endswith(": Provider incident.")
    assert fake_llm.received == []


async def test_the_budget_spent_through_the_worker(on_worker, llm_worker, tenant, fake_llm) -> None:
    await pending(tenant.org_id, 1, cost=Decimal("1.00"))
    alert_id, _ = await pii_alert(tenant)
    row = await answered(await pending(tenant.org_id, alert_id), llm_worker)
    assert (row.status, row.reason) == (
        S.UNAVAILABLE,
        "The assistant is off: the daily budget of $1.00 is spent ($1.00 today); it resets at "
        "00:00 UTC.",
    )  # fmt: skip
    assert fake_llm.received == []


async def test_budget_warnings_through_the_worker(on_worker, llm_worker, tenant, fake_llm) -> None:
    alert_id, _ = await pii_alert(tenant)
    await pending(tenant.org_id, alert_id, cost=Decimal("0.79999"))
    await answered(await pending(tenant.org_id, alert_id), llm_worker)
    await pending(tenant.org_id, alert_id, cost=Decimal("0.15"))
    for _ in range(3):
        row = await answered(await pending(tenant.org_id, alert_id), llm_worker)
        assert row.status is S.SUCCEEDED, row.reason
    thresholds = await BudgetNotice.filter(org_id=tenant.org_id).values_list("threshold", flat=True)
    assert sorted(thresholds) == [80, 95]
    messages = await OutboxMessage.filter(org_id=tenant.org_id, kind="assistant.budget").order_by(
        "id"
    )
    assert [(m.channel, m.payload["threshold"]) for m in messages] == [
        ("review", 80), ("review", 95)
    ]  # fmt: skip


# ----------------------------------------------------------------------------- own workers


async def test_safe_mode_in_the_workers_environment(db, tenant, fake_llm, tmp_path) -> None:
    require_redis()
    async with one_worker(db, tmp_path / "safe", fake_llm, AGENT_SAFE_MODE="1") as worker:
        alert_id, _ = await pii_alert(tenant)
        row = await answered(await pending(tenant.org_id, alert_id), worker)
    assert (row.status, row.reason) == (
        S.UNAVAILABLE,
        "The assistant is off: AGENT_SAFE_MODE is set on the server (agent kill switch).",
    )  # fmt: skip
    assert fake_llm.received == []


async def test_no_model_in_the_workers_environment(db, tenant, fake_llm, tmp_path) -> None:
    require_redis()
    async with one_worker(
        db, tmp_path / "nomodel", fake_llm, RISKOPS_ASSISTANT_MODEL=None
    ) as worker:
        alert_id, _ = await pii_alert(tenant)
        row = await answered(await pending(tenant.org_id, alert_id), worker)
    assert (row.status, row.reason) == (
        S.UNAVAILABLE,
        "The assistant is off: no model is configured: set RISKOPS_ASSISTANT_MODEL.",
    )  # fmt: skip
    assert fake_llm.received == []


KILL_JOB_TIMEOUT = 10  # s: arq gives up on a dead worker's job after this + 10 s


async def test_a_worker_killed_mid_call_counts_the_call_once(
    db, tenant, fake_llm, tmp_path
) -> None:
    """The provider holds the first request 3 s; the worker is SIGKILLed meanwhile. Once arq's
    claim on the job lapses, a new worker runs it again: the response is finished once, with
    one audit event and the cost of one call, and the job shows its two attempts."""
    require_redis()
    fake_llm.behave("gpt-4o-mini", "slow", delay=3)
    queue = f"riskops:test:{uuid.uuid4().hex[:12]}"
    env = {"RISKOPS_JOB_TIMEOUT_SECONDS": str(KILL_JOB_TIMEOUT)}
    first = await launch(db, tmp_path / "first", fake_llm, queue, **env)
    second: WorkerProc | None = None
    try:
        async with enqueuing_to(db, queue):
            alert_id, _ = await pii_alert(tenant)
            row = await pending(tenant.org_id, alert_id)
            job = await enqueue(row)
            deadline = time.monotonic() + 30
            while not fake_llm.received:  # the provider holds the request now
                assert time.monotonic() < deadline, first.describe()
                await asyncio.sleep(0.05)
            first.proc.kill()
            first.proc.wait(timeout=10)
            fake_llm.behave("gpt-4o-mini", "ok")  # the provider recovers for the next worker
            held = await AssistantResponse.get(id=row.id)
            assert (held.status, held.attempts) == (S.PENDING, 1)
            assert held.prompt_hash  # the prompt was on record before the call

            second = await launch(db, tmp_path / "second", fake_llm, queue, **env)
            deadline = time.monotonic() + KILL_JOB_TIMEOUT + 10 + 30
            while (done := await Job.get(id=job.id)).status not in (
                JobStatus.SUCCEEDED, JobStatus.FAILED,
            ):  # fmt: skip
                assert time.monotonic() < deadline, f"{done}\n{second.describe()}"
                await asyncio.sleep(0.2)
    finally:
        stop(first.proc)
        if second is not None:
            stop(second.proc)
        await forget_queue(queue)

    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 2), done.error
    row = await AssistantResponse.get(id=row.id)
    assert (row.status, row.attempts) == (S.SUCCEEDED, 2), row.reason
    assert len(fake_llm.requests_for("gpt-4o-mini")) == 2
    (event,) = await call_events(tenant.org_id, row.id)
    assert event["cost"] == str(row.cost)
    # the cost of one call, once: what the organization spent today is this response alone
    spent = await AssistantResponse.filter(org_id=tenant.org_id).values_list("cost", flat=True)
    assert sum(Decimal(str(c)) for c in spent) == row.cost > 0
