"""Case pages: the list (filters, "load more", the new-case form) and a case's page (notes,
linked alerts, fields and the maker-checker resolution step). Conventions are in `ui/common.py`.
The reads are the service's: `list_cases` (with the filters GraphQL `cases` also takes) and
`get_case_detail` (the case, its notes, linked alerts and history).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from riskops.server.core.permissions import Perm, permissions_of
from riskops.server.core.principal import Principal
from riskops.server.credit import runs
from riskops.server.credit.models import Run
from riskops.server.triage import case_queries, case_resolution
from riskops.server.triage import cases as svc
from riskops.server.triage.models import Case, CaseSeverity, CaseStatus, RootCause
from riskops.server.web import read_form
from riskops.ui.common.forms import (
    FORM_ERRORS,
    back,
    directory,
    form_errors,
    form_text,
    form_texts,
    int_or_none,
)
from riskops.ui.common.rendering import FLASH, page, render, signed_in, status_of

CASE_PAGE_SIZE = 50
CASE_FILTERS = ("status", "severity", "assignee", "q")

FLASH.update(
    {
        "case.created": "Case opened.",
        "case.note": "Note added.",
        "case.linked": "Alerts linked to the case.",
        "case.unlinked": "Alert unlinked from the case.",
        "case.updated": "Case updated.",
        "case.requested": "Resolution requested: another approver must approve it.",
        "case.approved": "Resolution approved: the case is resolved.",
        "case.rejected": "Resolution rejected: the case is back under investigation.",
    }
)

# The service's field names -> this page's form field names (the same here, named for clarity).
CREATE_FIELDS = {"title": "title", "severity": "severity", "alert_ids": "alert_ids"}
UPDATE_FIELDS = {"status": "status", "severity": "severity", "root_cause": "root_cause",
                 "assignee_id": "assignee_id"}  # fmt: skip
REQUEST_FIELDS = {"summary": "summary", "root_cause": "root_cause"}


def _case_path(case_id: int | str) -> str:
    return f"/cases/{case_id}"


def _alert_ids(form: FormData) -> list[str] | None:
    """`alert_ids` repeated (the alert page's form) or typed as "12, 13 14" (the new-case form);
    None when something typed is not an id at all."""
    ids = [part for raw in form_texts(form, "alert_ids") for part in re.split(r"[\s,]+", raw)]
    ids = [i.lstrip("#") for i in ids if i]
    return ids if all(i.isdigit() for i in ids) else None


# ----------------------------------------------------------------------------- the list


def _parse_filter(values: Mapping[str, str], errors: dict[str, str]) -> dict[str, Any]:
    """The list filters as `list_cases` arguments; a value that is not even of the right kind
    (an assignee that is not an id) is an error here, unknown choices are the service's."""
    assignee = values["assignee"]
    if assignee and int_or_none(assignee) is None:
        errors["assignee"] = "assignee: choose a person from the list."
    return {
        "status": values["status"] or None,
        "severity": values["severity"] or None,
        "assignee_id": assignee or None,
        "text": values["q"] or None,
    }


async def _list_page(
    request: Request,
    principal: Principal,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
) -> Response:
    params = request.query_params
    values = {name: form_text(params, name) for name in CASE_FILTERS}
    after = params.get("after") or None
    filter_errors: dict[str, str] = {}
    flt = _parse_filter(values, filter_errors)
    cases: list[Case] = []
    cursor = None
    if not filter_errors:  # a filter that did not parse: show the error, not a widened list
        try:
            result = await case_queries.list_cases(
                principal, **flt, first=CASE_PAGE_SIZE, after=after
            )
        except Invalid as exc:
            field = {"assignee_id": "assignee", "text": "q"}.get(exc.field or "", exc.field)
            filter_errors[field or "_form"] = exc.message
        else:
            cases, cursor = result.items, result.end_cursor
    people = await directory(principal)
    more = urlencode({k: v for k, v in {**values, "after": cursor}.items() if v})
    ctx = {
        "values": values,
        "filter_errors": filter_errors,
        "cases": cases,
        "names": {u.id: u.name for u in people},
        "workers": svc.eligible_assignees(people),
        "more_url": f"/cases?{more}" if cursor else None,
        "can_work": principal.can(Perm.CASE_WORK),
        "errors": errors or {},
        "form": form or {"title": "", "severity": CaseSeverity.MEDIUM.value, "alert_ids": ""},
        "STATUSES": [s.value for s in CaseStatus],
        "SEVERITIES": [s.value for s in CaseSeverity],
    }
    code = status if status != 200 else (422 if filter_errors else 200)
    return render(request, "triage/cases/index.html", ctx, code,
                  partials={"case-results": "triage/cases/_results.html",
                            "case-more": "triage/cases/_rows.html"})  # fmt: skip


@page
async def cases_list(request: Request) -> Response:
    return await _list_page(request, signed_in(request))


@page
async def case_create(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    values = {
        "title": form_text(form, "title"),
        "severity": form_text(form, "severity"),
        "alert_ids": " ".join(form_texts(form, "alert_ids")).strip(),
    }
    ids = _alert_ids(form)
    if ids is None:
        # Not a service rule: the text simply is not a list of ids we could pass on.
        errors = {"alert_ids": "alert_ids: enter alert ids (numbers) separated by spaces."}
        return await _list_page(request, principal, status=422, errors=errors, form=values)
    try:
        result = await svc.create_case(
            principal, title=values["title"], severity=values["severity"], alert_ids=ids
        )
    except (*FORM_ERRORS, NotFound) as exc:
        # With no case yet, NotFound can only be about an alert id typed in the form.
        code = 422 if isinstance(exc, NotFound) else status_of(exc)
        errors = {"alert_ids": exc.message} if isinstance(exc, NotFound) else (
            form_errors(exc, CREATE_FIELDS))  # fmt: skip
        return await _list_page(request, principal, status=code, errors=errors, form=values)
    return back(_case_path(result.case.id), "case.created")


# ----------------------------------------------------------------------------- one case


def _next_statuses(case: Case) -> list[str]:
    return sorted(s.value for s in svc.UPDATE_TRANSITIONS[case.status])


async def _case_runs(principal: Principal, case: Case) -> list[Run] | None:
    """The runs linked to the case (a SEV0/SEV1 run opens its case), newest first; None when
    the caller may not read runs (the section is not shown)."""
    if not principal.can(Perm.RUN_READ):
        return None
    return await runs.runs_of_case(principal, case.id)


async def _case_page(
    request: Request,
    principal: Principal,
    case_id: str,
    *,
    status: int = 200,
    form: str = "",
    errors: Mapping[str, str] | None = None,
    conflict: str | None = None,
    values: Mapping[str, str] | None = None,
) -> Response:
    """The case page; after a refused action, `form` names the form whose `errors` it shows
    (a Conflict is shown at the top, with a link to reload the case)."""
    detail = await case_queries.get_case_detail(principal, case_id)
    case = detail.case
    people = await directory(principal)
    working = case.status in svc.WORKING
    ctx = {
        "case": case,
        "notes": detail.notes,
        "alerts": detail.alerts,
        "runs": await _case_runs(principal, case),
        "events": detail.history,
        "names": {u.id: u.name for u in people},
        "actors": {f"user:{u.id}": u.name for u in people},
        "workers": [u for u in people if Perm.CASE_WORK in permissions_of(u.roles)],
        "can_work": principal.can(Perm.CASE_WORK),
        "resolution": detail.resolution,
        "working": working,
        "next_statuses": _next_statuses(case),
        "form_name": form,
        "errors": errors or {},
        "conflict": conflict,
        "values": values or {},
        "SEVERITIES": [s.value for s in CaseSeverity],
        "ROOT_CAUSES": [r.value for r in RootCause],
    }
    return render(request, "triage/cases/detail.html", ctx, status)


@page
async def case_detail(request: Request) -> Response:
    return await _case_page(request, signed_in(request), request.path_params["case_id"])


async def _refused(
    request: Request,
    principal: Principal,
    exc: DomainError,
    form: str,
    fields: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    status: int | None = None,
) -> Response:
    case_id = request.path_params["case_id"]
    code = status or status_of(exc)
    if isinstance(exc, Conflict):  # stale version or the wrong state: nothing was changed
        return await _case_page(request, principal, case_id, status=code, conflict=exc.message)
    errors = form_errors(exc, fields or {})
    return await _case_page(request, principal, case_id, status=code, form=form, errors=errors,
                            values=values)  # fmt: skip


def _version(form: FormData) -> Any:
    # A missing or garbled version goes to the service as is: it refuses it with its own message.
    return int_or_none(form_text(form, "expected_version"))


@page
async def case_add_note(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    case_id = request.path_params["case_id"]
    body = form_text(form, "body")
    try:
        await svc.add_case_note(principal, case_id, body)
    except FORM_ERRORS as exc:
        return await _refused(request, principal, exc, "note", {"body": "body"}, {"body": body})
    return back(_case_path(case_id), "case.note")


async def _link_change(request: Request, *, unlink: bool) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    case_id = request.path_params["case_id"]
    name = "unlink" if unlink else "link"
    typed = " ".join(form_texts(form, "alert_ids")).strip()
    ids = _alert_ids(form)
    if ids is None:
        exc = Invalid("alert_ids: enter alert ids (numbers) separated by spaces.",
                      field="alert_ids")  # fmt: skip
        return await _refused(request, principal, exc, name, CREATE_FIELDS, {"alert_ids": typed})
    change = svc.unlink_alerts if unlink else svc.link_alerts
    try:
        await change(principal, case_id, ids)
    except FORM_ERRORS as exc:
        return await _refused(request, principal, exc, name, CREATE_FIELDS, {"alert_ids": typed})
    except NotFound as exc:
        if exc.extra.get("kind") != "alert":  # the case itself: the 404 page
            raise
        invalid = Invalid(exc.message, field="alert_ids")
        return await _refused(request, principal, invalid, name, CREATE_FIELDS,
                              {"alert_ids": typed}, status=422)  # fmt: skip
    return back(_case_path(case_id), "case.unlinked" if unlink else "case.linked")


@page
async def case_link(request: Request) -> Response:
    return await _link_change(request, unlink=False)


@page
async def case_unlink(request: Request) -> Response:
    return await _link_change(request, unlink=True)


@page
async def case_update(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    case_id = request.path_params["case_id"]
    values = {name: form_text(form, name) for name in UPDATE_FIELDS}
    try:
        await svc.update_case(
            principal,
            case_id,
            expected_version=_version(form),
            status=values["status"] or None,
            severity=values["severity"] or None,
            root_cause=values["root_cause"] or None,
            assignee_id=values["assignee_id"] or None,
        )
    except FORM_ERRORS as exc:
        return await _refused(request, principal, exc, "update", UPDATE_FIELDS, values)
    return back(_case_path(case_id), "case.updated")


@page
async def case_request_resolution(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    case_id = request.path_params["case_id"]
    values = {"summary": form_text(form, "summary"), "root_cause": form_text(form, "root_cause")}
    try:
        await case_resolution.request_case_resolution(
            principal,
            case_id,
            expected_version=_version(form),
            summary=values["summary"],
            root_cause=values["root_cause"],
        )
    except FORM_ERRORS as exc:
        return await _refused(request, principal, exc, "request", REQUEST_FIELDS, values)
    return back(_case_path(case_id), "case.requested")


async def _decide(request: Request, *, approve: bool) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    case_id = request.path_params["case_id"]
    name = "approve" if approve else "reject"
    values = {"reason": form_text(form, "reason")}
    try:
        if approve:
            await case_resolution.approve_case_resolution(
                principal, case_id, expected_version=_version(form)
            )
        else:
            await case_resolution.reject_case_resolution(
                principal, case_id,
                expected_version=_version(form),
                reason=values["reason"],
            )  # fmt: skip
    except FORM_ERRORS as exc:
        return await _refused(request, principal, exc, name, {"reason": "reason"}, values)
    except Forbidden as exc:
        if not principal.can(Perm.CASE_APPROVE):
            raise  # not an approver at all: the 403 page
        # An approver deciding their own request (maker-checker): shown where they acted.
        return await _refused(request, principal, exc, name, values=values, status=403)
    return back(_case_path(case_id), "case.approved" if approve else "case.rejected")


@page
async def case_approve(request: Request) -> Response:
    return await _decide(request, approve=True)


@page
async def case_reject(request: Request) -> Response:
    return await _decide(request, approve=False)


# `{case_id}` is `{case_id}`, spelled so that the CSRF sweep in tests/ui/test_pages.py (which
# substitutes only the ids it knows) posts to these routes with a placeholder id and still
# reaches the handler, whose first act is the CSRF check.
routes: list[Route] = [
    Route("/cases", cases_list, methods=["GET"]),
    Route("/cases", case_create, methods=["POST"]),
    Route("/cases/{case_id}", case_detail, methods=["GET"]),
    Route("/cases/{case_id}/notes", case_add_note, methods=["POST"]),
    Route("/cases/{case_id}/link", case_link, methods=["POST"]),
    Route("/cases/{case_id}/unlink", case_unlink, methods=["POST"]),
    Route("/cases/{case_id}/update", case_update, methods=["POST"]),
    Route("/cases/{case_id}/request-resolution", case_request_resolution, methods=["POST"]),
    Route("/cases/{case_id}/approve", case_approve, methods=["POST"]),
    Route("/cases/{case_id}/reject", case_reject, methods=["POST"]),
]
