"""The alert queue's filters: what a filter may hold (`AlertFilter`), every check of it at once
(`validate`, refused together as `FilterErrors`, each message under its field), and the
narrowing of a query by a valid one (`apply_filter`). The queue (`queue`) pages and sorts."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from riskops.server.core import validation
from riskops.server.core.errors import Invalid
from riskops.server.core.principal import Principal
from riskops.server.triage.models import Alert, AlertPriority, AlertStatus, RuleHit

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
    return None if value is None else validation.aware(value, name)


class FilterErrors(Invalid):
    """Every invalid filter at once: `errors` maps each field to its message (the first one is
    also `field` and leads `message`), so a page marks each field and GraphQL lists them all."""

    def __init__(self, errors: dict[str, str]) -> None:
        first = next(iter(errors))
        super().__init__(" ".join(errors.values()), field=first)
        self.errors = dict(errors)


class Collect:
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


def validate(flt: AlertFilter, sort: str | None = None) -> _Clean:
    """Check every filter (and the sort against them); all errors at once (`FilterErrors`)."""
    check = Collect()
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


def apply_filter(
    q: QuerySet[Alert], principal: Principal, flt: AlertFilter, sort: str | None = None
) -> QuerySet[Alert]:
    """Validate everything first (nothing is queried on invalid input), then narrow `q`."""
    c = validate(flt, sort)
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
