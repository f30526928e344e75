"""The row count shown beside a view (the picker and the home page), computed cheaply.

Counting a view on every page would cost a queue query per view per request. Instead a count is
read from `ViewCount` (one query for all the views of a page) and refreshed in the background:
a missing count, one older than `FRESH_FOR`, or one of another version of the view enqueues the
job `view.count` (`riskops.server.work.jobs`), once per view, person and minute. Until the first
count arrives the page says "counting…"; a stale count is shown as it is meanwhile.

The job counts as the system of the view's organization, with the queue's own capped count
(`triage.queue.count_alerts`: exact up to 10,000, "more than 10,000" beyond; the runs ledger is
capped the same way). A view whose rows depend on who looks (assignee "me") is counted per
person (`user_id`); every other view once for everyone (`user_id` 0).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from riskops.jobs import runner
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit import runs
from riskops.server.credit.models import Run
from riskops.server.triage.queue import COUNT_CAP, count_alerts
from riskops.server.views.definitions import stored
from riskops.server.views.models import SavedView, ViewCount, ViewQueue, ViewStatus

log = logging.getLogger("riskops.views")

FRESH_FOR = timedelta(seconds=60)  # a count older than this is refreshed (and still shown)
JOB = "view.count"
# The roles the counting job acts with: it reads both queues and changes nothing.
_COUNTER_ROLES = frozenset({"viewer"})
# (view, person, minute) already enqueued by this process: a busy page does not ask the job
# table again on every request of the same minute (the dedupe key would refuse it anyway).
_asked: set[str] = set()


@dataclass(frozen=True)
class CountInfo:
    count: int | None  # None: not counted yet ("counting…")
    exact: bool  # False: there are more than `count` (COUNT_CAP)
    counted_at: datetime | None
    fresh: bool  # counted less than FRESH_FOR ago, for the view's current version

    @property
    def words(self) -> str:
        if self.count is None:
            return "counting…"
        return f"{self.count:,}" if self.exact else f"more than {self.count:,}"


def uses_me(definition: Any) -> bool:
    """The stored definition's rows depend on who looks (Definition.uses_me, without parsing)."""
    filters = definition.get("filters") if isinstance(definition, Mapping) else None
    return isinstance(filters, Mapping) and filters.get("assignee") == "me"


def counter_of(view: SavedView, principal: Principal) -> int:
    """Whose count of `view` this person sees: their own for an "assignee me" view, else 0."""
    return principal.user_id if uses_me(view.definition) else 0


def dedupe_key(view_id: int, user_id: int, now: datetime) -> str:
    return f"{JOB}:{view_id}:{user_id}:{now.astimezone(UTC):%Y%m%dT%H%M}"


async def counts_for(
    principal: Principal, views: Sequence[SavedView], *, now: datetime | None = None
) -> dict[int, CountInfo]:
    """The cached count of each view (the caller already may see them), in one query; a missing
    or stale count enqueues its refresh."""
    if not views:
        return {}
    now = now or datetime.now(UTC)
    wanted = {v.id: counter_of(v, principal) for v in views}
    rows = await scoped(ViewCount, principal).filter(
        view_id__in=list(wanted), user_id__in=sorted(set(wanted.values()))
    )
    cached = {(r.view_id, r.user_id): r for r in rows}
    out: dict[int, CountInfo] = {}
    for view in views:
        user_id = wanted[view.id]
        row = cached.get((view.id, user_id))
        if row is None:
            out[view.id] = CountInfo(None, True, None, False)
        else:
            fresh = row.view_version == view.version and now - row.counted_at < FRESH_FOR
            out[view.id] = CountInfo(row.count, row.exact, row.counted_at, fresh)
        if not out[view.id].fresh:
            await _ask(view, user_id, now)
    return out


async def _ask(view: SavedView, user_id: int, now: datetime) -> None:
    key = dedupe_key(view.id, user_id, now)
    # The database is part of the memo (the tests switch between two in one process).
    asked = f"{id(SavedView._meta.db)}:{view.org_id}:{key}"
    if asked in _asked:
        return
    try:
        await runner.enqueue(
            JOB, org_id=view.org_id, dedupe_key=key,
            payload={"org_id": view.org_id, "view_id": view.id, "user_id": user_id},
        )  # fmt: skip
    except Exception:
        # A count is a nicety: the page shows the last one (or "counting…") and asks again.
        log.exception("could not enqueue the count of view %s", view.id)
        return
    if len(_asked) > 10_000:
        _asked.clear()
    _asked.add(asked)


# --- the job's side ----------------------------------------------------------------------------


def counter(org_id: int, user_id: int) -> Principal:
    """The system of the organization, reading as `user_id` (0: nobody in particular)."""
    return Principal(user_id=user_id, org_id=org_id, roles=_COUNTER_ROLES, name="view counter")


async def count_runs(principal: Principal, flt: runs.RunFilter) -> tuple[int, bool]:
    """The runs the ledger filter selects, counted up to COUNT_CAP (the ledger's own filters)."""
    q = runs.apply_run_filter(scoped(Run, principal), flt)
    ids = await q.limit(COUNT_CAP + 1).values_list("id", flat=True)
    return min(len(ids), COUNT_CAP), len(ids) <= COUNT_CAP


async def count_view(org_id: int, view_id: int, user_id: int) -> dict[str, Any]:
    """Count one view as the system of its organization and store it (the job `view.count`)."""
    view = await scoped(SavedView, org_id=org_id).filter(id=view_id).first()
    if view is None or view.status is not ViewStatus.ACTIVE:
        return {"view_id": view_id, "skipped": "no such active view"}
    who = counter(org_id, user_id if uses_me(view.definition) else 0)
    defn = stored(view.queue, view.definition)
    if view.queue is ViewQueue.ALERTS:
        counted = await count_alerts(who, defn.alert_filter(), sort=defn.sort)
        n, exact = counted.count, counted.exact
    else:
        n, exact = await count_runs(who, defn.run_filter())
    await _store(view, who.user_id, n, exact)
    return {"view_id": view.id, "user_id": who.user_id, "count": n, "exact": exact}


async def _store(view: SavedView, user_id: int, n: int, exact: bool) -> None:
    values: dict[str, Any] = {
        "view_version": view.version, "count": n, "exact": exact, "counted_at": datetime.now(UTC)
    }  # fmt: skip
    mine = scoped(ViewCount, org_id=view.org_id).filter(view_id=view.id, user_id=user_id)
    if await mine.update(**values):
        return
    try:
        await ViewCount.create(org_id=view.org_id, view_id=view.id, user_id=user_id, **values)
    except IntegrityError:  # a concurrent count created it: take ours, it is as new
        await mine.update(**values)
