"""`riskops scenarios import|export`: the seed's per-scenario configuration files
(config/scenarios/<scenario_id>.json, seed 002) in and out of riskops."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from riskops.server.cli.common import (
    CliError,
    _settings,
    app,
    database,
    org_principal,
    user_principal,
)
from riskops.server.core.errors import DomainError, Invalid
from riskops.server.core.permissions import Role
from riskops.server.credit import scenario_files
from riskops.server.credit.scenarios import SCENARIO_KEY_RE
from riskops.server.settings import Settings

scenarios_app = typer.Typer(
    help="Scenario configuration files (config/scenarios/<scenario_id>.json): import, export.",
    no_args_is_help=True,
)
app.add_typer(scenarios_app, name="scenarios")


async def _import(
    settings: Settings, paths: list[Path], org: str, email: str, reason: str | None
) -> list[tuple[Path, str, bool]]:
    """(file, what happened or why not, ok) for each file, in order."""
    report: list[tuple[Path, str, bool]] = []
    async with database(settings):
        principal = await user_principal(org, email)
        for path in paths:
            try:
                sf = scenario_files.read_scenario_file(path)
                report.append(
                    (path, await scenario_files.apply_scenario_file(principal, sf, reason), True)
                )
            except DomainError as exc:
                report.append((path, f"{exc.field or 'scenario'}: {exc.message}", False))
    return report


@scenarios_app.command("import")
def scenarios_import_cmd(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(help=f"The folder of scenario files ({scenario_files.LAYOUT}) or one file."),
    ],
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    email: Annotated[
        str, typer.Option("--as", help="E-mail of the person acting (an operator or approver).")
    ],
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason", help="Why backfill mode changes (needed when an is_backfill changes it)."
        ),
    ] = None,
) -> None:
    """Create or update each scenario a file describes (name, max_items, data_classification,
    dispatch_target; a field left out keeps its value), version-checked against the file's
    `version` when it has one, and turn backfill mode on or off as its is_backfill says
    (approvers, with --reason). One line per file; exit 1 if a file was refused."""
    root = Path(path)
    try:
        paths = scenario_files.scenario_paths(root)
    except Invalid as exc:
        raise CliError(exc.message) from None
    report = asyncio.run(_import(_settings(ctx), paths, org, email, reason))
    base = root if root.is_dir() else root.parent
    for file, what, ok in report:
        shown = file.relative_to(base) if file.is_relative_to(base) else file
        typer.echo(f"{shown}: {what}" if ok else f"{shown}: error: {what}")
    refused = sum(1 for _, _, ok in report if not ok)
    changed = sum(1 for _, what, ok in report if ok and what != "unchanged")
    typer.echo(
        f"Read {len(report)} file(s): {changed} changed, {len(report) - refused - changed} "
        f"unchanged, {refused} refused."
    )
    if refused:
        raise CliError(f"{refused} scenario file(s) were refused; the others were applied.")


async def _export(settings: Settings, org: str) -> list[dict[str, Any]]:
    async with database(settings):
        reader = await org_principal(org, Role.VIEWER)
        return await scenario_files.export_scenarios(reader)


def _write(path: Path, text: str) -> None:
    """Write whole or not at all (a reader never sees half a file)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@scenarios_app.command("export")
def scenarios_export_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    target: Annotated[
        str,
        typer.Argument(
            help="A folder to write <scenario_id>.json files into (created if missing); - (the "
            "default) prints them as one JSON array."
        ),
    ] = "-",
) -> None:
    """Write every scenario's configuration as the seed's files, every field (with is_backfill
    and the version), which `riskops scenarios import` reads back unchanged."""
    folder = Path(target)
    if target != "-" and folder.exists() and not folder.is_dir():
        raise CliError(f"{target} is a file; give a folder (or - for standard output).")
    configs = asyncio.run(_export(_settings(ctx), org))
    if target == "-":
        typer.echo(json.dumps(configs, indent=2, ensure_ascii=False))
        return
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for config in configs:
        key = str(config["scenario_id"])
        if not SCENARIO_KEY_RE.match(key):  # a key no file name can carry
            typer.echo(f"{key!r}: skipped: the key cannot be a file name.")
            continue
        _write(folder / f"{key}.json", json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        written += 1
    typer.echo(f"Wrote {written} scenario file(s) to {folder}.")
