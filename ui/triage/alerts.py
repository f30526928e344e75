"""Alert pages: the triage queue (`/alerts`) and the alert detail (`/alerts/{alert_id}`) with its
workflow forms. Thin adapters over `server/triage/` (queue, alerts, bulk): the queue's
filters, the workflow's rules and every permission live in the services; this module parses the
request, calls them and shapes what they return for the templates (display names; the SLA
wording and the signal chart's geometry are `alert_display`'s). Conventions are in
`riskops.ui.common`.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from riskops.server.core.errors import Forbidden, Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.validation import label
from riskops.server.identity import teams, users
from riskops.server.identity.models import Team, User
from riskops.server.triage import alerts as alert_service
from riskops.server.triage import queue, queue_filters, workflow
from riskops.server.triage.models import (
    Alert,
    AlertDisposition,
    AlertPriority,
    AlertStatus,
    CaseSeverity,
)
from riskops.server.triage.queue_filters import AlertFilter
from riskops.server.views.models import ViewQueue
from riskops.server.web import is_htmx
from riskops.ui.common.forms import (
    back,
    directory,
    form_text,
    int_or_none,
    parse_local,
    query_string,
)
from riskops.ui.common.posts import Refusal, Submission, form_post
from riskops.ui.common.rendering import (
    FLASH,
    STATIC_DIR,
    fragment_of,
    page,
    render,
    signed_in,
)
from riskops.ui.triage.alert_display import (
    CHART_LABEL,
    CHART_WIDTH,
    signal_bars,
    signal_scale,
    sla_of,
)
from riskops.ui.views import picker as view_picker

QUEUE_PAGE_SIZE = 50
# A page that shows `rows` alerts (the address "Load more" pushes, so Back and reload bring the
# loaded rows back): at most this many.
QUEUE_MAX_ROWS = 1000
SORT_LABELS = {"score": "Score, highest first", "created": "Newest first",
               "due": "SLA due, soonest first",
               "amount": "Amount, largest first (one currency)"}  # fmt: skip
# Statuses from which the workflow allows assigning (the queue's "Assign to me" button).
# The filter form's single-valued fields (status and priority repeat).
QUEUE_FIELDS = ("score_min", "score_max", "assignee", "team", "rule_id", "amount_min",
                "amount_max", "currency", "created_from", "created_to", "text",
                "sort")  # fmt: skip
# Not filters: where the list continues and how many rows the page shows.
PAGING_PARAMS = ("after", "shown", "rows", "ok")

FLASH.update(
    {
        "alert.assign": "Alert assigned.",
        "alert.escalate": "Alert escalated.",
        "alert.request_info": "Information requested.",
        "alert.answer_info": "Answer recorded; the alert is back with its assignee.",
        "alert.close": "Alert closed.",
        "alert.reopen": "Alert reopened.",
        "alerts.bulk_assign": "The selected alerts are assigned to you.",
        "alerts.bulk_close": "The selected alerts are closed.",
    }
)


def _names(people: Iterable[User]) -> dict[int, str]:
    return {u.id: u.name for u in people}


async def _directory(principal: Principal) -> tuple[list[User], list[Team]]:
    """The organization's people and teams, for names and pickers; empty if not allowed."""
    people = await directory(principal)
    try:
        return people, await teams.list_teams(principal, members=False)
    except Forbidden:  # names are a convenience; ids are still right
        return people, []


# ----------------------------------------------------------------------------- the queue


def _parse_score(raw: str, name: str, errors: dict[str, str]) -> float | None:
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        errors[name] = f"{label(name)}: '{raw}' is not a number; enter a score between 0 and 100."
        return None


def queue_values(params: QueryParams) -> dict[str, Any]:
    """The filter form's values as submitted (strings, lists for status and priority)."""
    values: dict[str, Any] = {name: form_text(params, name) for name in QUEUE_FIELDS}
    values["status"] = [v for v in params.getlist("status") if v]
    values["priority"] = [v for v in params.getlist("priority") if v]
    values["sort"] = values["sort"] or "score"
    return values


def queue_filter(values: Mapping[str, Any], errors: dict[str, str]) -> AlertFilter:
    """The service's filter; text that cannot even be passed on (a score that is not a number)
    is an error here, everything else the service judges."""
    return AlertFilter(
        status=values["status"],
        priority=values["priority"],
        score_min=_parse_score(values["score_min"], "score_min", errors),
        score_max=_parse_score(values["score_max"], "score_max", errors),
        assignee=values["assignee"] or None,
        team=values["team"] or None,
        rule_id=values["rule_id"] or None,
        amount_min=values["amount_min"] or None,
        amount_max=values["amount_max"] or None,
        currency=values["currency"] or None,
        created_from=parse_local(values["created_from"], "created_from", errors),
        created_to=parse_local(values["created_to"], "created_to", errors),
        text=values["text"] or None,
    )


def _count_of(raw: str | None, default: int) -> int:
    """`rows` / `shown` of the address: a row count, else the default (never an error: it only
    says how much of the list to show)."""
    try:
        number = int(raw or "")
    except ValueError:
        return default
    return min(max(number, 0), QUEUE_MAX_ROWS)


def _clean_query(params: QueryParams, drop: Sequence[str] = ()) -> str:
    """The address's query without empty values (`score_min=&…`), the default sort, or the
    names in `drop`."""
    return urlencode(
        [
            (k, v)
            for k, v in params.multi_items()
            if v.strip() and k not in drop and (k, v) != ("sort", "score")
        ]
    )


async def _rows(
    principal: Principal,
    flt: AlertFilter,
    sort: str,
    wanted: int,
    after: str | None,
    within: Mapping[str, Any] | None = None,
) -> queue.AlertPage:
    """`wanted` rows from `after`, in pages the service allows (a restored "Load more")."""
    rows: list[Alert] = []
    page = queue.AlertPage([], True, after)
    while page.has_next and len(rows) < wanted:
        size = min(wanted - len(rows), queue.MAX_PAGE)
        page = await queue.list_alerts(
            principal, flt, sort=sort, first=size, after=page.end_cursor, **(within or {})
        )
        rows += page.alerts
    return queue.AlertPage(rows, page.has_next, page.end_cursor)


async def queue_view(
    request: Request,
    principal: Principal,
    params: QueryParams,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    row_errors: Mapping[int, str] | None = None,
    bulk: Mapping[str, Any] | None = None,
    picker: view_picker.Picker | None = None,
) -> Response:
    values = queue_values(params)
    # The view picker: the view applied (?view=ID or the caller's default), its sort unless the
    # address gives one, its columns; the rows are within its filter (`within=`).
    if picker is None:
        full = fragment_of(request, {"alerts-more": "more"}) != "more"
        picker = await view_picker.resolve(principal, ViewQueue.ALERTS, params, full=full)
    if picker.sort and not params.get("sort"):
        values["sort"] = picker.sort
    within = {"within": picker.alert_within} if picker.alert_within else {}
    errors = dict(errors or {})
    filter_errors: dict[str, str] = {}
    after = params.get("after") or None
    more = fragment_of(request, {"alerts-more": "more"}) == "more"
    shown = _count_of(params.get("shown"), 0) if more else 0
    wanted = QUEUE_PAGE_SIZE if more else max(_count_of(params.get("rows"), 0), QUEUE_PAGE_SIZE)
    flt = queue_filter(values, filter_errors)
    page_alerts: list[Alert] = []
    has_next, cursor = False, None
    count: queue.AlertCount | None = None
    try:
        if filter_errors:  # a bound that did not parse: the others are still judged, all shown
            queue.validate_query(flt, sort=values["sort"], after=after)
        else:
            result = await _rows(principal, flt, values["sort"], wanted, after, within)
            page_alerts, has_next, cursor = result.alerts, result.has_next, result.end_cursor
            if not more:  # the count heads the results; "Load more" adds rows only
                count = await queue.count_alerts(principal, flt, sort=values["sort"], **within)
    except queue_filters.FilterErrors as exc:
        for name, message in exc.errors.items():
            filter_errors.setdefault(name, message)
    except Invalid as exc:
        filter_errors.setdefault(exc.field or "_form", exc.message)
    if filter_errors:
        page_alerts, has_next, cursor, count = [], False, None, None
    people, team_list = await _directory(principal)
    query = query_string({k: v for k, v in values.items() if k != "sort" or v != "score"})
    # The view stays on every address the page builds (load more, the forms' way back).
    query = "&".join(filter(None, [query, picker.view_param, _edit_param(picker)]))
    loaded = shown + len(page_alerts)
    more_url = more_href = None
    if has_next and cursor is not None:
        more_url = "/alerts?" + "&".join(
            filter(None, [query, urlencode({"after": cursor, "shown": loaded})])
        )
        more_href = "/alerts?" + "&".join(
            filter(None, [query, urlencode({"rows": loaded + QUEUE_PAGE_SIZE})])
        )
    ctx = {
        "values": values,
        "errors": errors,
        "filter_errors": filter_errors,
        "alerts": page_alerts,
        "count": count,
        "names": _names(people),
        "team_names": {t.id: t.name for t in team_list},
        "people": people,
        "team_list": team_list,
        "sla": sla_of,
        "query": query,
        "may_take": _may_take(principal),
        "more_url": more_url,
        "more_href": more_href,
        "row_errors": row_errors or {},
        "bulk": bulk or {"selected": [], "disposition": "", "comment": ""},
        "bulk_key": uuid.uuid4().hex,
        "can_triage": principal.can(Perm.ALERT_TRIAGE),
        "statuses": [s.value for s in AlertStatus],
        "priorities": [p.value for p in AlertPriority],
        "dispositions": [d.value for d in AlertDisposition],
        "sort_labels": SORT_LABELS,
        "queue_js": queue_js_href(),
        # An htmx Apply swaps the results; the form comes along out of band, so each field
        # shows its own error (or loses a stale one).
        "filters_oob": fragment_of(request, {"alerts-results": "results"}) == "results",
        "picker": picker,
        # The picker comes along out of band too: "Save as view" saves the filters now applied.
        "picker_oob": fragment_of(request, {"alerts-results": "results"}) == "results",
        "page_query": _clean_query(params),
        "view_columns": [(c.name, c.label) for c in picker.spec.columns],
    }
    if filter_errors and status < 400:
        status = 422
    # The address htmx shows (and Back returns to): the filters without empty values; after
    # "Load more", with the number of rows now on the page, so a restored page shows them all.
    push: dict[str, str] = {}
    if is_htmx(request) and request.method == "GET":
        if more:
            rows = urlencode({"rows": loaded}) if loaded > QUEUE_PAGE_SIZE else ""
            push["HX-Push-Url"] = "/alerts?" + "&".join(filter(None, [query, rows]))
        else:
            push["HX-Push-Url"] = "/alerts" + (f"?{q}" if (q := _clean_query(params)) else "")
    return render(
        request,
        "triage/alerts/index.html",
        ctx,
        status,
        partials={
            "alerts-results": "triage/alerts/_results.html",
            "alerts-more": "triage/alerts/_rows.html",
        },
        headers=push,
    )


@functools.cache
def queue_js_href() -> str:
    """The queue's script (select all, empty filters left out), content-hashed like app.css."""
    digest = hashlib.sha256((STATIC_DIR / "queue.js").read_bytes()).hexdigest()[:12]
    return f"/static/queue.js?v={digest}"


def _may_take(principal: Principal) -> Callable[[Alert], bool]:
    """The queue rows' "Assign to me": the workflow decides, per row."""
    return lambda a: workflow.may_take(principal, a.status, a.assignee_id)


def _edit_param(picker: view_picker.Picker) -> str:
    return urlencode({"edit": picker.edit.id}) if picker.edit else ""


@page
async def queue_page(request: Request) -> Response:
    principal = signed_in(request)
    params = request.query_params
    if not is_htmx(request) and any(not v.strip() for _, v in params.multi_items()):
        # A form sent without its script (or an old link): the same view at the clean address.
        clean = _clean_query(params)
        return RedirectResponse("/alerts" + (f"?{clean}" if clean else ""), status_code=303)
    if fragment_of(request, {"alerts-more": "more"}) == "more":
        return await queue_view(request, principal, params)  # rows only: no picker to show
    picker = await view_picker.resolve(principal, ViewQueue.ALERTS, params)
    target = view_picker.edit_redirect(picker, params)
    if target:  # ?edit=ID: the view's definition as the form's filters
        return RedirectResponse(target, status_code=303)
    return await queue_view(request, principal, params, picker=picker)


async def queue_again(
    sub: Submission,
    params: QueryParams,
    status: int,
    errors: dict[str, str],
    values: Mapping[str, Any],
) -> Response:
    """The queue again after a refused "Save as view": the form shows what was typed and why."""
    picker = await view_picker.resolve(sub.principal, ViewQueue.ALERTS, params)
    picker.save_errors, picker.save_values = errors, dict(values)
    return await queue_view(sub.request, sub.principal, params, status=status, picker=picker)


view_picker.QUEUE_AGAIN[ViewQueue.ALERTS.value] = queue_again


def queue_redirect(query: str, code: str, rows: int = 0) -> RedirectResponse:
    params = QueryParams(query)
    values = {k: v for k, v in queue_values(params).items() if k != "sort" or v != "score"}
    shown = {"rows": str(rows)} if rows > QUEUE_PAGE_SIZE else {}
    target = query_string({**values, **shown})
    return back(f"/alerts?{target}" if target else "/alerts", code)


def rows_shown(request: Request) -> int:
    """How many rows the queue the form was posted from showed (its address's `rows`, which
    htmx sends as HX-Current-URL): the queue comes back as long as it was."""
    current = request.headers.get("hx-current-url") if is_htmx(request) else None
    query = urlsplit(current).query if current else ""
    return _count_of(QueryParams(query).get("rows"), 0)


# ----------------------------------------------------------------------------- the detail


async def _detail_page(
    request: Request,
    principal: Principal,
    alert_id: str,
    *,
    status: int = 200,
    failed: str = "",
    errors: Mapping[str, str] | None = None,
    conflict: str | None = None,
    form: Mapping[str, str] | None = None,
) -> Response:
    detail = await queue.get_alert_detail(principal, alert_id)
    people, team_list = await _directory(principal)
    names = _names(people)
    # Who acted, as people read it: a name, "deleted user" or "system" (never "user:4").
    labels = await users.actor_labels(principal.org_id, [ev.actor for ev in detail.history])
    bars, chart_height, axis = signal_bars(detail.signals)
    scale = signal_scale(detail.signals)
    ctx = {
        "d": detail,
        "a": detail.alert,
        "sla": sla_of(detail.alert),
        "names": names,
        "actor_name": lambda actor: users.actor_label(labels, actor),
        "team_names": {t.id: t.name for t in team_list},
        "team_list": team_list,
        "bars": bars,
        "chart": {
            "width": CHART_WIDTH,
            "height": chart_height,
            "axis": axis,
            "label_x": CHART_LABEL - 6,
            "largest": scale.largest,
            "net": scale.net,
        },
        # After a stale conflict the form that was used stays, with what was typed, even when
        # the alert as it is now no longer offers it (the service refuses it if sent again).
        "actions": [
            *detail.actions,
            *([failed] if conflict and failed not in detail.actions else []),
        ],
        "keys": {name: uuid.uuid4().hex for name in [*ACTIONS, "case"]},
        "failed": failed,
        "errors": errors or {},
        "conflict": conflict,
        "form": form or {},
        "dispositions": [d.value for d in AlertDisposition],
        "severities": [s.value for s in CaseSeverity],
        "can_open_case": principal.can(Perm.CASE_WORK),
        "readers": alert_service.eligible(people, "assignee_id"),
        "approvers": alert_service.eligible(people, "approver_id"),
    }
    return render(request, "triage/alerts/detail.html", ctx, status)


@page
async def detail_page(request: Request) -> Response:
    return await _detail_page(request, signed_in(request), request.path_params["alert_id"])


# Each action: its service function and the form fields it passes on (all text; the service
# parses ids and names the field it refuses).
ACTIONS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "assign": (alert_service.assign_alert, ("assignee_id",)),
    "escalate": (alert_service.escalate_alert, ("reason", "team_id", "approver_id")),
    "request_info": (alert_service.request_alert_info, ("question", "answerer_id")),
    "answer_info": (alert_service.answer_alert_info, ("answer",)),
    "close": (alert_service.close_alert, ("disposition", "comment")),
    "reopen": (alert_service.reopen_alert, ("reason",)),
}


def _row_target(request: Request, alert_id: str) -> bool:
    return fragment_of(request, {f"alert-row-{alert_id}": "row"}) == "row"


async def _row(
    request: Request,
    principal: Principal,
    alert: Alert,
    query: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    """One queue row again (the row's "Assign to me" swaps it), with the error if it failed.
    `focus_row`: the row's link takes the keyboard focus (htmx focuses `autofocus` in a swap)."""
    people, _ = await _directory(principal)
    ctx = {"a": alert, "names": _names(people), "sla": sla_of, "query": query,
           "row_errors": {alert.id: error} if error else {}, "bulk": {"selected": []},
           "can_triage": principal.can(Perm.ALERT_TRIAGE),
           "may_take": _may_take(principal),
           "focus_row": True}  # fmt: skip
    row = f"alert-row-{alert.id}"
    return render(
        request, "triage/alerts/detail.html", ctx, status, partials={row: "triage/alerts/_row.html"}
    )


def _from_queue_row(sub: Submission) -> bool:
    """Posted by a queue row's button, for that row alone (htmx swaps just the row)."""
    return sub.text("from") == "queue" and _row_target(sub.request, sub.param("alert_id"))


async def _act_refused(sub: Submission, refusal: Refusal) -> Response:
    """On the queue row that was used, or on the alert's page in the action's form, which keeps
    what was typed (a Conflict: with the alert as it is now)."""
    alert_id = sub.param("alert_id")
    if _from_queue_row(sub):
        current = await queue.get_queue_row(sub.principal, alert_id)
        return await _row(sub.request, sub.principal, current, sub.text("q"),
                          error=refusal.message, status=refusal.status)  # fmt: skip
    return await _detail_page(sub.request, sub.principal, alert_id, status=refusal.status,
                              failed=sub.name, errors=refusal.errors, form=sub.values,
                              conflict=refusal.conflict)  # fmt: skip


async def _act(sub: Submission) -> Response:
    """The action `sub.name` on the alert; back to the queue (or its row) when it came from
    there, else to the alert."""
    alert_id = sub.param("alert_id")
    service, _ = ACTIONS[sub.name]
    # A missing version is the service's to refuse, after it checked the permission.
    version = int_or_none(sub.text("version"))
    params = {name: value or None for name, value in sub.values.items()}
    result = await service(
        sub.principal, alert_id, expected_version=version,
        idempotency_key=sub.text("idempotency_key") or None, **params,
    )  # fmt: skip
    if sub.text("from") == "queue":
        if _from_queue_row(sub):
            return await _row(sub.request, sub.principal, result.alert, sub.text("q"))
        return queue_redirect(sub.text("q"), f"alert.{sub.name}")
    return back(f"/alerts/{alert_id}", f"alert.{sub.name}")


def _action_endpoint(action: str) -> Any:
    _, fields = ACTIONS[action]
    endpoint = form_post(_act_refused, name=action, keep=fields,
                         fields={name: name for name in fields})(_act)  # fmt: skip
    endpoint.__name__ = endpoint.__qualname__ = f"alert_{action}"
    return endpoint


# ----------------------------------------------------------------------------- routes

routes: list[Route] = [
    Route("/alerts", queue_page, methods=["GET"]),
    Route("/alerts/{alert_id}", detail_page, methods=["GET"]),
    *(
        Route(f"/alerts/{{alert_id}}/{action}", _action_endpoint(action), methods=["POST"])
        for action in ACTIONS
    ),
]
