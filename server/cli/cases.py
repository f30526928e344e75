"""`riskops cases archive`: the seed 002 weekly check "Archive resolved cases older than 30 days"
from the shell or a cron job. The age comes from the versioned policy
(`archive_resolved_after_days`); `--older-than` may ask for more days, never fewer."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from riskops.server.cli.common import _settings, app, database, org_principal, user_principal
from riskops.server.core.permissions import Role
from riskops.server.core.principal import Principal
from riskops.server.settings import Settings
from riskops.server.triage import case_archive
from riskops.server.triage.case_run_links import policy_name

cases_app = typer.Typer(help="Cases: archive the old resolved ones.", no_args_is_help=True)
app.add_typer(cases_app, name="cases")

SHOWN = 20  # case numbers listed; the count covers them all


async def _archive(
    settings: Settings, org: str, email: str | None, days: int | None, dry_run: bool
) -> list[str]:
    async with database(settings):
        # Without --as, the CLI acts with the operator role (a weekly cron job), audited as
        # the CLI; with --as, as that person.
        principal: Principal = (
            await user_principal(org, email) if email else await org_principal(org, Role.OPERATOR)
        )
        done = await case_archive.archive_resolved_cases(
            principal, older_than_days=days, dry_run=dry_run
        )
    verb = "Would archive" if dry_run else "Archived"
    lines = [
        f"{verb} {done.count} case{'s' if done.count != 1 else ''} resolved before "
        f"{done.cutoff:%Y-%m-%d %H:%M} UTC (older than {done.older_than_days} days, "
        f"{policy_name(done.policy_number)})."
    ]
    if done.case_numbers:
        more = len(done.case_numbers) - SHOWN
        lines.append(
            "  " + " ".join(done.case_numbers[:SHOWN]) + (f" and {more} more" if more > 0 else "")
        )
    if done.remaining:
        lines.append(
            f"{done.remaining} more are eligible (at most {case_archive.MAX_BULK} per run): "
            "run it again."
        )
    return lines


@cases_app.command("archive")
def cases_archive_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than",
            metavar="DAYS",
            help="Archive cases resolved more than DAYS ago (default and minimum: the policy's "
            "archive_resolved_after_days, 30).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count and list them; change nothing.")
    ] = False,
    email: Annotated[
        str | None,
        typer.Option("--as", help="E-mail of the person acting (default: the CLI, as operator)."),
    ] = None,
) -> None:
    """Archive the resolved and closed cases resolved more than N days ago: hidden from the
    default lists, readable by id and with "Show archived". One audit event per case."""
    for line in asyncio.run(_archive(_settings(ctx), org, email, older_than, dry_run)):
        typer.echo(line)
