"""`riskops ack run|case ID --org SLUG --as EMAIL`: acknowledge a SEV0/SEV1 run or a case from the
shell, as a named person (docs/RESPONSE.md), through the same service as the pages and GraphQL."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

import typer

from riskops.server.cli.common import CliError, _settings, app, database, user_principal
from riskops.server.core.errors import not_found
from riskops.server.core.scoping import scoped
from riskops.server.credit.models import Run
from riskops.server.response import service as svc
from riskops.server.settings import Settings
from riskops.server.triage.models import Case

CASE_REF = re.compile(r"^(?:CASE-)?0*(\d{1,9})$", re.IGNORECASE)


async def _ack(settings: Settings, kind: str, ident: str, org: str, email: str) -> str:
    k = svc.subject_kind(kind)
    async with database(settings):
        principal = await user_principal(org, email)
        pk: int
        if k.value == "run":
            run = await scoped(Run, principal).filter(run_id=ident).first().only("id")
            if run is None:
                raise not_found("Run", ident)
            pk = run.id
        else:
            m = CASE_REF.match(ident.strip())
            found = None
            if m:
                found = await scoped(Case, principal).filter(number=int(m.group(1))).first()
            if found is None:
                raise not_found("Case", ident)
            pk = found.id
        result = await svc.acknowledge(principal, k, pk)
    return result.message


@app.command("ack")
def ack_cmd(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="run or case.")],
    ident: Annotated[
        str, typer.Argument(help="The run's run_id, or the case (CASE-000012 or 12).")
    ],
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    email: Annotated[str, typer.Option("--as", help="E-mail of the person acknowledging.")],
) -> None:
    """Acknowledge a SEV0/SEV1 run or a case (and the rest of its incident): the escalation
    stops; a PagerDuty incident already triggered is acknowledged."""
    if kind.strip().lower() not in ("run", "case"):
        raise CliError(f"unknown kind '{kind}': use run or case.")
    typer.echo(asyncio.run(_ack(_settings(ctx), kind, ident, org, email)))


async def _escalate(settings: Settings) -> dict[str, int]:
    from riskops.server.response.escalation import escalate_due

    async with database(settings):
        return await escalate_due()


@app.command("escalate")
def escalate_cmd(ctx: typer.Context) -> None:
    """Run one escalation pass now (what the every-minute job does): unacknowledged SEV0/SEV1
    items past their target go one level up, the last level to PagerDuty. Safe beside the job:
    each level is sent once. Then `riskops outbox deliver` sends what it wrote."""
    done = asyncio.run(_escalate(_settings(ctx)))
    typer.echo(
        f"Escalated {done['level1']} item(s) to level 1 and {done['level2']} to PagerDuty "
        f"({done['parked']} run(s) escalate with their case)."
    )
