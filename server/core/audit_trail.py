"""How services write audit events: `record` inside a change's transaction, `access` for reads,
`refused` for an attempt a permission check refused."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from riskops.audit import store
from riskops.audit.refusals import record_refusal
from riskops.audit.types import Entry, RiskLevel
from riskops.server.core.errors import Forbidden
from riskops.server.core.principal import Principal


async def record(
    principal: Principal,
    conn: BaseDBAsyncClient,
    action: str,
    entity_type: str,
    entity_id: str | int,
    *,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    risk: RiskLevel = RiskLevel.LOW,
) -> None:
    await store.append(
        principal.actor,
        Entry(action, entity_type, entity_id, old or {}, new or {}, risk),
        conn,
    )


async def access(
    principal: Principal,
    action: str,
    entity_type: str,
    entity_id: str | int,
    *,
    detail: dict[str, Any] | None = None,
    risk: RiskLevel = RiskLevel.LOW,
) -> None:
    """A data-access event (viewing, exporting): stored, or spooled if the store is down."""
    await store.emit(principal.actor, Entry(action, entity_type, entity_id, {}, detail or {}, risk))


async def refused(principal: Principal, operation: str, exc: Forbidden) -> None:
    """A refused attempt at `operation` ("mutation assignAlert", "POST /alerts/{alert_id}/assign"):
    audited with the missing permission, one event per principal, operation and minute with a
    count (`riskops.audit.refusals`). Called by the faces, after the action's transaction rolled
    back; it writes in a transaction of its own and never raises."""
    await record_refusal(
        principal.actor, operation, exc.permission, maker_checker=exc.maker_checker
    )
