"""Bulk triage: assign or close up to 100 selected alerts at once, all or nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from riskops.server.core.errors import (
    DomainError,
    ErrorCode,
    Invalid,
    ItemError,
)
from riskops.server.core.idempotency import (
    key_race,
    parse_idempotency_key,
    remember_key,
    used_idempotency_key,
)
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import parse_id, scoped
from riskops.server.core.versioning import FIELD, parse_version
from riskops.server.triage import workflow
from riskops.server.triage.alerts import MAX_BULK, NAMED, apply_action, lock_alert, member
from riskops.server.triage.models import (
    Alert,
    AlertStatus,
)
from riskops.server.triage.workflow import Action


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
    index, what is wrong (NOT_FOUND, CONFLICT with the current state, INVALID, ...), each
    message naming the alert by its external id; `external_ids` holds the external id of every
    item found (by index; another organization's alert is not found, so it has none)."""

    def __init__(
        self, message: str, errors: list[ItemError], external_ids: dict[int, str] | None = None
    ) -> None:
        super().__init__(message, field="items")
        self.errors = errors
        self.external_ids = external_ids or {}


MAX_NAMED = 10  # failing alerts named in the refusal's message; every one is in `errors`


def _bulk_items(items: Sequence[BulkItem]) -> list[tuple[int, int]]:
    """(alert pk, expected version) per item, in request order; malformed items are reported
    together, by index, before anything is read."""
    if not items:
        raise Invalid("Select at least one alert first.", field="items")
    if len(items) > MAX_BULK:
        raise Invalid(
            f"Select at most {MAX_BULK} alerts per bulk action ({len(items)} given); split the "
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
        try:
            version = parse_version(item.expected_version)
        except Invalid as exc:
            errors.append(ItemError(index, FIELD, exc.message, exc.code))
            continue
        if pk in seen:
            errors.append(ItemError(
                index, "alert_id", f"Alert {pk} is listed twice (items {seen[pk]} and {index})."
            ))  # fmt: skip
            continue
        seen[pk] = index
        parsed.append((pk, version))
    if errors:
        raise BulkFailed(_failed_message(errors, len(items)), errors)
    return parsed


def _failed_message(errors: list[ItemError], total: int) -> str:
    """ "1 of 2 alerts cannot be changed, so none was. EXT-9: <why>. Fix or remove ..." """
    named = " ".join(e.message for e in errors[:MAX_NAMED])
    if len(errors) > MAX_NAMED:
        named += f" And {len(errors) - MAX_NAMED} more."
    return (
        f"{len(errors)} of {total} alerts cannot be changed, so none was. {named} Fix or remove "
        "these alerts and send the request again."
    )


_VERB = {Action.ASSIGN: "assign it", Action.CLOSE: "close it"}


def _item_message(exc: DomainError, alert: Alert | None, action: Action) -> str:
    """Why one alert cannot be changed, naming it by its external id."""
    if alert is None:  # not found (or another organization's): the id as it was sent
        return exc.message
    name = f"Alert {alert.external_id}"
    if exc.code is ErrorCode.CONFLICT and "current_version" in exc.extra:
        return (
            f"{name} was changed by someone else meanwhile: it is now {alert.status.value} at "
            f"version {alert.version} (you had version {exc.extra.get('expected')}). "
            f"Reload and {_VERB.get(action, 'act on it')} again if that still applies."
        )
    return f"{name}: {exc.message}"


def _check_request(principal: Principal, action: Action, params: dict[str, Any]) -> None:
    """What the whole request gives (a disposition and comment, an assignee) is checked once,
    before any alert is read, by the workflow's own rule: a missing disposition is an error of
    that field, not one per alert."""
    status = min(workflow.ALLOWED_FROM[action])  # any status the action may start from
    workflow.transition(
        workflow.AlertState(status), action, principal.roles, params, actor_id=principal.user_id
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
    _check_request(principal, action, params)
    parsed = _bulk_items(items)
    digest = _bulk_digest(action, parsed)
    bulk_action = f"bulk_{action.value}"
    with key_race(key):
        return await _bulk_in_transaction(
            principal, action, params, parsed, key, digest, bulk_action
        )


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
            digest,
        ):
            rows = {a.id: a for a in await scoped(Alert, principal).filter(
                id__in=list(index_of)).using_db(conn)}  # fmt: skip
            return BulkResult([rows[pk] for pk, _ in parsed if pk in rows], replayed=True)
        if action is Action.ASSIGN:  # the assignee once, not once per alert
            assignee = workflow.transition(
                workflow.AlertState(AlertStatus.NEW), action, principal.roles, params,
                actor_id=principal.user_id,
            ).history["assignee_id"]  # fmt: skip
            await member(principal, conn, assignee, "assignee_id", *NAMED["assignee_id"])
        done: dict[int, Alert] = {}
        errors: list[ItemError] = []
        external_ids: dict[int, str] = {}
        # Locks are taken in id order, so two bulk actions over overlapping sets cannot deadlock.
        for pk, version in sorted(parsed):
            alert = None
            try:
                alert = await lock_alert(principal, conn, pk)
                external_ids[index_of[pk]] = alert.external_id
                await apply_action(principal, conn, alert, action, dict(params), version, now)
            except DomainError as exc:
                if exc.code is ErrorCode.CONFLICT:
                    exc.extra.setdefault("expected", version)
                message = _item_message(exc, alert, action)
                errors.append(ItemError(index_of[pk], exc.field or "alert_id", message, exc.code))
                continue
            done[pk] = alert
        if errors:
            errors.sort(key=lambda e: e.index)
            # Raising inside the transaction rolls back every item already applied.
            raise BulkFailed(_failed_message(errors, len(parsed)), errors, external_ids)
        if key is not None:
            await remember_key(
                principal, conn, key, bulk_action, digest, now,
                entity=_alerts_named([done[pk] for pk, _ in parsed]),
            )  # fmt: skip
    return BulkResult([done[pk] for pk, _ in parsed])


def _alerts_named(alerts: list[Alert]) -> str:
    """How a bulk key's alerts are named when it is misused: "2 alerts (EXT-1, EXT-2)"."""
    shown = ", ".join(a.external_id for a in alerts[:3])
    more = ", …" if len(alerts) > 3 else ""
    return f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''} ({shown}{more})"


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
