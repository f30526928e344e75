"""`riskops maintenance on|off|status`: read-only (maintenance) mode from the machine (seed 003
DO-001, EP-001/002). Without --org it covers every organization, which only the machine may do;
with --org, the same period an admin of that organization starts on the Maintenance page."""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated

import typer
from rich.table import Table

from riskops.audit.types import SYSTEM_ORG
from riskops.server.cli.common import _settings, app, cli_actor, database, org_principal, out
from riskops.server.core.formatting import when
from riskops.server.operations import maintenance
from riskops.server.operations.models import MaintenancePeriod
from riskops.server.settings import Settings

maintenance_app = typer.Typer(
    help="Read-only (maintenance) mode: writes answer 503 with the reason; reads still work.",
    no_args_is_help=True,
)
app.add_typer(maintenance_app, name="maintenance")

Org = Annotated[
    str | None,
    typer.Option("--org", help="Slug or id of one organization (default: every organization)."),
]


def _by() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in this environment (a container without one)
        return "cli"


async def _on(settings: Settings, reason: str, org: str | None) -> str:
    async with database(settings):
        if org is None:
            period = await maintenance.start_everywhere(cli_actor(SYSTEM_ORG), reason, by=_by())
            where = "every organization"
        else:
            principal = await org_principal(org)
            period = await maintenance.start(principal, reason, by=_by())
            where = f"organization {org}"
        return (
            f"Maintenance on for {where} (period {period.id}): writes answer 503 with "
            f"“{period.reason}”. End it with `riskops maintenance off"
            + (f" --org {org}`." if org else "`.")
        )


async def _off(settings: Settings, org: str | None) -> str:
    async with database(settings):
        if org is None:
            period = await maintenance.end_everywhere(cli_actor(SYSTEM_ORG), by=_by())
            where = "every organization"
        else:
            period = await maintenance.end(await org_principal(org), by=_by())
            where = f"organization {org}"
        return f"Maintenance off for {where} (period {period.id}): writes work again."


async def _periods(settings: Settings) -> list[MaintenancePeriod]:
    async with database(settings):
        return await maintenance.open_periods()


@maintenance_app.command("on")
def on_cmd(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="Why (shown with every refusal).")],
    org: Org = None,
) -> None:
    """Make riskops read-only (audited): every mutation, form and job that writes answers 503
    with REASON until `riskops maintenance off`. Signing in and reading keep working."""
    out.print(asyncio.run(_on(_settings(ctx), reason, org)))


@maintenance_app.command("off")
def off_cmd(ctx: typer.Context, org: Org = None) -> None:
    """End read-only mode (audited): of every organization, or of the one --org names."""
    out.print(asyncio.run(_off(_settings(ctx), org)))


@maintenance_app.command("status")
def status_cmd(ctx: typer.Context) -> None:
    """The periods on now, of every organization."""
    periods = asyncio.run(_periods(_settings(ctx)))
    if not periods:
        out.print("Maintenance is off: writes work.")
        return
    table = Table(title="maintenance periods on")
    for column in ("id", "scope", "since", "by", "reason"):
        table.add_column(column)
    for p in periods:
        scope = "every organization" if p.org_id is None else f"org {p.org_id}"
        table.add_row(str(p.id), scope, when(p.started_at), p.started_by, p.reason)
    out.print(table)
