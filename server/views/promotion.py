"""Promotion of a view to standard (seed 000 section 3): request with a rationale (a snapshot of
the definition) → a job validates it (`view.promotion.validate`: rows selected, time taken,
fields the standard audience may see; notifies the reviewers through the outbox, channel
`review`) → a compliance reviewer AND a product reviewer approve (never the requester, and one
person holding both roles counts once) or one declines with a reason → a job publishes
(`view.promotion.publish`: a new `ViewVersion`, who approved what). The requester may withdraw a
pending request.

CONTRACT (issue 12): the signatures below are what the faces and the home page call. Audit
events: `view.promotion_requested`, `view.promotion_validated`, `view.promotion_reviewed`,
`view.promotion_declined`, `view.promotion_withdrawn`, `view.promotion_published`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from riskops.server.core.principal import Principal
from riskops.server.views.definitions import Change, Definition
from riskops.server.views.models import (
    PromotionStatus,
    ReviewRole,
    SavedView,
    ViewPromotionRequest,
    ViewReview,
    ViewVersion,
)


@dataclass(frozen=True)
class PromotionResult:
    request: ViewPromotionRequest
    replayed: bool = False


@dataclass(frozen=True)
class RequestDetail:
    request: ViewPromotionRequest
    view: SavedView
    reviews: list[ViewReview]
    proposed: Definition
    proposed_lines: list[str]  # the snapshot in words
    current: Definition | None  # the standard version in force (None: a first promotion)
    current_lines: list[str]
    changes: list[Change]  # proposed vs current, in words
    # What the caller may do now: the reviewer roles they may still review as (empty: none),
    # whether they may withdraw.
    review_roles: list[ReviewRole] = field(default_factory=list)
    can_withdraw: bool = False
    own: bool = False  # the caller made it (they wait for the reviewers)


async def request_promotion(
    principal: Principal,
    view_id: str | int,
    *,
    rationale: str,
    expected_version: int,
    idempotency_key: str | None = None,
) -> PromotionResult:
    raise NotImplementedError


async def withdraw_promotion(
    principal: Principal, request_id: str | int, *, expected_version: int
) -> PromotionResult:
    raise NotImplementedError


async def review_promotion(
    principal: Principal,
    request_id: str | int,
    *,
    decision: str,
    note: str,
    expected_version: int,
    role: ReviewRole | str | None = None,
) -> PromotionResult:
    raise NotImplementedError


async def list_requests(
    principal: Principal,
    *,
    status: list[PromotionStatus] | None = None,
    mine: bool = False,
    view_id: str | int | None = None,
) -> list[ViewPromotionRequest]:
    raise NotImplementedError


async def get_request(principal: Principal, request_id: str | int) -> RequestDetail:
    raise NotImplementedError


async def waiting_for_review(principal: Principal) -> list[ViewPromotionRequest]:
    """Requests pending review that the caller may still review (for their home page)."""
    raise NotImplementedError


async def history(principal: Principal, view_id: str | int) -> list[ViewVersion]:
    """The published versions of a standard view, newest first."""
    raise NotImplementedError
