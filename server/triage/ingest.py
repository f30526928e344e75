"""Alert ingest from detection systems: up to 1,000 alerts a call, idempotent on the external id,
with per-item errors."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from tortoise.transactions import in_transaction

from riskops.server.core import validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import (
    Invalid,
    ItemError,
)
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.triage.alerts import (
    MAX_BATCH,
    MAX_RULE_HITS,
    MAX_SIGNALS,
    MAX_TRANSACTION_BYTES,
    RULE_HIT_FIELDS,
    SIGNAL_FIELDS,
)
from riskops.server.triage.models import (
    Alert,
    AlertEvent,
    AlertPriority,
    AlertStatus,
    RuleHit,
    SignalContribution,
    SignalDirection,
)

SLA: dict[AlertPriority, timedelta] = {
    AlertPriority.CRITICAL: timedelta(hours=1),
    AlertPriority.HIGH: timedelta(hours=4),
    AlertPriority.MEDIUM: timedelta(hours=24),
    AlertPriority.LOW: timedelta(hours=72),
}


ITEM_FIELDS = frozenset(
    {
        "external_id", "source", "title", "score", "priority", "customer_ref", "account_ref",
        "amount", "currency", "transaction", "rule_hits", "signals",
    }
)  # fmt: skip


def due_at(priority: AlertPriority, created_at: datetime) -> datetime:
    return created_at + SLA[priority]


@dataclass(frozen=True)
class IngestedItem:
    index: int
    external_id: str
    alert_id: int


@dataclass
class IngestResult:
    batch_id: str
    created: list[IngestedItem] = field(default_factory=list)
    unchanged: list[IngestedItem] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)


@dataclass
class _Item:
    index: int
    alert: dict[str, Any]
    rule_hits: list[dict[str, Any]]
    signals: list[dict[str, Any]]


# The documented range of every number an alert carries (docs/API.md, "Ingest"): finite, and
# within these bounds, so that no sum, chart or export of them can overflow.
SCORE_RANGE = (0.0, 100.0)
CONTRIBUTION_RANGE = (-100.0, 100.0)  # a rule's or a signal's share of a 0-100 score
SIGNAL_NUMBER_RANGE = (-1e15, 1e15)  # a signal's value when it is a number
AMOUNT_MAX = Decimal(10) ** 16  # 16 digits before the decimal point, 4 after


def _range(lo: float, hi: float) -> str:
    return f"between {lo:,.15g} and {hi:,.15g}"


def _number(value: Any, name: str, bounds: tuple[float, float]) -> float:
    """A finite number within `bounds`, or Invalid naming the field and the range."""
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{name} must be a number {_range(lo, hi)}.", field=name)
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        number = math.inf if value > 0 else -math.inf
    if not math.isfinite(number):
        raise Invalid(f"{name} must be a finite number {_range(lo, hi)}.", field=name)
    if not lo <= number <= hi:
        raise Invalid(f"{name} is {number:.6g}; it must be {_range(lo, hi)}.", field=name)
    return number


def _str(raw: Mapping[str, Any], name: str, max_len: int, *, required: bool = True) -> str | None:
    value = raw.get(name)
    if value is not None and not isinstance(value, str):
        raise Invalid(f"{name} must be text.", field=name)
    text = validation.text(value, name, max_len=max_len, required=required)
    return text or None


def _json(value: Any, name: str, max_bytes: int) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(f"{name} must be an object.", field=name)
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except (TypeError, ValueError):
        raise Invalid(f"{name} must hold only JSON values.", field=name) from None
    if size > max_bytes:
        raise Invalid(f"{name} is {size} bytes; the limit is {max_bytes}.", field=name)
    return value


def _amount(value: Any) -> Decimal | None:
    if value is None:
        return None
    limits = "from 0 to 9,999,999,999,999,999.9999, at most 4 digits after the decimal point"
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise Invalid(f"amount must be a decimal number (like 125.40) {limits}.", field="amount")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise Invalid(
            f"amount '{value}' is not a decimal number; use a number (like 125.40) {limits}.",
            field="amount",
        ) from None
    if not amount.is_finite():
        raise Invalid(f"amount must be a finite decimal number {limits}.", field="amount")
    if amount < 0 or amount >= AMOUNT_MAX or amount != amount.quantize(Decimal("0.0001")):
        raise Invalid(f"amount is {value}; it must be {limits}.", field="amount")
    return amount


def _unknown(raw: Mapping[str, Any], allowed: frozenset[str], prefix: str = "") -> None:
    extra = sorted(str(k) for k in raw if k not in allowed)
    if extra:
        raise Invalid(
            f"unknown field(s) {', '.join(extra)}; allowed: {', '.join(sorted(allowed))}.",
            field=prefix + extra[0],
        )


def _rule_hit(raw: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise Invalid("each rule hit must be an object.", field=prefix.rstrip("."))
    try:
        _unknown(raw, RULE_HIT_FIELDS)
        return {
            "rule_id": _str(raw, "rule_id", 100),
            "name": _str(raw, "name", 200),
            "version": _str(raw, "version", 32) if raw.get("version") is not None else "1",
            "score_contribution": _number(
                raw.get("score_contribution"), "score_contribution", CONTRIBUTION_RANGE
            ),
            "matched_values": _json(raw.get("matched_values"), "matched_values", 8192),
        }
    except Invalid as e:
        raise Invalid(e.message, field=prefix + (e.field or "")) from None


def _signal(raw: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise Invalid("each signal must be an object.", field=prefix.rstrip("."))
    try:
        _unknown(raw, SIGNAL_FIELDS)
        value = raw.get("value")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise Invalid("value must be text, a number or a boolean.", field="value")
        if isinstance(value, str) and len(value) > 200:
            raise Invalid("value is longer than 200 characters.", field="value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            _number(value, "value", SIGNAL_NUMBER_RANGE)
        direction = raw.get("direction")
        if direction not in {d.value for d in SignalDirection}:
            raise Invalid("direction must be 'up' or 'down'.", field="direction")
        return {
            "signal": _str(raw, "signal", 100),
            "value": value,
            "contribution": _number(raw.get("contribution"), "contribution", CONTRIBUTION_RANGE),
            "direction": SignalDirection(direction),
        }
    except Invalid as e:
        raise Invalid(e.message, field=prefix + (e.field or "")) from None


def _list(raw: Mapping[str, Any], name: str, limit: int) -> list[Any]:
    value = raw.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(f"{name} must be a list.", field=name)
    if len(value) > limit:
        raise Invalid(f"{name} has {len(value)} entries; the limit is {limit}.", field=name)
    return value


def _parse_item(index: int, raw: Any) -> _Item:
    if not isinstance(raw, dict):
        raise Invalid("each alert must be an object.", field="")
    _unknown(raw, ITEM_FIELDS)
    priority = raw.get("priority")
    choices = ", ".join(p.value for p in AlertPriority)
    if priority is None or priority == "":
        raise Invalid(f"priority is required; choose one of {choices}.", field="priority")
    try:
        prio = AlertPriority(str(priority).strip().lower())
    except ValueError:
        raise Invalid(
            f"priority '{priority}' is unknown; use {choices}.", field="priority"
        ) from None
    currency = _str(raw, "currency", 3, required=False)
    if currency is not None:
        currency = currency.upper()
        if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
            raise Invalid(
                f"currency '{currency}' is not an ISO 4217 code (like EUR).", field="currency"
            )
    amount = _amount(raw.get("amount"))
    if amount is not None and currency is None:
        raise Invalid("currency is required with an amount.", field="currency")
    alert = {
        "external_id": _str(raw, "external_id", 100),
        "source": _str(raw, "source", 64),
        "title": _str(raw, "title", 300),
        "score": _number(raw.get("score"), "score", SCORE_RANGE),
        "priority": prio,
        "customer_ref": _str(raw, "customer_ref", 100, required=False),
        "account_ref": _str(raw, "account_ref", 100, required=False),
        "amount": amount,
        "currency": currency,
        "transaction": _json(raw.get("transaction"), "transaction", MAX_TRANSACTION_BYTES),
    }
    hits = [
        _rule_hit(h, f"rule_hits[{i}].")
        for i, h in enumerate(_list(raw, "rule_hits", MAX_RULE_HITS))
    ]
    signals = [
        _signal(s, f"signals[{i}].") for i, s in enumerate(_list(raw, "signals", MAX_SIGNALS))
    ]
    return _Item(index, alert, hits, signals)


async def ingest_alerts(principal: Principal, items: list[dict[str, Any]]) -> IngestResult:
    """Store up to 1,000 alerts. Idempotent on (organization, external_id): an alert that exists
    already is reported as unchanged. Invalid items are reported (index, field, message) while
    the valid ones are stored. One audit event per call, with the counts."""
    principal.require(Perm.ALERT_INGEST)
    if not isinstance(items, list):
        raise Invalid("input must be a list of alerts.", field="input")
    if not items:
        raise Invalid("input is empty; send at least one alert.", field="input")
    if len(items) > MAX_BATCH:
        raise Invalid(
            f"input has {len(items)} alerts; send at most {MAX_BATCH} per call "
            "(split the file into batches).",
            field="input",
        )
    result = IngestResult(batch_id=uuid.uuid4().hex)
    parsed: list[_Item] = []
    for index, raw in enumerate(items):
        try:
            parsed.append(_parse_item(index, raw))
        except Invalid as e:
            result.errors.append(ItemError(index, e.field or "", e.message))

    now = datetime.now(UTC)
    actor = principal.actor.actor
    async with in_transaction() as conn:
        wanted = [p.alert["external_id"] for p in parsed]
        known: dict[str, int] = {}
        if wanted:
            rows = (
                await scoped(Alert, principal)
                .filter(external_id__in=wanted)
                .using_db(conn)
                .values_list("external_id", "id")
            )
            known = {str(ext): int(pk) for ext, pk in rows}
        hits: list[RuleHit] = []
        signals: list[SignalContribution] = []
        events: list[AlertEvent] = []
        for item in parsed:
            ext = item.alert["external_id"]
            if ext in known:
                result.unchanged.append(IngestedItem(item.index, ext, known[ext]))
                continue
            alert = await Alert.create(
                org_id=principal.org_id,
                status=AlertStatus.NEW,
                created_at=now,
                updated_at=now,
                due_at=due_at(item.alert["priority"], now),
                using_db=conn,
                **item.alert,
            )
            known[ext] = alert.id
            result.created.append(IngestedItem(item.index, ext, alert.id))
            hits.extend(RuleHit(alert_id=alert.id, **h) for h in item.rule_hits)
            signals.extend(SignalContribution.of(alert_id=alert.id, **s) for s in item.signals)
            events.append(
                AlertEvent(
                    alert_id=alert.id,
                    org_id=principal.org_id,
                    action="ingest",
                    actor=actor,
                    from_status=None,
                    to_status=AlertStatus.NEW.value,
                    data={"batch_id": result.batch_id},
                    at=now,
                )
            )
        if hits:
            await RuleHit.bulk_create(hits, batch_size=500, using_db=conn)
        if signals:
            await SignalContribution.bulk_create(signals, batch_size=500, using_db=conn)
        if events:
            await AlertEvent.bulk_create(events, batch_size=500, using_db=conn)
        await record(
            principal, conn, "alert.ingest", "alert_batch", result.batch_id,
            new={"received": len(items), "created": len(result.created),
                 "unchanged": len(result.unchanged), "invalid": len(result.errors)},
        )  # fmt: skip
    return result
