"""`riskops channels list | test` (issue 16): an organization's notification channels, and a test
message to one of them, as an admin of the organization (channel.manage). Setting channels up is
on the admin page (/admin/channels) and the API: their secrets are not for a shell history."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from riskops.server.cli.common import CliError, _settings, app, database, out, user_principal
from riskops.server.notify import channels
from riskops.server.settings import Settings

channels_app = typer.Typer(
    help="Notification channels of an organization: list them, send a test (admins).",
    no_args_is_help=True,
)
app.add_typer(channels_app, name="channels")

ORG = Annotated[str, typer.Option("--org", help="Slug or id of the organization.")]
AS = Annotated[str, typer.Option("--as", help="E-mail of an admin of the organization.")]


async def _list(settings: Settings, org: str, email: str, removed: bool) -> list[tuple[str, ...]]:
    async with database(settings):
        principal = await user_principal(org, email)
        rows = await channels.list_channels(principal, include_removed=removed)
        return [
            (
                str(c.id), c.name, c.kind.value, ", ".join(c.events or []) or "-",
                "removed" if c.archived_at else ("enabled" if c.enabled else "disabled"),
                "set" if channels.secret_set(c) else "not set",
                f"{c.last_test_at:%Y-%m-%d %H:%M}: {c.last_test_outcome}" if c.last_test_at
                else "-",
            )
            for c in rows
        ]  # fmt: skip


async def _test(settings: Settings, org: str, email: str, channel_id: str) -> tuple[bool, str]:
    async with database(settings):
        principal = await user_principal(org, email)
        result = await channels.send_test(principal, channel_id, base_url=settings.base_url)
        return result.ok, f"Channel {result.channel.id} ({result.channel.name}): {result.outcome}"


@channels_app.command("list")
def channels_list_cmd(
    ctx: typer.Context,
    org: ORG,
    email: AS,
    removed: Annotated[bool, typer.Option("--removed", help="Include removed channels.")] = False,
) -> None:
    """The organization's channels: kind, routed events, state, secret set or not, last test."""
    rows = asyncio.run(_list(_settings(ctx), org, email, removed))
    table = Table("id", "channel", "kind", "events", "state", "secret", "last test (UTC)")
    for row in rows:
        table.add_row(*row)
    out.print(table)
    typer.echo(f"{len(rows)} channel(s).")


@channels_app.command("test")
def channels_test_cmd(
    ctx: typer.Context,
    channel_id: Annotated[str, typer.Argument(help="The channel id (see `channels list`).")],
    org: ORG,
    email: AS,
) -> None:
    """Send a test message to a channel now and print the receiver's answer ("202 accepted",
    "connection refused", ...); exits 1 when it failed. Kept as the channel's last test."""
    ok, line = asyncio.run(_test(_settings(ctx), org, email, channel_id))
    if not ok:
        raise CliError(line)
    typer.echo(line)
