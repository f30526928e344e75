"""`enqueue()`: one API for both runners.

With `RISKOPS_REDIS_URL` set, jobs go to arq workers (`riskops worker`); otherwise they run in
this process as asyncio tasks. Either way a `Job` row records status, attempts and errors.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
import uuid
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from riskops.jobs import tasks  # noqa: F401  (registers the job functions)
from riskops.jobs.models import Job, JobStatus
from riskops.jobs.registry import JOBS
from riskops.server.settings import get_settings

log = logging.getLogger("riskops.jobs")

MAX_ATTEMPTS = 3
QUEUE_NAME = "riskops:queue"
_inprocess: set[asyncio.Task[None]] = set()
_arq_pool: Any = None


async def arq_pool() -> Any:
    global _arq_pool
    if _arq_pool is None:
        from arq import create_pool
        from arq.connections import RedisSettings

        url = get_settings().redis_url
        assert url, "arq_pool() needs RISKOPS_REDIS_URL"
        _arq_pool = await create_pool(RedisSettings.from_dsn(url), default_queue_name=QUEUE_NAME)
    return _arq_pool


async def close_pool() -> None:
    global _arq_pool
    if _arq_pool is not None:
        await _arq_pool.aclose()
        _arq_pool = None


async def enqueue(
    kind: str,
    *,
    org_id: int | None = None,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> Job:
    """Record and dispatch a job. The same `dedupe_key` twice returns the first job."""
    job, created = await create_job(kind, org_id=org_id, payload=payload, dedupe_key=dedupe_key)
    if not created:
        return job
    if get_settings().redis_url:
        pool = await arq_pool()
        await pool.enqueue_job("execute", str(job.id), _job_id=str(job.id))
    else:
        task = asyncio.create_task(_run_inprocess(str(job.id)))
        _inprocess.add(task)
        task.add_done_callback(_inprocess.discard)
    return job


async def create_job(
    kind: str,
    *,
    org_id: int | None = None,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> tuple[Job, bool]:
    if kind not in JOBS:
        raise ValueError(f"unknown job kind {kind!r}; known: {', '.join(sorted(JOBS))}")
    try:
        job = await Job.create(
            id=uuid.uuid4(), kind=kind, org_id=org_id, payload=payload or {},
            dedupe_key=dedupe_key,
        )  # fmt: skip
    except IntegrityError:
        existing = await Job.get_or_none(dedupe_key=dedupe_key)
        if existing is None:
            raise
        return existing, False
    return job, True


async def _run_inprocess(job_id: str) -> None:
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if await run_job({"job_try": attempt}, job_id, final=attempt == MAX_ATTEMPTS):
            return
        await asyncio.sleep(min(2**attempt, 30))


async def drain(timeout: float = 30.0) -> None:
    """Wait for in-process jobs (shutdown, tests)."""
    if _inprocess:
        await asyncio.wait(list(_inprocess), timeout=timeout)


async def run_job(ctx: dict[str, Any], job_id: str, *, final: bool) -> bool:
    """Run one attempt; True when the job is finished (succeeded, or failed for good)."""
    job = await Job.get_or_none(id=job_id)
    if job is None:
        log.error("job %s vanished", job_id)
        return True
    if job.status == JobStatus.SUCCEEDED:
        return True  # at-least-once delivery: already done
    job.status = JobStatus.RUNNING
    job.attempts += 1
    job.started_at = datetime.now(UTC)
    await job.save(update_fields=["status", "attempts", "started_at"])
    try:
        result = await JOBS[job.kind](ctx, **job.payload)
    except Exception as exc:
        log.exception("job %s (%s) attempt %s failed", job.id, job.kind, job.attempts)
        job.error = "".join(traceback.format_exception_only(exc)).strip()[:4000]
        job.status = JobStatus.FAILED if final else JobStatus.QUEUED
        job.finished_at = datetime.now(UTC) if final else None
        await job.save(update_fields=["status", "error", "finished_at"])
        return final
    job.status = JobStatus.SUCCEEDED
    job.result = result
    job.error = None
    job.finished_at = datetime.now(UTC)
    await job.save(update_fields=["status", "result", "error", "finished_at"])
    return True


async def queue_depth() -> int:
    return await Job.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).count()
