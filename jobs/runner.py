"""`enqueue()`: one API for both runners.

With `RISKOPS_REDIS_URL` set, jobs go to arq workers (`riskops worker`) on the queue
`RISKOPS_JOB_QUEUE`; otherwise they run in this process as asyncio tasks. Either way a `Job` row
records status, attempts and errors, and `run_job` is the one place that runs an attempt.

Delivery is at least once, so `run_job` is idempotent: a job that has finished (succeeded, or failed
for good) is never run again, and a job's function is itself idempotent. The functions are
registered by `riskops.jobs.catalog`, which the web app and the worker import at start; this module
never imports it statically (that would close an import cycle through every domain that enqueues)
but loads it by name the first time it creates or runs a job (`registry.load_all`), so a process
that did not import it at start (the CLI) still knows every kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from riskops.jobs.models import Job, JobStatus
from riskops.jobs.registry import load_all
from riskops.server.operations import maintenance
from riskops.server.settings import ConfigError, get_settings

if TYPE_CHECKING:
    from arq.connections import ArqRedis, RedisSettings

    from riskops.server.settings import Settings

log = logging.getLogger("riskops.jobs")

MAX_ATTEMPTS = 3
QUEUE_NAME = "riskops:queue"  # the default of `Settings.job_queue`, which is what is used
FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED)

_inprocess: set[asyncio.Task[None]] = set()
_arq: tuple[asyncio.AbstractEventLoop, tuple[str, str], ArqRedis] | None = None


def backoff_seconds(attempt: int) -> float:
    """The pause before the next attempt after attempt `attempt` failed: 5 s, 10 s, 20 s, ≤ 60 s
    (`RISKOPS_JOB_RETRY_SECONDS`, 5, is the first pause; each later one doubles it).

    Both runners use it (the in-process loop sleeps, the arq worker defers its retry). A module
    function, so tests can make it instant."""
    return float(min(get_settings().job_retry_seconds * 2 ** (attempt - 1), 60))


async def arq_pool() -> ArqRedis:
    """The arq connection for the active settings' Redis URL and queue, in this event loop
    (recreated when either changes: tests switch settings, the CLI runs several loops)."""
    global _arq
    settings = get_settings()
    if not settings.redis_url:
        raise ConfigError("arq_pool() needs RISKOPS_REDIS_URL; without it jobs run in-process")
    loop = asyncio.get_running_loop()
    key = (settings.redis_url, settings.job_queue)
    if _arq is not None and _arq[0] is loop and _arq[1] == key:
        return _arq[2]
    await close_pool()
    from arq import create_pool

    pool = await create_pool(
        redis_settings(settings.redis_url, settings), default_queue_name=settings.job_queue
    )
    if _arq is not None and _arq[0] is loop and _arq[1] == key:
        await pool.aclose()  # another task made one meanwhile: use that
        return _arq[2]
    _arq = (loop, key, pool)
    return pool


def redis_settings(url: str, settings: Settings) -> RedisSettings:
    """arq's connection settings for `url`, retrying to connect `redis_connect_retries` times."""
    from arq.connections import RedisSettings

    redis = RedisSettings.from_dsn(url)
    redis.conn_retries = settings.redis_connect_retries
    return redis


async def close_pool() -> None:
    global _arq
    current, _arq = _arq, None
    if current is not None and current[0] is asyncio.get_running_loop():
        await current[2].aclose()
    # (a pool of another, finished event loop cannot be closed from here; it is dropped)


async def enqueue(
    kind: str,
    *,
    org_id: int | None = None,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> Job:
    """Record and dispatch a job. The same `dedupe_key` twice returns the first job.

    Call it after the transaction that made the job necessary has committed. If the queue cannot
    be reached, the row is removed again and the error raised, so nothing claims to be queued
    that is not (and a retry with the same `dedupe_key` dispatches afresh)."""
    job, created = await create_job(kind, org_id=org_id, payload=payload, dedupe_key=dedupe_key)
    if not created:
        return job
    if get_settings().redis_url:
        try:
            pool = await arq_pool()
            await pool.enqueue_job("execute", str(job.id), _job_id=str(job.id))
        except Exception:
            log.exception("could not queue job %s (%s)", job.id, kind)
            await Job.filter(id=job.id).delete()
            raise
    else:
        task = asyncio.create_task(_run_inprocess(str(job.id)), name=f"job {kind} {job.id}")
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
    """The `Job` row (QUEUED), and whether it is new (False: the one with this `dedupe_key`)."""
    known = load_all()
    if kind not in known:
        raise ValueError(
            f"unknown job kind {kind!r}; known: {', '.join(sorted(known)) or 'none'} "
            "(register it in riskops.jobs.catalog)"
        )
    if dedupe_key is not None:
        existing = await Job.get_or_none(dedupe_key=dedupe_key)
        if existing is not None:
            return existing, False
    try:
        job = await Job.create(
            id=uuid.uuid4(), kind=kind, org_id=org_id, payload=payload or {},
            dedupe_key=dedupe_key,
        )  # fmt: skip
    except IntegrityError:
        # Lost a race with another enqueue of the same dedupe_key.
        existing = await Job.get_or_none(dedupe_key=dedupe_key) if dedupe_key else None
        if existing is None:
            raise
        return existing, False
    return job, True


async def _run_inprocess(job_id: str) -> None:
    try:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            ctx = {"job_id": job_id, "job_try": attempt}
            if await run_job(ctx, job_id, final=attempt == MAX_ATTEMPTS):
                return
            await asyncio.sleep(backoff_seconds(attempt))
    except Exception:
        # run_job records the job's own failures; this is the database failing under it.
        log.exception("in-process job %s could not be run", job_id)


async def drain(timeout: float = 30.0) -> None:  # noqa: ASYNC109  (a budget for all of them)
    """Wait for in-process jobs, including any they enqueue meanwhile (shutdown, tests)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending := [t for t in _inprocess if not t.done()]:
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("drain: %d job(s) still running after %ss", len(pending), timeout)
            return
        await asyncio.wait(pending, timeout=remaining)


async def run_job(ctx: dict[str, Any], job_id: str, *, final: bool | None = None) -> bool:
    """Run one attempt; True when the job is finished (succeeded, or failed for good).

    `final` says this is the last attempt the caller will make; the job also fails for good once
    its row has counted `MAX_ATTEMPTS` attempts (redeliveries after a crash count too)."""
    job = await Job.get_or_none(id=job_id)
    if job is None:
        log.error("job %s vanished", job_id)
        return True
    if job.status in FINISHED:
        return True  # at-least-once delivery: already done, never run twice
    # Claim the attempt in one statement, unless it finished between the read and now.
    claimed = await Job.filter(id=job_id, status__not_in=FINISHED).update(
        status=JobStatus.RUNNING, attempts=F("attempts") + 1, started_at=datetime.now(UTC)
    )
    if not claimed:
        return True
    job = await Job.get(id=job_id)
    last = bool(final) or job.attempts >= MAX_ATTEMPTS
    try:
        fn = load_all().get(job.kind)
        if fn is None:
            raise LookupError(f"unknown job kind {job.kind!r} (not registered in this process)")
        await maintenance.refuse_job(job.kind, job.org_id)  # read-only: fails with the reason
        result = await fn(ctx, **job.payload)
    except asyncio.CancelledError:
        # Interrupted (worker shutting down, arq's job timeout): not the job's fault; a
        # redelivery runs it again. Record it, then let the cancellation through.
        with contextlib.suppress(Exception):
            await Job.filter(id=job_id, status=JobStatus.RUNNING).update(
                status=JobStatus.QUEUED, error=f"attempt {job.attempts} was interrupted"
            )
        raise
    except Exception as exc:
        log.exception("job %s (%s) attempt %s failed", job.id, job.kind, job.attempts)
        error = "".join(traceback.format_exception_only(exc)).strip()[:4000]
        await Job.filter(id=job_id).update(
            status=JobStatus.FAILED if last else JobStatus.QUEUED,
            error=error,
            finished_at=datetime.now(UTC) if last else None,
        )
        return last
    await Job.filter(id=job_id).update(
        status=JobStatus.SUCCEEDED, result=result, error=None, finished_at=datetime.now(UTC)
    )
    return True


async def queue_depth() -> int:
    """Jobs not finished yet (either runner)."""
    return await Job.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).count()
