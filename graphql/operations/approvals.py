"""The approval trail over GraphQL (issue 14): requests that need a second person and their
decisions, with names; readable with audit.approvals (approvers, reviewers, admins)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from riskops.graphql.core.context import Info, principal, query
from riskops.graphql.core.pagination import PageInfo
from riskops.server.operations import approval_trail
from riskops.server.operations.approval_trail import TrailFilter
from riskops.server.operations.audit_log import encode_cursor


@strawberry.type
class ApprovalTrailEntry:
    seq: int
    ts: str = strawberry.field(description="RFC 3339 UTC, as in the audit chain.")
    kind: str = strawberry.field(
        description="case_resolution, rerun, quarantine, baseline, policy, view_promotion or "
        "gdpr_erasure."
    )
    kind_label: str
    action: str = strawberry.field(description="The audit event's action.")
    entity_type: str
    entity_id: str
    step: str = strawberry.field(description='"requested", or the decision ("approved", ...).')
    actor_name: str = strawberry.field(description="Who acted in this step, by name.")
    requested_by_name: str | None = strawberry.field(
        description="For a decision: who asked (null when no request is recorded)."
    )
    reason: str | None

    @classmethod
    def of(cls, e: approval_trail.TrailEntry) -> ApprovalTrailEntry:
        return cls(
            seq=e.seq, ts=e.ts, kind=e.kind, kind_label=e.kind_label, action=e.action,
            entity_type=e.entity_type, entity_id=e.entity_id, step=e.step, actor_name=e.actor,
            requested_by_name=e.requested_by, reason=e.reason,
        )  # fmt: skip


@strawberry.type
class ApprovalTrailEdge:
    cursor: str
    node: ApprovalTrailEntry


@strawberry.type
class ApprovalTrailConnection:
    edges: list[ApprovalTrailEdge]
    page_info: PageInfo


@strawberry.type
class ApprovalTrailQuery:
    @strawberry.field(
        description="Requests that need a second person and their decisions, newest first "
        "(keyset); audit.approvals."
    )
    async def approval_trail(
        self,
        info: Info,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> ApprovalTrailConnection:
        flt = TrailFilter(kind=kind, since=since, until=until)
        page = await query(
            approval_trail.list_trail(principal(info), flt, first=first, after=after)
        )
        return ApprovalTrailConnection(
            edges=[
                ApprovalTrailEdge(cursor=encode_cursor(e.seq), node=ApprovalTrailEntry.of(e))
                for e in page.entries
            ],
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor),
        )
