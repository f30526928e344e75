"""`riskops gdpr export|erase|approve|reject|list`: GDPR requests from the shell (seed 001 SOP4,
seed 003 CO-002). Each command acts as a person (`--as`): an export and an erasure request need
gdpr.request, approving or rejecting an erasure gdpr.approve and another person than the one who
asked (maker-checker). The same service as the page and GraphQL: `riskops.server.operations.gdpr`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from riskops.server.cli.common import _settings, app, database, out, parse_when, user_principal
from riskops.server.operations import gdpr
from riskops.server.operations.gdpr_models import GdprRequest
from riskops.server.settings import Settings

gdpr_app = typer.Typer(
    help="GDPR requests: export everything held about a person or a customer, erase them "
    "(requested by one person, approved by another), list the requests and their deadlines.",
    no_args_is_help=True,
)
app.add_typer(gdpr_app, name="gdpr")

OrgOpt = Annotated[str, typer.Option("--org", help="Slug or id of the organization.")]
AsOpt = Annotated[str, typer.Option("--as", help="E-mail of the person acting.")]
SubjectOpt = Annotated[
    str,
    typer.Option(
        "--subject", help="A user's e-mail address, or a customer reference as on its alerts."
    ),
]
LegalOpt = Annotated[
    bool, typer.Option("--legal-review", help="Flag the request for legal review (with --note).")
]
NoteOpt = Annotated[
    str | None, typer.Option("--note", help="What legal must look at (with --legal-review).")
]
ReceivedOpt = Annotated[
    str | None,
    typer.Option("--received", help="When the request arrived (ISO date; default now)."),
]


def _deadline(req: GdprRequest) -> str:
    late = " OVERDUE" if gdpr.is_overdue(req) else ""
    return f"{req.due_at:%Y-%m-%d}{late}"


async def _export(
    settings: Settings, org: str, email: str, subject: str, legal: bool, note: str | None,
    received: str | None,
) -> gdpr.Export:  # fmt: skip
    async with database(settings):
        principal = await user_principal(org, email)
        return await gdpr.export_subject(
            principal, subject, legal_review=legal, legal_note=note,
            received_at=parse_when(received, "--received"),
        )  # fmt: skip


@gdpr_app.command("export")
def export_cmd(
    ctx: typer.Context,
    org: OrgOpt,
    subject: SubjectOpt,
    email: AsOpt,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the JSON document to this file.")
    ] = None,
    legal_review: LegalOpt = False,
    note: NoteOpt = None,
    received: ReceivedOpt = None,
) -> None:
    """Everything held about a user or a customer as one JSON document (on stdout, or -o FILE);
    recorded as a completed GDPR request and audited."""
    done = asyncio.run(_export(_settings(ctx), org, email, subject, legal_review, note, received))
    text = json.dumps(done.document, indent=2, ensure_ascii=False, sort_keys=False)
    counts = ", ".join(f"{k} {v}" for k, v in done.request.summary.items() if v)
    line = f"GDPR request #{done.request.id}: exported {counts or 'nothing else'}"
    if output is None:
        typer.echo(text)
        typer.echo(line, err=True)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"{line}; written to {output}.")


async def _erase(
    settings: Settings, org: str, email: str, subject: str, legal: bool, note: str | None,
    received: str | None,
) -> GdprRequest:  # fmt: skip
    async with database(settings):
        principal = await user_principal(org, email)
        return await gdpr.request_erasure(
            principal, subject, legal_review=legal, legal_note=note,
            received_at=parse_when(received, "--received"),
        )  # fmt: skip


@gdpr_app.command("erase")
def erase_cmd(
    ctx: typer.Context,
    org: OrgOpt,
    subject: SubjectOpt,
    email: AsOpt,
    legal_review: LegalOpt = False,
    note: NoteOpt = None,
    received: ReceivedOpt = None,
) -> None:
    """Request the erasure of a user or a customer; another person approves it
    (`riskops gdpr approve ID`), which pseudonymizes the subject everywhere."""
    req = asyncio.run(_erase(_settings(ctx), org, email, subject, legal_review, note, received))
    typer.echo(
        f"Requested erasure: GDPR request #{req.id}, due {req.due_at:%Y-%m-%d}. Another person "
        f"with gdpr.approve approves it: riskops gdpr approve {req.id} --org {org} --as EMAIL."
    )


async def _approve(settings: Settings, org: str, email: str, request_id: str) -> GdprRequest:
    async with database(settings):
        return await gdpr.approve_erasure(await user_principal(org, email), request_id)


@gdpr_app.command("approve")
def approve_cmd(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(help="The GDPR request number.")],
    org: OrgOpt,
    email: AsOpt,
) -> None:
    """Approve another person's erasure request and perform it (pseudonymization)."""
    req = asyncio.run(_approve(_settings(ctx), org, email, request_id))
    counts = ", ".join(f"{k} {v}" for k, v in req.summary.items())
    typer.echo(
        f"Erased: GDPR request #{req.id} completed; the subject is now {req.pseudonym} "
        f"({counts or 'no records besides the subject'})."
    )


async def _reject(
    settings: Settings, org: str, email: str, request_id: str, reason: str
) -> GdprRequest:
    async with database(settings):
        return await gdpr.reject_erasure(await user_principal(org, email), request_id, reason)


@gdpr_app.command("reject")
def reject_cmd(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(help="The GDPR request number.")],
    org: OrgOpt,
    email: AsOpt,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the request).")],
) -> None:
    """Reject an erasure request with the reason; nothing is erased."""
    req = asyncio.run(_reject(_settings(ctx), org, email, request_id, reason))
    typer.echo(f"Rejected GDPR request #{req.id}; nothing was erased.")


async def _list(
    settings: Settings, org: str, email: str, overdue: bool, status: str | None
) -> list[GdprRequest]:
    async with database(settings):
        principal = await user_principal(org, email)
        return await gdpr.list_requests(
            principal, overdue=overdue, status=status, first=gdpr.MAX_PAGE
        )


@gdpr_app.command("list")
def list_cmd(
    ctx: typer.Context,
    org: OrgOpt,
    email: AsOpt,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only open requests past due.")
    ] = False,
    status: Annotated[
        str | None, typer.Option("--status", help="requested, approved, completed or rejected.")
    ] = None,
) -> None:
    """The GDPR requests with their deadlines: open ones first, the nearest deadline first."""
    rows = asyncio.run(_list(_settings(ctx), org, email, overdue, status))
    if not rows:
        typer.echo("No GDPR requests." if not overdue else "No overdue GDPR requests.")
        return
    table = Table("#", "Kind", "Subject", "Status", "Due", "Legal review", "Completed")
    for r in rows:
        table.add_row(
            str(r.id), r.kind.value, r.subject, r.status.value, _deadline(r),
            "yes" if r.legal_review else "", f"{r.completed_at:%Y-%m-%d}" if r.completed_at else "",
        )  # fmt: skip
    out.print(table)
