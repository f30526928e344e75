"""The audit trail over GraphQL: filtered events and on-demand chain verification."""

from __future__ import annotations

import strawberry

from riskops.graphql.core.context import Info, principal, query
from riskops.graphql.core.pagination import PageInfo
from riskops.graphql.operations.types import (
    AuditEvent,
    AuditEventConnection,
    AuditEventEdge,
    AuditEventFilter,
    AuditVerification,
)
from riskops.server.identity import users
from riskops.server.operations import audit_log
from riskops.server.operations.audit_log import AuditFilter, encode_cursor


def _unset(v: object) -> object:
    return None if v is strawberry.UNSET else v


@strawberry.type
class AuditQuery:
    @strawberry.field(description="Audit events of your organization, newest first (keyset).")
    async def audit_events(
        self,
        info: Info,
        filter: AuditEventFilter | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> AuditEventConnection:
        f = filter or AuditEventFilter()
        flt = AuditFilter(
            actor=_unset(f.actor),  # type: ignore[arg-type]
            action=_unset(f.action),  # type: ignore[arg-type]
            entity_type=_unset(f.entity_type),  # type: ignore[arg-type]
            entity_id=_unset(f.entity_id),  # type: ignore[arg-type]
            since=_unset(f.since),  # type: ignore[arg-type]
            until=_unset(f.until),  # type: ignore[arg-type]
        )
        page = await query(audit_log.list_events(principal(info), flt, first=first, after=after))
        names = await users.actor_labels(principal(info).org_id, [e.actor for e in page.events])
        return AuditEventConnection(
            edges=[
                AuditEventEdge(cursor=encode_cursor(e.seq), node=AuditEvent.of(e, names))
                for e in page.events
            ],
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor),
        )

    @strawberry.field(description="Verify your organization's chain now (and its checkpoint).")
    async def audit_verification(self, info: Info) -> AuditVerification:
        result = await query(audit_log.verify_chain(principal(info), info.context.settings.key))
        return AuditVerification.of(result)
