"""View promotion on GraphQL: the requests (with the snapshot and the change in words, what the
validation found, the reviews, and what the caller may do), the published versions of a
standard view, and the three changes (request, withdraw, review). Every resolver calls one
service of `riskops.server.views.promotion`; expected errors are data (`as_payload`), and a
stale expectedVersion answers CONFLICT with the request as it is now."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from riskops.graphql.core.context import Info, or_none, principal, query
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.core.ids import as_id
from riskops.graphql.core.inputs import value_of
from riskops.graphql.identity.types import UserRef
from riskops.graphql.views.types import View, ViewDefinition, view_nodes
from riskops.server.core.errors import DomainError
from riskops.server.core.principal import Principal
from riskops.server.identity import users
from riskops.server.triage.queue import COUNT_CAP
from riskops.server.views import definitions, promotion_reads
from riskops.server.views import models as vm
from riskops.server.views import promotion as svc
from riskops.server.views import promotion_rules as rules
from riskops.server.views.promotion import PromotionResult
from riskops.server.views.promotion_reads import RequestDetail

ViewPromotionStatus = strawberry.enum(
    vm.PromotionStatus,
    name="ViewPromotionStatus",
    description="validating (the job checks it), invalid (see problems), pending_review (waits "
    "for a compliance and a product review), approved (being published), published, declined, "
    "withdrawn.",
)


@strawberry.enum(name="ViewReviewRole", description="The reviewer role a review is made in.")
class ViewReviewRole(Enum):
    # Named as the roles are (compliance_reviewer, product_reviewer), not as the model's members.
    COMPLIANCE_REVIEWER = vm.ReviewRole.COMPLIANCE.value
    PRODUCT_REVIEWER = vm.ReviewRole.PRODUCT.value


ViewReviewDecision = strawberry.enum(vm.ReviewDecision, name="ViewReviewDecision")


@strawberry.type(description="One part of a definition that a promotion changes, in words.")
class ViewChange:
    part: str = strawberry.field(description="Status, Sort, Columns, …")
    before: str = strawberry.field(description="Empty when the part is new.")
    after: str = strawberry.field(description="Empty when the part is removed.")
    words: str


@strawberry.type(description="A reviewer's decision on a promotion request.")
class ViewPromotionReview:
    reviewer: UserRef
    role: ViewReviewRole
    decision: ViewReviewDecision  # type: ignore[valid-type]
    note: str
    at: datetime


@strawberry.type(description="A request to make a view (a standard view: its draft) standard.")
class ViewPromotionRequest:
    id: strawberry.ID
    status: ViewPromotionStatus  # type: ignore[valid-type]
    version: int = strawberry.field(description="Pass as expectedVersion to review or withdraw.")
    rationale: str
    requested_by: UserRef
    view: View | None = strawberry.field(description="The view as it is now.")
    name: str = strawberry.field(description="The name the request gives the view.")
    description: str
    proposed: ViewDefinition = strawberry.field(description="The snapshot under review.")
    current: ViewDefinition | None = strawberry.field(
        description="The standard version the request started from (null: a first promotion)."
    )
    base_number: int | None
    changes: list[ViewChange] = strawberry.field(
        description="What changes from the current standard version, in words."
    )
    rows_selected: int | None = strawberry.field(
        description="Rows the snapshot selected when validated, counted up to rowsCap "
        '("me" counted as the requester).'
    )
    rows_cap: int = strawberry.field(description="A count equal to this means at least this.")
    took_ms: int | None = strawberry.field(description="How long the validation query took.")
    problems: list[str] = strawberry.field(
        description="What the validation found that keeps it from being standard, in words."
    )
    job_error: str | None = strawberry.field(
        description="The last failure of a promotion job (it is retried)."
    )
    job_attempts: int
    reviews: list[ViewPromotionReview]
    decline_reason: str | None
    published_number: int | None
    review_roles: list[ViewReviewRole] = strawberry.field(
        description="The reviewer roles you may review it as now (empty: none)."
    )
    can_withdraw: bool = strawberry.field(description="You asked for it and it is still open.")
    own: bool = strawberry.field(description="You made it: another person must review it.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, d: RequestDetail, view: View | None) -> ViewPromotionRequest:
        r, names = d.request, d.names
        snap: dict[str, Any] = r.snapshot if isinstance(r.snapshot, dict) else {}
        return cls(
            id=as_id(r.id), status=r.status, version=r.version, rationale=r.rationale,
            requested_by=_ref(names, r.requested_by_id), view=view,
            name=str(snap.get("name", d.view.name)),
            description=str(snap.get("description", "")),
            proposed=ViewDefinition.of(d.proposed, d.proposed_lines),
            current=ViewDefinition.of(d.current, d.current_lines) if d.current else None,
            base_number=r.base_number,
            changes=[ViewChange(part=c.part, before=c.before, after=c.after, words=c.words)
                     for c in d.changes],
            rows_selected=r.rows_selected, rows_cap=COUNT_CAP, took_ms=r.took_ms,
            problems=list(r.problems or []), job_error=r.job_error, job_attempts=r.job_attempts,
            reviews=[
                ViewPromotionReview(reviewer=_ref(names, x.reviewer_id),
                                    role=ViewReviewRole(x.role.value),
                                    decision=x.decision, note=x.note, at=x.at)
                for x in d.reviews
            ],
            decline_reason=r.decline_reason, published_number=r.published_number,
            review_roles=[ViewReviewRole(role.value) for role in d.review_roles],
            can_withdraw=d.can_withdraw, own=d.own,
            created_at=r.created_at, updated_at=r.updated_at,
        )  # fmt: skip


def _ref(names: dict[str, str], user_id: int | None) -> UserRef:
    return UserRef(id=as_id(user_id or 0), name=names.get(f"user:{user_id}", users.DELETED))


@strawberry.type(description="Who approved a published standard version, in which role.")
class ViewApproval:
    reviewer: UserRef
    role: str
    decision: str
    note: str
    at: str = strawberry.field(description="ISO 8601, UTC.")


@strawberry.type(description="One published standard version of a view (kept for its history).")
class ViewVersion:
    number: int
    name: str
    description: str
    definition: ViewDefinition
    request_id: strawberry.ID | None
    requested_by: UserRef | None
    approvals: list[ViewApproval]
    published_at: datetime


async def request_nodes(
    p: Principal, details: Sequence[RequestDetail]
) -> list[ViewPromotionRequest]:
    views = await view_nodes(p, [d.view for d in details])
    return [ViewPromotionRequest.of(d, v) for d, v in zip(details, views, strict=True)]


async def _node(p: Principal, request_id: int | str) -> ViewPromotionRequest:
    return (await request_nodes(p, [await promotion_reads.get_request(p, request_id)]))[0]


async def version_nodes(
    p: Principal, view_id: str, rows: Sequence[vm.ViewVersion]
) -> list[ViewVersion]:
    view = await promotion_reads.history_view(p, view_id)
    # (the model declares no `request_id`/`requested_by_id` attributes for its foreign keys)
    rows_: list[Any] = list(rows)
    names = await users.names_of(p, [r.requested_by_id for r in rows_])
    out = []
    for r in rows_:
        defn = rules.read_definition(view, r.definition) or definitions.parse(view.queue, {})
        mentioned = await rules.names_for(p.org_id, [defn])
        out.append(
            ViewVersion(
                number=r.number, name=r.name, description=r.description,
                definition=ViewDefinition.of(defn, definitions.describe(defn, mentioned)),
                request_id=as_id(r.request_id) if r.request_id else None,
                requested_by=(
                    UserRef(id=as_id(r.requested_by_id),
                            name=names.get(r.requested_by_id, users.DELETED))
                    if r.requested_by_id else None
                ),
                approvals=[
                    ViewApproval(
                        reviewer=UserRef(id=as_id(a.get("reviewer_id") or 0),
                                         name=str(a.get("reviewer", users.DELETED))),
                        role=str(a.get("role", "")), decision=str(a.get("decision", "approve")),
                        note=str(a.get("note", "")), at=str(a.get("at", "")),
                    )
                    for a in (r.approvals or [])
                ],
                published_at=r.published_at,
            )
        )  # fmt: skip
    return out


@strawberry.type
class ViewPromotionQuery:
    @strawberry.field(
        description="Promotion requests you may see (yours, those of views you may see; a "
        "reviewer: all of the organization), newest first, at most 200."
    )
    async def view_promotion_requests(
        self,
        info: Info,
        status: list[ViewPromotionStatus] | None = None,  # type: ignore[valid-type]
        mine: Annotated[bool, strawberry.argument(description="Only the ones you made.")] = False,
        view_id: strawberry.ID | None = None,
    ) -> list[ViewPromotionRequest]:
        p = principal(info)
        rows = await query(
            promotion_reads.list_requests(
                p, status=[vm.PromotionStatus(str(value_of(s))) for s in status or []], mine=mine,
                view_id=str(view_id) if view_id is not None else None,
            )
        )  # fmt: skip
        details = [await promotion_reads.get_request(p, r.id) for r in rows]
        return await request_nodes(p, details)

    @strawberry.field(
        description="One promotion request with its change in words and what you may do; null "
        "when it does not exist or is not visible to you."
    )
    async def view_promotion_request(
        self, info: Info, id: strawberry.ID
    ) -> ViewPromotionRequest | None:
        p = principal(info)
        detail = await or_none(promotion_reads.get_request(p, str(id)))
        return (await request_nodes(p, [detail]))[0] if detail is not None else None

    @strawberry.field(description="The published standard versions of a view, newest first.")
    async def view_versions(self, info: Info, view_id: strawberry.ID) -> list[ViewVersion]:
        p = principal(info)
        rows = await query(promotion_reads.history(p, str(view_id)))
        return await version_nodes(p, str(view_id), rows)


@strawberry.type
class ViewPromotionPayload:
    request: ViewPromotionRequest | None = strawberry.field(
        default=None, description="The request; on CONFLICT, its current state."
    )
    replayed: bool = strawberry.field(
        default=False, description="True when the idempotency key repeated an earlier request."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _payload(
    p: Principal, request_id: strawberry.ID | None, change: Awaitable[PromotionResult]
) -> ViewPromotionPayload:
    async def done(result: PromotionResult) -> ViewPromotionPayload:
        return ViewPromotionPayload(
            request=await _node(p, result.request.id), replayed=result.replayed
        )

    async def current(errors: list[UserError]) -> ViewPromotionPayload:
        node = None
        if request_id is not None:
            try:
                node = await _node(p, str(request_id))
            except DomainError:
                node = None
        return ViewPromotionPayload(request=node, errors=errors)

    return await as_payload(ViewPromotionPayload, change, done, conflict=current)


@strawberry.type
class ViewPromotionMutation:
    @strawberry.mutation(
        description="Ask for your view (a standard view: its draft) to become standard, with "
        "a rationale (1 to 2000 characters). A job validates it, then a compliance reviewer "
        "and a product reviewer must both approve. One open request per view. Needs the view's "
        "expectedVersion; an idempotencyKey makes a retry replay the first result."
    )
    async def request_view_promotion(
        self,
        info: Info,
        view_id: strawberry.ID,
        rationale: str,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> ViewPromotionPayload:
        p = principal(info)
        return await _payload(
            p, None,
            svc.request_promotion(
                p, str(view_id), rationale=rationale, expected_version=expected_version,
                idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(
        description="Withdraw your promotion request while it is open (until both approvals "
        "are in). Needs the request's expectedVersion."
    )
    async def withdraw_view_promotion(
        self, info: Info, request_id: strawberry.ID, expected_version: int
    ) -> ViewPromotionPayload:
        p = principal(info)
        return await _payload(
            p, request_id,
            svc.withdraw_promotion(p, str(request_id), expected_version=expected_version),
        )  # fmt: skip

    @strawberry.mutation(
        description="Approve or decline a promotion request waiting for review, as a "
        "compliance or product reviewer (holding both roles: say which in `role`; one person "
        "reviews a request once). Nobody reviews their own request. Declining needs a note: "
        "the reason the requester sees. Needs the request's expectedVersion."
    )
    async def review_view_promotion(
        self,
        info: Info,
        request_id: strawberry.ID,
        decision: ViewReviewDecision,  # type: ignore[valid-type]
        expected_version: int,
        note: str | None = None,
        role: ViewReviewRole | None = None,
    ) -> ViewPromotionPayload:
        p = principal(info)
        return await _payload(
            p, request_id,
            svc.review_promotion(
                p, str(request_id), decision=str(value_of(decision)), note=note or "",
                expected_version=expected_version, role=value_of(role),
            ),
        )  # fmt: skip
