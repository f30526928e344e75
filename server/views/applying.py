"""Applying a saved view to its queue: the filter (and sort) a view applies, for the faces to
pass to the queue as `within=[…]` (`triage.queue.list_alerts`, `credit.runs.list_runs`), where
the view's filter and the caller's own narrow the same query. Applying a view is not audited
(opening the rows is, as before).
"""

from __future__ import annotations

from time import monotonic

from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import parse_id
from riskops.server.credit.runs import RunFilter
from riskops.server.triage.queue_filters import AlertFilter
from riskops.server.views import definitions
from riskops.server.views.access import get_view
from riskops.server.views.definitions import Definition
from riskops.server.views.models import SavedView, ViewQueue, ViewScope, ViewStatus
from riskops.server.views.opened import stored_definition

# Standard views applied lately, by id: (when read, the view, its definition). A standard view
# changes only when a promotion is published (it cannot be edited in place, shared or archived),
# and everyone of its organization who reads its queue may apply it, so applying one needs no
# per-person lookup: for APPLIED_TTL seconds a process applies what it read, without the
# database. The publish job forgets the view in its own process at once; another process
# applies the new version within APPLIED_TTL seconds (docs/PERFORMANCE.md, "Saved views").
APPLIED_TTL = 5.0
_APPLIED_MAX = 2048
_applied_standard: dict[int, tuple[float, SavedView, Definition]] = {}


def forget_applied(view_id: int) -> None:
    """After a standard view changed (its promotion was published)."""
    _applied_standard.pop(view_id, None)


async def _applied(principal: Principal, view_id: str | int) -> tuple[SavedView, Definition]:
    """The view to apply and its definition: a standard view from the cache above while it is
    fresh, for a caller of its organization who reads its queue; anything else from the
    database through `get_view` (not visible: not found)."""
    pk = parse_id("View", view_id)
    hit = _applied_standard.get(pk)
    now = monotonic()
    if hit is not None and now - hit[0] < APPLIED_TTL:
        _, view, defn = hit
        if view.org_id == principal.org_id and principal.can(definitions.QUEUES[view.queue].read):
            return view, defn
    view = await get_view(principal, pk)
    defn, _ = stored_definition(view, view.definition)
    if view.scope is ViewScope.STANDARD and view.status is ViewStatus.ACTIVE:
        if len(_applied_standard) >= _APPLIED_MAX:
            _applied_standard.clear()
        _applied_standard[pk] = (now, view, defn)
    return view, defn


async def alert_filter_of(
    principal: Principal, view_id: str | int
) -> tuple[SavedView, AlertFilter, str]:
    """The filter and sort an alert-queue view applies (not found if not visible; Invalid if the
    view is of the runs ledger). The queue applies it AND the caller's own filters: extra filters
    narrow a view, they never widen it."""
    principal.require(Perm.ALERT_READ)
    view, defn = await _applied(principal, view_id)
    if view.queue is not ViewQueue.ALERTS:
        raise Invalid(
            f"View {view.id} ('{view.name}') is a view of the runs ledger, not of the alert "
            "queue; open it with runs(viewId:) or on /runs.",
            field="view_id",
        )
    return view, defn.alert_filter(), defn.sort


async def run_filter_of(principal: Principal, view_id: str | int) -> tuple[SavedView, RunFilter]:
    principal.require(Perm.RUN_READ)
    view, defn = await _applied(principal, view_id)
    if view.queue is not ViewQueue.RUNS:
        raise Invalid(
            f"View {view.id} ('{view.name}') is a view of the alert queue, not of the runs "
            "ledger; open it with alerts(viewId:) or on /alerts.",
            field="view_id",
        )
    return view, defn.run_filter()
