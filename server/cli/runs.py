"""`riskops runs import|list|show|verify-artifacts`: the run ledger from the shell (seed 002)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace as dataclass_replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from riskops.audit.chain import format_ts
from riskops.server.cli.audit import parse_when
from riskops.server.cli.common import CliError, _org_principal, _settings, app, database, out
from riskops.server.cli.jsonl import ImportSummary, _print_import, import_jsonl
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.settings import (
    Settings,
)

runs_app = typer.Typer(
    help="Runs and credit monitoring: import the ledger, show a run.", no_args_is_help=True
)
app.add_typer(runs_app, name="runs")


def _upload_local_artifacts(base: Path, org_id: int) -> Callable[[int, Any], Awaitable[Any]]:
    """A ledger record's artifacts given as local file paths (relative to the ledger's folder,
    and inside it) are uploaded into the artifact store and referenced as `artifact:` URIs with
    their hash. A run recorded before is left alone: importing a ledger again must not put a
    quarantined run's file back into the store."""
    from riskops.server.core.errors import Invalid
    from riskops.server.credit import artifacts
    from riskops.server.credit.models import Run

    root = base.resolve()

    async def prepare(number: int, record: Any) -> Any:
        if not isinstance(record, dict):
            return record
        key = "artifacts" if "artifacts" in record else "Artifacts"
        items = record.get(key)
        if not isinstance(items, list):
            return record
        run_id = str(record.get("run_id") or record.get("Run_ID") or f"line-{number}")
        if await scoped(Run, org_id=org_id).filter(run_id=run_id).exists():
            return record
        out = []
        for item in items:
            uri = item.get("uri") if isinstance(item, dict) else None
            if isinstance(uri, str) and ":" not in uri.split("/", 1)[0]:
                path = (root / uri).resolve()
                if not path.is_relative_to(root):
                    raise Invalid(
                        f"artifact {uri!r}: only files in the ledger's folder are uploaded.",
                        field=key,
                    )
                if not path.is_file():
                    raise Invalid(f"artifact {uri!r}: no such file next to the ledger.", field=key)
                stored = artifacts.upload(org_id, run_id, path)
                given = item.get("sha256")
                if given and str(given).lower() != stored.sha256:
                    raise Invalid(
                        f"artifact {uri!r}: SHA-256 is {stored.sha256}, the ledger says {given}.",
                        field=key,
                    )
                item = {"uri": stored.uri, "sha256": stored.sha256}
            out.append(item)
        return {**record, key: out}

    return prepare


async def _send_runs(
    principal: Principal, batch: list[tuple[int, Any]], summary: ImportSummary
) -> None:
    from riskops.server.credit.recording import record_runs

    result = await record_runs(principal, [item for _, item in batch])
    summary.stored += len(result.recorded)
    summary.unchanged += len(result.unchanged)
    summary.errors.extend(
        (batch[e.index][0], e.field or "record", e.message) for e in result.errors
    )
    summary.severities.update(str(r.severity or "none") for r in result.recorded)


async def _import_runs(
    settings: Settings, source: str, org: str, batch_size: int, base: Path
) -> ImportSummary:
    async with database(settings):
        principal = await _org_principal(org)
        prepare = _upload_local_artifacts(base, principal.org_id)
        return await import_jsonl(source, principal, batch_size, _send_runs, "runs", prepare)


@runs_app.command("import")
def runs_import_cmd(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A ledger.jsonl file, one run per line; - is stdin.")],
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=1000, help="Runs per recordRuns call.")
    ] = 500,
) -> None:
    """Record the runs of a ledger (seed field names such as Scenario_ID, Credits_Total,
    Risk_Flags, Job_Type are accepted), classified with their automatic actions. Idempotent on
    run_id; local artifact files are uploaded with their SHA-256. Exit 1 if a line was invalid."""
    base = Path(file).resolve().parent if file != "-" else Path.cwd()
    summary = asyncio.run(_import_runs(_settings(ctx), file, org, batch, base))
    if summary.severities:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.severities.items()))
        typer.echo(f"Severities of the recorded runs: {counts}.")
    _print_import(summary, "runs")


async def _show_run(settings: Settings, org: str, run_id: str) -> dict[str, Any]:
    from riskops.server.credit import artifacts
    from riskops.server.credit.models import Run
    from riskops.server.credit.runs import get_run_detail

    async with database(settings):
        principal = await _org_principal(org)
        pk = await scoped(Run, principal).filter(run_id=run_id).first().values_list("id", flat=True)
        if pk is None:
            raise CliError(f"no run '{run_id}' in organization '{org}'.")
        # Through the service, like the pages and GraphQL: reading a run is a `run.view`
        # data-access event (here by the CLI).
        reader = dataclass_replace(principal, roles=frozenset({"viewer"}))
        detail = await get_run_detail(reader, int(str(pk)))
        run, arts = detail.run, detail.artifacts
        fields = (
            "run_id", "job_type", "started_at", "finished_at", "credits_total", "prompt_tokens",
            "completion_tokens", "items_processed", "retry_count", "has_max_items_config",
            "deployment_ref", "data_classification", "flags", "baseline_median", "multiplier",
            "severity", "misconfig_likelihood", "quarantined", "dispatch_blocked", "rerun_gate",
            "explanations",
        )  # fmt: skip
        out: dict[str, Any] = {f: getattr(run, f) for f in fields}
        out["scenario"] = run.scenario.key
        out["case"] = run.case.display_number if run.case else None
        out["artifacts"] = [
            {
                "uri": a.uri,
                "sha256": a.sha256 or None,
                "quarantine_path": a.quarantine_path,
                "check": artifacts.verify_quarantined(
                    a.uri, a.quarantine_path, a.sha256 or None
                ).detail
                if a.quarantine_path and not a.released_at
                else None,
            }
            for a in arts
        ]
        return json.loads(json.dumps(out, default=str))


async def _list_runs(
    settings: Settings, org: str, severities: list[str], since: datetime | None, limit: int
) -> list[tuple[str, ...]]:
    from riskops.server.credit.runs import RunFilter, list_runs

    async with database(settings):
        principal = await _org_principal(org)
        viewer = dataclass_replace(principal, roles=frozenset({"viewer"}))
        page = await list_runs(viewer, RunFilter(severities=severities, since=since), first=limit)
        return [
            (
                format_ts(r.started_at)[:19] + "Z",
                r.run_id,
                r.scenario.key,
                f"{r.credits_total:,.2f}",
                "-" if r.multiplier is None else f"{r.multiplier:.2f}x",
                r.severity.value
                if r.severity
                else ("no baseline" if "no_baseline" in r.flags else "-"),
                r.case.display_number if r.case else "-",
                "quarantined" if r.quarantined else "",
            )
            for r in page.runs
        ]


@runs_app.command("list")
def runs_list_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    severity: Annotated[
        list[str] | None,
        typer.Option("--severity", help="SEV0..SEV3 or none; repeat for several."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Started at or after (ISO 8601).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200)] = 50,
) -> None:
    """The ledger, newest first (e.g. the daily check: no unacknowledged SEV0/SEV1 —
    `--severity SEV0 --severity SEV1 --since 2024-01-23`)."""
    rows = asyncio.run(
        _list_runs(_settings(ctx), org, list(severity or []), parse_when(since, "--since"), limit)
    )
    table = Table("started", "run", "scenario", "credits", "x baseline", "severity", "case", "")
    for row in rows:
        table.add_row(*row)
    out.print(table)
    typer.echo(f"{len(rows)} run(s).")


async def _verify_artifacts(settings: Settings, org: str, days: int) -> list[tuple[str, str, str]]:
    from datetime import timedelta

    from riskops.server.credit import artifacts
    from riskops.server.credit.models import RunArtifact

    async with database(settings):
        principal = await _org_principal(org)
        since = datetime.now(UTC) - timedelta(days=days)
        rows = await RunArtifact.filter(
            run__org_id=principal.org_id, run__recorded_at__gte=since
        ).select_related("run")
        out_rows = []
        for a in rows:
            if not artifacts.is_managed(a.uri):
                continue
            if a.quarantine_path and a.released_at is None:
                check = artifacts.verify_quarantined(a.uri, a.quarantine_path, a.sha256 or None)
                state = "ok" if check.ok else "MISMATCH"
                out_rows.append((a.run.run_id, a.uri, f"{state}: {check.detail} (quarantined)"))
                continue
            path = artifacts.stored_path(a.uri)
            if not path.exists():
                out_rows.append((a.run.run_id, a.uri, "MISMATCH: missing from the store"))
                continue
            actual = artifacts.sha256_of(path)
            ok = not a.sha256 or actual == a.sha256
            detail = f"SHA-256 {actual}" + ("" if ok else f", recorded {a.sha256}")
            out_rows.append((a.run.run_id, a.uri, ("ok: " if ok else "MISMATCH: ") + detail))
        return out_rows


@runs_app.command("verify-artifacts")
def runs_verify_artifacts_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    days: Annotated[
        int, typer.Option("--days", min=1, max=3650, help="Runs recorded in the last N days.")
    ] = 1,
) -> None:
    """Re-hash the artifacts riskops holds for recent runs (stored or quarantined) against their
    recorded SHA-256 (the runbook's daily check); exit 1 on any mismatch."""
    rows = asyncio.run(_verify_artifacts(_settings(ctx), org, days))
    for run_id, uri, result in rows:
        typer.echo(f"{run_id}  {uri}  {result}")
    bad = [r for r in rows if r[2].startswith("MISMATCH")]
    typer.echo(f"{len(rows)} artifact(s) checked, {len(bad)} mismatch(es).")
    if bad:
        raise CliError(f"{len(bad)} artifact(s) do not match their recorded SHA-256.")


@runs_app.command("show")
def runs_show_cmd(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id as recorded (e.g. RUN-123).")],
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
) -> None:
    """Print a run record as JSON (for jq): classification, flags, dispatch_blocked, and each
    quarantined artifact's SHA-256 re-verified."""
    typer.echo(json.dumps(asyncio.run(_show_run(_settings(ctx), org, run_id)), indent=2))
