"""The view picker of the queue pages (`/alerts`, `/runs`): which view the page applies
(`?view=ID`, a shareable address; else the caller's default view when they open the queue with no
filters, unless `?all=1`), the views to choose from with their counts, the columns and sort the
view asks for, and the "Save as view" / "Save changes to this view" forms (`?edit=ID` opens a
view's definition as the queue's own filters, to change it). The queue applies the view's filter
AND the caller's own filters (`within=`), so extra filters narrow a view, never widen it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.responses import Response

from riskops.server.core.errors import DomainError, Forbidden, Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.credit.runs import RunFilter
from riskops.server.triage.queue_filters import AlertFilter
from riskops.server.views import applying, counts, definitions, preferences, service
from riskops.server.views.definitions import QUEUES, Definition
from riskops.server.views.models import SavedView, ViewQueue
from riskops.ui.common.posts import Submission

# Query parameters of the picker, not filters: left out of the save form's definition.
PICKER_PARAMS = ("view", "edit", "all")
# A definition's filters as the queue's filter form names them (the runs ledger: `severity`).
FORM_NAMES = {"severities": "severity"}


@dataclass
class Picker:
    queue: ViewQueue
    views: list[SavedView] = field(default_factory=list)
    counts: dict[int, Any] = field(default_factory=dict)
    applied: SavedView | None = None  # the view whose filter the rows are within
    lines: list[str] = field(default_factory=list)  # the applied view in words
    by_default: bool = False  # applied because it is the caller's default view
    edit: SavedView | None = None  # ?edit=ID: its definition is the form's filters
    can_edit: bool = False  # the caller may save changes to `edit`
    edit_definition: Definition | None = None  # its draft (a standard view's), else its definition
    columns: tuple[str, ...] = ()
    sort: str | None = None  # the view's sort (used unless the address gives one)
    may_save: bool = False
    save_query: str = ""  # the definition "Save as view" saves, as a queue address query
    save_errors: dict[str, str] = field(default_factory=dict)
    save_values: dict[str, Any] = field(default_factory=dict)
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    alert_within: list[AlertFilter] = field(default_factory=list)
    run_within: list[RunFilter] = field(default_factory=list)

    @property
    def spec(self) -> definitions.QueueSpec:
        return QUEUES[self.queue]

    @property
    def view_param(self) -> str:
        """`view=ID` for the addresses the page builds (load more, the filter form): the view
        stays, the caller's default one too (their filters then narrow it)."""
        return urlencode({"view": self.applied.id}) if self.applied else ""

    def shows(self, column: str) -> bool:
        return not self.columns or column in self.columns


def _local(value: str) -> str:
    """A stored UTC time as the filter form shows it (YYYY-MM-DD HH:MM, read as UTC)."""
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def definition_pairs(defn: Definition) -> list[tuple[str, str]]:
    """A definition as the queue's filter form would send it (its address query)."""
    pairs: list[tuple[str, str]] = []
    for name, value in defn.filters.items():
        key = FORM_NAMES.get(name, name)
        if name in ("created_from", "created_to", "since", "until") and isinstance(value, str):
            pairs.append((key, _local(value)))
        elif name == "quarantined":
            if value:
                pairs.append((key, "1"))
        elif isinstance(value, list | tuple):
            pairs += [(key, str(v)) for v in value]
        elif isinstance(value, float) and value.is_integer():
            pairs.append((key, str(int(value))))
        else:
            pairs.append((key, str(value)))
    if defn.sort != defn.spec.default_sort:
        pairs.append(("sort", defn.sort))
    return pairs


def _overlay(base: list[tuple[str, str]], params: QueryParams) -> str:
    """The view's filters with the caller's own over them (a field the caller set replaces the
    view's): what "Save as view" saves while a view is applied."""
    own = [(k, v) for k, v in params.multi_items() if v.strip() and k not in PICKER_PARAMS
           and k not in ("after", "shown", "rows", "ok")]  # fmt: skip
    given = {k for k, _ in own}
    return urlencode([(k, v) for k, v in base if k not in given] + own)


async def _opened(principal: Principal, view_id: str) -> service.OpenedView:
    return await service.open_view(principal, view_id)


async def resolve(
    principal: Principal, queue: ViewQueue, params: QueryParams, *, full: bool = True
) -> Picker:
    """What the queue page applies and offers (a view that is not visible is "not found").
    `full=False` ("Load more": rows only): just the view the address names, if any."""
    picker = Picker(queue, may_save=principal.can(Perm.VIEW_SAVE))
    if full:
        try:
            picker.views = await service.list_views(principal, queue)
        except Forbidden:
            picker.views = []
        picker.counts = await count_words(principal, picker.views)
    # Not the caller's own filters: paging, and `all` (no view). Without any, the default applies.
    own = [k for k, v in params.multi_items() if v.strip() and k not in ("all", "ok", "rows")]
    view_id = params.get("view") or ""
    edit_id = params.get("edit") or ""
    if edit_id:
        opened = await _opened(principal, edit_id)
        if opened.view.queue != queue:
            raise _other_queue(opened.view)
        picker.edit = opened.view
        picker.can_edit = opened.can_edit
        picker.edit_definition = opened.draft or opened.definition
        picker.columns = picker.edit_definition.columns
    elif view_id or (full and not own and params.get("all") != "1"):
        view = None
        if not view_id:
            view = await preferences.default_view(principal, queue)
            if view is None:
                picker.save_query = _overlay([], params)
                return picker
            view_id, picker.by_default = str(view.id), True
        opened = await _opened(principal, view_id)
        if opened.view.queue != queue:
            raise _other_queue(opened.view)
        picker.applied = opened.view
        picker.lines = opened.lines
        picker.columns = opened.definition.columns
        picker.sort = opened.definition.sort
        if queue is ViewQueue.ALERTS:
            _, flt, sort = await applying.alert_filter_of(principal, view_id)
            picker.alert_within, picker.sort = [flt], sort
        else:
            _, rflt = await applying.run_filter_of(principal, view_id)
            picker.run_within = [rflt]
        picker.save_query = _overlay(definition_pairs(opened.definition), params)
        return picker
    picker.save_query = _overlay([], params)
    return picker


def _other_queue(view: SavedView) -> DomainError:
    return Invalid(
        f"View “{view.name}” is a view of the {QUEUES[view.queue].label}; open it there: "
        f"{QUEUES[view.queue].path}?view={view.id}.",
        field="view",
    )


async def count_words(principal: Principal, views: Sequence[SavedView]) -> dict[int, str]:
    """Each view's cached row count in words (server/views/counts.py: a missing or stale count
    is refreshed by its job): "42", "more than 10,000", or nothing while it is being counted."""
    out: dict[int, str] = {}
    for view_id, info in (await counts.counts_for(principal, list(views))).items():
        if info.count is not None:
            out[view_id] = f"{info.count:,}" if info.exact else f"more than {info.count:,}"
    return out


def edit_redirect(picker: Picker, params: QueryParams) -> str | None:
    """`?edit=ID` alone: the address of the queue with the view's definition as its filters (the
    form shows them, to change and save)."""
    if picker.edit is None or picker.edit_definition is None or any(k != "edit" for k in params):
        return None
    view = picker.edit
    query = urlencode([*definition_pairs(picker.edit_definition), ("edit", str(view.id))])
    return f"{QUEUES[view.queue].path}?{query}"


# How each queue page shows itself again with the save form's refusal: registered by the queue
# pages themselves (ui/triage/alerts.py, ui/credit/runs.py), which import this module.
QueueAgain = Callable[
    [Submission, QueryParams, int, dict[str, str], dict[str, Any]], Awaitable[Response]
]
QUEUE_AGAIN: dict[str, QueueAgain] = {}


async def queue_again(sub: Submission, queue: str, status: int, errors: dict[str, str]) -> Response:
    """The queue page the save form was posted from, the form showing why it was refused."""
    values = dict(sub.values)
    page_query = values.get("page_q") or values.get("q", "")
    again = QUEUE_AGAIN.get(queue)
    if again is None:
        raise Invalid(f"Queue '{queue}' is unknown; save a view from the alert queue or the runs "
                      "ledger.", field="queue")  # fmt: skip
    return await again(sub, QueryParams(page_query), status, errors, values)
