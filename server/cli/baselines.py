"""`riskops baseline calculate|update|reject|set`: scenario baselines and their maker-checker
update from the shell (seed 002)."""

from __future__ import annotations

import asyncio
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
from riskops.server.core.permissions import Role
from riskops.server.credit import baselines
from riskops.server.settings import Settings

baseline_app = typer.Typer(
    help="Baselines of scenarios: calculate, propose and approve updates, set one by hand.",
    no_args_is_help=True,
)
app.add_typer(baseline_app, name="baseline")


def _calculation_lines(calc: Any) -> list[str]:
    cv = "n/a" if calc.cv is None else f"{calc.cv:.2f}"
    lines = [
        f"Calculated baseline for {calc.scenario.key}: {calc.median:.2f} "
        f"(from {calc.sample_size} healthy runs), CV {cv}"
    ]
    if calc.current is None:
        lines.append("No baseline in force yet: this would be the first one.")
    else:
        confirm = " (above the limit: approving needs --confirm-large-change)"
        lines.append(
            f"Baseline in force: {calc.current.median:.2f}; change {calc.change_pct:+.1f}%"
            + (confirm if calc.needs_confirmation else "")
        )
    return lines


async def _baseline_calculate(
    settings: Settings, org: str, scenario: str, days: int | None
) -> list[str]:
    async with database(settings):
        reader = await org_principal(org, Role.VIEWER)
        return _calculation_lines(await baselines.calculate_baseline(reader, scenario, days))


@baseline_app.command("calculate")
def baseline_calculate_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    scenario: Annotated[str, typer.Option("--scenario", help="The scenario key (exact).")],
    days: Annotated[
        int | None,
        typer.Option("--days", min=1, max=365, help="Window (default: the policy's, 30)."),
    ] = None,
) -> None:
    """Calculate a scenario's baseline from its healthy runs (not SEV0/SEV1, not quarantined).
    Changes nothing."""
    for line in asyncio.run(_baseline_calculate(_settings(ctx), org, scenario, days)):
        typer.echo(line)


async def _baseline_propose(
    settings: Settings, org: str, email: str, scenario: str, days: int | None, rationale: str
) -> list[str]:
    async with database(settings):
        principal = await user_principal(org, email)
        change = await baselines.propose_baseline_update(principal, scenario, days, rationale)
        pct = "" if change.change_pct is None else f" ({change.change_pct:+.1f}%)"
        old = "none" if change.old_median is None else f"{change.old_median:.2f}"
        return [
            f"Proposed baseline change {change.id} for {scenario}: {old} -> "
            f"{change.new_median:.2f}{pct}, from {change.sample_size} healthy runs.",
            "An approver other than you approves it: riskops baseline update --approve.",
        ]


async def _baseline_approve(
    settings: Settings, org: str, email: str, scenario: str, rationale: str, confirm: bool
) -> list[str]:
    async with database(settings):
        principal = await user_principal(org, email)
        found, proposal = await baselines.proposal_to_decide(principal, scenario)
        if proposal is None:
            raise CliError(
                f"no open baseline proposal for {found.key}: propose one first "
                "(riskops baseline update without --approve)."
            )
        change = await baselines.approve_baseline_update(principal, proposal.id, rationale, confirm)
        return [
            f"Approved baseline change {change.id}: {found.key} baseline is now "
            f"{change.new_median:.2f} (approved at {change.decided_at:%Y-%m-%d %H:%M} UTC)."
        ]


@baseline_app.command("update")
def baseline_update_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    scenario: Annotated[str, typer.Option("--scenario", help="The scenario key (exact).")],
    email: Annotated[str, typer.Option("--as", help="E-mail of the person acting.")],
    rationale: Annotated[
        str, typer.Option("--rationale", help="Why (kept in the baseline history).")
    ],
    days: Annotated[
        int | None,
        typer.Option("--days", min=1, max=365, help="Window of the proposal (default 30)."),
    ] = None,
    approve: Annotated[
        bool, typer.Option("--approve", help="Approve the open proposal (an approver).")
    ] = False,
    confirm_large_change: Annotated[
        bool,
        typer.Option("--confirm-large-change", help="Confirm a change above 50% (--approve)."),
    ] = False,
) -> None:
    """Propose the calculated baseline (operators, approvers), or with --approve approve the
    open proposal (an approver other than the proposer)."""
    settings = _settings(ctx)
    if approve:
        if days is not None:
            raise CliError("--days applies to a proposal, not to --approve.")
        lines = asyncio.run(
            _baseline_approve(settings, org, email, scenario, rationale, confirm_large_change)
        )
    else:
        if confirm_large_change:
            raise CliError("--confirm-large-change applies to --approve.")
        lines = asyncio.run(_baseline_propose(settings, org, email, scenario, days, rationale))
    for line in lines:
        typer.echo(line)


async def _baseline_set(
    settings: Settings, org: str, email: str, scenario: str, median: float, rationale: str,
    confirm: bool,
) -> str:  # fmt: skip
    async with database(settings):
        principal = await user_principal(org, email)
        change = await baselines.set_manual_baseline(
            principal, scenario, median, rationale, confirm
        )
        # Always a proposal (maker-checker, like every baseline change).
        return (
            f"Proposed manual baseline for {scenario}: {change.new_median:.2f} (change "
            f"{change.id}); the baseline in force stays until an approver other than you "
            "approves it: riskops baseline update --approve."
        )


async def _baseline_reject(
    settings: Settings, org: str, email: str, scenario: str, reason: str
) -> str:
    async with database(settings):
        principal = await user_principal(org, email)
        found, proposal = await baselines.proposal_to_decide(principal, scenario)
        if proposal is None:
            raise CliError(f"no open baseline proposal for {found.key}: nothing to reject.")
        change = await baselines.reject_baseline_update(principal, proposal.id, reason)
        return f"Rejected baseline change {change.id} for {found.key}; the baseline in force stays."


@baseline_app.command("reject")
def baseline_reject_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    scenario: Annotated[str, typer.Option("--scenario", help="The scenario key (exact).")],
    email: Annotated[str, typer.Option("--as", help="E-mail of the approver acting.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the history).")],
) -> None:
    """Reject the open baseline proposal of a scenario (approvers; the proposer may withdraw
    their own)."""
    typer.echo(asyncio.run(_baseline_reject(_settings(ctx), org, email, scenario, reason)))


@baseline_app.command("set")
def baseline_set_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    scenario: Annotated[str, typer.Option("--scenario", help="The scenario key (exact).")],
    median: Annotated[float, typer.Option("--median", help="Median credits, e.g. 1250.50.")],
    rationale: Annotated[str, typer.Option("--rationale", help="Why (kept in the history).")],
    email: Annotated[str, typer.Option("--as", help="E-mail of the approver acting.")],
    confirm_large_change: Annotated[
        bool, typer.Option("--confirm-large-change", help="Confirm a change above 50%.")
    ] = False,
) -> None:
    """Set a scenario's baseline by hand (approvers): "Baseline not found for scenario" with too
    few runs to calculate one."""
    typer.echo(
        asyncio.run(
            _baseline_set(_settings(ctx), org, email, scenario, median, rationale,
                          confirm_large_change)
        )
    )  # fmt: skip
