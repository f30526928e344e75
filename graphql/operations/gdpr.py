"""GDPR requests over GraphQL: the list with deadlines (`gdprRequests`), the export of a subject
(the JSON document in the payload), and the maker-checker erasure (request, approve, reject).
Every resolver calls one service of `riskops.server.operations.gdpr`; expected errors are data
(`as_payload`)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from riskops.graphql.core.context import Info, principal, query
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.core.ids import as_id, as_opt_id
from riskops.server.operations import gdpr as svc
from riskops.server.operations import gdpr_models as gm

GdprKind = strawberry.enum(gm.GdprKind, name="GdprKind", description="export or erase.")
GdprStatus = strawberry.enum(
    gm.GdprStatus,
    name="GdprStatus",
    description="requested (an erasure waiting for a second person), approved (being erased), "
    "completed (exported or erased), rejected (with the reason).",
)
GdprSubjectKind = strawberry.enum(
    gm.SubjectKind, name="GdprSubjectKind", description="user (an e-mail) or customer (a ref)."
)


@strawberry.type(description="A GDPR request: an export or an erasure, with its deadline.")
class GdprRequest:
    id: strawberry.ID
    kind: GdprKind  # type: ignore[valid-type]
    subject_kind: GdprSubjectKind  # type: ignore[valid-type]
    subject: str = strawberry.field(
        description="The e-mail or customer ref; once erased, only the pseudonym."
    )
    status: GdprStatus  # type: ignore[valid-type]
    requested_by_id: strawberry.ID | None
    requested_at: datetime
    received_at: datetime
    due_at: datetime = strawberry.field(description="30 days after the request was received.")
    overdue: bool = strawberry.field(description="Still open past its deadline.")
    legal_review: bool
    legal_note: str
    approved_by_id: strawberry.ID | None = strawberry.field(
        description="Who approved or rejected an erasure."
    )
    decided_at: datetime | None
    reject_reason: str | None
    completed_at: datetime | None
    summary: JSON = strawberry.field(description="Counts of what was exported or erased, by kind.")

    @classmethod
    def of(cls, r: gm.GdprRequest) -> GdprRequest:
        return cls(
            id=as_id(r.id), kind=r.kind, subject_kind=r.subject_kind, subject=r.subject,
            status=r.status, requested_by_id=as_opt_id(r.requested_by_id),
            requested_at=r.requested_at, received_at=r.received_at, due_at=r.due_at,
            overdue=svc.is_overdue(r), legal_review=r.legal_review, legal_note=r.legal_note,
            approved_by_id=as_opt_id(r.approved_by_id), decided_at=r.decided_at,
            reject_reason=r.reject_reason, completed_at=r.completed_at,
            summary=cast(JSON, r.summary),
        )  # fmt: skip


@strawberry.type
class GdprRequestPayload:
    gdpr_request: GdprRequest | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class GdprExportPayload:
    gdpr_request: GdprRequest | None = None
    document: JSON | None = strawberry.field(
        default=None, description="Everything held about the subject, as one JSON document."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class GdprQuery:
    @strawberry.field(
        description="GDPR requests with their deadlines: open ones first, the nearest deadline "
        "first (gdpr.request or gdpr.approve)."
    )
    async def gdpr_requests(
        self,
        info: Info,
        status: GdprStatus | None = None,  # type: ignore[valid-type]
        overdue: bool = False,
        first: int = 50,
    ) -> list[GdprRequest]:
        rows = await query(
            svc.list_requests(
                principal(info), status=getattr(status, "value", None), overdue=overdue,
                first=first,
            )
        )  # fmt: skip
        return [GdprRequest.of(r) for r in rows]


def _request(r: gm.GdprRequest) -> GdprRequestPayload:
    return GdprRequestPayload(gdpr_request=GdprRequest.of(r))


def _export(e: svc.Export) -> GdprExportPayload:
    return GdprExportPayload(
        gdpr_request=GdprRequest.of(e.request), document=cast(JSON, e.document)
    )


@strawberry.type
class GdprMutation:
    @strawberry.mutation(
        description="Export everything held about a user (e-mail) or a customer (ref) as one "
        "JSON document; recorded as a completed GDPR request and audited (gdpr.request)."
    )
    async def export_gdpr_subject(
        self,
        info: Info,
        subject: str,
        legal_review: bool = False,
        legal_note: str | None = None,
        received_at: datetime | None = None,
    ) -> GdprExportPayload:
        return await as_payload(
            GdprExportPayload,
            svc.export_subject(
                principal(info), subject, legal_review=legal_review, legal_note=legal_note,
                received_at=received_at,
            ),
            _export,
        )  # fmt: skip

    @strawberry.mutation(
        description="Ask for the erasure of a user or a customer; another person approves it "
        "(gdpr.request)."
    )
    async def request_gdpr_erasure(
        self,
        info: Info,
        subject: str,
        legal_review: bool = False,
        legal_note: str | None = None,
        received_at: datetime | None = None,
    ) -> GdprRequestPayload:
        return await as_payload(
            GdprRequestPayload,
            svc.request_erasure(
                principal(info), subject, legal_review=legal_review, legal_note=legal_note,
                received_at=received_at,
            ),
            _request,
        )  # fmt: skip

    @strawberry.mutation(
        description="Approve another person's erasure request and perform it: the subject is "
        "pseudonymized everywhere (gdpr.approve, never your own request)."
    )
    async def approve_gdpr_erasure(
        self, info: Info, request_id: strawberry.ID
    ) -> GdprRequestPayload:
        return await as_payload(
            GdprRequestPayload, svc.approve_erasure(principal(info), request_id), _request
        )

    @strawberry.mutation(description="Reject an erasure request with the reason (gdpr.approve).")
    async def reject_gdpr_erasure(
        self, info: Info, request_id: strawberry.ID, reason: str
    ) -> GdprRequestPayload:
        return await as_payload(
            GdprRequestPayload, svc.reject_erasure(principal(info), request_id, reason), _request
        )
