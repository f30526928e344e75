"""The access review page (issue 15, seed 003 DO-002): who has access and what deserves a look
(inactive, privileged, token holders, MFA, anomalous activity), a keep/suspend decision per
person recorded as one review, the recorded reviews, and the evidence set of a period as a zip
(evidence.export). Conventions are in `riskops.ui.common`."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.errors import DomainError
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.operations import access_review, evidence
from riskops.server.operations.access_review import Decision
from riskops.ui.common.forms import back, form_text
from riskops.ui.common.posts import Refusal, Submission, form_post
from riskops.ui.common.rendering import page, render, signed_in

PATH = "/access-review"


async def _page(
    request: Request,
    principal: Principal,
    *,
    days: str = "",
    status: int = 200,
    form: str = "",
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> Response:
    errors = dict(errors or {})
    found = None
    try:
        found = await access_review.review(principal, inactive_days=days or None)
    except DomainError as exc:
        if exc.field != "inactiveDays":
            raise
        errors["inactive_days"] = exc.message
        status = 422
        found = await access_review.review(principal)
    ctx = {
        "review": found,
        "days": days or str(found.inactive_days),
        "history": await access_review.list_reviews(principal, limit=20),
        "may_suspend": principal.can(Perm.USER_MANAGE),
        "may_export": principal.can(Perm.EVIDENCE_EXPORT),
        "form": form,
        "errors": errors,
        "values": dict(values or {}),
        "period_help": evidence.PERIOD_HELP,
    }
    return render(request, "operations/access_review/index.html", ctx, status)


@page
async def review_page(request: Request) -> Response:
    principal = signed_in(request)
    return await _page(request, principal, days=form_text(request.query_params, "inactive_days"))


def _kept(form: FormData) -> dict[str, Any]:
    return {key: form_text(form, key) for key in form}


async def _show(sub: Submission, refusal: Refusal) -> Response:
    return await _page(
        sub.request, sub.principal, days=sub.text("inactive_days"), status=refusal.status,
        form=sub.name, errors=refusal.errors, values=sub.values,
    )  # fmt: skip


def decisions_of(form: FormData) -> list[Decision]:
    """`decision_<user id>` = keep or suspend (blank: no decision), `note_<user id>`."""
    out = []
    for key in form:
        if not key.startswith("decision_"):
            continue
        word = form_text(form, key)
        if word:
            user_id = key.removeprefix("decision_")
            out.append(Decision(user_id, word, form_text(form, f"note_{user_id}")))
    return out


@form_post(_show, name="record", keep=_kept, fields={"decisions": "_form", "note": "_form"})
async def record_review(sub: Submission) -> Response:
    await access_review.record_review(
        sub.principal, decisions_of(sub.form), inactive_days=sub.text("inactive_days") or None,
        note=sub.text("note"),
    )  # fmt: skip
    return back(PATH, "access_review.recorded")


@form_post(_show, name="evidence", keep=("period",), fields={"period": "period"})
async def export_evidence(sub: Submission) -> Response:
    found = await evidence.export(sub.principal, sub.text("period"))
    buf = io.BytesIO()
    folder = f"evidence-{found.period.label.replace('..', '_')}"
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in found.files:
            z.writestr(f"{folder}/{f.name}", f.content)
    return Response(
        buf.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{folder}.zip"'},
    )


routes: list[Route] = [
    Route(PATH, review_page, methods=["GET"]),
    Route(PATH, record_review, methods=["POST"]),
    Route(PATH + "/evidence", export_evidence, methods=["POST"]),
]
