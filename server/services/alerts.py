"""Alerts: ingest from detection systems and the workflow actions of triage.

Every action: authorize → load scoped (another organization's id is NotFound) → idempotency
(the same key again replays; the key used for another action or alert is Duplicate) → expected
version (stale is Conflict carrying the current status and version) → `workflow.transition` →
one transaction { alert, history row, audit event, idempotency key }.

The idempotency check comes before the version check on purpose: a client retrying a request
that did succeed holds the old version, and must get the same result, not a conflict.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server import workflow
from riskops.server.errors import Conflict, DomainError, Duplicate, ErrorCode, Invalid
from riskops.server.models import (
    Alert,
    AlertEvent,
    AlertPriority,
    AlertStatus,
    IdempotencyKey,
    InfoRequest,
    RuleHit,
    SignalContribution,
    SignalDirection,
    Team,
    User,
    UserStatus,
)
from riskops.server.permissions import Perm, permissions_of
from riskops.server.principal import Principal
from riskops.server.services import validation
from riskops.server.services.audit_trail import record
from riskops.server.services.scoping import lock_scoped, parse_id, scoped
from riskops.server.workflow import Action

MAX_BATCH = 1000
MAX_RULE_HITS = 100
MAX_SIGNALS = 100
MAX_TRANSACTION_BYTES = 16_384
MAX_IDEMPOTENCY_KEY = 100
MAX_BULK = 100

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
RULE_HIT_FIELDS = frozenset({"rule_id", "name", "version", "score_contribution", "matched_values"})
SIGNAL_FIELDS = frozenset({"signal", "value", "contribution", "direction"})


def due_at(priority: AlertPriority, created_at: datetime) -> datetime:
    return created_at + SLA[priority]


# --- ingest ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemError:
    index: int
    field: str
    message: str
    code: ErrorCode = ErrorCode.INVALID


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


def _number(value: Any, name: str, *, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{name} must be a number.", field=name)
    number = float(value)
    if not math.isfinite(number):
        raise Invalid(f"{name} must be a finite number.", field=name)
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise Invalid(f"{name} is {value}; it must be between {lo:g} and {hi:g}.", field=name)
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
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid("amount must be a decimal number (like 125.40).", field="amount")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise Invalid(f"amount '{value}' is not a decimal number.", field="amount") from None
    if not amount.is_finite() or amount < 0:
        raise Invalid(f"amount {value} must be zero or positive.", field="amount")
    if amount >= Decimal(10) ** 16 or amount != amount.quantize(Decimal("0.0001")):
        raise Invalid(
            f"amount {value}: at most 16 digits before and 4 after the decimal point.",
            field="amount",
        )
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
            "score_contribution": _number(raw.get("score_contribution"), "score_contribution"),
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
        if isinstance(value, float) and not math.isfinite(value):
            raise Invalid("value must be a finite number.", field="value")
        direction = raw.get("direction")
        if direction not in {d.value for d in SignalDirection}:
            raise Invalid("direction must be 'up' or 'down'.", field="direction")
        return {
            "signal": _str(raw, "signal", 100),
            "value": value,
            "contribution": _number(raw.get("contribution"), "contribution"),
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
        "score": _number(raw.get("score"), "score", lo=0, hi=100),
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
            signals.extend(SignalContribution(alert_id=alert.id, **s) for s in item.signals)
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


# --- workflow actions --------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertActionResult:
    alert: Alert
    replayed: bool = False  # True when an idempotency key repeated an earlier, identical request


def parse_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    return validation.text(value, "idempotency_key", max_len=MAX_IDEMPOTENCY_KEY)


async def used_idempotency_key(
    principal: Principal,
    conn: BaseDBAsyncClient,
    key: str,
    action: str,
    kind: str,
    entity_id: int | str | None,
) -> IdempotencyKey | None:
    """The earlier use of `key` for this very request (replay it), None if unused; Duplicate when
    it was used for another action or entity. `entity_id` None: any entity matches (creates)."""
    used = await IdempotencyKey.filter(org_id=principal.org_id, key=key).using_db(conn).first()
    if used is None:
        return None
    if used.action == action and (entity_id is None or used.entity_id == str(entity_id)):
        return used
    raise Duplicate(
        f"Idempotency key '{key}' was already used for another request "
        f"({used.action} on {kind} {used.entity_id}); use a new key for a new request.",
        field="idempotency_key",
    )


def key_in_flight(key: str) -> Conflict:
    """A concurrent request with the same key won the race; its result stands."""
    return Conflict(
        f"A request with idempotency key '{key}' is being processed; retry it to get its result.",
        field="idempotency_key",
    )


async def member(
    principal: Principal, conn: BaseDBAsyncClient, user_id: int, name: str, perm: Perm, what: str
) -> User:
    user = (
        await scoped(User, principal)
        .filter(id=user_id, status=UserStatus.ACTIVE, deleted_at=None)
        .using_db(conn)
        .first()
    )
    if user is None:
        raise Invalid(
            f"{name}: there is no active user {user_id} in your organization.", field=name
        )
    if perm not in permissions_of(user.roles):
        raise Invalid(f"{name}: user {user_id} is not {what}.", field=name)
    return user


async def _check_references(
    principal: Principal, conn: BaseDBAsyncClient, outcome: workflow.Outcome
) -> None:
    data = outcome.history
    if outcome.action is Action.ASSIGN:
        await member(
            principal, conn, data["assignee_id"], "assignee_id", Perm.ALERT_READ,
            "allowed to read alerts",
        )  # fmt: skip
    elif outcome.action is Action.ESCALATE and "approver_id" in data:
        await member(
            principal, conn, data["approver_id"], "approver_id", Perm.ALERT_REOPEN, "an approver"
        )
    elif outcome.action is Action.ESCALATE:
        if not await scoped(Team, principal).filter(id=data["team_id"]).using_db(conn).exists():
            raise Invalid(
                f"team_id: there is no team {data['team_id']} in your organization.",
                field="team_id",
            )
    elif outcome.action is Action.REQUEST_INFO:
        await member(
            principal, conn, data["answerer_id"], "answerer_id", Perm.ALERT_READ,
            "allowed to read alerts",
        )  # fmt: skip


_WRITTEN = ("status", "assignee_id", "team_id", "disposition", "closed_at", "updated_at", "version")

# Free text (comments, questions, answers, reasons) stays in the alert's history, which can be
# redacted; the audit chain, which cannot, gets only structured values.
_FREE_TEXT = frozenset({"comment", "question", "answer", "reason"})


async def _act(
    principal: Principal,
    alert_id: str | int,
    action: Action,
    params: dict[str, Any],
    *,
    expected_version: int,
    idempotency_key: str | None,
) -> AlertActionResult:
    if action is Action.ANSWER_INFO:
        principal.require(Perm.ALERT_READ)  # the person asked answers; the machine checks who
    else:
        workflow.authorize(action, principal.roles)
    key = parse_idempotency_key(idempotency_key)
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise Invalid("expected_version must be the version you loaded.", field="expected_version")
    pk = parse_id("Alert", alert_id)
    try:
        return await _act_in_transaction(principal, pk, action, params, expected_version, key)
    except IntegrityError:
        if key is None:
            raise
        raise key_in_flight(key) from None


async def _act_in_transaction(
    principal: Principal,
    pk: int,
    action: Action,
    params: dict[str, Any],
    expected_version: int,
    key: str | None,
) -> AlertActionResult:
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        alert = await _locked(principal, conn, pk)
        if key is not None and await used_idempotency_key(
            principal, conn, key, action.value, "alert", alert.id
        ):
            return AlertActionResult(alert, replayed=True)
        await _apply(principal, conn, alert, action, params, expected_version, now)
        if key is not None:
            await IdempotencyKey.create(
                org_id=principal.org_id,
                key=key,
                action=action.value,
                entity_id=str(alert.id),
                created_at=now,
                using_db=conn,
            )
    return AlertActionResult(alert)


async def _locked(principal: Principal, conn: BaseDBAsyncClient, pk: int) -> Alert:
    return await lock_scoped(Alert, principal, conn, pk, "Alert")


async def _apply(
    principal: Principal,
    conn: BaseDBAsyncClient,
    alert: Alert,
    action: Action,
    params: dict[str, Any],
    expected_version: int,
    now: datetime,
) -> None:
    """One action on a locked alert: version check, transition, alert row, history, audit."""
    if alert.version != expected_version:
        raise Conflict(
            f"Alert {alert.id} was changed by someone else: it is now {alert.status.value} "
            f"at version {alert.version} (you had version {expected_version}). Reload it and "
            "decide again.",
            field="expected_version",
            current_status=alert.status.value,
            current_version=alert.version,
            current_assignee_id=alert.assignee_id,
        )
    open_request = None
    if alert.status is AlertStatus.PENDING_INFO:
        open_request = (
            await InfoRequest.filter(alert_id=alert.id, answered_at=None)
            .using_db(conn)
            .order_by("-asked_at", "-id")
            .first()
        )
    state = workflow.AlertState(
        alert.status,
        assignee_id=alert.assignee_id,
        info_answerer_id=open_request.answerer_id if open_request else None,
    )
    outcome = workflow.transition(
        state, action, principal.roles, params, actor_id=principal.user_id
    )
    await _check_references(principal, conn, outcome)

    old = {"status": alert.status.value, "version": alert.version}
    alert.status = outcome.new_status
    for name, value in outcome.changes.items():
        setattr(alert, name, value)
    if outcome.new_status is AlertStatus.CLOSED:
        alert.closed_at = now
    elif outcome.from_status is AlertStatus.CLOSED:
        alert.closed_at = None
    alert.updated_at = now
    alert.version += 1
    # Guarded by the version too: no lost update even where SELECT FOR UPDATE is a no-op.
    updated = (
        await Alert.filter(id=alert.id, version=expected_version)
        .using_db(conn)
        .update(**{name: getattr(alert, name) for name in _WRITTEN})
    )
    if updated != 1:
        raise Conflict(
            f"Alert {alert.id} was changed by someone else while you acted; reload it.",
            field="expected_version",
        )

    if action is Action.REQUEST_INFO:
        await InfoRequest.create(
            alert_id=alert.id,
            question=outcome.history["question"],
            asked_by_id=principal.user_id,
            answerer_id=outcome.history["answerer_id"],
            asked_at=now,
            using_db=conn,
        )
    elif action is Action.ANSWER_INFO and open_request is not None:
        open_request.answer = outcome.history["answer"]
        open_request.answered_at = now
        await open_request.save(using_db=conn, update_fields=["answer", "answered_at"])

    await AlertEvent.create(
        alert_id=alert.id,
        org_id=principal.org_id,
        action=action.value,
        actor=principal.actor.actor,
        from_status=outcome.from_status.value,
        to_status=outcome.new_status.value,
        data=outcome.history,
        at=now,
        using_db=conn,
    )
    new = {k: v for k, v in outcome.history.items() if k not in _FREE_TEXT}
    await record(
        principal, conn, f"alert.{action.value}", "alert", alert.id,
        old=old, new={"status": alert.status.value, "version": alert.version, **new},
        risk=RiskLevel.MEDIUM if action is Action.REOPEN else RiskLevel.LOW,
    )  # fmt: skip


async def assign_alert(
    principal: Principal,
    alert_id: str | int,
    *,
    assignee_id: int | str,
    expected_version: int,
    idempotency_key: str | None = None,
) -> AlertActionResult:
    return await _act(
        principal, alert_id, Action.ASSIGN, {"assignee_id": assignee_id},
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip


async def escalate_alert(
    principal: Principal,
    alert_id: str | int,
    *,
    reason: str,
    team_id: int | str | None = None,
    approver_id: int | str | None = None,
    expected_version: int,
    idempotency_key: str | None = None,
) -> AlertActionResult:
    return await _act(
        principal, alert_id, Action.ESCALATE,
        {"reason": reason, "team_id": team_id, "approver_id": approver_id},
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip


async def request_alert_info(
    principal: Principal,
    alert_id: str | int,
    *,
    question: str,
    answerer_id: int | str,
    expected_version: int,
    idempotency_key: str | None = None,
) -> AlertActionResult:
    return await _act(
        principal, alert_id, Action.REQUEST_INFO,
        {"question": question, "answerer_id": answerer_id},
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip


async def answer_alert_info(
    principal: Principal,
    alert_id: str | int,
    *,
    answer: str,
    expected_version: int,
    idempotency_key: str | None = None,
) -> AlertActionResult:
    return await _act(
        principal, alert_id, Action.ANSWER_INFO, {"answer": answer},
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip


async def close_alert(
    principal: Principal,
    alert_id: str | int,
    *,
    disposition: str,
    comment: str,
    expected_version: int,
    idempotency_key: str | None = None,
) -> AlertActionResult:
    return await _act(
        principal, alert_id, Action.CLOSE, {"disposition": disposition, "comment": comment},
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip


async def reopen_alert(
    principal: Principal,
    alert_id: str | int,
    *,
    reason: str,
    expected_version: int,
    idempotency_key: str | None = None,
) -> AlertActionResult:
    return await _act(
        principal, alert_id, Action.REOPEN, {"reason": reason},
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip


# --- bulk actions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkItem:
    alert_id: str | int
    expected_version: int


@dataclass(frozen=True)
class BulkResult:
    alerts: list[Alert]  # in the order of the request
    replayed: bool = False


class BulkFailed(Invalid):
    """At least one item of a bulk action failed: nothing was changed. `errors` says, per item
    index, what is wrong (NOT_FOUND, CONFLICT with the current state, INVALID, ...)."""

    def __init__(self, message: str, errors: list[ItemError]) -> None:
        super().__init__(message, field="items")
        self.errors = errors


def _bulk_items(items: Sequence[BulkItem]) -> list[tuple[int, int]]:
    """(alert pk, expected version) per item, in request order; malformed items are reported
    together, by index, before anything is read."""
    if not items:
        raise Invalid("items: give at least one alert.", field="items")
    if len(items) > MAX_BULK:
        raise Invalid(
            f"items: at most {MAX_BULK} alerts per bulk action ({len(items)} given); split the "
            "selection.",
            field="items",
        )
    parsed: list[tuple[int, int]] = []
    errors: list[ItemError] = []
    seen: dict[int, int] = {}
    for index, item in enumerate(items):
        try:
            pk = parse_id("Alert", item.alert_id)
        except DomainError as exc:
            errors.append(ItemError(index, "alert_id", exc.message, exc.code))
            continue
        version = item.expected_version
        if isinstance(version, bool) or not isinstance(version, int):
            errors.append(ItemError(
                index, "expected_version", "expected_version must be the version you loaded."
            ))  # fmt: skip
            continue
        if pk in seen:
            errors.append(ItemError(
                index, "alert_id", f"Alert {pk} is listed twice (items {seen[pk]} and {index})."
            ))  # fmt: skip
            continue
        seen[pk] = index
        parsed.append((pk, version))
    if errors:
        raise BulkFailed(_failed_message(len(errors), len(items)), errors)
    return parsed


def _failed_message(failed: int, total: int) -> str:
    return (
        f"{failed} of {total} alerts cannot be changed, so none was: fix or remove the items "
        "listed and send the request again."
    )


def _bulk_digest(action: Action, parsed: list[tuple[int, int]]) -> str:
    """What an idempotency key is bound to for a bulk action: the action and the alert set."""
    ids = ",".join(str(pk) for pk in sorted(pk for pk, _ in parsed))
    return hashlib.sha256(f"{action.value}:{ids}".encode()).hexdigest()[:64]


async def _bulk(
    principal: Principal,
    action: Action,
    params: dict[str, Any],
    items: Sequence[BulkItem],
    idempotency_key: str | None,
) -> BulkResult:
    workflow.authorize(action, principal.roles)
    key = parse_idempotency_key(idempotency_key)
    parsed = _bulk_items(items)
    digest = _bulk_digest(action, parsed)
    bulk_action = f"bulk_{action.value}"
    try:
        return await _bulk_in_transaction(
            principal, action, params, parsed, key, digest, bulk_action
        )
    except IntegrityError:
        if key is None:
            raise
        raise key_in_flight(key) from None


async def _bulk_in_transaction(
    principal: Principal,
    action: Action,
    params: dict[str, Any],
    parsed: list[tuple[int, int]],
    key: str | None,
    digest: str,
    bulk_action: str,
) -> BulkResult:
    now = datetime.now(UTC)
    index_of = {pk: index for index, (pk, _) in enumerate(parsed)}
    async with in_transaction() as conn:
        if key is not None and await used_idempotency_key(
            principal,
            conn,
            key,
            bulk_action,
            "alerts",
            digest,
        ):
            rows = {a.id: a for a in await scoped(Alert, principal).filter(
                id__in=list(index_of)).using_db(conn)}  # fmt: skip
            return BulkResult([rows[pk] for pk, _ in parsed if pk in rows], replayed=True)
        done: dict[int, Alert] = {}
        errors: list[ItemError] = []
        # Locks are taken in id order, so two bulk actions over overlapping sets cannot deadlock.
        for pk, version in sorted(parsed):
            try:
                alert = await _locked(principal, conn, pk)
                await _apply(principal, conn, alert, action, dict(params), version, now)
            except DomainError as exc:
                errors.append(
                    ItemError(index_of[pk], exc.field or "alert_id", exc.message, exc.code)
                )
                continue
            done[pk] = alert
        if errors:
            errors.sort(key=lambda e: e.index)
            # Raising inside the transaction rolls back every item already applied.
            raise BulkFailed(_failed_message(len(errors), len(parsed)), errors)
        if key is not None:
            await IdempotencyKey.create(
                org_id=principal.org_id,
                key=key,
                action=bulk_action,
                entity_id=digest,
                created_at=now,
                using_db=conn,
            )
    return BulkResult([done[pk] for pk, _ in parsed])


async def bulk_assign_alerts(
    principal: Principal,
    items: Sequence[BulkItem],
    *,
    assignee_id: int | str,
    idempotency_key: str | None = None,
) -> BulkResult:
    """Assign up to MAX_BULK alerts to one person: all of them or, if any item fails, none."""
    return await _bulk(principal, Action.ASSIGN, {"assignee_id": assignee_id}, items,
                       idempotency_key)  # fmt: skip


async def bulk_close_alerts(
    principal: Principal,
    items: Sequence[BulkItem],
    *,
    disposition: str,
    comment: str,
    idempotency_key: str | None = None,
) -> BulkResult:
    """Close up to MAX_BULK alerts with one disposition and comment: all of them or none."""
    return await _bulk(
        principal, Action.CLOSE, {"disposition": disposition, "comment": comment}, items,
        idempotency_key,
    )  # fmt: skip
