"""`riskops report weekly`: the weekly credit review, written as JSON with its SHA-256."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from riskops.server.cli.common import _settings, app, database, org_principal, user_principal
from riskops.server.core.formatting import credits
from riskops.server.core.permissions import Role
from riskops.server.core.principal import Principal
from riskops.server.credit import reports
from riskops.server.settings import Settings

report_app = typer.Typer(
    help="Reports: the weekly credit review, written as JSON with its SHA-256.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")


@dataclass(frozen=True)
class WeeklyReportFile:
    name: str  # weekly_<date>.json
    body: bytes  # the stored canonical JSON
    sha256: str
    summary: dict[str, Any]


async def _weekly_report(
    settings: Settings, org: str, period_start: str | None, as_email: str | None
) -> WeeklyReportFile:
    async with database(settings):
        if as_email:
            principal: Principal = await user_principal(org, as_email)
        else:
            # The CLI itself (audited as the system actor "cli") with an operator's rights.
            principal = await org_principal(org, Role.OPERATOR)
        day = reports.parse_period_start(period_start or reports.last_complete_week())
        report = await reports.generate_weekly_report(principal, day)
        f = await reports.report_file(principal, report.id)
        return WeeklyReportFile(f.filename, f.body, f.sha256, reports.summary_of(report))


def _write_report(output: Path, f: WeeklyReportFile) -> tuple[Path, Path]:
    output.mkdir(parents=True, exist_ok=True)
    path = output / f.name
    tmp = output / f".{f.name}.tmp"
    tmp.write_bytes(f.body)
    tmp.replace(path)
    sha_path = output / f"{f.name}.sha256"
    sha_path.write_text(f"{f.sha256}  {f.name}\n", encoding="utf-8")  # `sha256sum -c` format
    return path, sha_path


@report_app.command("weekly")
def report_weekly_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    period_start: Annotated[
        str | None,
        typer.Option(
            "--period-start",
            help="First day of the week (YYYY-MM-DD, 00:00 UTC, 7 days). "
            "Default: the last complete Monday-to-Monday week.",
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", help="Directory to write the report into.")
    ] = Path("runs/CREDIT_REVIEWS"),
    as_email: Annotated[
        str | None,
        typer.Option("--as", help="Generate as this user (needs report.generate)."),
    ] = None,
) -> None:
    """Generate (or fetch, when it exists) the weekly report and write weekly_<date>.json and
    weekly_<date>.json.sha256 (check with `sha256sum -c`)."""
    report = asyncio.run(_weekly_report(_settings(ctx), org, period_start, as_email))
    path, sha_path = _write_report(output, report)
    s = report.summary
    typer.echo(f"Report {s['report_id']}: {s['period_start']} to {s['period_end']}")
    typer.echo(f"Wrote {path}")
    typer.echo(f"Wrote {sha_path}")
    typer.echo(f"SHA-256 {s['sha256']}")
    counts = ", ".join(f"{k} {v}" for k, v in s["severity_counts"].items())
    typer.echo(f"Severity counts: {counts}")
    for t in s["top_scenarios"]:
        typer.echo(f"  {t['scenario']}: {credits(t['total'])} credits")
    typer.echo(f"Policy violations: {s['violations']}. Baseline candidates: {s['candidates']}.")
