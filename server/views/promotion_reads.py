"""Reading view promotions: the requests a person may see (lists, what waits for their review),
one request with its change in words against the standard version in force, and the published
versions of a standard view (its history).

Who sees a request: its requester, the reviewers (VIEW_REVIEW), and everyone who may see its
view (`access.may_see`); anyone else, another organization included, gets "not found".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tortoise.expressions import Q

from riskops.server.core import validation
from riskops.server.core.approvals import may_decide
from riskops.server.core.errors import Invalid, not_found
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import parse_id, scoped
from riskops.server.identity import users
from riskops.server.views import access, definitions
from riskops.server.views.definitions import Change, Definition
from riskops.server.views.models import (
    PromotionStatus,
    ReviewRole,
    SavedView,
    ViewPromotionRequest,
    ViewReview,
    ViewVersion,
)
from riskops.server.views.promotion_rules import (
    held_review_roles,
    may_see_request,
    may_withdraw,
    names_for,
    read_definition,
    review_roles_for,
)

MAX_LIST = 200
S = PromotionStatus


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
    names: dict[str, str] = field(default_factory=dict)  # "user:7" -> name (requester, reviewers)


# --- reads -------------------------------------------------------------------------------------


async def list_requests(
    principal: Principal,
    *,
    status: Sequence[PromotionStatus | str] | None = None,
    mine: bool = False,
    view_id: str | int | None = None,
) -> list[ViewPromotionRequest]:
    """The requests the caller may see, newest first (at most MAX_LIST)."""
    statuses = [_status(s) for s in status or []]
    q = scoped(ViewPromotionRequest, principal)
    if mine:
        q = q.filter(requested_by_id=principal.user_id)
    elif not principal.can(Perm.VIEW_REVIEW):
        seen: list[int] = []
        if access.readable_queues(principal):  # (visible() of no queue at all cannot query)
            ids = await (await access.visible(principal)).values_list("id", flat=True)
            seen = [int(str(i)) for i in ids]
        q = q.filter(Q(requested_by_id=principal.user_id) | Q(view_id__in=seen or [0]))
    if statuses:
        q = q.filter(status__in=[s.value for s in statuses])
    if view_id is not None and view_id != "":
        q = q.filter(view_id=parse_id("View", view_id))
    return list(await q.order_by("-created_at", "-id").limit(MAX_LIST))


def _status(raw: PromotionStatus | str) -> PromotionStatus:
    try:
        return PromotionStatus(str(raw.value if isinstance(raw, PromotionStatus) else raw).lower())
    except ValueError:
        raise Invalid(
            f"Status '{raw}' is unknown; choose one of {validation.choices(PromotionStatus)}.",
            field="status",
        ) from None


async def load_request(
    principal: Principal, request_id: str | int
) -> tuple[ViewPromotionRequest, SavedView]:
    """A request the caller may see, and its view; anything else is not found."""
    pk = parse_id("View promotion", request_id)
    request = await scoped(ViewPromotionRequest, principal).get_or_none(id=pk)
    if request is None:
        raise not_found("View promotion", request_id)
    view = await scoped(SavedView, principal).get(id=request.view_id)
    if not await may_see_request(principal, request, view):
        raise not_found("View promotion", request_id)
    return request, view


async def get_request(principal: Principal, request_id: str | int) -> RequestDetail:
    request, view = await load_request(principal, request_id)
    reviews = list(
        await scoped(ViewReview, principal).filter(request_id=request.id).order_by("at", "id")
    )
    snapshot = request.snapshot if isinstance(request.snapshot, Mapping) else {}
    proposed = read_definition(view, snapshot.get("definition"))
    current = await base_definition(principal, view, request.base_number)
    names = await names_for(principal.org_id, [proposed, current])
    people = await users.names_of(
        principal, [request.requested_by_id, *(r.reviewer_id for r in reviews)]
    )
    names.update({f"user:{i}": n for i, n in people.items()})
    if proposed is None:
        shown = definitions.parse(view.queue, {})
        lines = ["The definition under review cannot be read: see the problems."]
        changes: list[Change] = []
    else:
        shown = proposed
        lines = definitions.describe(proposed, names)
        changes = definitions.diff(current, proposed, names)
    return RequestDetail(
        request=request,
        view=view,
        reviews=reviews,
        proposed=shown,
        proposed_lines=lines,
        current=current,
        current_lines=definitions.describe(current, names) if current is not None else [],
        changes=changes,
        review_roles=review_roles_for(principal, request, reviews),
        can_withdraw=may_withdraw(principal, request),
        own=not may_decide(principal, request.requested_by_id),
        names=names,
    )


async def base_definition(
    principal: Principal, view: SavedView, number: int | None
) -> Definition | None:
    """The standard version `number` of `view` (None: there was none)."""
    if number is None:
        return None
    version = await scoped(ViewVersion, principal).filter(view_id=view.id, number=number).first()
    return read_definition(view, version.definition) if version is not None else None


async def waiting_for_review(principal: Principal) -> list[ViewPromotionRequest]:
    """Requests pending review that the caller may still review (for their home page)."""
    if not held_review_roles(principal):
        return []
    pending = list(
        await scoped(ViewPromotionRequest, principal)
        .filter(status=S.PENDING_REVIEW)
        .order_by("created_at", "id")
        .limit(MAX_LIST)
    )
    if not pending:
        return []
    reviews: dict[int, list[ViewReview]] = {r.id: [] for r in pending}
    for review in await scoped(ViewReview, principal).filter(request_id__in=list(reviews)):
        reviews[review.request_id].append(review)
    return [r for r in pending if review_roles_for(principal, r, reviews[r.id])]


async def history(principal: Principal, view_id: str | int) -> list[ViewVersion]:
    """The published versions of a standard view, newest first."""
    view = await history_view(principal, view_id)
    return list(
        await scoped(ViewVersion, principal).filter(view_id=view.id).order_by("-number", "-id")
    )


async def history_view(principal: Principal, view_id: str | int) -> SavedView:
    """The view whose history the caller may read: one they may see, or (a reviewer) any view
    of their organization, as reviewers reach views through the requests they review."""
    pk = parse_id("View", view_id)
    if principal.can(Perm.VIEW_REVIEW):
        view = await scoped(SavedView, principal).get_or_none(id=pk)
        if view is None:
            raise not_found("View", view_id)
        return view
    return await access.get_view(principal, pk)
