"""arq `WorkerSettings` (`riskops worker`): the same job functions, on Redis.

Everything comes from the settings active when this module is imported (`RISKOPS_REDIS_URL`,
`RISKOPS_JOB_QUEUE`, `RISKOPS_DATABASE_URL`, …): the CLI calls `use_settings(...)` first, and
`arq riskops.jobs.worker.WorkerSettings` reads the environment. `worker_settings(settings)` builds
the same thing for explicit settings (`arq.worker.run_worker(worker_settings(s))`).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from arq import Retry, cron
from arq.connections import RedisSettings
from arq.cron import CronJob

from riskops.jobs import catalog  # noqa: F401  (registers every job kind)
from riskops.jobs.runner import (
    MAX_ATTEMPTS,
    backoff_seconds,
    create_job,
    redis_settings,
    run_job,
)
from riskops.jobs.schedule import SCHEDULE, Scheduled
from riskops.server.assistant import provider
from riskops.server.core import process
from riskops.server.db import close_db, init_db
from riskops.server.settings import ConfigError, Settings, get_settings

log = logging.getLogger("riskops.jobs")

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
HEALTH_CHECK_SECONDS = 60


async def execute(ctx: dict[str, Any], job_id: str) -> None:
    """The one arq function: run an attempt of the `Job` row `job_id`."""
    attempt = int(ctx.get("job_try", 1))
    try:
        done = await run_job(ctx, job_id, final=attempt >= MAX_ATTEMPTS)
    except Exception:
        # Not the job failing (run_job records that) but its bookkeeping: the database is
        # unreachable, say. Let arq deliver it again later rather than drop it.
        if attempt >= MAX_ATTEMPTS:
            raise
        log.exception("job %s: attempt %s could not be run; retrying", job_id, attempt)
        raise Retry(defer=backoff_seconds(attempt)) from None
    if not done:
        raise Retry(defer=backoff_seconds(attempt))


async def cron_audit_checkpoint(ctx: dict[str, Any]) -> dict[str, Any]:
    """arq runs a cron job on one worker only (unique); it is recorded as a Job row like any
    other. A redelivery of the same cron run (same arq job id) finds its row and runs nothing."""
    arq_job_id = ctx.get("job_id")
    dedupe_key = f"arq:{arq_job_id}" if arq_job_id else None
    job, _ = await create_job("audit.checkpoint", dedupe_key=dedupe_key)
    await run_job(ctx, str(job.id), final=True)
    return {"job": str(job.id)}


def scheduled_cron(entry: Scheduled) -> CronJob:
    """An arq cron job that records and runs one slot of `entry` as a `Job` row (a redelivery of
    the same slot finds its row and runs nothing)."""

    async def run(ctx: dict[str, Any]) -> dict[str, Any]:
        arq_job_id = ctx.get("job_id")
        dedupe_key = f"arq:{arq_job_id}" if arq_job_id else None
        job, _ = await create_job(entry.kind, dedupe_key=dedupe_key)
        await run_job(ctx, str(job.id), final=True)
        return {"job": str(job.id)}

    run.__qualname__ = run.__name__ = "cron_" + entry.kind.replace(".", "_")
    return cron(
        run,
        name=f"cron:{entry.kind}",
        minute=entry.minute,
        hour=entry.hour,
        weekday=entry.weekday,
    )


def checkpoint_schedule(minutes: int) -> tuple[set[int], set[int] | None]:
    """arq cron `(minute, hour)` for "every `minutes` minutes" on the clock
    (`audit_checkpoint_minutes`): under an hour, at the minutes that are multiples of it;
    otherwise at whole hours (every `minutes // 60` hours from midnight)."""
    if minutes < 1:
        raise ConfigError("RISKOPS_AUDIT_CHECKPOINT_MINUTES must be at least 1")
    if minutes < 60:
        return set(range(0, 60, minutes)), None
    return {0}, set(range(0, 24, max(1, min(24, minutes // 60))))


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    if not settings.redis_url:
        raise ConfigError(
            "the arq worker needs RISKOPS_REDIS_URL (the web processes must use the same one); "
            "without it, jobs run inside the web process and no worker is needed"
        )
    await init_db(settings)
    # litellm takes seconds to import: pay it here, not inside the first assistant job's time
    provider.warm(settings)
    process.settle()


async def shutdown(ctx: dict[str, Any]) -> None:
    await close_db()


def worker_settings(settings: Settings | None = None) -> dict[str, Any]:
    """The arq worker's settings (a dict `arq.worker.run_worker` accepts) for `settings`."""
    settings = settings or get_settings()
    minute, hour = checkpoint_schedule(settings.audit_checkpoint_minutes)
    return {
        "functions": [execute],
        "cron_jobs": [
            cron(cron_audit_checkpoint, minute=minute, hour=hour),
            *(scheduled_cron(e) for e in SCHEDULE),
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "queue_name": settings.job_queue,
        "max_tries": MAX_ATTEMPTS,
        # an attempt running longer is cancelled (and retried); the assistant's provider calls
        # are bounded below it (Settings.assistant_call_budget_seconds)
        "job_timeout": settings.job_timeout_seconds,
        # `arq --check riskops.jobs.worker.WorkerSettings` fails once this is 1 s overdue.
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "redis_settings": redis_settings(settings.redis_url or DEFAULT_REDIS_URL, settings),
    }


_SETTINGS = worker_settings()


class WorkerSettings:
    """`arq riskops.jobs.worker.WorkerSettings`: built from the settings active at import."""

    functions: ClassVar[list[Any]] = _SETTINGS["functions"]
    cron_jobs: ClassVar[list[CronJob]] = _SETTINGS["cron_jobs"]
    on_startup = startup
    on_shutdown = shutdown
    queue_name: ClassVar[str] = _SETTINGS["queue_name"]
    max_tries: ClassVar[int] = MAX_ATTEMPTS
    job_timeout: ClassVar[int] = _SETTINGS["job_timeout"]
    health_check_interval: ClassVar[int] = HEALTH_CHECK_SECONDS
    redis_settings: ClassVar[RedisSettings] = _SETTINGS["redis_settings"]
