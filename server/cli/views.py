"""`riskops views list|requests|retry` (seed 000 section 3): the saved views and promotion
requests of an organization from the command line, and a promotion job started again when a
request is stuck (its job failed for good: the queue was down, or every attempt failed)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import typer
from rich.table import Table

from riskops.jobs import runner
from riskops.server.cli.common import (
    CliError,
    _settings,
    app,
    database,
    out,
    resolve_org,
    user_principal,
)
from riskops.server.core.scoping import scoped
from riskops.server.settings import Settings
from riskops.server.views import promotion, promotion_reads, service
from riskops.server.views.models import PromotionStatus, ViewPromotionRequest

views_app = typer.Typer(
    help="Saved views and their promotion to standard (seed 000 §3).", no_args_is_help=True
)
app.add_typer(views_app, name="views")

ORG = Annotated[str, typer.Option("--org", help="Slug or id of the organization.")]


async def _list(
    settings: Settings, org: str, email: str, queue: str | None
) -> list[tuple[str, ...]]:
    async with database(settings):
        principal = await user_principal(org, email)
        rows = await service.list_views(principal, queue)
        return [
            (str(v.id), v.queue.value, v.scope.value, v.name, str(v.version),
             str(v.published_number or "-"), "draft" if v.draft else "")
            for v in rows
        ]  # fmt: skip


async def _requests(
    settings: Settings, org: str, email: str, status: str | None
) -> list[tuple[str, ...]]:
    async with database(settings):
        principal = await user_principal(org, email)
        rows = await promotion_reads.list_requests(principal, status=[status] if status else None)
        return [
            (str(r.id), str(r.view_id), r.status.value, f"{r.created_at:%Y-%m-%d %H:%M}",
             "-" if r.rows_selected is None else str(r.rows_selected),
             _why(r))
            for r in rows
        ]  # fmt: skip


def _why(r: ViewPromotionRequest) -> str:
    text = r.job_error or r.decline_reason or "; ".join(r.problems or [])
    return " ".join(text.split())[:70]


async def _retry(settings: Settings, org: str, request_id: int) -> str:
    async with database(settings):
        organization = await resolve_org(org)
        request = await scoped(ViewPromotionRequest, org_id=organization.id).get_or_none(
            id=request_id
        )
        if request is None:
            raise CliError(f"no view promotion request {request_id} in '{organization.slug}'.")
        kinds = {
            PromotionStatus.VALIDATING: promotion.VALIDATE_JOB,
            PromotionStatus.APPROVED: promotion.PUBLISH_JOB,
        }
        kind = kinds.get(request.status)
        if kind is None:
            raise CliError(
                f"request {request_id} is {request.status.value}: only a request still "
                "validating or approved waits for a job (retry validates or publishes it)."
            )
        # A fresh dedupe key: the one of the first job holds that job, finished or failed.
        job = await runner.enqueue(
            kind, org_id=organization.id,
            payload={"org_id": organization.id, "request_id": request.id},
            dedupe_key=f"{kind}:{request.id}:retry:{uuid.uuid4().hex}",
        )  # fmt: skip
        await runner.drain()
        return f"Job {kind} {job.id} queued for request {request_id} ({request.status.value})."


@views_app.command("list")
def list_cmd(
    ctx: typer.Context,
    org: ORG,
    email: Annotated[str, typer.Option("--as", help="E-mail of the person whose views to list.")],
    queue: Annotated[str | None, typer.Option("--queue", help="alerts or runs.")] = None,
) -> None:
    """The views a person sees: standard, team and their own."""
    rows = asyncio.run(_list(_settings(ctx), org, email, queue))
    table = Table("id", "queue", "scope", "name", "version", "standard v.", "")
    for row in rows:
        table.add_row(*row)
    out.print(table)


@views_app.command("requests")
def requests_cmd(
    ctx: typer.Context,
    org: ORG,
    email: Annotated[str, typer.Option("--as", help="E-mail of the person asking.")],
    status: Annotated[
        str | None, typer.Option("--status", help="validating, invalid, pending_review, …")
    ] = None,
) -> None:
    """Promotion requests the person may see, newest first, with the job error, the decline
    reason or the validation problems."""
    rows = asyncio.run(_requests(_settings(ctx), org, email, status))
    table = Table("id", "view", "status", "requested (UTC)", "rows", "error / reason / problems")
    for row in rows:
        table.add_row(*row)
    out.print(table)


@views_app.command("retry")
def retry_cmd(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(help="The promotion request id.")],
    org: ORG,
) -> None:
    """Start the job a stuck request waits for again: validation (still validating) or
    publication (approved), e.g. after a Redis outage outlasted the retries."""
    typer.echo(asyncio.run(_retry(_settings(ctx), org, request_id)))
