"""`riskops alerts import` (JSON lines, idempotent on external_id) and `riskops demo generate`
(synthetic alerts in bulk)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from riskops.server.cli.common import _progress, _settings, app, database, org_principal
from riskops.server.cli.jsonl import ImportSummary, _print_import, import_jsonl
from riskops.server.core.errors import DomainError
from riskops.server.core.principal import Principal
from riskops.server.settings import Settings
from riskops.server.triage.demo import MAX_ALERTS as MAX_DEMO_ALERTS
from riskops.server.triage.demo import DemoResult, generate_demo_alerts
from riskops.server.triage.ingest import ingest_alerts

alerts_app = typer.Typer(help="Alerts: import them from JSON lines.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


demo_app = typer.Typer(help="Demo data: synthetic alerts in bulk.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")


async def _send_alerts(
    principal: Principal, batch: list[tuple[int, Any]], summary: ImportSummary
) -> None:
    """Send one batch; if the batch as a whole fails, send its lines one by one so that one bad
    line costs only itself, and report it by its number (never a traceback)."""
    try:
        result = await ingest_alerts(principal, [item for _, item in batch])
    except Exception:
        if len(batch) == 1:
            raise
        for line in batch:
            await _send_one(principal, line, summary)
        return
    summary.stored += len(result.created)
    summary.unchanged += len(result.unchanged)
    summary.errors.extend((batch[e.index][0], e.field or "item", e.message) for e in result.errors)


async def _send_one(principal: Principal, line: tuple[int, Any], summary: ImportSummary) -> None:
    try:
        await _send_alerts(principal, [line], summary)
    except DomainError as exc:
        summary.errors.append((line[0], exc.field or "item", exc.message))
    except Exception as exc:  # reported by its line; the other lines go on
        summary.errors.append((line[0], "item", f"could not be stored ({type(exc).__name__})."))


async def _import_alerts(
    settings: Settings, source: str, org: str, batch_size: int
) -> ImportSummary:
    async with database(settings):
        principal = await org_principal(org)  # an admin: ingests alerts
        return await import_jsonl(source, principal, batch_size, _send_alerts, "alerts")


@alerts_app.command("import")
def alerts_import_cmd(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A JSON lines file, one alert per line; - is stdin.")],
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=1000, help="Alerts per ingest call.")
    ] = 500,
) -> None:
    """Import alerts (idempotent on external_id); exit 1 if any line was invalid."""
    summary = asyncio.run(_import_alerts(_settings(ctx), file, org, batch))
    _print_import(summary, "alerts")


async def _generate_demo(settings: Settings, org: str, count: int, seed: int) -> DemoResult:
    async with database(settings):
        principal = await org_principal(org)
        with _progress(count, "generating alerts") as (progress, task):
            return await generate_demo_alerts(
                principal, count, seed=seed, on_progress=lambda k: progress.advance(task, k)
            )


@demo_app.command("generate")
def demo_generate_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    alerts: Annotated[
        int, typer.Option("--alerts", min=1, max=MAX_DEMO_ALERTS, help="How many alerts.")
    ],
    seed: Annotated[
        int,
        typer.Option("--seed", min=0, max=2**31 - 1, help="Random seed (same seed, same alerts)."),
    ] = 42,
) -> None:
    """Generate synthetic alerts in bulk (idempotent per seed: existing ones are skipped)."""
    result = asyncio.run(_generate_demo(_settings(ctx), org, alerts, seed))
    typer.echo(
        f"Created {result.created} alert(s) with {result.rule_hits} rule hit(s) and "
        f"{result.signals} signal(s); {result.existing} already existed."
    )
    typer.echo(
        f"{result.seconds:.1f} s"
        + (f", {result.per_second:,.0f} alerts/s." if result.created else ".")
    )
