"""The triage queue and alert detail: filtered, keyset-paginated listing, and the detail view
with the actions the caller may take (similar alerts: `riskops.server.triage.similar`).

Pages are keyset: a cursor carries the sort key of the last row and its id, and the next page
is `(key, id) < (k, i)` (the mirror for ascending sorts), so alerts arriving between two pages
never shift or repeat rows. Nullable sort keys order NULLs last: the non-null rows are paged
first, then the NULL rows by id.

Nested data of a page loads with one query per relation for the whole page
(`load_page_details`), so the number of queries does not grow with the page size.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from riskops.server.core import validation
from riskops.server.core.audit_trail import access
from riskops.server.core.errors import Invalid, not_found
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import parse_id, scoped
from riskops.server.triage import workflow
from riskops.server.triage.models import (
    Alert,
    AlertEvent,
    CaseAlert,
    InfoRequest,
    RuleHit,
    SignalContribution,
)
from riskops.server.triage.queue_filters import (
    MAX_AMOUNT,
    MAX_ID,
    AlertFilter,
    Collect,
    FilterErrors,
    apply_filter,
    validate,
)
from riskops.server.triage.similar import SimilarAlert, similar_alerts

MAX_PAGE = 200


@dataclass(frozen=True)
class AlertPage:
    alerts: list[Alert]
    has_next: bool
    end_cursor: str | None


@dataclass(frozen=True)
class AlertDetail:
    alert: Alert
    rule_hits: list[RuleHit]
    signals: list[SignalContribution]
    history: list[AlertEvent]
    info_requests: list[InfoRequest]
    case_ids: list[int]
    similar: list[SimilarAlert]
    actions: list[str]  # what the caller may do now (workflow.actions_for): the forms to show
    case_refs: dict[int, str] = field(default_factory=dict)  # case id -> "CASE-000004"


# --- sorts and cursors -------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC)


def _parse_score(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise ValueError(raw)
    return value


def _parse_dt(raw: str) -> datetime:
    return _utc(datetime.fromisoformat(raw))


def _parse_amount(raw: str) -> Decimal:
    value = Decimal(raw)
    if not value.is_finite() or not 0 <= value < MAX_AMOUNT:
        raise ValueError(raw)
    return value


def _fmt_dt(value: Any) -> str:
    return _utc(value).isoformat()


@dataclass(frozen=True)
class _Sort:
    name: str
    column: str
    descending: bool
    nullable: bool
    parse: Callable[[str], Any]
    fmt: Callable[[Any], str]


SORTS: dict[str, _Sort] = {
    "score": _Sort("score", "score", True, False, _parse_score, repr),
    "created": _Sort("created", "created_at", True, False, _parse_dt, _fmt_dt),
    # due_at is NOT NULL today; treated as nullable so a NULL would page last, not vanish.
    "due": _Sort("due", "due_at", False, True, _parse_dt, _fmt_dt),
    "amount": _Sort("amount", "amount", True, True, _parse_amount, str),
}
# Incremental sync (`updated_after`): oldest change first, so a client pages up to now and keeps
# the last cursor (or the last updatedAt) for its next pass. Not a sort of the pages or of saved
# views: only the API offers it.
SYNC_SORT = "updated"
_SYNC = _Sort(SYNC_SORT, "updated_at", False, False, _parse_dt, _fmt_dt)
API_SORTS: dict[str, _Sort] = {**SORTS, SYNC_SORT: _SYNC}

_NULL = "null"


def encode_cursor(sort: str, alert: Alert) -> str:
    spec = API_SORTS[sort]
    value = getattr(alert, spec.column)
    raw = _NULL if value is None else spec.fmt(value)
    return base64.urlsafe_b64encode(f"{sort}:{raw}:{alert.id}".encode()).decode()


def decode_cursor(sort: str, cursor: str) -> tuple[Any, int]:
    """(key value or None for the NULL phase, id); anything else is Invalid on `after`."""
    spec = API_SORTS[sort]
    try:
        if not isinstance(cursor, str) or not cursor or len(cursor) > 200:
            raise ValueError(cursor)
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("utf-8")
        kind, _, rest = text.partition(":")
        raw, _, raw_id = rest.rpartition(":")
        if kind != sort or not raw or not raw_id.isdigit():
            raise ValueError(text)
        alert_id = int(raw_id)
        if not 1 <= alert_id <= MAX_ID:
            raise ValueError(raw_id)
        if raw == _NULL:
            if not spec.nullable:
                raise ValueError(raw)
            return None, alert_id
        return spec.parse(raw), alert_id
    except (ValueError, TypeError, UnicodeError, binascii.Error, InvalidOperation):
        raise Invalid(
            f"after: not a cursor of this queue sorted by {sort}; pass the endCursor of the "
            "previous page with the same sort.",
            field="after",
        ) from None


def narrowed(flt: AlertFilter, within: Sequence[AlertFilter]) -> AlertFilter:
    """The caller's filter as it applies inside `within` (a saved view's filters): without a
    currency of its own it takes theirs, so the amount sort and amount bounds compare within the
    currency the view already narrowed to (applying it again changes no row)."""
    if flt.currency not in (None, ""):
        return flt
    inherited = next((w.currency for w in within if w.currency not in (None, "")), None)
    return replace(flt, currency=inherited) if inherited is not None else flt


def validate_query(
    flt: AlertFilter,
    *,
    sort: str = "score",
    first: int = 50,
    after: str | None = None,
    within: Sequence[AlertFilter] = (),
    updated_after: datetime | None = None,
) -> None:
    """Everything `list_alerts` would refuse, all at once (`FilterErrors`), without a query:
    a page that could not parse some fields still learns what is wrong with the others.
    The filters of `within` (a saved view's) are checked too, their fields named `view.<field>`."""
    check = Collect()
    for outer in within:
        try:
            validate(outer)
        except FilterErrors as exc:
            for name, message in exc.errors.items():
                check.add(f"view.{name}", f"The view's filter: {message}")
    flt = narrowed(flt, within)
    if sort not in API_SORTS:
        check.add("sort", f"Sort '{sort}' is unknown; use {', '.join(API_SORTS)}.")
    check(lambda: validation.page_size(first, MAX_PAGE))
    if after is not None and sort in API_SORTS:
        check(lambda: decode_cursor(sort, after))
    check(lambda: validation.updated_after(updated_after))
    try:
        validate(flt, sort)
    except FilterErrors as exc:
        for name, message in exc.errors.items():
            check.add(name, message)
    if check.errors:
        raise FilterErrors(check.errors)


# --- queue -------------------------------------------------------------------------------------


def _after(spec: _Sort, value: Any, alert_id: int) -> Q:
    """Rows after (value, id) in the sort order. The redundant `col <= value` (`>=` ascending)
    is what the database can use as an index bound on (org_id, col, id): the OR alone is only a
    filter, and a deep page would then scan every row before the cursor."""
    col = spec.column
    if spec.descending:
        return Q(**{f"{col}__lte": value}) & (
            Q(**{f"{col}__lt": value}) | Q(**{col: value, "id__lt": alert_id})
        )
    return Q(**{f"{col}__gte": value}) & (
        Q(**{f"{col}__gt": value}) | Q(**{col: value, "id__gt": alert_id})
    )


def _filtered(
    principal: Principal,
    flt: AlertFilter,
    sort: str,
    within: Sequence[AlertFilter],
    updated_after: datetime | None = None,
) -> QuerySet[Alert]:
    """The organization's alerts narrowed by each filter of `within`, then by `flt`, then to
    those changed after `updated_after`."""
    q = scoped(Alert, principal)
    for outer in within:
        q = apply_filter(q, principal, outer)
    q = apply_filter(q, principal, narrowed(flt, within), sort)
    since = validation.updated_after(updated_after)
    return q.filter(updated_at__gt=since) if since is not None else q


async def list_alerts(
    principal: Principal,
    flt: AlertFilter,
    *,
    sort: str = "score",
    first: int = 50,
    after: str | None = None,
    within: Sequence[AlertFilter] = (),
    updated_after: datetime | None = None,
) -> AlertPage:
    """One page of the caller's organization's alerts; keyset cursors, stable under inserts.
    `within`: filters applied before `flt`, each narrowing (a saved view's): `flt` never widens
    them. `updated_after`: only alerts changed after it (incremental sync, with the sort
    `updated`: oldest change first, on (updated_at, id))."""
    principal.require(Perm.ALERT_READ)
    validate_query(
        flt, sort=sort, first=first, after=after, within=within, updated_after=updated_after
    )
    spec = API_SORTS[sort]
    cursor = decode_cursor(sort, after) if after is not None else None
    base = _filtered(principal, flt, sort, within, updated_after)
    col, id_order = spec.column, ("-id" if spec.descending else "id")
    key_order = f"-{col}" if spec.descending else col

    rows: list[Alert] = []
    in_null_phase = cursor is not None and cursor[0] is None
    if not in_null_phase:
        q = base.filter(**{f"{col}__isnull": False}) if spec.nullable else base
        if cursor is not None:
            q = q.filter(_after(spec, *cursor))
        rows = list(await q.order_by(key_order, id_order).limit(first + 1))
    if spec.nullable and len(rows) <= first:
        q = base.filter(**{f"{col}__isnull": True})
        if in_null_phase and cursor is not None:
            q = q.filter(id__lt=cursor[1]) if spec.descending else q.filter(id__gt=cursor[1])
        rows += list(await q.order_by(id_order).limit(first + 1 - len(rows)))
    has_next = len(rows) > first
    rows = rows[:first]
    return AlertPage(rows, has_next, encode_cursor(sort, rows[-1]) if rows else None)


COUNT_CAP = 10_000


@dataclass(frozen=True)
class AlertCount:
    count: int  # exact when `exact`, else COUNT_CAP (there are more)
    exact: bool


async def count_alerts(
    principal: Principal,
    flt: AlertFilter,
    *,
    sort: str = "score",
    within: Sequence[AlertFilter] = (),
) -> AlertCount:
    """How many alerts the filter matches (the same filter as `list_alerts`), counted up to
    COUNT_CAP: the ids come from the same indexes a page reads, so the count stays cheap on a
    queue of millions, where an exact COUNT(*) would read every matching row."""
    return await count_changed_alerts(principal, flt, None, sort=sort, within=within)


async def count_changed_alerts(
    principal: Principal,
    flt: AlertFilter,
    updated_after: datetime | None,
    *,
    sort: str = "score",
    within: Sequence[AlertFilter] = (),
) -> AlertCount:
    """`count_alerts` of the alerts changed after `updated_after` (all of them when None): the
    count of a sync's `list_alerts(updated_after=...)`."""
    principal.require(Perm.ALERT_READ)
    validate_query(
        flt, sort=sort if sort in API_SORTS else "score", within=within,
        updated_after=updated_after,
    )  # fmt: skip
    q = _filtered(principal, flt, sort, within, updated_after)
    ids = await q.limit(COUNT_CAP + 1).values_list("id", flat=True)
    return AlertCount(min(len(ids), COUNT_CAP), len(ids) <= COUNT_CAP)


async def rule_hits_of(ids: Sequence[int]) -> dict[int, list[RuleHit]]:
    """Rule hits of many alerts in one query, strongest first."""
    out: dict[int, list[RuleHit]] = {}
    if ids:
        for hit in await RuleHit.filter(alert_id__in=list(ids)).order_by(
            "alert_id", "-score_contribution", "id"
        ):
            out.setdefault(hit.alert_id, []).append(hit)
    return out


def _largest_first(contribution: float, signal: str) -> tuple[float, str]:
    """The order of an alert's signals, everywhere: largest contribution first, whichever way
    it pushes, ties by name (rule hits are strongest first the same way)."""
    return (-abs(contribution), signal)


async def signals_of(ids: Sequence[int]) -> dict[int, list[SignalContribution]]:
    """Signal contributions of many alerts in one query, largest first (`_largest_first`)."""
    out: dict[int, list[SignalContribution]] = {}
    if ids:
        for sig in await SignalContribution.filter(alert_id__in=list(ids)).order_by(
            "alert_id", "id"
        ):
            out.setdefault(sig.alert_id, []).append(sig)
    for sigs in out.values():
        sigs.sort(key=lambda s: _largest_first(s.contribution, s.signal))
    return out


RULE_HIT_COLUMNS = ("alert_id", "rule_id", "name", "version", "score_contribution",
                    "matched_values")  # fmt: skip
SIGNAL_COLUMNS = ("alert_id", "signal", "value", "contribution", "direction")


async def rule_hit_rows(ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """`rule_hits_of` as plain rows (no model objects): for readers that only copy fields out,
    like the GraphQL page, where building ORM objects costs more than the query."""
    out: dict[int, list[dict[str, Any]]] = {}
    if ids:
        rows = (
            await RuleHit.filter(alert_id__in=list(ids))
            .order_by("alert_id", "-score_contribution", "id")
            .values(*RULE_HIT_COLUMNS)
        )
        for row in rows:
            out.setdefault(row["alert_id"], []).append(row)
    return out


async def signal_rows(ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """`signals_of` as plain rows, in the same order."""
    out: dict[int, list[dict[str, Any]]] = {}
    if ids:
        rows = (
            await SignalContribution.filter(alert_id__in=list(ids))
            .order_by("alert_id", "id")
            .values(*SIGNAL_COLUMNS)
        )
        for row in rows:
            out.setdefault(row["alert_id"], []).append(row)
    for sigs in out.values():
        sigs.sort(key=lambda r: _largest_first(r["contribution"], r["signal"]))
    return out


async def load_page_details(
    alerts: Sequence[Alert],
) -> dict[int, tuple[list[RuleHit], list[SignalContribution]]]:
    """Rule hits and signals of a whole page: one query per relation, whatever the page size."""
    ids = [a.id for a in alerts]
    hits, signals = await rule_hits_of(ids), await signals_of(ids)
    return {i: (hits.get(i, []), signals.get(i, [])) for i in ids}


# --- detail ------------------------------------------------------------------------------------


async def get_alert_detail(principal: Principal, alert_id: str | int) -> AlertDetail:
    """The alert with why it fired, its history, info requests, cases and similar alerts.
    Writes an `alert.view` data-access audit event."""
    principal.require(Perm.ALERT_READ)
    pk = parse_id("alert", alert_id)
    alert = await scoped(Alert, principal).get_or_none(id=pk)
    if alert is None:
        raise not_found("alert", alert_id)
    details = await load_page_details([alert])
    hits, signals = details[alert.id]
    history = list(
        await scoped(AlertEvent, principal).filter(alert_id=alert.id).order_by("at", "id")
    )
    info = list(await InfoRequest.filter(alert_id=alert.id).order_by("asked_at", "id"))
    links = await CaseAlert.filter(alert_id=alert.id).select_related("case")
    case_ids = sorted(link.case_id for link in links)
    case_refs = {link.case_id: link.case.display_number for link in links}
    similar = await similar_alerts(alert)
    open_request = next((r for r in reversed(info) if r.answered_at is None), None)
    state = workflow.AlertState(
        alert.status,
        assignee_id=alert.assignee_id,
        info_answerer_id=open_request.answerer_id if open_request else None,
    )
    actions = [a.value for a in workflow.actions_for(state, principal.roles, principal.user_id)]
    await access(principal, "alert.view", "alert", alert.id)
    return AlertDetail(alert, hits, signals, history, info, case_ids, similar, actions, case_refs)


async def get_queue_row(principal: Principal, alert_id: str | int) -> Alert:
    """One alert as a row of the queue shows it (no rule hits, signals or history): redrawing a
    row is a list read like the queue itself, so it writes no `alert.view` event."""
    principal.require(Perm.ALERT_READ)
    pk = parse_id("alert", alert_id)
    alert = await scoped(Alert, principal).get_or_none(id=pk)
    if alert is None:
        raise not_found("alert", alert_id)
    return alert
