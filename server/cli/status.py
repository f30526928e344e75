"""`riskops status`: the platform's health in one table (database, migrations, queue, audit
spool and chains); exit 1 when something fails."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import typer
from rich.table import Table

from riskops import __version__
from riskops.audit import spool
from riskops.audit.models import AuditCheckpoint, AuditHead
from riskops.jobs.runner import queue_depth
from riskops.server.cli.common import (
    CliError,
    _settings,
    app,
    database,
    migration_state,
    out,
    redact,
)
from riskops.server.identity.models import Organization, User, UserStatus
from riskops.server.settings import Settings

STATUS_MAX_CHAINS = 50


@dataclass
class Check:
    name: str
    state: str  # ok | warn | fail | info
    detail: str


STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "info": "cyan"}


async def _redis_check(settings: Settings) -> Check:
    if not settings.redis_url:
        return Check("redis", "info", "not configured: jobs run in-process")
    # Imported only when Redis is configured: the client library takes longer to import than
    # the rest of `riskops status` together.
    from redis.asyncio import Redis

    client = Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except Exception as exc:
        return Check("redis", "fail", f"{redact(settings.redis_url)} unreachable: {exc}")
    finally:
        await client.aclose()
    return Check("redis", "ok", f"{redact(settings.redis_url)} reachable")


async def _counts_checks() -> list[Check]:
    users = await User.filter(deleted_at=None).count()
    active = await User.filter(deleted_at=None, status=UserStatus.ACTIVE).count()
    return [
        Check("job queue", "ok", f"{await queue_depth()} queued or running"),
        Check("organizations", "info", str(await Organization.all().count())),
        Check("users", "info", f"{users} ({active} active)"),
    ]


async def _chain_rows() -> list[tuple[str, ...]]:
    slugs = dict(await Organization.all().values_list("id", "slug"))
    rows: list[tuple[str, ...]] = []
    for head in await AuditHead.all().order_by("org_id").limit(STATUS_MAX_CHAINS):
        cp = await AuditCheckpoint.filter(org_id=head.org_id).order_by("-seq", "-id").first()
        checkpoint = f"seq {cp.seq} at {cp.ts}" if cp else "none yet"
        behind = str(head.seq - cp.seq) if cp else str(head.seq)
        slug = str(slugs.get(head.org_id, "(platform)" if head.org_id == 0 else "?"))
        rows.append((str(head.org_id), slug, str(head.seq), checkpoint, behind))
    return rows


async def _database_checks(settings: Settings) -> tuple[list[Check], list[tuple[str, ...]]]:
    where = redact(settings.db_url)
    try:
        async with database(settings, require_migrated=False):
            checks = [Check("database", "ok", f"{where} reachable")]
            state = await migration_state(settings)
            if state.pending:
                detail = f"{len(state.pending)} pending ({', '.join(state.pending)}): run migrate"
                checks.append(Check("migrations", "warn", detail))
                return checks, []
            checks.append(Check("migrations", "ok", f"up to date ({len(state.applied)} applied)"))
            return checks + await _counts_checks(), await _chain_rows()
    except CliError as exc:
        return [Check("database", "fail", exc.message)], []


async def _status(settings: Settings) -> tuple[list[Check], list[tuple[str, ...]]]:
    spool.configure(settings.spool_dir)
    checks = [Check("version", "info", f"riskops {__version__} ({settings.env})")]
    db_checks, chains = await _database_checks(settings)
    depth = spool.depth()
    spooled = Check(
        "audit spool",
        "warn" if depth else "ok",
        f"{depth} event(s) waiting: run `riskops audit flush-spool`" if depth else "empty",
    )
    return [*checks, *db_checks, await _redis_check(settings), spooled], chains


def _print_status(checks: list[Check], chains: list[tuple[str, ...]]) -> None:
    table = Table(title="riskops platform status")
    for column in ("check", "state", "detail"):
        table.add_column(column)
    for c in checks:
        table.add_row(c.name, f"[{STYLE[c.state]}]{c.state.upper()}[/]", c.detail)
    out.print(table)
    if chains:
        chain_table = Table(title="audit chains (latest checkpoint)")
        for column in ("org", "slug", "head seq", "latest checkpoint", "events since"):
            chain_table.add_column(column)
        for row in chains:
            chain_table.add_row(*row)
        out.print(chain_table)


@app.command("status")
def status_cmd(ctx: typer.Context) -> None:
    """Report database, migrations, Redis, audit spool, job queue, tenants and checkpoints.

    Exits 1 when the database, or a configured Redis, is unreachable.
    """
    checks, chains = asyncio.run(_status(_settings(ctx)))
    _print_status(checks, chains)
    failed = [c.name for c in checks if c.state == "fail"]
    if failed:
        raise CliError(f"unhealthy: {', '.join(failed)} (see the table above).")
