"""Importing JSON lines from the command line: records read from a file (or stdin), sent to a
service in batches, with a progress bar and every invalid line reported by its number."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from riskops.server.cli.common import CliError, _progress
from riskops.server.core.errors import DomainError
from riskops.server.core.principal import Principal
from riskops.server.core.validation import shallow_json

MAX_SHOWN_ERRORS = 20


@dataclass
class ImportSummary:
    lines: int = 0
    stored: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # line, field, message
    severities: Counter[str] = field(default_factory=Counter)


def _read_lines(source: str) -> list[str]:
    if source == "-":
        return sys.stdin.read().splitlines()
    with Path(source).open(encoding="utf-8") as fh:
        return fh.read().splitlines()


Sender = Callable[[Principal, list[tuple[int, Any]], ImportSummary], Awaitable[None]]


async def import_jsonl(
    source: str,
    principal: Principal,
    batch_size: int,
    send: Sender,
    what: str,
    prepare: Callable[[int, Any], Awaitable[Any]] | None = None,
) -> ImportSummary:
    """Read a JSON lines file (- is stdin) and send its records in batches; a line that is not
    JSON (or that `prepare` refuses with a DomainError) is reported with its number."""
    lines = _read_lines(source)
    summary = ImportSummary()
    numbered = [(i, line) for i, line in enumerate(lines, start=1) if line.strip()]
    summary.lines = len(numbered)
    with _progress(len(numbered), f"importing {what}") as (progress, task):
        batch: list[tuple[int, Any]] = []
        for number, line in numbered:
            try:
                shallow_json(line, "The line's JSON", "record")  # json.loads would recurse
                record = json.loads(line)
                batch.append((number, await prepare(number, record) if prepare else record))
            except ValueError as exc:
                summary.errors.append((number, "json", f"not valid JSON: {exc}"))
                progress.update(task, advance=1)
            except DomainError as exc:
                summary.errors.append((number, exc.field or "record", exc.message))
                progress.update(task, advance=1)
            if len(batch) >= batch_size:
                await send(principal, batch, summary)
                progress.update(task, advance=len(batch))
                batch = []
        if batch:
            await send(principal, batch, summary)
            progress.update(task, advance=len(batch))
    summary.errors.sort()
    return summary


def _print_import(summary: ImportSummary, what: str) -> None:
    typer.echo(
        f"Read {summary.lines} line(s): {summary.stored} stored, {summary.unchanged} unchanged "
        f"(already there), {len(summary.errors)} invalid."
    )
    for line, name, message in summary.errors[:MAX_SHOWN_ERRORS]:
        typer.echo(f"  line {line}: {name}: {message}")
    if len(summary.errors) > MAX_SHOWN_ERRORS:
        typer.echo(f"  … and {len(summary.errors) - MAX_SHOWN_ERRORS} more invalid line(s).")
    if summary.errors:
        raise CliError(f"{len(summary.errors)} line(s) were invalid and not imported.")
