"""The ASGI application: one Starlette app serving the GraphQL API and the HTMX pages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from riskops.audit.refusals import flush_refusals
from riskops.audit.store import flush_spool
from riskops.jobs import (
    catalog,  # noqa: F401  (registers every job kind)
    runner,
)
from riskops.jobs.schedule import SCHEDULE, Scheduled, run_schedule
from riskops.jobs.worker import checkpoint_schedule
from riskops.server import health
from riskops.server.core import process
from riskops.server.db import close_db, init_db
from riskops.server.middleware import (
    AuthMiddleware,
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    UnavailableMiddleware,
)
from riskops.server.observability import configure_logging
from riskops.server.operations import availability
from riskops.server.settings import Settings, get_settings, use_settings

log = logging.getLogger("riskops.app")
STATIC_DIR = Path(__file__).resolve().parent.parent / "ui" / "static"


async def _every(seconds: float, what: str, fn) -> None:  # type: ignore[no-untyped-def]
    while True:
        await asyncio.sleep(seconds)
        try:
            await fn()
        except Exception:
            log.exception("periodic %s failed", what)


def _died(task: asyncio.Task[None]) -> None:
    """A background loop must never end quietly: its jobs would silently stop."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s died", task.get_name(), exc_info=task.exception())


def in_process_schedule(settings: Settings) -> tuple[Scheduled, ...]:
    """What the web process schedules without Redis: the cron's jobs and the audit checkpoint
    (every RISKOPS_AUDIT_CHECKPOINT_MINUTES on the clock, like arq's cron)."""
    minute, hour = checkpoint_schedule(settings.audit_checkpoint_minutes)
    return (*SCHEDULE, Scheduled("audit.checkpoint", minute=minute, hour=hour))


def _lifespan(settings: Settings, manage_db: bool):  # type: ignore[no-untyped-def]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_db:
            await init_db(settings)
        tasks = [asyncio.create_task(_every(10, "audit spool flush", flush_spool))]
        # The counts of refused attempts reach the chain once their minute is over (AUDIT.md).
        tasks.append(asyncio.create_task(_every(60, "audit refusal counts", flush_refusals)))
        # This process's request counts reach the availability history (issue 15).
        tasks.append(asyncio.create_task(_every(60, "availability counts", availability.flush)))
        if not settings.redis_url:
            # Without arq's cron, the in-process scheduler runs the scheduled jobs (weekly
            # report, outbox delivery, kill switch expiry) and the periodic audit checkpoint,
            # on the same clock as the cron; each slot is a Job with a dedupe key, so several
            # web processes run it once.
            scheduler = asyncio.create_task(
                run_schedule(in_process_schedule(settings)), name="scheduler"
            )
            scheduler.add_done_callback(_died)
            tasks.append(scheduler)
        if not settings.redis_url and settings.assistant_model:
            # Jobs run in this process: import litellm and build the assistant's Router in a
            # thread now, after start-up, rather than inside the first assistant job (it takes
            # seconds, and the event loop would wait for it).
            from riskops.server.assistant import provider

            warm = asyncio.create_task(
                asyncio.to_thread(provider.warm, settings), name="assistant warm-up"
            )
            tasks.append(warm)
        try:
            await flush_spool()
            process.settle()
            yield
        finally:
            for t in tasks:
                t.cancel()
            with contextlib.suppress(Exception):  # the last minute's counts, if the DB is up
                await availability.flush()
            await runner.drain(timeout=10)
            await runner.close_pool()
            if manage_db:
                await close_db()

    return lifespan


def create_app(settings: Settings | None = None, *, manage_db: bool = True) -> Starlette:
    from riskops.graphql.app import graphql_app
    from riskops.ui.common.rendering import render_error
    from riskops.ui.routes import routes as ui_routes

    settings = use_settings(settings or get_settings())
    configure_logging(settings.log_level)
    routes: list[BaseRoute] = [
        Route("/health", health.health, methods=["GET"]),
        Route("/metrics", health.metrics, methods=["GET"]),
        Route("/graphql", graphql_app(settings), methods=["GET", "POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        *ui_routes,
    ]
    app = Starlette(routes=routes, lifespan=_lifespan(settings, manage_db))
    app.state.settings = settings
    # add_middleware wraps outside-in in reverse order: the last added runs first.
    app.add_middleware(AuthMiddleware, settings=settings)
    app.add_middleware(UnavailableMiddleware, render_page=render_error)  # a DB outage: 503
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, settings=settings, routes=routes)
    return app
