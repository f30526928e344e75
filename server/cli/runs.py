"""`riskops runs import|list|show|verify-artifacts|quarantine`: the run ledger from the shell
(seed 002)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from riskops.audit.chain import format_ts
from riskops.server.cli.common import (
    CliError,
    _progress,
    _settings,
    app,
    database,
    org_principal,
    out,
    parse_when,
    user_principal,
)
from riskops.server.cli.jsonl import ImportSummary, _print_import, import_jsonl
from riskops.server.core.errors import Invalid, NotFound
from riskops.server.core.formatting import credits, multiplier
from riskops.server.core.permissions import Role
from riskops.server.core.principal import Principal
from riskops.server.credit import artifact_checks, ledger, quarantine
from riskops.server.credit.recording import RecordResult, record_runs
from riskops.server.credit.runs import (
    RunFilter,
    dispatch_disagrees,
    get_run_by_run_id,
    get_run_detail,
    list_runs,
    severity_disagrees,
)
from riskops.server.settings import Settings

runs_app = typer.Typer(
    help="Runs and credit monitoring: import the ledger, show a run.", no_args_is_help=True
)
app.add_typer(runs_app, name="runs")


async def _send_runs(
    principal: Principal,
    batch: list[tuple[int, Any]],
    summary: ImportSummary,
    uploaded: dict[int, list[str]] | None = None,
) -> RecordResult:
    result = await record_runs(principal, [item for _, item in batch])
    summary.stored += len(result.recorded)
    summary.unchanged += len(result.unchanged)
    summary.errors.extend(
        (batch[e.index][0], e.field or "record", e.message) for e in result.errors
    )
    summary.severities.update(str(r.severity or "none") for r in result.recorded)
    if uploaded:
        # A refused line leaves none of its uploaded files behind (a file a recorded line of the
        # same run id uses stays).
        kept_at = {r.index for r in (*result.recorded, *result.unchanged)}
        kept = {u for i in kept_at for u in uploaded.get(batch[i][0], [])}
        refused = {e.index for e in result.errors} - kept_at
        artifact_checks.discard_uploads(
            [u for i in sorted(refused) for u in uploaded.pop(batch[i][0], []) if u not in kept]
        )
    return result


async def _import_runs(
    settings: Settings, source: str, org: str, batch_size: int, base: Path
) -> ImportSummary:
    async with database(settings):
        principal = await org_principal(org)  # an admin: records runs, uploads their files
        uploaded: dict[int, list[str]] = {}

        async def upload(line: int, record: Any) -> Any:
            copied: list[str] = []
            done = await artifact_checks.upload_local_artifacts(
                principal, record, base, line, copied
            )
            if copied:
                uploaded[line] = copied
            return done

        async def send(p: Principal, batch: list[tuple[int, Any]], summary: ImportSummary) -> None:
            await _send_runs(p, batch, summary, uploaded)

        return await import_jsonl(source, principal, batch_size, send, "runs", upload)


@dataclass
class FileReport:
    """What became of each run file of a directory import, by its place in the import order."""

    files: list[ledger.RunFile]
    summary: ImportSummary
    outcomes: dict[int, str] = field(default_factory=dict)  # number -> imported / duplicate


async def _import_run_dir(
    settings: Settings, files: list[ledger.RunFile], org: str, batch_size: int
) -> FileReport:
    """The seed's run files (already found and ordered) through the same recording and upload
    as a ledger's lines; each file is numbered by its place in the order (1 = the first)."""
    report = FileReport(files, ImportSummary(lines=len(files)))
    summary = report.summary
    async with database(settings):
        principal = await org_principal(org)  # an admin: records runs, uploads their files
        uploaded: dict[int, list[str]] = {}

        async def send(batch: list[tuple[int, Any]]) -> None:
            result = await _send_runs(principal, batch, summary, uploaded)
            for r in result.recorded:
                report.outcomes[batch[r.index][0]] = f"imported, {r.severity or 'no severity'}"
            for r in result.unchanged:
                report.outcomes[batch[r.index][0]] = "duplicate (already recorded)"

        with _progress(len(files), "importing run files") as (progress, task):
            batch: list[tuple[int, Any]] = []
            first_with: dict[str, ledger.RunFile] = {}  # run id -> the first file giving it
            for number, run_file in enumerate(files, start=1):
                try:
                    first = first_with.setdefault(run_file.run_id, run_file)
                    if first is not run_file:
                        raise Invalid(
                            f"run {run_file.run_id} is also in {first.path.parent.name}/"
                            f"{first.path.name}, imported first; a run is recorded once: "
                            "remove one of the files.",
                            field="run_id",
                        )
                    record = ledger.read_run_file(run_file)
                    copied: list[str] = []
                    # Artifacts are files beside the run file, in its date folder.
                    record = await artifact_checks.upload_local_artifacts(
                        principal, record, run_file.path.parent, number, copied
                    )
                    if copied:
                        uploaded[number] = copied
                    batch.append((number, record))
                except Invalid as exc:
                    summary.errors.append((number, exc.field or "record", exc.message))
                    progress.update(task, advance=1)
                if len(batch) >= batch_size:
                    await send(batch)
                    progress.update(task, advance=len(batch))
                    batch = []
            if batch:
                await send(batch)
                progress.update(task, advance=len(batch))
    summary.errors.sort()
    return report


def _print_file_report(report: FileReport, root: Path) -> None:
    """One line per file, in the import order (date, then run id), then the totals."""
    errors: dict[int, list[str]] = {}
    for number, name, message in report.summary.errors:
        errors.setdefault(number, []).append(f"{name}: {message}")
    for number, run_file in enumerate(report.files, start=1):
        path = run_file.path
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        if number in errors:
            typer.echo(f"{shown}: error: {' '.join(errors[number])}")
        else:
            typer.echo(f"{shown}: {report.outcomes.get(number, 'not sent')}")
    s = report.summary
    invalid = len(errors)
    typer.echo(
        f"Read {s.lines} file(s): {s.stored} stored, {s.unchanged} unchanged (already there), "
        f"{invalid} invalid."
    )
    if invalid:
        raise CliError(f"{invalid} file(s) were invalid and not imported.")


@runs_app.command("import")
def runs_import_cmd(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(
            help="A ledger.jsonl file, one run per line (- is stdin), or a directory of the "
            f"seed's run files ({ledger.LAYOUT})."
        ),
    ],
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=1000, help="Runs per recordRuns call.")
    ] = 500,
) -> None:
    """Record the runs of a ledger (seed field names such as Scenario_ID, Credits_Total,
    Risk_Flags, Job_Type are accepted), classified with their automatic actions. Idempotent on
    run_id; local artifact files are uploaded with their SHA-256. Exit 1 if a line was invalid.

    A directory is read as the seed's tree of run files (from its root, runs/,
    runs/CREDIT_MONITORING/ or one date folder): date then run id, the run id from the file name
    when the record has none, a `.sha256` sidecar checked when present; one line per file
    (imported, duplicate, or error with the reason)."""
    path = Path(file)
    if file != "-" and not path.exists():
        raise CliError(
            f"{file}: no such file or directory; give a ledger file (- for stdin) or the folder "
            f"of the seed's run files ({ledger.LAYOUT})."
        )
    if file != "-" and path.is_dir():
        try:
            files = ledger.run_files(path)
        except Invalid as exc:
            raise CliError(exc.message) from None
        report = asyncio.run(_import_run_dir(_settings(ctx), files, org, batch))
        _print_severities(report.summary)
        _print_file_report(report, path)
        return
    base = path.resolve().parent if file != "-" else Path.cwd()
    summary = asyncio.run(_import_runs(_settings(ctx), file, org, batch, base))
    _print_severities(summary)
    _print_import(summary, "runs")


def _print_severities(summary: ImportSummary) -> None:
    if summary.severities:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.severities.items()))
        typer.echo(f"Severities of the recorded runs: {counts}.")


async def _show_run(settings: Settings, org: str, run_id: str) -> dict[str, Any]:
    async with database(settings):
        # Through the services, like the pages and GraphQL: reading a run is a `run.view`
        # data-access event, re-hashing its files an `artifact.verify` one (here by the CLI).
        reader = await org_principal(org, Role.VIEWER)
        try:
            pk = (await get_run_by_run_id(reader, run_id)).id
        except NotFound:
            raise CliError(f"no run '{run_id}' in organization '{org}'.") from None
        detail = await get_run_detail(reader, pk)
        verified = await artifact_checks.verify_run_artifacts(reader, run_id)
        checks = {c.artifact_id: c.detail for c in verified.checks}
        run = detail.run
        fields = (
            "run_id", "job_type", "started_at", "finished_at", "credits_total", "prompt_tokens",
            "completion_tokens", "items_processed", "retry_count", "has_max_items_config",
            "deployment_ref", "data_classification", "flags", "baseline_median", "multiplier",
            "severity", "misconfig_likelihood", "quarantined", "dispatch_blocked", "rerun_gate",
            "explanations", "reported_severity", "reported_dispatch_blocked",
        )  # fmt: skip
        out: dict[str, Any] = {f: getattr(run, f) for f in fields}
        out["severity_disagrees"] = severity_disagrees(run)
        out["dispatch_blocked_disagrees"] = dispatch_disagrees(run)
        out["scenario"] = run.scenario.key
        out["case"] = run.case.display_number if run.case else None
        out["artifacts"] = [
            {
                "uri": a.uri,
                "sha256": a.sha256 or None,
                "quarantine_path": a.quarantine_path,
                "check": checks.get(a.id),  # every file riskops holds; null for a reference
            }
            for a in detail.artifacts
        ]
        out["artifacts_ok"] = verified.ok
        return json.loads(json.dumps(out, default=str))


async def _list_runs(
    settings: Settings, org: str, severities: list[str], since: datetime | None, limit: int
) -> list[tuple[str, ...]]:
    async with database(settings):
        viewer = await org_principal(org, Role.VIEWER)
        page = await list_runs(viewer, RunFilter(severities=severities, since=since), first=limit)
        return [
            (
                format_ts(r.started_at)[:19] + "Z",
                r.run_id,
                r.scenario.key,
                credits(r.credits_total),
                "-" if r.multiplier is None else multiplier(r.multiplier),
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
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
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


async def _verify_artifacts(
    settings: Settings, org: str, days: int
) -> artifact_checks.ArtifactVerification:
    async with database(settings):
        reader = await org_principal(org, Role.VIEWER)
        return await artifact_checks.verify_recent_artifacts(reader, days)


@runs_app.command("verify-artifacts")
def runs_verify_artifacts_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    days: Annotated[
        int, typer.Option("--days", min=1, max=3650, help="Runs recorded in the last N days.")
    ] = 1,
) -> None:
    """Re-hash the artifacts riskops holds for recent runs (stored or quarantined) against their
    recorded SHA-256 (the runbook's daily check, audited); exit 1 on any mismatch."""
    result = asyncio.run(_verify_artifacts(_settings(ctx), org, days))
    for c in result.checks:
        state = "ok" if c.ok else "MISMATCH"
        where = " (quarantined)" if c.quarantined else ""
        typer.echo(f"{c.run_id}  {c.uri}  {state}: {c.detail}{where}")
    bad = result.mismatches
    typer.echo(f"{len(result.checks)} artifact(s) checked, {len(bad)} mismatch(es).")
    if bad:
        raise CliError(f"{len(bad)} artifact(s) do not match their recorded SHA-256.")


@runs_app.command("show")
def runs_show_cmd(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id as recorded (e.g. RUN-123).")],
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
) -> None:
    """Print a run record as JSON (for jq): classification, flags, dispatch_blocked, and the
    SHA-256 of each artifact riskops holds re-verified; exit 1 when one does not match."""
    shown = asyncio.run(_show_run(_settings(ctx), org, run_id))
    typer.echo(json.dumps(shown, indent=2))
    if not shown["artifacts_ok"]:
        raise CliError(f"an artifact of run {run_id} does not match its recorded SHA-256.")


# --------------------------------------------------------------------------- quarantine by hand
# (issue 16, h/credit: kept apart from the import commands.)


async def _quarantine(settings: Settings, org: str, email: str, run_id: str, reason: str) -> str:
    async with database(settings):
        principal = await user_principal(org, email)
        run = await quarantine.quarantine_run_by_run_id(principal, run_id, reason)
        return (
            f"Quarantined run {run.run_id}: its artifacts are held aside and dispatch is "
            f"blocked (version {run.version}). Release it with releaseQuarantine or on the run "
            "page."
        )


@runs_app.command("quarantine")
def runs_quarantine_cmd(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id as recorded (e.g. RUN-123).")],
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    email: Annotated[str, typer.Option("--as", help="E-mail of the approver acting.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept on the run and its case).")],
) -> None:
    """Quarantine a run's artifacts by hand (approvers): the files riskops holds move to the
    quarantine as for a SEV0 and dispatch is blocked, until an approver releases it."""
    typer.echo(asyncio.run(_quarantine(_settings(ctx), org, email, run_id, reason)))
