"""`riskops access review` (issue 15, seed 003 DO-002): the access review of an organization on
the command line, from the same service as the page and GraphQL's `accessReview`. The CLI reads
as a compliance reviewer of the organization (audited as the CLI); recording decisions and
suspending are done on the page or through GraphQL, by a person."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from riskops.server.cli.common import _settings, app, database, org_principal, out
from riskops.server.core.permissions import Role
from riskops.server.operations import access_review
from riskops.server.settings import Settings

access_app = typer.Typer(help="The access review (seed 003 DO-002).", no_args_is_help=True)
app.add_typer(access_app, name="access")


async def _review(settings: Settings, org: str, days: int | None) -> dict[str, Any]:
    async with database(settings):
        principal = await org_principal(org, Role.COMPLIANCE_REVIEWER)
        found = await access_review.review(principal, inactive_days=days)
        return found.snapshot()


def _when(value: str | None) -> str:
    return value[:10] if value else "never"


@access_app.command("review")
def review_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    inactive_days: Annotated[
        int | None,
        typer.Option(
            "--inactive-days",
            help="Inactive: no sign-in or token use for more than this many days "
            "(default: RISKOPS_ACCESS_REVIEW_INACTIVE_DAYS, 90).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the review as JSON.")] = False,
) -> None:
    """Who has access and what deserves a look: inactive, privileged and token-holding users,
    MFA, and anomalous activity (more than 100 events of one kind by one actor in 7 days)."""
    snap = asyncio.run(_review(_settings(ctx), org, inactive_days))
    if as_json:
        typer.echo(json.dumps(snap, indent=2, sort_keys=True))
        return
    title = f"Access review (inactive: more than {snap['inactive_days']} days)"
    table = Table("id", "name", "e-mail", "status", "roles", "MFA", "last active", "tokens",
                  "flags", title=title)  # fmt: skip
    for p in snap["people"]:
        table.add_row(
            str(p["user_id"]), p["name"], p["email"], p["status"], " ".join(p["roles"]) or "-",
            "yes" if p["mfa_enabled"] else ("n/a" if p["kind"] == "service" else "NO"),
            _when(p["last_active_at"]), str(p["active_tokens"]), " ".join(p["flags"]) or "-",
        )  # fmt: skip
    out.print(table)
    if snap["anomalies"]:
        odd = Table("actor", "action", "events (7 days)", title="Anomalous activity")
        for a in snap["anomalies"]:
            odd.add_row(a["name"], a["action"], str(a["count"]))
        out.print(odd)
    s = snap["summary"]
    out.print(
        f"{s['people']} users: {s['inactive']} inactive, {s['privileged']} privileged, "
        f"{s['token_holders']} with API tokens, {s['without_mfa']} without MFA, "
        f"{s['anomalies']} anomalies."
    )
