"""`riskops backup create|verify|restore|list` (issue 15, seed 003 BR-001, BR-002, IR-003): one
archive of the database and var_dir's files with a SHA-256 manifest, checked, restored into an
empty database and checked again (docs/BACKUPS.md)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from riskops.server.cli.common import CliError, Overrides, _settings, app, database, err, out
from riskops.server.operations import backups
from riskops.server.operations.backup_archive import ArchiveError
from riskops.server.settings import Settings

backup_app = typer.Typer(
    help="Backups: create, verify, restore and list archives (docs/BACKUPS.md).",
    no_args_is_help=True,
)
app.add_typer(backup_app, name="backup")

ARCHIVE = Annotated[Path, typer.Argument(help="The archive file (riskops-backup-*.tar).")]


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _age(moment: datetime) -> str:
    hours = (datetime.now(UTC) - moment).total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


async def _create(settings: Settings, output_dir: Path | None, keep_days: int) -> str:
    async with database(settings):
        try:
            made = await backups.create_backup(settings, output_dir=output_dir, keep_days=keep_days)
        except ArchiveError as exc:
            raise CliError(f"backup not written: {exc.message}") from None
    rows = sum(made.row_counts.values())
    lines = [
        f"Backup {made.record.id} written and verified: {made.path}",
        f"  {_size(made.record.size_bytes)}, {len(made.row_counts)} tables, {rows} rows, "
        f"schema {made.record.schema_version}, sha256 {made.record.sha256}",
    ]
    lines += [f"  removed (older than {keep_days} days): {p.name}" for p in made.removed]
    return "\n".join(lines)


@backup_app.command("create")
def create_cmd(
    ctx: typer.Context,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            help="Where to write it (default RISKOPS_BACKUP_DIR or <var_dir>/backups).",
        ),
    ] = None,
    keep_days: Annotated[
        int,
        typer.Option(
            "--keep-days",
            help="Delete this directory's archives older than this (0 keeps every one).",
        ),
    ] = 30,
) -> None:
    """Write one archive (database dump, artifact and quarantine files, manifest.json), verify
    it and record it; then apply the retention."""
    typer.echo(asyncio.run(_create(_settings(ctx), output_dir, keep_days)))


async def _verify(settings: Settings, path: Path) -> tuple[backups.Verified, str | None]:
    result = await backups.check(path)
    note = None
    try:
        async with database(settings):
            if not await backups.record_verification(result):
                note = "no backup of this SHA-256 in the database: result not recorded"
    except CliError as exc:
        note = f"result not recorded: {exc.message}"
    return result, note


@backup_app.command("verify")
def verify_cmd(ctx: typer.Context, path: ARCHIVE) -> None:
    """Check every member's SHA-256 against the manifest and that the dump is readable; the
    result is recorded on the matching backup. Exit 1 on any failure."""
    result, note = asyncio.run(_verify(_settings(ctx), path))
    if note:
        err.print(f"note: {note}", markup=False)
    if not result.ok:
        raise CliError(f"{path.name} is NOT a good backup: {result.error}")
    assert result.manifest is not None
    m = result.manifest
    typer.echo(
        f"{path.name}: OK ({len(m['members'])} members, {m['backend']}, schema "
        f"{m['schema_version']}, taken {m['created_at']})"
    )


async def _restore(settings: Settings, path: Path) -> backups.Restored:
    try:
        return await backups.restore_backup(settings, path)
    except ArchiveError as exc:
        raise CliError(f"nothing restored: {path.name}: {exc.message}") from None


@backup_app.command("restore")
def restore_cmd(
    ctx: typer.Context,
    path: ARCHIVE,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="The EMPTY database to restore into.")
    ] = None,
    var_dir: Annotated[
        Path | None, typer.Option("--var-dir", help="The var directory to restore files into.")
    ] = None,
) -> None:
    """Restore an archive into an EMPTY database and var directory, then check the audit
    chains, the row counts and the files against the manifest. Exit 1 if any check fails."""
    overrides: Overrides = ctx.obj or Overrides()
    overrides = replace(
        overrides,
        database_url=database_url or overrides.database_url,
        var_dir=var_dir or overrides.var_dir,
    )
    done = asyncio.run(_restore(overrides.load(), path))
    for line in done.lines:
        typer.echo(line)
    if not done.ok:
        raise CliError("the restore FAILED its checks (see above); do not use this database.")
    typer.echo("Restore checked: OK.")


async def _list(settings: Settings) -> list[tuple[str, ...]]:
    async with database(settings):
        rows = await backups.list_backups(None, backups.MAX_PAGE)
    return [
        (
            str(r.id),
            f"{r.created_at:%Y-%m-%d %H:%M}",
            _age(r.created_at),
            _size(r.size_bytes),
            r.backend.value,
            "removed" if r.deleted_at else "verified" if r.verified_at else
            f"FAILED: {r.verify_error}" if r.verify_error else "not verified",
            r.path,
        )
        for r in rows
    ]  # fmt: skip


@backup_app.command("list")
def list_cmd(ctx: typer.Context) -> None:
    """The archives taken, newest first, with age, size and verified state."""
    table = Table("id", "taken (UTC)", "age", "size", "backend", "state", "archive")
    for row in asyncio.run(_list(_settings(ctx))):
        table.add_row(*row)
    out.print(table)
