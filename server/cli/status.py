"""`riskops status`: the platform's health on one screen (or `--json` for scripts), built by
`server.operations.status` like the API's `platformStatus` and the admin page; exit 1 when the
platform is degraded (a check failed)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.table import Table

from riskops.server.cli.common import CliError, _settings, app, database, out
from riskops.server.identity.models import Organization, User, UserStatus
from riskops.server.operations import status as service
from riskops.server.operations.status import INFO, Check, StatusReport
from riskops.server.settings import Settings

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "info": "cyan"}


async def _counts_checks() -> list[Check]:
    users = await User.filter(deleted_at=None).count()
    active = await User.filter(deleted_at=None, status=UserStatus.ACTIVE).count()
    return [
        Check("organizations", INFO, str(await Organization.all().count())),
        Check("users", INFO, f"{users} ({active} active)"),
    ]


async def _status(settings: Settings) -> StatusReport:
    try:
        async with database(settings, require_migrated=False):
            report = await service.collect(settings)
            if not report.degraded:
                report.checks.extend(await _counts_checks())
            return report
    except CliError as exc:
        return service.unreachable(settings, exc.message)


def _print(report: StatusReport) -> None:
    table = Table(title="riskops platform status")
    for column in ("check", "state", "detail"):
        table.add_column(column)
    for c in report.checks:
        table.add_row(c.name, f"[{STYLE[c.state]}]{c.state.upper()}[/]", c.detail)
    out.print(table)
    if report.chains:
        chains = Table(title="audit chains (latest checkpoint)")
        for column in ("org", "slug", "head seq", "latest checkpoint", "events since"):
            chains.add_column(column)
        for ch in report.chains:
            checkpoint = (
                f"seq {ch.checkpoint_seq} at {ch.checkpoint_at}" if ch.checkpoint_at else "none yet"
            )
            chains.add_row(str(ch.org_id), ch.slug, str(ch.head_seq), checkpoint, str(ch.behind))
        out.print(chains)


@app.command("status")
def status_cmd(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as one JSON object (for scripts).")
    ] = False,
) -> None:
    """Report versions, database and latency, migrations, queue and workers, audit spool, last
    backup, audit checkpoints, open SEV0/SEV1 runs, kill switches and maintenance mode.

    Exits 1 when the platform is degraded (a check FAILs: the database or a configured Redis
    unreachable, pending migrations, no recent verified backup in production).
    """
    report = asyncio.run(_status(_settings(ctx)))
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        _print(report)
    if report.degraded:
        raise CliError(f"unhealthy: {', '.join(report.failed)} (see the report above).")
