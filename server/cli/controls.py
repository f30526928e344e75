"""`riskops killswitch set|clear|list` and `riskops outbox deliver` (seed 001 §5, seed 002)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from riskops.server.cli.common import _settings, app, database, out, parse_when, user_principal
from riskops.server.credit import kill_switches
from riskops.server.notify.delivery import deliver_due
from riskops.server.settings import Settings

killswitch_app = typer.Typer(
    help="Kill switches: alert suppression, backfill mode per scenario (approvers).",
    no_args_is_help=True,
)
app.add_typer(killswitch_app, name="killswitch")


outbox_app = typer.Typer(help="The notification outbox: deliver it now.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")


async def _killswitch_set(
    settings: Settings, org: str, email: str, name: str, scope: str, reason: str,
    expires: datetime | None,
) -> str:  # fmt: skip
    async with database(settings):
        principal = await user_principal(org, email)
        row = await kill_switches.set_kill_switch(principal, name, scope, reason, expires)
        until = f" until {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at else ""
        what = row.name + (f" for {row.scope}" if row.scope else "")
        return f"Kill switch {row.id} set: {what}{until}."


async def _killswitch_clear(
    settings: Settings, org: str, email: str, switch_id: int, reason: str
) -> str:
    async with database(settings):
        principal = await user_principal(org, email)
        row = await kill_switches.clear_kill_switch(principal, switch_id, reason)
        return f"Kill switch {row.id} ({row.name}{' ' + row.scope if row.scope else ''}) cleared."


async def _killswitch_list(
    settings: Settings, org: str, email: str, include_inactive: bool
) -> list[tuple[str, ...]]:
    async with database(settings):
        principal = await user_principal(org, email)
        now = datetime.now(UTC)
        rows = await kill_switches.list_kill_switches(principal, include_inactive)
        return [
            (
                str(s.id), s.name, s.scope or "-", kill_switches.switch_state(s, now),
                f"{s.set_at:%Y-%m-%d %H:%M}",
                f"{s.expires_at:%Y-%m-%d %H:%M}" if s.expires_at else "-",
                " ".join(s.reason.split())[:60],
            )
            for s in rows
        ]  # fmt: skip


@killswitch_app.command("set")
def killswitch_set_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="alert_suppression, backfill or assistant.")],
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    email: Annotated[str, typer.Option("--as", help="E-mail of the approver acting.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the switch).")],
    scenario: Annotated[str, typer.Option("--scenario", help="Scenario key (backfill only).")] = "",
    expires: Annotated[
        str | None, typer.Option("--expires", help="When it ends (ISO 8601, UTC if no zone).")
    ] = None,
) -> None:
    """Turn a kill switch on (audited), e.g. `riskops killswitch set alert_suppression --org acme
    --as o3@acme.test --reason "API outage storm" --expires 2024-01-23T18:00`."""
    when = parse_when(expires, "--expires") if expires else None
    message = asyncio.run(_killswitch_set(_settings(ctx), org, email, name, scenario, reason, when))
    typer.echo(message)


@killswitch_app.command("clear")
def killswitch_clear_cmd(
    ctx: typer.Context,
    switch_id: Annotated[int, typer.Argument(help="The switch id (see `killswitch list`).")],
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    email: Annotated[str, typer.Option("--as", help="E-mail of the approver acting.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is cleared.")],
) -> None:
    """Turn a kill switch off before it expires (audited)."""
    typer.echo(asyncio.run(_killswitch_clear(_settings(ctx), org, email, switch_id, reason)))


@killswitch_app.command("list")
def killswitch_list_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    email: Annotated[str, typer.Option("--as", help="E-mail of a user who may read runs.")],
    all_: Annotated[
        bool, typer.Option("--all", help="Include cleared and expired switches.")
    ] = False,
) -> None:
    """Kill switches in force (with --all, also the cleared and expired ones), newest first."""
    rows = asyncio.run(_killswitch_list(_settings(ctx), org, email, all_))
    table = Table("id", "switch", "scenario", "state", "set (UTC)", "expires (UTC)", "reason")
    for row in rows:
        table.add_row(*row)
    out.print(table)
    typer.echo(f"{len(rows)} switch(es).")


async def _outbox_deliver(settings: Settings) -> dict[str, int]:
    async with database(settings):
        return (await deliver_due(settings=settings)).as_dict()


@outbox_app.command("deliver")
def outbox_deliver_cmd(ctx: typer.Context) -> None:
    """Run one delivery pass over the due notifications now (what the every-minute job does)."""
    settings = _settings(ctx)
    if not settings.webhooks:
        typer.echo(
            "No installation webhook (RISKOPS_WEBHOOKS): due messages that no organization "
            "channel takes will be marked failed."
        )
    counts = asyncio.run(_outbox_deliver(settings))
    typer.echo(
        f"Sent {counts['sent']}, retrying {counts['retrying']}, failed {counts['failed']}"
        f" (skipped {counts['skipped']} claimed by another deliverer)."
    )
