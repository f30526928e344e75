"""Saved-view pages (issue 12): my views and the standard views of the queues I read
(`/views`), one view with its actions (`/views/{id}`) and its published versions
(`/views/{id}/history`), promotion requests (`/views/requests`) and one request with its readable
diff and the review forms (`/views/requests/{id}`). Thin adapters over `server/views/service.py`
and `server/views/promotion.py`: every rule, permission and refusal is the services'. The queue
pages' view picker and "Save as view" form post here too (`/views`, `/views/{id}/update`): the
queue's query becomes a definition in `queue_definition`. Conventions are in `riskops.ui.common`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.errors import Conflict, DomainError, Forbidden, NotFound
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.identity import users
from riskops.server.identity.models import Team
from riskops.server.triage.queue_filters import FilterErrors
from riskops.server.views import definitions, preferences, promotion, promotion_reads, service
from riskops.server.views.access import readable_queues
from riskops.server.views.definitions import QUEUES, spec_of
from riskops.server.views.models import (
    OPEN_PROMOTION,
    SavedView,
    ViewPromotionRequest,
    ViewQueue,
    ViewScope,
)
from riskops.ui.common.forms import back, form_text, form_texts, int_or_none, parse_local
from riskops.ui.common.posts import FieldErrors, Refusal, Submission, form_post, shown_on
from riskops.ui.common.rendering import FLASH, page, render, signed_in
from riskops.ui.views import picker

FLASH.update(
    {
        "view.created": "View saved. It is personal: only you see it until you share it.",
        "view.updated": "View updated.",
        "view.drafted": "Your edit is saved as the standard view's draft: the version in force "
        "stays until a promotion of the draft is approved and published.",
        "view.shared": "View shared with the team.",
        "view.personal": "View made personal: only you see it now.",
        "view.archived": "View archived. Restore it from the Archived section of Views.",
        "view.restored": "View restored.",
        "view.default_set": "Default view set: the queue opens with it.",
        "view.default_cleared": "Default view cleared: the queue opens with every row.",
        "view.pinned": "View pinned to your home page.",
        "view.unpinned": "View unpinned from your home page.",
        "view.promotion_requested": "Promotion requested: it is being validated, then a "
        "compliance reviewer and a product reviewer review it.",
        "view.promotion_approved": "Approval recorded.",
        "view.promotion_declined": "Promotion declined; the requester sees your reason.",
        "view.promotion_withdrawn": "Promotion request withdrawn.",
    }
)

SCOPE_WORDS = {"personal": "Personal", "team": "Team", "standard": "Standard"}
STATUS_WORDS = {
    "validating": "being validated",
    "invalid": "validation found problems",
    "pending_review": "waiting for review",
    "approved": "approved, being published",
    "published": "published",
    "declined": "declined",
    "withdrawn": "withdrawn",
}
ROLE_WORDS = {"compliance_reviewer": "compliance reviewer", "product_reviewer": "product reviewer"}

# The service's field names -> the forms' (the same, except the filters of a definition, which the
# queue's save form shows at the top of the form: their fields are on the filter form).
EDIT_FIELDS = {"name": "name", "description": "description"}
SAVE_FIELDS = {"name": "name", "description": "description", "queue": "_form",
               "columns": "columns", "sort": "_form"}  # fmt: skip


def view_path(view_id: int | str) -> str:
    return f"/views/{view_id}"


def request_path(request_id: int | str) -> str:
    return f"/views/requests/{request_id}"


def open_path(view: SavedView) -> str:
    """The shareable address of a view on its queue."""
    return f"{QUEUES[view.queue].path}?view={view.id}"


async def my_teams(principal: Principal) -> list[Team]:
    """The teams the caller is a member of (the share form's choices)."""
    return await scoped(Team, principal).filter(members__id=principal.user_id).order_by("name")


# Who takes part in views, and so may open these pages: saving, reviewing, or reading a queue
# (a viewer applies the standard views); anyone else gets the 403 page.
PART = (Perm.VIEW_SAVE, Perm.VIEW_REVIEW, Perm.ALERT_READ, Perm.RUN_READ)


def require_part(principal: Principal) -> None:
    if not any(principal.can(p) for p in PART):
        principal.require(Perm.VIEW_SAVE)


async def _quiet(call: Any, default: Any) -> Any:
    """A list the caller's roles may not allow: the page shows the rest (services still check)."""
    try:
        return await call
    except Forbidden:
        return default


# ----------------------------------------------------------------------------- queue -> definition


def _iso(raw: str, name: str, errors: dict[str, str]) -> str | None:
    when = parse_local(raw, name, errors)
    return when.isoformat() if when is not None else None


def queue_definition(queue: ViewQueue | str, query: str, columns: Sequence[str]) -> dict[str, Any]:
    """The definition the queue's address `query` shows (its filter form's fields, as the queue
    page reads them), with `columns` (empty: all). A time that does not parse is a form error
    (`FieldErrors`) named as on the filter form."""
    params = QueryParams(query)
    errors: dict[str, str] = {}
    spec = spec_of(queue)
    filters: dict[str, Any]
    sort = form_text(params, "sort") or spec.default_sort
    if spec.queue is ViewQueue.ALERTS:
        filters = {name: form_text(params, name) for name in
                   ("score_min", "score_max", "assignee", "team", "rule_id", "amount_min",
                    "amount_max", "currency", "text")}  # fmt: skip
        for name in ("score_min", "score_max"):
            raw = filters[name]
            if raw:
                try:
                    filters[name] = float(raw)
                except ValueError:
                    errors[name] = f"{definitions.filter_label(name)}: '{raw}' is not a number."
        filters["status"] = [v for v in params.getlist("status") if v]
        filters["priority"] = [v for v in params.getlist("priority") if v]
        filters["created_from"] = _iso(form_text(params, "created_from"), "created_from", errors)
        filters["created_to"] = _iso(form_text(params, "created_to"), "created_to", errors)
    else:
        filters = {name: form_text(params, name) for name in ("scenario", "flag")}
        filters["severities"] = [v for v in params.getlist("severity") if v]
        filters["since"] = _iso(form_text(params, "since"), "since", errors)
        filters["until"] = _iso(form_text(params, "until"), "until", errors)
        filters["quarantined"] = True if form_text(params, "quarantined") else None
    if errors:
        raise FieldErrors(errors)
    clean = {k: v for k, v in filters.items() if v not in (None, "", [])}
    return {"filters": clean, "columns": list(columns), "sort": sort}


def definition_errors(exc: FilterErrors) -> dict[str, str]:
    """A refused definition's errors, as the form shows them: one message about the filters
    (`_form`, naming each field in the filter form's words), columns under the columns."""
    out: dict[str, str] = {}
    filters = [m for k, m in exc.errors.items() if k.startswith("filters.") or k == "definition"]
    if filters:
        out["_form"] = "The filters cannot be saved as a view: " + " ".join(filters)
    for key, message in exc.errors.items():
        if key in ("columns", "sort", "name", "description"):
            out[key if key != "sort" else "_form"] = message
    return out or {"_form": exc.message}


# ----------------------------------------------------------------------------- /views


async def _preferences(
    principal: Principal, views: Sequence[SavedView]
) -> tuple[set[int], set[int]]:
    """The ids of the caller's default views and pinned views among `views`."""
    opened = await service.open_views(principal, views) if views else []
    return {o.view.id for o in opened if o.is_default}, {o.view.id for o in opened if o.pinned}


@page
async def views_list(request: Request) -> Response:
    principal = signed_in(request)
    require_part(principal)
    may_save = principal.can(Perm.VIEW_SAVE)
    may_review = principal.can(Perm.VIEW_REVIEW)
    views = await service.list_views(principal)
    archived = await service.list_views(principal, archived=True) if may_save else []
    defaults, pinned = await _preferences(principal, views)
    names = await users.names_of(principal, [v.owner_id for v in [*views, *archived]])
    teams = {t.id: t.name for t in await scoped(Team, principal)}
    groups = [
        {"queue": q, "spec": QUEUES[q], "views": [v for v in views if v.queue == q]}
        for q in readable_queues(principal)
    ]
    waiting = await _quiet(promotion_reads.waiting_for_review(principal), []) if may_review else []
    mine = await _quiet(promotion_reads.list_requests(principal, mine=True), []) if may_save else []
    ctx = {
        "groups": groups,
        "archived": archived,
        "names": names,
        "teams": teams,
        "defaults": defaults,
        "pinned": pinned,
        "counts": await picker.count_words(principal, views),
        "waiting": len(waiting),
        "mine_open": len([r for r in mine if r.status in OPEN_PROMOTION]),
        "may_save": may_save,
        "may_review": may_review,
        "open_path": open_path,
        "SCOPE_WORDS": SCOPE_WORDS,
    }
    return render(request, "views/index.html", ctx)


# ----------------------------------------------------------------------------- /views/{id}


async def _view_page(
    request: Request,
    principal: Principal,
    view_id: str,
    *,
    status: int = 200,
    form: str = "",
    errors: Mapping[str, str] | None = None,
    conflict: str | None = None,
    values: Mapping[str, str] | None = None,
) -> Response:
    opened = await service.open_view(principal, view_id)
    view = opened.view
    owner = await users.name_of(principal, view.owner_id)
    draft_lines = definitions.describe(opened.draft, opened.names) if opened.draft else []
    draft_meta = view.draft if isinstance(view.draft, dict) else {}
    requests = await _quiet(promotion_reads.list_requests(principal, view_id=view.id), [])
    team_list = await my_teams(principal) if opened.can_edit else []
    team_name = None
    if view.team_id is not None:
        team_name = opened.names.get(f"team:{view.team_id}") or next(
            (t.name for t in team_list if t.id == view.team_id), f"team #{view.team_id}"
        )
    ctx = {
        "o": opened,
        "view": view,
        "spec": QUEUES[view.queue],
        "owner": owner,
        "team_name": team_name,
        "team_list": team_list,
        "draft_lines": draft_lines,
        "draft_meta": draft_meta,
        "draft_by": await users.name_of(principal, view.draft_by_id) if view.draft_by_id else "",
        "requests": requests,
        "open_request": next((r for r in requests if r.status in OPEN_PROMOTION), None),
        "open_path": open_path(view),
        "key": uuid.uuid4().hex,
        "edit_path": f"{QUEUES[view.queue].path}?edit={view.id}",
        "form_name": form,
        "errors": errors or {},
        "conflict": conflict,
        "values": values or {},
        "SCOPE_WORDS": SCOPE_WORDS,
        "STATUS_WORDS": STATUS_WORDS,
    }
    return render(request, "views/detail.html", ctx, status)


@page
async def view_detail(request: Request) -> Response:
    require_part(signed_in(request))
    return await _view_page(request, signed_in(request), request.path_params["view_id"])


async def _form_page(sub: Submission, **shown: Any) -> Response:
    return await _view_page(sub.request, sub.principal, sub.param("view_id"), **shown)


_refused = shown_on(_form_page)


def _stale(exc: DomainError) -> bool:
    """A conflict about the state the form was filled against (not a name already taken, which
    is shown under the name)."""
    return isinstance(exc, Conflict) and exc.field != "name"


def _version(sub: Submission) -> Any:
    # A missing or garbled version goes to the service as is: it refuses it with its message.
    return int_or_none(sub.text("expected_version"))


def _columns(form: FormData) -> list[str]:
    return [c for c in form_texts(form, "columns") if c]


def _save_values(form: FormData) -> dict[str, Any]:
    return {
        "name": form_text(form, "name"),
        "description": form_text(form, "description"),
        "queue": form_text(form, "queue"),
        "q": form_text(form, "q"),
        "columns": _columns(form),
    }


async def _save_refused(sub: Submission, refusal: Refusal) -> Response:
    """The queue the form is on again, the save form showing what was typed and why."""
    errors = refusal.errors
    if isinstance(refusal.error, FilterErrors):
        errors = definition_errors(refusal.error)
    queue = sub.values["queue"]
    return await picker.queue_again(sub, queue, refusal.status, errors)


@form_post(_save_refused, name="save", keep=_save_values, fields=SAVE_FIELDS, stale=_stale)
async def view_save(sub: Submission) -> Response:
    """ "Save as view" on a queue page: the queue's current filters, columns and sort."""
    values = sub.values
    sub.principal.require(Perm.VIEW_SAVE)  # before the definition is even read
    definition = queue_definition(values["queue"] or "-", values["q"], values["columns"])
    result = await service.save_view(
        sub.principal, queue=values["queue"], name=values["name"], definition=definition,
        description=values["description"], idempotency_key=sub.text("idempotency_key") or None,
    )  # fmt: skip
    return back(open_path(result.view), "view.created")


def _edit_values(form: FormData) -> dict[str, Any]:
    return {**_save_values(form), "from": form_text(form, "from")}


async def _update_refused(sub: Submission, refusal: Refusal) -> Response:
    if sub.values.get("from") == "queue":
        return await _save_refused(sub, refusal)
    return await _refused(sub, refusal)


@form_post(_update_refused, name="edit", keep=_edit_values, fields=EDIT_FIELDS, stale=_stale)
async def view_update(sub: Submission) -> Response:
    """The view page's rename/description form, or the queue's "Save changes to this view"
    (`from=queue`: the queue's filters become the view's definition)."""
    view_id = sub.param("view_id")
    values = sub.values
    definition = None
    if values["from"] == "queue":
        sub.principal.require(Perm.VIEW_SAVE)
        definition = queue_definition(values["queue"] or "-", values["q"], values["columns"])
    result = await service.update_view(
        sub.principal, view_id, expected_version=_version(sub),
        name=values["name"] if "name" in sub.form else None,
        description=values["description"] if "description" in sub.form else None,
        definition=definition,
    )  # fmt: skip
    code = "view.drafted" if result.view.scope is ViewScope.STANDARD else "view.updated"
    return back(view_path(view_id), code)


@form_post(_refused, name="share", keep=("team_id",), fields={"team_id": "team_id"})
async def view_share(sub: Submission) -> Response:
    view_id = sub.param("view_id")
    team = sub.values["team_id"] or None
    await service.share_view_with_team(
        sub.principal, view_id, expected_version=_version(sub), team_id=team
    )
    return back(view_path(view_id), "view.shared" if team else "view.personal")


@form_post(_refused, name="archive", stale=_stale)
async def view_archive(sub: Submission) -> Response:
    view_id = sub.param("view_id")
    await service.archive_view(sub.principal, view_id, expected_version=_version(sub))
    return back(view_path(view_id), "view.archived")


@form_post(_refused, name="restore", stale=_stale)
async def view_restore(sub: Submission) -> Response:
    view_id = sub.param("view_id")
    await service.restore_view(sub.principal, view_id, expected_version=_version(sub))
    return back(view_path(view_id), "view.restored")


@form_post(_refused, name="default", keep=("queue",))
async def view_default(sub: Submission) -> Response:
    """Set (`on=1`) or clear this view as the caller's default of its queue."""
    view_id = sub.param("view_id")
    on = sub.text("on") == "1"
    sub.principal.require(Perm.VIEW_SAVE)  # before the view is looked up
    view = await service.get_view(sub.principal, view_id)
    await preferences.set_default_view(sub.principal, view.queue, view_id if on else None)
    return back(view_path(view_id), "view.default_set" if on else "view.default_cleared")


@form_post(_refused, name="pin", stale=_stale)
async def view_pin(sub: Submission) -> Response:
    view_id = sub.param("view_id")
    on = sub.text("on") == "1"
    await preferences.pin_view(sub.principal, view_id, on)
    return back(view_path(view_id), "view.pinned" if on else "view.unpinned")


@form_post(_refused, name="promote", keep=("rationale",), fields={"rationale": "rationale"})
async def view_promote(sub: Submission) -> Response:
    view_id = sub.param("view_id")
    result = await promotion.request_promotion(
        sub.principal, view_id, rationale=sub.values["rationale"],
        expected_version=_version(sub), idempotency_key=sub.text("idempotency_key") or None,
    )  # fmt: skip
    return back(request_path(result.request.id), "view.promotion_requested")


@page
async def view_history(request: Request) -> Response:
    principal = signed_in(request)
    require_part(principal)
    view_id = request.path_params["view_id"]
    versions = await promotion_reads.history(principal, view_id)  # who may see it: the service's
    view = await scoped(SavedView, principal).get(id=int(view_id))
    names: dict[str, str] = {}
    with contextlib.suppress(NotFound):  # a reviewer, who reads no queue, gets ids in words
        names = (await service.open_view(principal, view_id)).names
    shown = []
    for v in versions:
        try:
            lines = definitions.describe(definitions.stored(view.queue, v.definition), names)
        except FilterErrors as exc:
            lines = [f"No longer valid: {exc.message}"]
        shown.append({"v": v, "lines": lines})
    people = await users.names_of(
        principal, [getattr(v, "requested_by_id", None) for v in versions]
    )
    ctx = {"view": view, "versions": shown, "names": people, "ROLE_WORDS": ROLE_WORDS,
           "may_open": principal.can(QUEUES[view.queue].read)}  # fmt: skip
    return render(request, "views/history.html", ctx)


# ----------------------------------------------------------------------------- requests


def _request_row(r: ViewPromotionRequest, names: Mapping[int, str]) -> dict[str, Any]:
    snapshot = r.snapshot if isinstance(r.snapshot, dict) else {}
    return {
        "r": r,
        "name": snapshot.get("name") or f"View #{r.view_id}",
        "by": names.get(r.requested_by_id, "deleted user"),
        "state": STATUS_WORDS.get(r.status.value, r.status.value),
    }


@page
async def requests_list(request: Request) -> Response:
    principal = signed_in(request)
    require_part(principal)
    may_save = principal.can(Perm.VIEW_SAVE)
    may_review = principal.can(Perm.VIEW_REVIEW)
    waiting = await _quiet(promotion_reads.waiting_for_review(principal), []) if may_review else []
    mine = await _quiet(promotion_reads.list_requests(principal, mine=True), []) if may_save else []
    open_ = await _quiet(promotion_reads.list_requests(principal, status=list(OPEN_PROMOTION)), [])
    every = [*waiting, *mine, *open_]
    names = await users.names_of(principal, [r.requested_by_id for r in every])
    ctx = {
        "waiting": [_request_row(r, names) for r in waiting],
        "mine": [_request_row(r, names) for r in mine],
        "open": [_request_row(r, names) for r in open_],
        "may_save": may_save,
        "may_review": may_review,
    }
    return render(request, "views/requests.html", ctx)


async def _request_page(
    request: Request,
    principal: Principal,
    request_id: str,
    *,
    status: int = 200,
    form: str = "",
    errors: Mapping[str, str] | None = None,
    conflict: str | None = None,
    values: Mapping[str, str] | None = None,
) -> Response:
    detail = await promotion_reads.get_request(principal, request_id)
    r = detail.request
    names = await users.names_of(
        principal, [r.requested_by_id, *(rv.reviewer_id for rv in detail.reviews)]
    )
    snapshot = r.snapshot if isinstance(r.snapshot, dict) else {}
    ctx = {
        "d": detail,
        "r": r,
        "row": _request_row(r, names),
        "snapshot": snapshot,
        "names": names,
        "view_path": view_path(detail.view.id),
        "may_open": principal.can(QUEUES[detail.view.queue].read),
        "form_name": form,
        "errors": errors or {},
        "conflict": conflict,
        "values": values or {},
        "STATUS_WORDS": STATUS_WORDS,
        "ROLE_WORDS": ROLE_WORDS,
    }
    return render(request, "views/request.html", ctx, status)


@page
async def request_detail(request: Request) -> Response:
    require_part(signed_in(request))
    return await _request_page(request, signed_in(request), request.path_params["request_id"])


async def _request_form_page(sub: Submission, **shown: Any) -> Response:
    return await _request_page(sub.request, sub.principal, sub.param("request_id"), **shown)


_request_refused = shown_on(_request_form_page)
REVIEW_FIELDS = {"note": "note", "role": "role", "decision": "decision"}


# A requester reviewing their own request (maker-checker) is shown where they acted (`checker`).
@form_post(_request_refused, name="review", keep=("note", "role", "decision"),
           fields=REVIEW_FIELDS, checker=True)  # fmt: skip
async def request_review(sub: Submission) -> Response:
    request_id = sub.param("request_id")
    decision = sub.values["decision"]
    await promotion.review_promotion(
        sub.principal, request_id, decision=decision, note=sub.values["note"],
        expected_version=_version(sub), role=sub.values["role"] or None,
    )  # fmt: skip
    code = "view.promotion_declined" if decision == "decline" else "view.promotion_approved"
    return back(request_path(request_id), code)


@form_post(_request_refused, name="withdraw", stale=_stale)
async def request_withdraw(sub: Submission) -> Response:
    request_id = sub.param("request_id")
    await promotion.withdraw_promotion(sub.principal, request_id, expected_version=_version(sub))
    return back(request_path(request_id), "view.promotion_withdrawn")


# ----------------------------------------------------------------------------- routes

# `/views/requests…` before `/views/{view_id}`, which would otherwise read "requests" as an id.
routes: list[Route] = [
    Route("/views", views_list, methods=["GET"]),
    Route("/views", view_save, methods=["POST"]),
    Route("/views/requests", requests_list, methods=["GET"]),
    Route("/views/requests/{request_id}", request_detail, methods=["GET"]),
    Route("/views/requests/{request_id}/review", request_review, methods=["POST"]),
    Route("/views/requests/{request_id}/withdraw", request_withdraw, methods=["POST"]),
    Route("/views/{view_id}", view_detail, methods=["GET"]),
    Route("/views/{view_id}/history", view_history, methods=["GET"]),
    Route("/views/{view_id}/update", view_update, methods=["POST"]),
    Route("/views/{view_id}/share", view_share, methods=["POST"]),
    Route("/views/{view_id}/archive", view_archive, methods=["POST"]),
    Route("/views/{view_id}/restore", view_restore, methods=["POST"]),
    Route("/views/{view_id}/default", view_default, methods=["POST"]),
    Route("/views/{view_id}/pin", view_pin, methods=["POST"]),
    Route("/views/{view_id}/promote", view_promote, methods=["POST"]),
]
