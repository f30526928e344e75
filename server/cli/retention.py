"""`riskops retention set|show|run` (issue 15, docs/RETENTION.md): how long an organization keeps
its alerts, runs, assistant answers and sessions, and enforcing it now (the daily job does the
same). The CLI acts as an administrator of the organization `--org` names, through the same
service as the page and GraphQL (`riskops.server.operations.retention`)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from riskops.server.cli.common import (
    CliError,
    _settings,
    app,
    cli_admin,
    database,
    err,
    resolve_org,
)
from riskops.server.operations import retention
from riskops.server.operations.retention_models import RetentionRun
from riskops.server.settings import Settings

retention_app = typer.Typer(
    help="Retention per organization: how long alerts, runs, assistant answers and sessions "
    "are kept (audit events never: see `riskops audit archive`).",
    no_args_is_help=True,
)
app.add_typer(retention_app, name="retention")

ORG = Annotated[str, typer.Option("--org", help="Slug or id of the organization.")]
FOREVER = ("forever", "none", "keep")


def _days_option(kind: str) -> Any:
    return typer.Option(
        f"--{kind}-days",
        help=f"Keep {retention.KIND_TEXT[kind]} this many days; 'forever' keeps them all.",
    )


def _period(value: str | None) -> str | None:
    if value is not None and value.strip().lower() in FOREVER:
        return None
    return value


def _describe(periods: retention.Periods) -> list[str]:
    lines = []
    for kind in retention.KINDS:
        days = periods.of(kind)
        lines.append(
            f"{retention.KIND_TEXT[kind]:<18} {'kept forever' if days is None else f'{days} days'}"
        )
    return lines


def _run_line(run: RetentionRun) -> str:
    removed = ", ".join(f"{k} {n}" for k, n in run.removed.items()) or "nothing"
    kept = ", ".join(f"{k} {n}" for k, n in run.kept.items() if n)
    state = "" if run.finished_at else " (interrupted)"
    return (
        f"{run.started_at:%Y-%m-%d %H:%M} UTC  {run.trigger:<4} removed: {removed}"
        + (f"; kept as open work: {kept}" if kept else "")
        + state
    )


async def _set(settings: Settings, org: str, given: dict[str, str | None]) -> list[str]:
    async with database(settings):
        principal = cli_admin((await resolve_org(org)).id)
        policy = await retention.set_policy(principal, **given)
        return _describe(retention.periods_of(policy))


@retention_app.command("set")
def retention_set_cmd(
    ctx: typer.Context,
    org: ORG,
    alerts_days: Annotated[str | None, _days_option("alerts")] = None,
    runs_days: Annotated[str | None, _days_option("runs")] = None,
    assistant_days: Annotated[str | None, _days_option("assistant")] = None,
    sessions_days: Annotated[str | None, _days_option("sessions")] = None,
) -> None:
    """Set the organization's retention periods (the ones not given keep their value)."""
    raw = {
        "alerts_days": alerts_days,
        "runs_days": runs_days,
        "assistant_days": assistant_days,
        "sessions_days": sessions_days,
    }
    given = {k: _period(v) for k, v in raw.items() if v is not None}
    if not given:
        raise CliError(
            "give at least one period: --alerts-days, --runs-days, --assistant-days or "
            "--sessions-days (a number of days, or 'forever')."
        )
    for line in asyncio.run(_set(_settings(ctx), org, given)):
        typer.echo(line)
    err.print("Retention policy saved; the daily job enforces it (or `riskops retention run`).")


async def _show(settings: Settings, org: str) -> tuple[list[str], list[str]]:
    async with database(settings):
        principal = cli_admin((await resolve_org(org)).id)
        policy = await retention.get_policy(principal)
        runs = await retention.list_runs(principal, 10)
        return _describe(retention.periods_of(policy)), [_run_line(r) for r in runs]


@retention_app.command("show")
def retention_show_cmd(ctx: typer.Context, org: ORG) -> None:
    """The organization's retention periods and its last enforcements."""
    periods, runs = asyncio.run(_show(_settings(ctx), org))
    for line in periods:
        typer.echo(line)
    typer.echo("")
    typer.echo("Last enforcements:" if runs else "Never enforced yet.")
    for line in runs:
        typer.echo("  " + line)


async def _run(settings: Settings, org: str | None) -> list[RetentionRun]:
    async with database(settings):
        if org is None:
            return await retention.enforce_all()
        principal = cli_admin((await resolve_org(org)).id)
        done = await retention.enforce(principal, trigger="cli")
        return [done] if done is not None else []


@retention_app.command("run")
def retention_run_cmd(
    ctx: typer.Context,
    org: Annotated[
        str | None,
        typer.Option("--org", help="Slug or id of the organization. Default: every one."),
    ] = None,
) -> None:
    """Enforce the retention policy now (of one organization, or of every one that has one)."""
    runs = asyncio.run(_run(_settings(ctx), org))
    for run in runs:
        typer.echo(f"org {run.org_id}: {_run_line(run)}")
    if not runs:
        typer.echo(
            "Nothing to enforce: "
            + ("this organization keeps everything (no retention period set)." if org else
               "no organization has a retention period set.")
        )  # fmt: skip
