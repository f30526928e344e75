"""`riskops assistant status|check|usage` (seed 000 section 1, docs/ASSISTANT.md): whether the
assistant answers for an organization and what it spent today, the runbook's test prompt (one
harmless prompt with no data through the configured model), and its usage and cost over a
period by person, model, case or kind."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from riskops.server.assistant import availability as availability_mod
from riskops.server.assistant import provider
from riskops.server.assistant.usage import UsageGroup, UsagePeriod, UsageRow, usage
from riskops.server.cli.common import CliError, _settings, app, database, org_principal, out
from riskops.server.core.errors import DomainError
from riskops.server.core.formatting import count
from riskops.server.core.permissions import Role
from riskops.server.settings import Settings

assistant_app = typer.Typer(
    help="The assistant: availability, the test prompt, usage and cost (seed 000 §1).",
    no_args_is_help=True,
)
app.add_typer(assistant_app, name="assistant")

ORG = Annotated[str, typer.Option("--org", help="Slug or id of the organization.")]

# The runbook's test prompt: nothing of any organization's data, and a short answer.
CHECK_PROMPT = [
    {
        "role": "system",
        "content": "You are the health check of a risk operations tool. Answer in one word.",
    },
    {"role": "user", "content": "Reply with the word OK."},
]


def money(amount: object) -> str:
    """Model costs are fractions of a cent: six places, as the response rows keep them."""
    return f"${float(str(amount)):,.6f}"


async def _status(settings: Settings, org: str) -> list[tuple[str, str]]:
    async with database(settings):
        principal = await org_principal(org, Role.ADMIN)
        state = await availability_mod.availability(principal.org_id)
    fallbacks = ", ".join(f.model for f in settings.assistant_fallbacks) or "none"
    return [
        ("assistant", "on" if state.on else "off"),
        ("why off", state.reason or "-"),
        ("model", settings.assistant_model or "none configured (RISKOPS_ASSISTANT_MODEL)"),
        ("fallbacks", fallbacks),
        ("api base", settings.assistant_api_base or "the provider's default"),
        ("daily budget", money(state.budget)),
        ("spent today (UTC)", money(state.spent)),
        ("left today", money(max(state.budget - state.spent, 0))),
    ]


@assistant_app.command("status")
def status_cmd(ctx: typer.Context, org: ORG) -> None:
    """Whether the assistant answers for the organization now (and why not), its model and
    fallbacks, the daily budget and what was spent today."""
    rows = asyncio.run(_status(_settings(ctx), org))
    table = Table("", "", show_header=False)
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _why_not(settings: Settings) -> str | None:
    """Why no prompt can be sent at all, whatever the organization (None: it can)."""
    if availability_mod.safe_mode(settings):
        return availability_mod.SAFE_MODE
    if not provider.configured(settings):
        return availability_mod.NO_MODEL
    return None


async def _check(settings: Settings) -> provider.Completion:
    return await provider.complete(CHECK_PROMPT, settings=settings)


@assistant_app.command("check")
def check_cmd(ctx: typer.Context) -> None:
    """The runbook's test prompt: one harmless prompt, with no data, through the configured
    model (and its fallbacks); prints the model that answered, the latency, tokens and cost.
    Exits 1 with the reason when the assistant cannot answer."""
    settings = _settings(ctx)
    why = _why_not(settings)
    if why is not None:
        raise CliError(why)
    try:
        done = asyncio.run(_check(settings))
    except (provider.ProviderUnavailable, provider.ProviderFailed) as exc:
        raise CliError(f"the assistant is unavailable: {exc.reason}") from None
    table = Table("", "", show_header=False)
    table.add_row("model", done.model)
    table.add_row("latency", f"{done.latency_ms} ms")
    table.add_row("tokens", f"{done.tokens_in} in, {done.tokens_out} out")
    table.add_row("cost", money(done.cost))
    table.add_row("answer", " ".join(done.text.split())[:80])
    out.print(table)


async def _usage(settings: Settings, org: str, period: str, by: str) -> list[UsageRow]:
    async with database(settings):
        principal = await org_principal(org, Role.ADMIN)  # admins hold assistant.usage
        try:
            return await usage(principal, period, by)
        except DomainError as exc:
            raise CliError(exc.message) from None


@assistant_app.command("usage")
def usage_cmd(
    ctx: typer.Context,
    org: ORG,
    period: Annotated[
        str, typer.Option("--period", help="today, 7d, 30d or all.")
    ] = UsagePeriod.LAST_7_DAYS.value,
    by: Annotated[
        str, typer.Option("--by", help="user, model, case or kind.")
    ] = UsageGroup.CASE.value,
) -> None:
    """The assistant's responses, failures, tokens and cost over a period, by person, model,
    case (about the case or one of its alerts) or kind, most expensive first."""
    rows = asyncio.run(_usage(_settings(ctx), org, period, by))
    table = Table(by, "responses", "failed", "tokens in", "tokens out", "cost")
    for r in rows:
        table.add_row(
            r.label, count(r.responses), count(r.failures), count(r.tokens_in),
            count(r.tokens_out), money(r.cost),
        )  # fmt: skip
    if not rows:
        out.print(f"No assistant responses in this period ({period}).")
        return
    out.print(table)
