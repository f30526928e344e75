"""How services write audit events: `record` inside a change's transaction, `access` for reads."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from riskops.audit import store
from riskops.audit.types import Entry, RiskLevel
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
