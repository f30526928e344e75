"""The GDPR requests page (issue 15): the organization's requests with their deadlines (overdue
ones highlighted), a form to export everything held about a person or a customer (a JSON
download), a form to request an erasure, and approve or reject on each open erasure (another
person than the one who asked). For gdpr.request and gdpr.approve (compliance reviewers,
admins). Every action calls one service of `riskops.server.operations.gdpr`; conventions are in
`riskops.ui.common`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core import approvals
from riskops.server.core.errors import Invalid, NotFound
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.operations import gdpr
from riskops.server.operations.gdpr_models import OPEN_STATUSES, GdprKind, GdprRequest
from riskops.ui.common.forms import back, form_text, parse_local
from riskops.ui.common.posts import FieldErrors, Refusal, Submission, form_post
from riskops.ui.common.rendering import page, render, signed_in

PATH = "/admin/gdpr"
FIELDS = {"subject": "subject", "legal_note": "legal_note", "received_at": "received"}
NEW_FIELDS = ("subject", "legal_review", "legal_note", "received")


def _row(principal: Principal, r: GdprRequest) -> dict[str, Any]:
    decision = approvals.decision_for(principal, Perm.GDPR_APPROVE, r.requested_by_id)
    return {
        "r": r,
        "overdue": gdpr.is_overdue(r),
        "open": r.kind is GdprKind.ERASE and r.status in OPEN_STATUSES,
        "own": decision.own,
        "can_decide": decision.can_decide,
        "summary": ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r.summary.items()),
    }


async def _page(
    request: Request,
    principal: Principal,
    *,
    status: int = 200,
    form: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    decided: str = "",
) -> Response:
    rows = await gdpr.list_requests(principal, first=gdpr.MAX_PAGE)
    ctx = {
        "rows": [_row(principal, r) for r in rows],
        "overdue": sum(1 for r in rows if gdpr.is_overdue(r)),
        "form": form,
        "errors": errors or {},
        "values": {name: "" for name in NEW_FIELDS} | (values or {}),
        "decided": decided,
        "can_request": principal.can(Perm.GDPR_REQUEST),
        "DUE_DAYS": gdpr.DUE_DAYS,
    }
    return render(request, "operations/gdpr.html", ctx, status)


@page
async def gdpr_page(request: Request) -> Response:
    principal = signed_in(request)
    return await _page(request, principal)


def _typed(form: Any) -> dict[str, Any]:
    return {
        "subject": form_text(form, "subject"),
        "legal_review": form_text(form, "legal_review") == "on",
        "legal_note": form_text(form, "legal_note"),
        "received": form_text(form, "received"),
    }


def _options(values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    received = parse_local(values["received"], "received", errors)
    if errors:
        raise FieldErrors(errors)
    return {
        "legal_review": values["legal_review"],
        "legal_note": values["legal_note"] or None,
        "received_at": received,
    }


def _shown(form_name: str) -> Any:
    async def show(sub: Submission, refusal: Refusal) -> Response:
        decided = sub.param("request_id") if "request_id" in sub.request.path_params else ""
        return await _page(
            sub.request, sub.principal, status=refusal.status, form=form_name,
            errors=refusal.errors, values=dict(sub.values), decided=decided,
        )  # fmt: skip

    return show


@contextmanager
def _subject_inline() -> Iterator[None]:
    """An unknown subject is a mistake in the form (shown under the field), not a missing page."""
    try:
        yield
    except NotFound as exc:
        if exc.field != "subject":
            raise
        raise Invalid(exc.message, field="subject") from None


@form_post(_shown("export"), name="export", keep=_typed, fields=FIELDS)
async def gdpr_export(sub: Submission) -> Response:
    values = dict(sub.values)
    with _subject_inline():
        done = await gdpr.export_subject(sub.principal, values["subject"], **_options(values))
    body = json.dumps(done.document, indent=2, ensure_ascii=False) + "\n"
    name = f"gdpr-export-{done.request.id}.json"
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@form_post(_shown("erase"), name="erase", keep=_typed, fields=FIELDS)
async def gdpr_erase(sub: Submission) -> Response:
    values = dict(sub.values)
    with _subject_inline():
        await gdpr.request_erasure(sub.principal, values["subject"], **_options(values))
    return back(PATH, "gdpr.erase_requested")


@form_post(_shown("decide"), name="decide", checker=True, fields={"request_id": "_form"})
async def gdpr_approve(sub: Submission) -> Response:
    await gdpr.approve_erasure(sub.principal, sub.param("request_id"))
    return back(PATH, "gdpr.erased")


@form_post(_shown("decide"), name="decide", keep=("reason",), fields={"request_id": "_form"})
async def gdpr_reject(sub: Submission) -> Response:
    await gdpr.reject_erasure(sub.principal, sub.param("request_id"), sub.text("reason"))
    return back(PATH, "gdpr.rejected")


routes: list[Route] = [
    Route(PATH, gdpr_page, methods=["GET"]),
    Route(f"{PATH}/export", gdpr_export, methods=["POST"]),
    Route(f"{PATH}/erase", gdpr_erase, methods=["POST"]),
    Route(f"{PATH}/{{request_id}}/approve", gdpr_approve, methods=["POST"]),
    Route(f"{PATH}/{{request_id}}/reject", gdpr_reject, methods=["POST"]),
]
