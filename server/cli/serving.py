"""`riskops serve`, `worker`, `migrate` and `seed-demo`: start the processes and prepare an
installation."""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Annotated, cast

import typer
from rich.table import Table

from riskops.server.cli.common import (
    CliError,
    MigrationState,
    _export_env,
    _settings,
    app,
    database,
    migration_state,
    out,
    redact,
)
from riskops.server.db import migrate
from riskops.server.demo import DEMO_NAME, seed_demo
from riskops.server.settings import Settings


async def _apply_migrations(settings: Settings) -> MigrationState:
    """Apply pending migrations; returns the state found before (what was applied)."""
    async with database(settings, require_migrated=False):
        before = await migration_state(settings)
    if before.pending:
        await migrate(settings)
    return before


def _report_migrations(settings: Settings, before: MigrationState) -> None:
    where = redact(settings.db_url)
    if before.pending:
        typer.echo(f"Applied {len(before.pending)} migration(s) to {where}:")
        for name in before.pending:
            typer.echo(f"  {name}")
    else:
        typer.echo(f"{where} is up to date ({len(before.applied)} migrations applied).")


@app.command("serve")
def serve_cmd(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (default: RISKOPS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: RISKOPS_PORT).")] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Web processes (default: RISKOPS_WEB_WORKERS, 1). Several spread requests over "
            "the cores; about one per core.",
        ),
    ] = None,
    demo: Annotated[
        bool | None,
        typer.Option(
            "--demo/--no-demo",
            help="Seed the demo organization into an empty database "
            "(default: on when RISKOPS_ENV=dev, off in prod).",
        ),
    ] = None,
) -> None:
    """Apply migrations, seed the demo if wanted, and serve the web app and GraphQL API."""
    # Imported only to serve: the ASGI server is no part of the other commands (`--help`
    # included), which would all pay for its import.
    import uvicorn

    settings = _settings(ctx)
    processes = workers or settings.web_workers
    if reload and processes > 1:
        raise CliError(
            f"--reload runs one process; it cannot be combined with {processes} workers. "
            "Drop --reload, or use --workers 1 (RISKOPS_WEB_WORKERS=1)."
        )
    if processes > 1 and settings.db_url.startswith("sqlite"):
        raise CliError(
            f"{processes} web processes need PostgreSQL: SQLite, the embedded default, takes "
            "one writing process (two would refuse each other's writes). Set "
            "RISKOPS_DATABASE_URL=postgres://... or serve with --workers 1."
        )
    _export_env(settings)
    if processes > 1:
        _prepare_shared_metrics(settings)
    seed = (not settings.is_prod) if demo is None else demo
    asyncio.run(_prepare_serving(settings, seed=seed))
    uvicorn.run(
        "riskops.server.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        workers=processes,
        timeout_keep_alive=settings.keep_alive_seconds,
        log_level=settings.log_level.lower(),
    )


def _prepare_shared_metrics(settings: Settings) -> None:
    """Several web processes keep their Prometheus samples in files under var/, which /metrics
    of any of them adds up (prometheus_client's multiprocess mode). Emptied at each start, as
    the library requires; the workers read the variable when they import it."""
    directory = settings.var_dir / "prometheus"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory.resolve())


async def _prepare_serving(settings: Settings, *, seed: bool) -> None:
    _report_migrations(settings, await _apply_migrations(settings))
    if seed:
        await _seed_and_print(settings, quiet_if_seeded=True)


@app.command("worker")
def worker_cmd(ctx: typer.Context) -> None:
    """Run an arq worker: executes queued jobs from Redis (RISKOPS_REDIS_URL)."""
    settings = _settings(ctx)
    if not settings.redis_url:
        raise CliError(
            "RISKOPS_REDIS_URL is not set. Without Redis, jobs run in-process inside "
            "`riskops serve` and no worker is needed. To run jobs on workers, start Redis and set "
            "RISKOPS_REDIS_URL=redis://HOST:6379/0 for the web processes and the workers alike."
        )
    _export_env(settings)
    # Imported only now: `riskops.jobs.worker` builds its RedisSettings from the settings
    # installed above, and arq (with the Redis client) is the heaviest import of the CLI. The
    # observability module brings prometheus_client, which of all commands only the worker
    # needs here (about 40 ms of every command's start-up otherwise).
    from arq.typing import WorkerSettingsType
    from arq.worker import run_worker

    from riskops.jobs.worker import WorkerSettings
    from riskops.server.observability import configure_logging

    configure_logging(settings.log_level)
    # A plain class satisfies arq's protocol at run time; its class variables confuse mypy.
    run_worker(cast(WorkerSettingsType, WorkerSettings))


@app.command("migrate")
def migrate_cmd(ctx: typer.Context) -> None:
    """Apply pending database migrations and say which."""
    settings = _settings(ctx)
    _report_migrations(settings, asyncio.run(_apply_migrations(settings)))


def _print_logins(logins: list[tuple[str, str, str]]) -> None:
    table = Table(title="Demo logins (passwords are shown only this once)")
    for column in ("e-mail", "password", "roles"):
        table.add_column(column, no_wrap=True)
    for row in logins:
        table.add_row(*row)
    out.print(table)


async def _seed_and_print(settings: Settings, *, quiet_if_seeded: bool = False) -> None:
    async with database(settings):
        logins = await seed_demo(settings)
    if logins is None:
        if not quiet_if_seeded:
            typer.echo("Already seeded: the database has an organization; nothing changed.")
        return
    typer.echo(f"Seeded the demo organization '{DEMO_NAME}' (slug demo).")
    _print_logins(logins)


@app.command("seed-demo")
def seed_demo_cmd(ctx: typer.Context) -> None:
    """Create the demo organization with one login per role, if the database has none."""
    asyncio.run(_seed_and_print(_settings(ctx)))
