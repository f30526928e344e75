"""`riskops policy show|export|propose|approve|reject`: the versioned classification policy from
the shell (seed 002 config/sintraprime-policy.json), changed by maker-checker like on the Policy
page and through GraphQL (`changePolicy`, `approvePolicyChange`, `rejectPolicyChange`)."""

from __future__ import annotations

import asyncio
import json
import sys
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
from riskops.server.core import validation
from riskops.server.core.errors import Conflict
from riskops.server.core.permissions import Role
from riskops.server.credit import policy
from riskops.server.settings import Settings

policy_app = typer.Typer(
    help="The classification policy: show, export, propose a change, approve or reject it.",
    no_args_is_help=True,
)
app.add_typer(policy_app, name="policy")

# The number of the version an exported file holds: what `propose` checks is still in force.
VERSION_KEY = "policy_version"
MAX_POLICY_FILE_BYTES = 65_536


def _value(v: float | int) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _changes(changes: dict[str, tuple[float | int, float | int]]) -> list[str]:
    return [f"  {k}: {_value(old)} -> {_value(new)}" for k, (old, new) in changes.items()]


async def _show(settings: Settings, org: str) -> list[str]:
    async with database(settings):
        reader = await org_principal(org, Role.VIEWER)
        current = await policy.get_policy(reader)
        lines = [
            f"Policy version {current.number} is in force"
            + (" (the built-in defaults)." if current.number == 0 else ".")
        ]
        proposal = await policy.open_policy_proposal(reader)
        if proposal is None:
            lines.append("No proposal is open.")
        else:
            lines.append(
                f"Version {proposal.version.number} is proposed (waiting for another approver), "
                "changing:"
            )
            lines += _changes(proposal.changes)
        return lines


@policy_app.command("show")
def policy_show_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
) -> None:
    """The number of the version in force and the open proposal with what it changes."""
    for line in asyncio.run(_show(_settings(ctx), org)):
        typer.echo(line)


async def _export(settings: Settings, org: str) -> dict[str, Any]:
    async with database(settings):
        reader = await org_principal(org, Role.VIEWER)
        current = await policy.get_policy(reader)
        return {VERSION_KEY: current.number, **current.policy.to_dict()}


@policy_app.command("export")
def policy_export_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    file: Annotated[
        str, typer.Argument(help="The JSON file to write; - (the default) is standard output.")
    ] = "-",
) -> None:
    """The policy in force as one JSON object: every field, and `policy_version`, the number
    `riskops policy propose --file` checks is still in force."""
    data = asyncio.run(_export(_settings(ctx), org))
    text = json.dumps(data, indent=2) + "\n"
    if file == "-":
        typer.echo(text, nl=False)
        return
    Path(file).write_text(text, encoding="utf-8")
    typer.echo(f"Wrote policy version {data[VERSION_KEY]} to {file}.")


def _read_policy_file(file: str) -> dict[str, Any]:
    try:
        if file == "-":
            raw = sys.stdin.buffer.read(MAX_POLICY_FILE_BYTES + 1)
        else:
            path = Path(file)
            if not path.is_file():
                raise CliError(f"{file}: no such file; give the JSON file of the policy.")
            with path.open("rb") as fh:
                raw = fh.read(MAX_POLICY_FILE_BYTES + 1)
    except OSError as e:
        raise CliError(f"{file} cannot be read: {e.strerror or e}.") from None
    if len(raw) > MAX_POLICY_FILE_BYTES:
        raise CliError(
            f"{file} is larger than {MAX_POLICY_FILE_BYTES:,} bytes; a policy file is one object "
            "of named thresholds."
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{file} is not UTF-8 text.") from None
    if validation.json_too_deep(text):
        raise CliError(f"{file}: {validation.too_deep_message('The file')}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CliError(
            f"{file}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}."
        ) from None
    if not isinstance(data, dict):
        raise CliError(
            f"{file} must hold one JSON object of policy fields (see `riskops policy export`)."
        )
    return data


def _expected(data: dict[str, Any], given: int | None, file: str) -> int:
    in_file = data.pop(VERSION_KEY, None)
    if in_file is not None and (isinstance(in_file, bool) or not isinstance(in_file, int)):
        raise CliError(f"{file}: {VERSION_KEY} must be a whole number, not {in_file!r}.")
    if given is not None and in_file is not None and given != in_file:
        raise CliError(
            f"--expected-version {given} and the file's {VERSION_KEY} {in_file} differ; give "
            "one of them."
        )
    expected = given if given is not None else in_file
    if expected is None:
        raise CliError(
            f"{file} does not say which policy version it changes: keep the {VERSION_KEY} "
            "`riskops policy export` writes, or give --expected-version N (the number in force, "
            "see `riskops policy show`)."
        )
    return expected


async def _propose(
    settings: Settings, org: str, email: str, values: dict[str, Any], reason: str, expected: int
) -> list[str]:
    async with database(settings):
        principal = await user_principal(org, email)
        try:
            version = await policy.change_policy(principal, values, reason, expected)
        except Conflict as exc:
            if exc.field != "expected_number":
                raise
            raise CliError(
                f"{exc.message} (`riskops policy export` writes the version in force: make the "
                "change in a new export and propose that.)"
            ) from None
        changes = await policy.changes_of(principal, version)
        return [
            f"Proposed policy version {version.number} (in force: version {expected}), changing:",
            *_changes(changes),
            "Another approver puts it in force: `riskops policy approve "
            f"{version.number} --org {org} --as EMAIL --reason …`, the Policy page or "
            "approvePolicyChange.",
        ]


@policy_app.command("propose")
def policy_propose_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    email: Annotated[str, typer.Option("--as", help="E-mail of the approver proposing.")],
    file: Annotated[
        str,
        typer.Option(
            "--file", help="The policy JSON (all fields or the changed ones); - is stdin."
        ),
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the version).")],
    expected_version: Annotated[
        int | None,
        typer.Option(
            "--expected-version",
            help="The version in force the file changes, when it has no policy_version.",
        ),
    ] = None,
) -> None:
    """Propose a new policy version from a file: its fields merged over the version in force
    (unknown fields and values out of range are refused). Maker-checker: it is in force only
    once another approver approves it; until then runs are classified with the version in
    force."""
    data = _read_policy_file(file)
    expected = _expected(data, expected_version, file)
    lines = asyncio.run(_propose(_settings(ctx), org, email, data, reason, expected))
    for line in lines:
        typer.echo(line)


async def _decide(
    settings: Settings, org: str, email: str, number: int, reason: str, approve: bool
) -> list[str]:
    async with database(settings):
        principal = await user_principal(org, email)
        if approve:
            row = await policy.approve_policy_change(principal, number, reason)
            changes = await policy.changes_of(principal, row)  # against the version before it
            return [f"Policy version {row.number} is in force, changing:", *_changes(changes)]
        row = await policy.reject_policy_change(principal, number, reason)
        return [f"Policy version {row.number} rejected; the version in force stays."]


@policy_app.command("approve")
def policy_approve_cmd(
    ctx: typer.Context,
    number: Annotated[int, typer.Argument(help="The proposed version's number.")],
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    email: Annotated[str, typer.Option("--as", help="E-mail of the approver (not the proposer).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the decision).")],
) -> None:
    """Put a proposed policy version in force (an approver other than its proposer)."""
    for line in asyncio.run(_decide(_settings(ctx), org, email, number, reason, True)):
        typer.echo(line)


@policy_app.command("reject")
def policy_reject_cmd(
    ctx: typer.Context,
    number: Annotated[int, typer.Argument(help="The proposed version's number.")],
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    email: Annotated[
        str, typer.Option("--as", help="E-mail of an approver (its proposer withdraws it).")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the decision).")],
) -> None:
    """Reject a proposed policy version (its proposer may reject it to withdraw it)."""
    for line in asyncio.run(_decide(_settings(ctx), org, email, number, reason, False)):
        typer.echo(line)
