"""`riskops evidence export` (issue 15, seed 003 CO-001): the SOC 2-style evidence set of an
organization and period as CSV files with a SHA-256 manifest, from the same service as GraphQL's
`exportEvidence`. The CLI acts as a compliance reviewer of the organization (audited as the CLI:
`evidence.export`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from riskops.server.cli.common import _settings, app, database, org_principal, out
from riskops.server.core.permissions import Role
from riskops.server.operations import evidence
from riskops.server.settings import Settings

evidence_app = typer.Typer(help="SOC 2-style evidence (seed 003 CO-001).", no_args_is_help=True)
app.add_typer(evidence_app, name="evidence")


async def _export(
    settings: Settings, org: str, period: str, directory: Path
) -> evidence.EvidenceSet:
    async with database(settings):
        principal = await org_principal(org, Role.COMPLIANCE_REVIEWER)
        return await evidence.export(principal, period, directory)


@evidence_app.command("export")
def export_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    period: Annotated[
        str, typer.Option("--period", help=f"The period: {evidence.PERIOD_HELP}, in UTC.")
    ],
    directory: Annotated[
        Path, typer.Option("-o", "--output", help="A new or empty directory for the files.")
    ],
) -> None:
    """Write the evidence set of a period: user access with MFA, role changes, access reviews,
    change management, data-processing counts, backups and restore drills, availability per
    day; manifest.json and SHA256SUMS hold every file's SHA-256."""
    done = asyncio.run(_export(_settings(ctx), org, period, directory))
    for f in done.files:
        out.print(f"{f.sha256}  {f.name}  ({f.rows} rows)" if f.name.endswith(".csv")
                  else f"{f.sha256}  {f.name}")  # fmt: skip
    out.print(
        f"Evidence for {done.period.label} ({done.period.first}..{done.period.last}) written "
        f"to {done.directory}. Check it with: cd {done.directory} && sha256sum -c SHA256SUMS"
    )
