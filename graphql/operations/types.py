"""GraphQL types of the audit trail: events, their filter and connection, and a chain's
verification."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from riskops.audit.models import AuditEvent as AuditEventModel
from riskops.audit.verify import Verification
from riskops.graphql.core.pagination import PageInfo


@strawberry.type
class AuditEvent:
    seq: int
    ts: str = strawberry.field(description="RFC 3339 UTC with microseconds, as hashed.")
    actor: str = strawberry.field(description="The reference (user:N, token:N, cli, ...).")
    actor_name: str = strawberry.field(
        description='Who, as people read it: a name, "deleted user" or "system".'
    )
    actor_type: str
    action: str
    entity_type: str
    entity_id: str
    ip: str | None
    user_agent: str | None
    risk_level: str
    old_values: JSON
    new_values: JSON
    request_id: str | None
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, e: AuditEventModel, names: dict[str, str]) -> AuditEvent:
        old: Any = json.loads(e.old_values)
        new: Any = json.loads(e.new_values)
        return cls(
            seq=e.seq, ts=e.ts, actor=e.actor, actor_name=names.get(e.actor, "system"),
            actor_type=e.actor_type, action=e.action,
            entity_type=e.entity_type, entity_id=e.entity_id, ip=e.ip, user_agent=e.user_agent,
            risk_level=e.risk_level, old_values=old, new_values=new, request_id=e.request_id,
            prev_hash=e.prev_hash, hash=e.hash,
        )  # fmt: skip


@strawberry.type
class AuditEventEdge:
    cursor: str
    node: AuditEvent


@strawberry.type
class AuditEventConnection:
    edges: list[AuditEventEdge]
    page_info: PageInfo


@strawberry.input
class AuditEventFilter:
    actor: str | None = strawberry.UNSET
    action: str | None = strawberry.UNSET
    entity_type: str | None = strawberry.UNSET
    entity_id: str | None = strawberry.UNSET
    since: datetime | None = strawberry.UNSET
    until: datetime | None = strawberry.UNSET


@strawberry.type
class AuditVerification:
    ok: bool
    events_checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    reason: str | None
    checkpoint_seq: int | None
    summary: str

    @classmethod
    def of(cls, v: Verification) -> AuditVerification:
        return cls(
            ok=v.ok, events_checked=v.events_checked, head_seq=v.head_seq, head_hash=v.head_hash,
            first_bad_seq=v.first_bad_seq, reason=v.reason, checkpoint_seq=v.checkpoint_seq,
            summary=v.describe(),
        )  # fmt: skip
