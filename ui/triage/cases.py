"""Case pages: the list (filters, "show archived", "load more", the new-case form from alerts,
runs or neither, the bulk archive) and a case's page (notes, linked alerts and runs, fields, the
maker-checker resolution or resolving alone where the policy allows it, archive). Conventions are
in `riskops.ui.common`.
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

from riskops.server.assistant import usage
from riskops.server.core.errors import Invalid, NotFound
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.credit import runs
from riskops.server.credit.models import Run
from riskops.server.identity import users
from riskops.server.operations import retention
from riskops.server.triage import case_archive, case_queries, case_resolution, case_runs
from riskops.server.triage import cases as svc
from riskops.server.triage.case_create import create_case
from riskops.server.triage.models import Case, CaseSeverity, CaseStatus, RootCause
from riskops.ui.common.forms import back, directory, form_text, form_texts, int_or_none
from riskops.ui.common.posts import FieldErrors, Refusal, Submission, form_post, shown_on
from riskops.ui.common.rendering import FLASH, page, render, signed_in
from riskops.ui.response.context import case_context as response_context
from riskops.ui.response.context import clock_views as response_clocks

CASE_PAGE_SIZE = 50
CASE_FILTERS = ("status", "severity", "assignee", "q", "archived")

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
        "case.resolved": "Case resolved, with its root cause and note.",
        "case.runs_linked": "Runs linked to the case.",
        "case.runs_unlinked": "Run unlinked from the case.",
        "case.archived": "Case archived: hidden from the lists, read-only until unarchived.",
        "case.unarchived": "Case unarchived: it is back in the lists.",
        "case.archived_bulk": "Old resolved cases archived: here they are (Show archived).",
    }
)

# The service's field names -> this page's form field names (the same here, named for clarity).
CREATE_FIELDS = {"title": "title", "severity": "severity", "alert_ids": "alert_ids",
                 "alert_external_ids": "alert_external_ids", "run_ids": "run_ids"}  # fmt: skip
RESOLVE_FIELDS = {"root_cause": "root_cause", "note": "note"}
RUN_FIELDS = {"run_ids": "run_ids"}
UPDATE_FIELDS = {"status": "status", "severity": "severity", "root_cause": "root_cause",
                 "assignee_id": "assignee_id"}  # fmt: skip
REQUEST_FIELDS = {"summary": "summary", "root_cause": "root_cause"}
# Not a service rule: the text typed simply is not a list of ids we could pass on.
NOT_IDS = "Alerts: enter alert ids (numbers) separated by spaces."


def _case_path(case_id: int | str) -> str:
    return f"/cases/{case_id}"


def _alert_ids(form: FormData) -> list[str] | None:
    """`alert_ids` repeated (the alert page's form, the unlink buttons: internal ids); None when
    something given is not an id at all."""
    ids = [part for raw in form_texts(form, "alert_ids") for part in re.split(r"[\s,]+", raw)]
    ids = [i.lstrip("#") for i in ids if i]
    return ids if all(i.isdigit() for i in ids) else None


def _external_ids(form: FormData) -> list[str] | None:
    """`alert_external_ids` as typed: the external ids the queue shows, separated by spaces or
    commas (the new-case and link forms); None when the field was not sent."""
    if "alert_external_ids" not in form:
        return None
    return [p for raw in form_texts(form, "alert_external_ids") for p in re.split(r"[\s,]+", raw)
            if p]  # fmt: skip


def _run_ids(form: FormData) -> list[str]:
    """`run_ids` as typed: the run ids the pages show, separated by spaces or commas."""
    return [p for raw in form_texts(form, "run_ids") for p in re.split(r"[\s,]+", raw) if p]


def _alert_refusal(exc: NotFound) -> FieldErrors:
    """An alert (or run) not found, under the form field it was given in."""
    return FieldErrors({exc.field or "alert_ids": exc.message})


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
        # "Show archived": the archived cases only (the default list hides them)
        "archived": True if values["archived"] in ("1", "true", "on") else None,
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
    can_work = principal.can(Perm.CASE_WORK)
    archivable = await case_archive.archive_preview(principal) if can_work else None
    more = urlencode({k: v for k, v in {**values, "after": cursor}.items() if v})
    ctx = {
        "values": values,
        "filter_errors": filter_errors,
        "cases": cases,
        # the response clocks of the page's cases, one query (issue 16)
        "clocks": await response_clocks(principal, "case", [c.id for c in cases]),
        "names": {u.id: u.name for u in people},
        "workers": svc.eligible_assignees(people, active=False),
        "more_url": f"/cases?{more}" if cursor else None,
        "can_work": can_work,
        "archivable": archivable,
        "errors": errors or {},
        "form": form
        or {
            "title": "",
            "severity": CaseSeverity.MEDIUM.value,
            "alert_ids": "",
            "alert_external_ids": "",
            "run_ids": "",
        },
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


def _create_values(form: FormData) -> dict[str, str]:
    return {
        "title": form_text(form, "title"),
        "severity": form_text(form, "severity"),
        "alert_ids": " ".join(form_texts(form, "alert_ids")).strip(),
        "alert_external_ids": " ".join(form_texts(form, "alert_external_ids")).strip(),
        "run_ids": " ".join(form_texts(form, "run_ids")).strip(),
    }


async def _create_refused(sub: Submission, refusal: Refusal) -> Response:
    return await _list_page(sub.request, sub.principal, status=refusal.status,
                            errors=refusal.errors, form=sub.values)  # fmt: skip


@form_post(_create_refused, keep=_create_values, fields=CREATE_FIELDS)
async def case_create(sub: Submission) -> Response:
    ids = _alert_ids(sub.form)
    if ids is None:
        raise FieldErrors({"alert_ids": NOT_IDS})
    try:
        result = await create_case(
            sub.principal, title=sub.values["title"], severity=sub.values["severity"],
            alert_ids=ids, alert_external_ids=_external_ids(sub.form),
            idempotency_key=sub.text("idempotency_key") or None, run_ids=_run_ids(sub.form),
        )  # fmt: skip
    except NotFound as exc:
        # With no case yet, NotFound can only be about an alert or run given in the form.
        raise _alert_refusal(exc) from exc
    return back(_case_path(result.case.id), "case.created")


@form_post(_create_refused, keep=lambda form: {}, fields={"older_than_days": "_form"})
async def cases_archive_resolved(sub: Submission) -> Response:
    """The bulk archive of the list page: the policy's age, nothing to type."""
    await case_archive.archive_resolved_cases(sub.principal)
    return back("/cases?archived=1", "case.archived_bulk")


# ----------------------------------------------------------------------------- one case


async def _case_runs(principal: Principal, case: Case) -> list[Run] | None:
    """The runs linked to the case (a SEV0/SEV1 run opens its case), newest first; None when
    the caller may not read runs (the section is not shown)."""
    if not principal.can(Perm.RUN_READ):
        return None
    return await runs.runs_of_case(principal, case.id)


async def _locked_runs(principal: Principal, case_runs_: list[Run] | None) -> set[int]:
    """The runs this caller may not unlink (SEV0/SEV1 by the policy, for non-approvers): their
    button is disabled, with the reason."""
    return {r.id for r in await case_runs.locked_for_unlink(principal, case_runs_ or [])}


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
    (a Conflict in that form too, with the case as it is now)."""
    detail = await case_queries.get_case_detail(principal, case_id)
    case = detail.case
    people = await directory(principal)
    linked_runs = await _case_runs(principal, case)
    alone_event = next((ev for ev in reversed(detail.history) if ev.action == "resolve"), None)
    ctx = {
        "case": case,
        "notes": detail.notes,
        # Answers the notes began as a draft of that retention removed since: no dead link.
        "removed_responses": await retention.removed_responses(
            principal, [n.from_response_id for n in detail.notes]
        ),
        "alerts": detail.alerts,
        "runs": linked_runs,
        "locked_runs": await _locked_runs(principal, linked_runs),
        "resolve_alone": detail.resolve_alone,
        # who resolved it without an approver, when it was (the last `resolve` of its history)
        "resolved_alone_by": alone_event.actor if alone_event is not None else None,
        "can_archive": case_archive.can_archive(principal, case),
        "can_unarchive": case_archive.can_unarchive(principal, case),
        "assistant_cost": await usage.case_cost(principal, case.id),
        "events": detail.history,
        "names": {u.id: u.name for u in people},
        # Who acted, as people read it: a name, "deleted user" or "system" (never "user:4").
        "actors": await users.actor_labels(case.org_id, [ev.actor for ev in detail.history]),
        "workers": svc.eligible_assignees(people),
        "resolution": detail.resolution,
        "actions": detail.actions,
        "form_name": form,
        "errors": errors or {},
        "conflict": conflict,
        "values": values or {},
        "SEVERITIES": [s.value for s in CaseSeverity],
        "ROOT_CAUSES": [r.value for r in RootCause],
        # the response target and incident record (issue 16): response/_case.html
        "response": await response_context(principal, case),
    }
    return render(request, "triage/cases/detail.html", ctx, status)


@page
async def case_detail(request: Request) -> Response:
    return await _case_page(request, signed_in(request), request.path_params["case_id"])


async def _form_page(sub: Submission, **shown: Any) -> Response:
    return await _case_page(sub.request, sub.principal, sub.param("case_id"), **shown)


# Every form of the case page: a Conflict (stale version or the wrong state: nothing was changed)
# is shown in the form that was used, with the case as it is now; other refusals under it.
_refused = shown_on(_form_page)


def _version(sub: Submission) -> Any:
    # A missing or garbled version goes to the service as is: it refuses it with its own message.
    return int_or_none(sub.text("expected_version"))


@form_post(_refused, name="note", keep=("body",), fields={"body": "body"})
async def case_add_note(sub: Submission) -> Response:
    case_id = sub.param("case_id")
    await svc.add_case_note(sub.principal, case_id, sub.values["body"])
    return back(_case_path(case_id), "case.note")


def _typed_ids(form: FormData) -> dict[str, str]:
    return {
        "alert_ids": " ".join(form_texts(form, "alert_ids")).strip(),
        "alert_external_ids": " ".join(form_texts(form, "alert_external_ids")).strip(),
    }


async def _link_change(sub: Submission, *, unlink: bool) -> Response:
    case_id = sub.param("case_id")
    ids = _alert_ids(sub.form)
    if ids is None:
        raise FieldErrors({"alert_ids": NOT_IDS})
    change = svc.unlink_alerts if unlink else svc.link_alerts
    try:
        await change(sub.principal, case_id, ids, alert_external_ids=_external_ids(sub.form))
    except NotFound as exc:
        if exc.extra.get("kind") != "alert":  # the case itself: the 404 page
            raise
        raise _alert_refusal(exc) from exc
    return back(_case_path(case_id), "case.unlinked" if unlink else "case.linked")


@form_post(_refused, name="link", keep=_typed_ids, fields=CREATE_FIELDS)
async def case_link(sub: Submission) -> Response:
    return await _link_change(sub, unlink=False)


@form_post(_refused, name="unlink", keep=_typed_ids, fields=CREATE_FIELDS)
async def case_unlink(sub: Submission) -> Response:
    return await _link_change(sub, unlink=True)


def _typed_runs(form: FormData) -> dict[str, str]:
    return {"run_ids": " ".join(form_texts(form, "run_ids")).strip()}


async def _run_link_change(sub: Submission, *, unlink: bool) -> Response:
    case_id = sub.param("case_id")
    change = case_runs.unlink_runs if unlink else case_runs.link_runs
    try:
        await change(sub.principal, case_id, _run_ids(sub.form))
    except NotFound as exc:
        if exc.extra.get("kind") != "run":  # the case itself: the 404 page
            raise
        raise _alert_refusal(exc) from exc
    return back(_case_path(case_id), "case.runs_unlinked" if unlink else "case.runs_linked")


@form_post(_refused, name="runs", keep=_typed_runs, fields=RUN_FIELDS)
async def case_link_runs(sub: Submission) -> Response:
    return await _run_link_change(sub, unlink=False)


@form_post(_refused, name="runs", keep=_typed_runs, fields=RUN_FIELDS)
async def case_unlink_runs(sub: Submission) -> Response:
    return await _run_link_change(sub, unlink=True)


@form_post(_refused, name="resolve", keep=RESOLVE_FIELDS, fields=RESOLVE_FIELDS)
async def case_resolve(sub: Submission) -> Response:
    case_id = sub.param("case_id")
    await case_resolution.resolve_case(
        sub.principal, case_id, expected_version=_version(sub),
        root_cause=sub.values["root_cause"], note=sub.values["note"],
    )  # fmt: skip
    return back(_case_path(case_id), "case.resolved")


@form_post(_refused, name="archive")
async def case_archive_one(sub: Submission) -> Response:
    case_id = sub.param("case_id")
    await case_archive.archive_case(sub.principal, case_id, expected_version=_version(sub))
    return back(_case_path(case_id), "case.archived")


@form_post(_refused, name="archive")
async def case_unarchive_one(sub: Submission) -> Response:
    case_id = sub.param("case_id")
    await case_archive.unarchive_case(sub.principal, case_id, expected_version=_version(sub))
    return back(_case_path(case_id), "case.unarchived")


@form_post(_refused, name="update", keep=UPDATE_FIELDS, fields=UPDATE_FIELDS)
async def case_update(sub: Submission) -> Response:
    case_id = sub.param("case_id")
    values = sub.values
    await svc.update_case(
        sub.principal,
        case_id,
        expected_version=_version(sub),
        status=values["status"] or None,
        severity=values["severity"] or None,
        root_cause=values["root_cause"] or None,
        assignee_id=values["assignee_id"] or None,
    )
    return back(_case_path(case_id), "case.updated")


@form_post(_refused, name="request", keep=REQUEST_FIELDS, fields=REQUEST_FIELDS)
async def case_request_resolution(sub: Submission) -> Response:
    case_id = sub.param("case_id")
    await case_resolution.request_case_resolution(
        sub.principal,
        case_id,
        expected_version=_version(sub),
        summary=sub.values["summary"],
        root_cause=sub.values["root_cause"],
    )
    return back(_case_path(case_id), "case.requested")


async def _decide(sub: Submission, *, approve: bool) -> Response:
    case_id = sub.param("case_id")
    if approve:
        await case_resolution.approve_case_resolution(
            sub.principal, case_id, expected_version=_version(sub)
        )
    else:
        await case_resolution.reject_case_resolution(
            sub.principal, case_id, expected_version=_version(sub), reason=sub.values["reason"]
        )
    return back(_case_path(case_id), "case.approved" if approve else "case.rejected")


# An approver deciding their own request (maker-checker) is shown where they acted (`checker`).
@form_post(_refused, name="approve", keep=("reason",), fields={"reason": "reason"},
           checker=True)  # fmt: skip
async def case_approve(sub: Submission) -> Response:
    return await _decide(sub, approve=True)


@form_post(_refused, name="reject", keep=("reason",), fields={"reason": "reason"},
           checker=True)  # fmt: skip
async def case_reject(sub: Submission) -> Response:
    return await _decide(sub, approve=False)


# `{case_id}` is `{case_id}`, spelled so that the CSRF sweep in tests/ui/test_pages.py (which
# substitutes only the ids it knows) posts to these routes with a placeholder id and still
# reaches the handler, whose first act is the CSRF check.
routes: list[Route] = [
    Route("/cases", cases_list, methods=["GET"]),
    Route("/cases", case_create, methods=["POST"]),
    Route("/cases/archive-resolved", cases_archive_resolved, methods=["POST"]),
    Route("/cases/{case_id}", case_detail, methods=["GET"]),
    Route("/cases/{case_id}/notes", case_add_note, methods=["POST"]),
    Route("/cases/{case_id}/link", case_link, methods=["POST"]),
    Route("/cases/{case_id}/unlink", case_unlink, methods=["POST"]),
    Route("/cases/{case_id}/update", case_update, methods=["POST"]),
    Route("/cases/{case_id}/request-resolution", case_request_resolution, methods=["POST"]),
    Route("/cases/{case_id}/approve", case_approve, methods=["POST"]),
    Route("/cases/{case_id}/reject", case_reject, methods=["POST"]),
    Route("/cases/{case_id}/resolve", case_resolve, methods=["POST"]),
    Route("/cases/{case_id}/runs/link", case_link_runs, methods=["POST"]),
    Route("/cases/{case_id}/runs/unlink", case_unlink_runs, methods=["POST"]),
    Route("/cases/{case_id}/archive", case_archive_one, methods=["POST"]),
    Route("/cases/{case_id}/unarchive", case_unarchive_one, methods=["POST"]),
]
