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
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tortoise.expressions import Q, Subquery
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
    AlertPriority,
    AlertStatus,
    CaseAlert,
    InfoRequest,
    RuleHit,
    SignalContribution,
)
from riskops.server.triage.similar import SimilarAlert, similar_alerts

MAX_PAGE = 200
MAX_TEXT = 100
_SEARCHABLE = re.compile(r"[^\W_]{3}")  # three letters or digits in a row
MAX_ID = 2**31 - 1
MAX_AMOUNT = Decimal(10) ** 16


@dataclass(frozen=True)
class AlertFilter:
    status: list[str] = field(default_factory=list)
    priority: list[str] = field(default_factory=list)
    score_min: float | None = None
    score_max: float | None = None
    assignee: str | int | None = None  # "me", "unassigned" or a user id
    team: int | str | None = None
    rule_id: str | None = None
    amount_min: Decimal | float | int | str | None = None
    amount_max: Decimal | float | int | str | None = None
    currency: str | None = None  # ISO 4217; the amount sort and bounds compare within one
    created_from: datetime | None = None
    created_to: datetime | None = None
    text: str | None = None


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

_NULL = "null"


def encode_cursor(sort: str, alert: Alert) -> str:
    spec = SORTS[sort]
    value = getattr(alert, spec.column)
    raw = _NULL if value is None else spec.fmt(value)
    return base64.urlsafe_b64encode(f"{sort}:{raw}:{alert.id}".encode()).decode()


def decode_cursor(sort: str, cursor: str) -> tuple[Any, int]:
    """(key value or None for the NULL phase, id); anything else is Invalid on `after`."""
    spec = SORTS[sort]
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


# --- filters -----------------------------------------------------------------------------------


def _enum_list(values: Sequence[str] | None, name: str, enum: type[Any]) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    choices = [e.value for e in enum]
    what = validation.label(name)
    if len(values) > len(choices):
        raise Invalid(f"{what}: at most {len(choices)} values.", field=name)
    out = []
    for v in values:
        value = str(v).strip().lower()
        if value not in choices:
            raise Invalid(
                f"{what} '{v}' is unknown; use {validation.choices(choices)}.", field=name
            )
        out.append(value)
    return sorted(set(out))


def _score(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{validation.label(name)} must be a number between 0 and 100.", field=name)
    number = float(value)
    if not math.isfinite(number) or not 0 <= number <= 100:
        raise Invalid(
            f"{validation.label(name)} is {value}; it must be between 0 and 100.", field=name
        )
    return number


def _amount(value: Any, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise Invalid(
            f"{validation.label(name)} must be a decimal number (like 125.40).", field=name
        )
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise Invalid(
            f"{validation.label(name)} '{value}' is not a decimal number.", field=name
        ) from None
    if not amount.is_finite() or not 0 <= amount < MAX_AMOUNT:
        raise Invalid(
            f"{validation.label(name)} {value} must be zero or positive, below 10^16.", field=name
        )
    return amount


def _id(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise Invalid(f"{validation.label(name)} must be an id.", field=name)
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise Invalid(f"{validation.label(name)} '{value}' is not an id.", field=name) from None
    if not 1 <= number <= MAX_ID:
        raise Invalid(f"{validation.label(name)} '{value}' is not an id.", field=name)
    return number


def _aware(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise Invalid(
            f"{validation.label(name)} must be a date and time with a time zone.", field=name
        )
    return value.astimezone(UTC)


class FilterErrors(Invalid):
    """Every invalid filter at once: `errors` maps each field to its message (the first one is
    also `field` and leads `message`), so a page marks each field and GraphQL lists them all."""

    def __init__(self, errors: dict[str, str]) -> None:
        first = next(iter(errors))
        super().__init__(" ".join(errors.values()), field=first)
        self.errors = dict(errors)


class _Collect:
    """Runs each check, keeping every field's first error instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def __call__(self, check: Callable[[], Any]) -> Any:
        try:
            return check()
        except Invalid as exc:
            self.errors.setdefault(exc.field or "filter", exc.message)
            return None

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)


def _currency(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    code = str(value).strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise Invalid(
            f"Currency: '{value}' is not a currency code; use three letters like EUR.",
            field="currency",
        )
    return code


@dataclass(frozen=True)
class _Clean:
    status: list[str]
    priority: list[str]
    score_min: float | None
    score_max: float | None
    amount_min: Decimal | None
    amount_max: Decimal | None
    currency: str | None
    created_from: datetime | None
    created_to: datetime | None
    assignee: int | str | None
    team: int | None
    rule_id: str | None
    text: str


def _validate(flt: AlertFilter, sort: str | None = None) -> _Clean:
    """Check every filter (and the sort against them); all errors at once (`FilterErrors`)."""
    check = _Collect()
    status = check(lambda: _enum_list(flt.status, "status", AlertStatus)) or []
    priority = check(lambda: _enum_list(flt.priority, "priority", AlertPriority)) or []
    score_min = check(lambda: _score(flt.score_min, "score_min"))
    score_max = check(lambda: _score(flt.score_max, "score_max"))
    if score_min is not None and score_max is not None and score_min > score_max:
        check.add("score_min", f"Score from ({score_min:g}) is above Score to ({score_max:g}).")
    amount_min = check(lambda: _amount(flt.amount_min, "amount_min"))
    amount_max = check(lambda: _amount(flt.amount_max, "amount_max"))
    if amount_min is not None and amount_max is not None and amount_min > amount_max:
        check.add("amount_min", f"Amount from ({amount_min}) is above Amount to ({amount_max}).")
    currency = check(lambda: _currency(flt.currency))
    # Amounts are never converted: comparing 100 EUR with 100 JPY would rank nonsense, so the
    # amount sort and amount bounds work within the one currency the filter names.
    if currency is None and "currency" not in check.errors:
        if sort == "amount":
            check.add(
                "currency",
                "Currency: sorting by amount compares amounts in one currency (they are not "
                "converted); choose a currency, like EUR.",
            )
        elif flt.amount_min not in (None, "") or flt.amount_max not in (None, ""):
            check.add(
                "currency",
                "Currency: amount bounds apply in one currency (amounts are not converted); "
                "choose a currency, like EUR.",
            )
    created_from = check(lambda: _aware(flt.created_from, "created_from"))
    created_to = check(lambda: _aware(flt.created_to, "created_to"))
    if created_from and created_to and created_from > created_to:
        check.add("created_from", "Created from is after Created before.")
    assignee: int | str | None = None
    if flt.assignee is not None and flt.assignee != "":
        if flt.assignee in ("me", "unassigned"):
            assignee = flt.assignee
        else:
            assignee = check(lambda: _id(flt.assignee, "assignee"))
    team = check(lambda: _id(flt.team, "team")) if flt.team not in (None, "") else None
    rule_id = (
        check(lambda: validation.text(flt.rule_id, "rule_id", max_len=100))
        if flt.rule_id and flt.rule_id.strip()
        else None
    )
    text = (
        check(lambda: validation.text(flt.text, "text", max_len=MAX_TEXT, required=False)) or ""
        if flt.text
        else ""
    )
    if text and not _SEARCHABLE.search(text):
        # A search with no three letters or digits in a row matches almost everything and no
        # index can narrow it (trigrams): on a large queue it would read the whole table.
        check.add(
            "text",
            "text: type at least 3 letters or digits in a row (part of a title, a customer or "
            "an external id).",
        )
    if check.errors:
        raise FilterErrors(check.errors)
    return _Clean(status, priority, score_min, score_max, amount_min, amount_max, currency,
                  created_from, created_to, assignee, team, rule_id, text)  # fmt: skip


def validate_query(
    flt: AlertFilter, *, sort: str = "score", first: int = 50, after: str | None = None
) -> None:
    """Everything `list_alerts` would refuse, all at once (`FilterErrors`), without a query:
    a page that could not parse some fields still learns what is wrong with the others."""
    check = _Collect()
    if sort not in SORTS:
        check.add("sort", f"Sort '{sort}' is unknown; use {', '.join(SORTS)}.")
    check(lambda: validation.page_size(first, MAX_PAGE))
    if after is not None and sort in SORTS:
        check(lambda: decode_cursor(sort, after))
    try:
        _validate(flt, sort)
    except FilterErrors as exc:
        for name, message in exc.errors.items():
            check.add(name, message)
    if check.errors:
        raise FilterErrors(check.errors)


def _apply_filter(
    q: QuerySet[Alert], principal: Principal, flt: AlertFilter, sort: str | None = None
) -> QuerySet[Alert]:
    """Validate everything first (nothing is queried on invalid input), then narrow `q`."""
    c = _validate(flt, sort)
    if c.status:
        q = q.filter(status__in=c.status)
    if c.priority:
        q = q.filter(priority__in=c.priority)
    if c.score_min is not None:
        q = q.filter(score__gte=c.score_min)
    if c.score_max is not None:
        q = q.filter(score__lte=c.score_max)
    if c.assignee == "me":
        q = q.filter(assignee_id=principal.user_id)
    elif c.assignee == "unassigned":
        q = q.filter(assignee_id__isnull=True)
    elif c.assignee is not None:
        q = q.filter(assignee_id=c.assignee)
    if c.team is not None:
        q = q.filter(team_id=c.team)
    if c.rule_id:
        # Case-insensitive ("vel-002" finds VEL-002). `__iexact` is UPPER(CAST(rule_id AS
        # VARCHAR)) = UPPER(?) on both backends: migration 0020 indexes that very expression.
        q = q.filter(
            id__in=Subquery(RuleHit.filter(rule_id__iexact=c.rule_id).values("alert_id")),
        )
    if c.currency is not None:
        q = q.filter(currency=c.currency)
    if c.amount_min is not None:
        q = q.filter(amount__gte=c.amount_min)
    if c.amount_max is not None:
        q = q.filter(amount__lte=c.amount_max)
    if c.created_from is not None:
        q = q.filter(created_at__gte=c.created_from)
    if c.created_to is not None:
        q = q.filter(created_at__lt=c.created_to)
    if c.text:
        q = q.filter(
            Q(title__icontains=c.text)
            | Q(customer_ref__icontains=c.text)
            | Q(external_id__icontains=c.text)
        )
    return q


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


async def list_alerts(
    principal: Principal,
    flt: AlertFilter,
    *,
    sort: str = "score",
    first: int = 50,
    after: str | None = None,
) -> AlertPage:
    """One page of the caller's organization's alerts; keyset cursors, stable under inserts."""
    principal.require(Perm.ALERT_READ)
    validate_query(flt, sort=sort, first=first, after=after)
    spec = SORTS[sort]
    cursor = decode_cursor(sort, after) if after is not None else None
    base = _apply_filter(scoped(Alert, principal), principal, flt, sort)
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
    principal: Principal, flt: AlertFilter, *, sort: str = "score"
) -> AlertCount:
    """How many alerts the filter matches (the same filter as `list_alerts`), counted up to
    COUNT_CAP: the ids come from the same indexes a page reads, so the count stays cheap on a
    queue of millions, where an exact COUNT(*) would read every matching row."""
    principal.require(Perm.ALERT_READ)
    validate_query(flt, sort=sort if sort in SORTS else "score")
    q = _apply_filter(scoped(Alert, principal), principal, flt, sort)
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
