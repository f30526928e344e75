"""The rules of view promotion that the changes, the reads, the jobs and the faces share: how a
request is named, what it snapshots, who may review or withdraw it, who may see it, and the names
and definitions it shows. Pure, except `may_see_request` and `names_for`, which read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from riskops.server.core.approvals import may_decide
from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.identity.models import Team, User
from riskops.server.views import access, definitions
from riskops.server.views.definitions import Definition
from riskops.server.views.models import (
    PromotionStatus,
    ReviewRole,
    SavedView,
    ViewPromotionRequest,
    ViewReview,
    ViewScope,
)

S = PromotionStatus

# The request may be withdrawn until both approvals are in (then the publish job owns it).
WITHDRAWABLE = frozenset(
    {PromotionStatus.VALIDATING, PromotionStatus.INVALID, PromotionStatus.PENDING_REVIEW}
)


def label(request: ViewPromotionRequest) -> str:
    """How messages name a request ("view promotion 12")."""
    return f"view promotion {request.id}"


def snapshot_of(view: SavedView) -> dict[str, Any]:
    """What a request of `view` puts under review: a standard view's draft, any other view as
    it is."""
    if view.scope is ViewScope.STANDARD:
        draft = view.draft or {}
        return {
            "name": draft.get("name", view.name),
            "description": draft.get("description", view.description),
            "definition": draft.get("definition", view.definition),
        }
    return {"name": view.name, "description": view.description, "definition": view.definition}


def held_review_roles(principal: Principal) -> list[ReviewRole]:
    if not principal.can(Perm.VIEW_REVIEW):
        return []
    return [r for r in ReviewRole if r.value in principal.roles]


def review_roles_for(
    principal: Principal, request: ViewPromotionRequest, reviews: Iterable[ViewReview]
) -> list[ReviewRole]:
    """The reviewer roles the caller may still review `request` as: none unless it waits for
    review, they did not make it and have not reviewed it yet (one person counts once)."""
    if request.status is not S.PENDING_REVIEW or not may_decide(principal, request.requested_by_id):
        return []
    done = list(reviews)
    if any(r.reviewer_id == principal.user_id for r in done):
        return []
    taken = {r.role for r in done}
    return [r for r in held_review_roles(principal) if r not in taken]


def may_withdraw(principal: Principal, request: ViewPromotionRequest) -> bool:
    return (
        principal.can(Perm.VIEW_SAVE)
        and request.requested_by_id == principal.user_id
        and request.status in WITHDRAWABLE
    )


async def may_see_request(
    principal: Principal,
    request: ViewPromotionRequest,
    view: SavedView,
    conn: BaseDBAsyncClient | None = None,
) -> bool:
    if request.org_id != principal.org_id:
        return False
    if principal.can(Perm.VIEW_REVIEW) or request.requested_by_id == principal.user_id:
        return True
    return await access.may_see(principal, view, conn)


async def names_for(org_id: int, defns: Iterable[Definition | None]) -> dict[str, str]:
    """Display names of the teams and people the definitions mention ("team:3", "user:7"); what
    no longer exists is left out (definitions.value_words then says so)."""
    team_ids: set[int] = set()
    user_ids: set[int] = set()
    for d in defns:
        if d is None:
            continue
        if isinstance(d.filters.get("team"), int):
            team_ids.add(d.filters["team"])
        if isinstance(d.filters.get("assignee"), int):
            user_ids.add(d.filters["assignee"])
    names: dict[str, str] = {}
    if team_ids:
        rows = (
            await scoped(Team, org_id=org_id)
            .filter(id__in=sorted(team_ids))
            .values_list("id", "name")
        )
        names.update({f"team:{i}": str(n) for i, n in rows})
    if user_ids:
        urows = await (
            scoped(User, org_id=org_id)
            .filter(id__in=sorted(user_ids), deleted_at=None)
            .values_list("id", "name")
        )
        names.update({f"user:{i}": str(n) for i, n in urows})
    return names


def read_definition(view: SavedView, data: Any) -> Definition | None:
    """A stored definition, None when it cannot be read any more (the validation says why)."""
    if not isinstance(data, Mapping):
        return None
    try:
        return definitions.stored(view.queue, data)
    except Invalid:
        return None
