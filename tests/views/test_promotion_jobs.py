"""The promotion jobs (`view.promotion.validate`, `view.promotion.publish`): in process on both
backends, and through a real arq worker process on Redis and PostgreSQL. A validation that
cannot run (a request whose snapshot has lost its definition) is retried up to MAX_ATTEMPTS,
and its error and attempts show on the request; a redelivered job changes nothing."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from riskops.audit.models import AuditEvent
from riskops.jobs import runner
from riskops.jobs.models import Job, JobStatus
from riskops.jobs.runner import MAX_ATTEMPTS
from riskops.server.core.principal import Principal
from riskops.server.settings import Settings, get_settings, use_settings
from riskops.server.views import jobs as view_jobs
from riskops.server.views import promotion as svc
from riskops.server.views import promotion_reads
from riskops.server.views.models import PromotionStatus, SavedView, ViewPromotionRequest
from tests.conftest import REDIS_URL, Backend
from tests.jobs.test_arq_worker import (
    RETRY_SECONDS,
    WAIT_SECONDS,
    WorkerProc,
    on_queue,
    require_redis,
    start_worker,
    stop,
    wait_finished,
    wait_until_ready,
    worker_backoff_seconds,
    worker_command,
)
from tests.views.test_promotion_flow import alerts, make_view, people

S = PromotionStatus


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "backoff_seconds", lambda attempt: 0.0)


async def broken_request(maker: Principal) -> ViewPromotionRequest:
    """A request whose snapshot lost its definition (as a bad migration or a hand edit would
    leave it): the validation cannot run it and fails for real."""
    view = await make_view(maker)
    now = datetime.now(UTC)
    return await ViewPromotionRequest.create(
        org_id=maker.org_id, view_id=view.id, requested_by_id=maker.user_id, rationale="x",
        snapshot={"name": view.name}, status=S.VALIDATING, created_at=now, updated_at=now,
    )  # fmt: skip


async def enqueue_validation(request: ViewPromotionRequest) -> Job:
    return await runner.enqueue(
        svc.VALIDATE_JOB, org_id=request.org_id,
        payload={"org_id": request.org_id, "request_id": request.id},
        dedupe_key=f"{svc.VALIDATE_JOB}:{request.id}",
    )  # fmt: skip


# ----------------------------------------------------------------------------- in process


async def test_a_failing_validation_is_retried_and_its_error_shows(tenant, fast_backoff) -> None:
    p = await people(tenant)
    request = await broken_request(p["maker"])
    job = await enqueue_validation(request)
    await runner.drain()
    row = await Job.get(id=job.id)
    assert (row.status, row.attempts) == (JobStatus.FAILED, MAX_ATTEMPTS)
    assert "KeyError" in (row.error or "")
    request = await ViewPromotionRequest.get(id=request.id)
    assert request.status is S.VALIDATING and request.job_attempts == MAX_ATTEMPTS
    assert request.job_error == "KeyError: 'definition'"
    detail = await promotion_reads.get_request(p["compliance"], request.id)
    assert detail.proposed_lines == [
        "The definition under review cannot be read: see the problems."
    ]
    # The requester may still withdraw it.
    out = await svc.withdraw_promotion(p["maker"], request.id, expected_version=request.version)
    assert out.request.status is S.WITHDRAWN


async def test_jobs_run_again_change_nothing(tenant) -> None:
    p = await people(tenant)
    await alerts(tenant.admin, high=2, low=1)
    view = await make_view(p["maker"])
    result = await svc.request_promotion(p["maker"], view.id, rationale="x", expected_version=1)
    await runner.drain()
    request = await ViewPromotionRequest.get(id=result.request.id)
    assert request.status is S.PENDING_REVIEW and request.rows_selected == 2
    # A redelivery of the validation finds it validated already.
    again = await view_jobs.validate_request(tenant.org_id, request.id)
    assert again == {"skipped": "pending_review"}
    for who in ("compliance", "product"):
        fresh = await ViewPromotionRequest.get(id=request.id)
        await svc.review_promotion(
            p[who], request.id, decision="approve", note="", expected_version=fresh.version
        )
    await runner.drain()
    request = await ViewPromotionRequest.get(id=request.id)
    assert request.status is S.PUBLISHED
    done = await view_jobs.publish_request(tenant.org_id, request.id)
    assert done == {"request_id": request.id, "number": 1, "again": True}
    assert (await SavedView.get(id=view.id)).version == 2  # published once
    published = await AuditEvent.filter(
        org_id=tenant.org_id, action="view.promotion_published"
    ).count()
    assert published == 1


# ----------------------------------------------------------------------------- arq worker


@pytest_asyncio.fixture(scope="module")
async def worker(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerProc]:
    """`riskops worker` on a queue of its own, on the test PostgreSQL database."""
    if backend.name != "postgres":
        pytest.skip("the arq worker runs against PostgreSQL only")
    require_redis()
    queue = f"riskops:test:{uuid.uuid4().hex[:12]}"
    var_dir = tmp_path_factory.mktemp("promo-worker")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env.update(
        RISKOPS_ENV="dev", RISKOPS_DATABASE_URL=backend.settings.db_url,
        RISKOPS_REDIS_URL=REDIS_URL, RISKOPS_JOB_QUEUE=queue, RISKOPS_VAR_DIR=str(var_dir),
        RISKOPS_SECRET_KEY=backend.settings.secret_key or "",
        RISKOPS_AUDIT_CHECKPOINT_MINUTES=str(24 * 60), PYTHONUNBUFFERED="1",
        RISKOPS_JOB_RETRY_SECONDS=str(RETRY_SECONDS),
    )  # fmt: skip
    proc = start_worker(worker_command(var_dir, env), queue, var_dir, env)
    try:
        await wait_until_ready(proc)
        yield proc
    finally:
        stop(proc.proc)


@pytest_asyncio.fixture
async def on_worker(db: Backend, worker: WorkerProc) -> AsyncIterator[Settings]:
    original = get_settings()
    settings = use_settings(on_queue(db.settings, worker.queue))
    try:
        yield settings
    finally:
        await runner.close_pool()
        use_settings(original)


async def job_of(kind: str, request_id: int, worker: WorkerProc) -> Job:
    job = await Job.get(dedupe_key=f"{kind}:{request_id}")
    return await wait_finished(job.id, worker)


@pytest.mark.slow
@pytest.mark.postgres_only
async def test_the_flow_through_a_real_worker(on_worker, worker: WorkerProc, tenant) -> None:
    p = await people(tenant)
    await alerts(tenant.admin, high=4, low=1)
    view = await make_view(p["maker"])
    result = await svc.request_promotion(p["maker"], view.id, rationale="x", expected_version=1)
    validated = await job_of(svc.VALIDATE_JOB, result.request.id, worker)
    assert validated.status == JobStatus.SUCCEEDED, f"{validated.error}\n{worker.describe()}"
    request = await ViewPromotionRequest.get(id=result.request.id)
    assert (request.status, request.rows_selected) == (S.PENDING_REVIEW, 4)
    for who in ("compliance", "product"):
        fresh = await ViewPromotionRequest.get(id=request.id)
        await svc.review_promotion(
            p[who], request.id, decision="approve", note=who, expected_version=fresh.version
        )
    published = await job_of(svc.PUBLISH_JOB, request.id, worker)
    assert published.status == JobStatus.SUCCEEDED, f"{published.error}\n{worker.describe()}"
    assert published.result == {"request_id": request.id, "number": 1}
    view = await SavedView.get(id=view.id)
    assert (view.scope.value, view.published_number) == ("standard", 1)
    actions = await AuditEvent.filter(
        org_id=tenant.org_id, entity_type="view_promotion", entity_id=str(request.id)
    ).values_list("action", "actor")
    assert ("view.promotion_validated", "system") in actions
    assert ("view.promotion_published", "system") in actions


@pytest.mark.slow
@pytest.mark.postgres_only
async def test_a_failing_validation_through_a_real_worker(
    on_worker, worker: WorkerProc, tenant
) -> None:
    p = await people(tenant)
    request = await broken_request(p["maker"])
    job = await enqueue_validation(request)
    deadline = time.monotonic() + WAIT_SECONDS + worker_backoff_seconds()
    seen: list[Any] = []
    while (row := await Job.get(id=job.id)).status not in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        assert time.monotonic() < deadline, f"not finished: {row}\n{worker.describe()}"
        req = await ViewPromotionRequest.get(id=request.id)
        if req.job_attempts:
            seen.append((req.job_attempts, req.job_error))  # between attempts, the error shows
        await asyncio.sleep(0.2)
    assert (row.status, row.attempts) == (JobStatus.FAILED, MAX_ATTEMPTS)
    request = await ViewPromotionRequest.get(id=request.id)
    assert (request.job_attempts, request.job_error) == (MAX_ATTEMPTS, "KeyError: 'definition'")
    assert seen and seen[0][1] == "KeyError: 'definition'"
