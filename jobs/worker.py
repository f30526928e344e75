"""arq `WorkerSettings` (`riskops worker`): the same job functions, on Redis."""

from __future__ import annotations

from typing import Any, ClassVar

from arq import Retry, cron
from arq.connections import RedisSettings

from riskops.jobs.runner import MAX_ATTEMPTS, QUEUE_NAME, create_job, run_job
from riskops.server.db import close_db, init_db
from riskops.server.settings import get_settings


async def execute(ctx: dict[str, Any], job_id: str) -> None:
    attempt = ctx.get("job_try", 1)
    done = await run_job(ctx, job_id, final=attempt >= MAX_ATTEMPTS)
    if not done:
        raise Retry(defer=attempt * 5)


async def cron_audit_checkpoint(ctx: dict[str, Any]) -> None:
    # arq runs a cron job on one worker only (unique=True); record it as a Job row like any other.
    job, _ = await create_job("audit.checkpoint")
    await run_job(ctx, str(job.id), final=True)


async def startup(ctx: dict[str, Any]) -> None:
    await init_db(get_settings())


async def shutdown(ctx: dict[str, Any]) -> None:
    await close_db()


class WorkerSettings:
    functions: ClassVar[list[Any]] = [execute]
    cron_jobs: ClassVar[list[Any]] = [cron(cron_audit_checkpoint, minute=set(range(0, 60, 15)))]
    on_startup = startup
    on_shutdown = shutdown
    queue_name = QUEUE_NAME
    max_tries = MAX_ATTEMPTS
    redis_settings = RedisSettings.from_dsn(get_settings().redis_url or "redis://127.0.0.1:6379")
