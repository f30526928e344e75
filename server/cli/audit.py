"""`riskops audit verify|export|archive|checkpoint|flush-spool`: operate the tamper-evident trail.

These commands work on the chains themselves (`riskops.audit`), across organizations, as the
platform's operator: no organization's principal is involved, so there is no service to call."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer

from riskops.audit import spool
from riskops.audit.archive import Archived, ArchiveRefused, archive_chain, check_output_dir
from riskops.audit.chain import ExportCheck, verify_export
from riskops.audit.checkpoint import checkpoint_all
from riskops.audit.refusals import flush_refusals
from riskops.audit.types import SYSTEM_ORG
from riskops.audit.verify import Verification, org_ids, verify_org
from riskops.server.cli.common import (
    CliError,
    CliPrincipal,
    _flush,
    _progress,
    _settings,
    app,
    cli_actor,
    database,
    err,
    parse_when,
    resolve_org,
)
from riskops.server.core.permissions import Role
from riskops.server.operations import audit_log
from riskops.server.settings import Settings

audit_app = typer.Typer(
    help="The tamper-evident audit trail: verify, export, archive, checkpoint, flush the spool.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")


ORG_HELP = "Slug or id of the organization; 0 is the platform chain."


async def _chain_of(key: str) -> int:
    """The chain `--org` names: an organization's, by slug or id as everywhere, or the platform
    chain `0` (events of no organization, AUDIT.md), which no organization row stands for."""
    if key.strip() == str(SYSTEM_ORG):
        if SYSTEM_ORG not in await org_ids():
            raise CliError("the platform chain (0) has no events yet.")
        return SYSTEM_ORG
    org = await resolve_org(key)
    if org.id not in await org_ids():
        raise CliError(f"organization {org.slug} (id {org.id}) has no audit chain.")
    return org.id


async def _verify_one(org_id: int, key: bytes) -> Verification:
    """An organization's chain through the audit-log service, like the pages and GraphQL: it is
    checked and the check recorded (`audit.verify`, by the CLI); the platform chain belongs to
    no organization and is only checked."""
    if org_id == SYSTEM_ORG:
        return await verify_org(org_id, key)
    reader = CliPrincipal(user_id=0, org_id=org_id, roles=frozenset({Role.VIEWER.value}))
    return await audit_log.verify_chain(reader, key)


async def _verify(settings: Settings, org: str | None) -> list[Verification]:
    async with database(settings):
        await _flush()
        await flush_refusals()  # the counts of refused attempts whose minute is over
        ids = [await _chain_of(org)] if org is not None else await org_ids()
        results: list[Verification] = []
        events = 0
        with _progress(len(ids), "verifying audit chains") as (progress, task):
            for org_id in ids:
                results.append(await _verify_one(org_id, settings.key))
                events += results[-1].events_checked
                progress.update(task, advance=1, description=f"verified {events} events")
    return results


def _read_export(path: Path) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    raise CliError(f"{path}, line {number}: not a JSON object.") from None
                if not isinstance(event, dict):
                    raise CliError(f"{path}, line {number}: not a JSON object.")
                events.append(event)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}.") from None
    return events


def _verify_file(path: Path) -> list[ExportCheck]:
    """An export file (`riskops audit export`, of one chain or of all), offline: each
    organization's events in it are checked as a chain of their own."""
    checks = verify_export(_read_export(path))
    if not checks:
        raise CliError(f"{path} holds no audit events.")
    return checks


@audit_app.command("verify")
def audit_verify_cmd(
    ctx: typer.Context,
    org: Annotated[
        str | None, typer.Option("--org", help=f"{ORG_HELP} Default: every chain.")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Verify an export file (one chain or every chain) instead of the database; "
            "each organization's chain in it is checked separately.",
        ),
    ] = None,
) -> None:
    """Verify hash chains and checkpoints; exit 1 naming the first bad seq if any is broken."""
    if file is not None:
        if org is not None:
            raise CliError("--file checks every chain the file holds; leave out --org.")
        checks = _verify_file(file)
        for check in checks:
            typer.echo(check.describe())
        bad = [c for c in checks if not c.ok]
        if bad:
            raise CliError(
                f"{len(bad)} of {len(checks)} audit chain(s) in {file} BROKEN; the first is org "
                f"{bad[0].org}, first bad seq {bad[0].first_bad_seq}."
            )
        err.print(f"All {len(checks)} audit chain(s) in {file} verify.", markup=False)
        return
    results = asyncio.run(_verify(_settings(ctx), org))
    for result in results:
        typer.echo(result.describe())
    broken = [r for r in results if not r.ok]
    if broken:
        first = broken[0]
        raise CliError(
            f"{len(broken)} of {len(results)} audit chain(s) BROKEN; the first is org "
            f"{first.org_id}, first bad seq {first.first_bad_seq}."
        )
    err.print(f"All {len(results)} audit chain(s) verify.")


async def _write_export(
    org: int, since: datetime | None, until: datetime | None, sink: TextIO
) -> int:
    """An organization's chain through the audit-log service (which records the export); the
    platform chain, which belongs to no organization, directly."""

    def write(line: str) -> None:
        sink.write(line + "\n")

    if org != SYSTEM_ORG:
        reader = CliPrincipal(user_id=0, org_id=org, roles=frozenset({Role.ADMIN.value}))
        count = await audit_log.export_chain(reader, since, until, write)
    else:
        count = await audit_log.export_platform_chain(cli_actor(SYSTEM_ORG), since, until, write)
    sink.flush()
    return count


async def _export(
    settings: Settings,
    key: str | None,
    since: datetime | None,
    until: datetime | None,
    output: Path | None,
) -> dict[int, int]:
    """The chain `key` names, or every chain (each organization's, then the platform chain's,
    one after the other; each event carries its `org`). Each is recorded as its own export."""
    async with database(settings):
        await _flush()
        await flush_refusals()  # the counts of refused attempts whose minute is over
        ids = [await _chain_of(key)] if key is not None else await org_ids()
        ids.sort(key=lambda org: (org == SYSTEM_ORG, org))
        counts: dict[int, int] = {}
        with contextlib.ExitStack() as stack:
            sink = sys.stdout if output is None else stack.enter_context(
                output.open("w", encoding="utf-8")
            )  # fmt: skip
            for org in ids:
                counts[org] = await _write_export(org, since, until, sink)
    return counts


@audit_app.command("export")
def audit_export_cmd(
    ctx: typer.Context,
    org: Annotated[
        str | None,
        typer.Option("--org", help=f"{ORG_HELP} Default: every chain, in one file."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only events at or after this ISO 8601 time (UTC default).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only events before this ISO 8601 time.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Export an organization's chain, or every chain, as JSON lines (AUDIT.md's contract; each
    event carries its org), for a SIEM or `riskops audit verify --file`."""
    start, end = parse_when(since, "--since"), parse_when(until, "--until")
    if start and end and start >= end:
        raise CliError("--since must be earlier than --until.")
    settings = _settings(ctx)
    counts = asyncio.run(_export(settings, org, start, end, output))
    where = str(output) if output else "stdout"
    if org is not None:
        ((org_id, count),) = counts.items()
        err.print(f"Exported {count} event(s) of org {org_id} to {where}.", markup=False)
        return
    orgs = ", ".join(str(o) for o in counts) or "none"
    err.print(
        f"Exported {sum(counts.values())} event(s) of {len(counts)} chain(s) (orgs {orgs}) "
        f"to {where}.",
        markup=False,
    )


async def _archive(
    settings: Settings, key: str | None, before: datetime, out_dir: Path
) -> tuple[list[Archived], list[int]]:
    """Archive the old segment of the chain `key` names, or of every chain. Every chosen chain
    must verify first: if one does not, nothing is archived at all."""
    async with database(settings):
        await _flush()
        await flush_refusals()
        ids = [await _chain_of(key)] if key is not None else await org_ids()
        broken = [v for v in [await verify_org(o, settings.key) for o in ids] if not v.ok]
        if broken:
            raise CliError(
                f"{len(broken)} audit chain(s) do not verify ({broken[0].describe()}); nothing "
                "was archived. Investigate with `riskops audit verify` first."
            )
        done: list[Archived] = []
        empty: list[int] = []
        for org_id in ids:
            try:
                done.append(
                    await archive_chain(org_id, before, out_dir, settings.key, cli_actor(org_id))
                )
            except ArchiveRefused as exc:
                if "left to archive" not in str(exc):
                    before_this = ", ".join(
                        f"org {d.archive.org_id} seq {d.archive.first_seq}-{d.archive.last_seq}"
                        for d in done
                    )
                    raise CliError(
                        str(exc)
                        + (f" (archived before this refusal: {before_this})" if done else "")
                    ) from None
                empty.append(org_id)
    return done, empty


@audit_app.command("archive")
def audit_archive_cmd(
    ctx: typer.Context,
    before: Annotated[
        str,
        typer.Option(
            "--before", help="Archive the events stamped before this ISO 8601 date or time."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Directory for the archive files (JSON lines + checkpoint)."
        ),
    ],
    org: Annotated[
        str | None, typer.Option("--org", help=f"{ORG_HELP} Default: every chain.")
    ] = None,
) -> None:
    """Move the old segment of each chain to a verified archive file with its signed
    checkpoint, then remove it from the database (AUDIT.md, "Archiving")."""
    moment = parse_when(before, "--before")
    assert moment is not None
    if moment > datetime.now(UTC):
        raise CliError(
            f"--before {before} is in the future. Archive only what is already past: give a "
            "date before now."
        )
    try:
        check_output_dir(output)
    except ArchiveRefused as exc:
        raise CliError(str(exc)) from None
    done, empty = asyncio.run(_archive(_settings(ctx), org, moment, output))
    for item in done:
        a = item.archive
        typer.echo(
            f"org {a.org_id}: archived seq {a.first_seq}-{a.last_seq} ({a.events} events) to "
            f"{item.file} (sha256 {a.file_sha256[:16]}…), checkpoint {item.checkpoint_file}"
        )
    for org_id in empty:
        typer.echo(f"org {org_id}: nothing before {before} left to archive")
    if not done:
        raise CliError(
            f"no audit events before {before} left to archive"
            + (f" in org {empty[0]}." if org is not None and empty else ".")
        )
    err.print(
        f"Archived {sum(i.archive.events for i in done)} event(s) of {len(done)} chain(s); "
        "`riskops audit verify` now starts from the archived checkpoints.",
        markup=False,
        soft_wrap=True,
    )


async def _checkpoint(settings: Settings) -> list[tuple[int, int, str]]:
    async with database(settings):
        await _flush()
        await flush_refusals()  # the counts of refused attempts whose minute is over
        made = await checkpoint_all(settings.key)
    return [(cp.org_id, cp.seq, cp.head_hash) for cp in made]


@audit_app.command("checkpoint")
def audit_checkpoint_cmd(ctx: typer.Context) -> None:
    """Sign a checkpoint of every chain whose head moved since its last checkpoint."""
    made = asyncio.run(_checkpoint(_settings(ctx)))
    for org_id, seq, head_hash in made:
        typer.echo(f"org {org_id}: checkpoint at seq {seq} (head {head_hash[:16]}…)")
    if not made:
        typer.echo("Every chain is already checkpointed at its head.")


async def _flush_spool(settings: Settings) -> tuple[int, int]:
    async with database(settings):
        stored = await _flush(announce=False)
    return stored, spool.depth()


@audit_app.command("flush-spool")
def audit_flush_spool_cmd(ctx: typer.Context) -> None:
    """Store the events spooled while the audit store was unavailable, in order."""
    stored, remaining = asyncio.run(_flush_spool(_settings(ctx)))
    typer.echo(f"Stored {stored} spooled event(s); {remaining} remain in the spool.")
    if remaining:
        raise CliError(f"{remaining} event(s) could not be stored yet; the store is failing.")
