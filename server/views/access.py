"""Who sees which view, and the one way services read a view: `visible` (the views a person may
see, of one queue or both) and `get_view` (one of them; any other id, another organization's
included, is "not found").

- personal: its owner;
- team: the members of the team it is shared with (today's membership);
- standard: everyone of the organization who may read its queue.

Every view also needs its queue's read permission (`QueueSpec.read`): an admin, who reads
neither queue, sees no view; a strategist, who does not read the runs ledger, sees no runs view.
Reviewers reach views through the promotion requests they review, not through this module.
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from riskops.server.core.errors import not_found
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import parse_id, scoped
from riskops.server.identity.models import Team
from riskops.server.views.definitions import QUEUES
from riskops.server.views.models import SavedView, ViewQueue, ViewScope, ViewStatus


def readable_queues(principal: Principal) -> list[ViewQueue]:
    """The queues whose views this person may see (they may read the queue)."""
    return [q for q, spec in QUEUES.items() if principal.can(spec.read)]


async def team_ids(principal: Principal, conn: BaseDBAsyncClient | None = None) -> list[int]:
    """The teams this person is a member of, in their organization."""
    q = scoped(Team, principal).filter(members__id=principal.user_id)
    if conn is not None:
        q = q.using_db(conn)
    return [int(pk) for pk in await q.values_list("id", flat=True)]  # type: ignore[call-overload]


async def visible(
    principal: Principal,
    queue: ViewQueue | None = None,
    *,
    archived: bool = False,
    conn: BaseDBAsyncClient | None = None,
) -> QuerySet[SavedView]:
    """The views this person may see (of `queue`, or of every queue they read). Archived views
    are the owner's alone: with `archived=True`, only their own archived views."""
    queues = [q for q in readable_queues(principal) if queue is None or q is queue]
    q = scoped(SavedView, principal)
    # No queue read (an admin): no view (id 0 is no row's; an empty IN is not portable).
    q = q.filter(queue__in=[x.value for x in queues]) if queues else q.filter(id=0)
    if conn is not None:
        q = q.using_db(conn)
    if archived:
        return q.filter(status=ViewStatus.ARCHIVED, owner_id=principal.user_id)
    teams = await team_ids(principal, conn)
    who = Q(owner_id=principal.user_id) | Q(scope=ViewScope.STANDARD)
    if teams:
        who |= Q(scope=ViewScope.TEAM, team_id__in=teams)
    return q.filter(who, status=ViewStatus.ACTIVE)


async def may_see(
    principal: Principal, view: SavedView, conn: BaseDBAsyncClient | None = None
) -> bool:
    """The rule of `visible` for one view already read (archived: the owner only)."""
    if view.org_id != principal.org_id or not principal.can(QUEUES[view.queue].read):
        return False
    if view.owner_id == principal.user_id:
        return True
    if view.status is ViewStatus.ARCHIVED:
        return False
    if view.scope is ViewScope.STANDARD:
        return True
    if view.scope is ViewScope.TEAM and view.team_id is not None:
        return view.team_id in await team_ids(principal, conn)
    return False


async def get_view(
    principal: Principal, view_id: str | int, conn: BaseDBAsyncClient | None = None
) -> SavedView:
    """A view this person may see (archived ones: their own); anything else is not found."""
    pk = parse_id("View", view_id)
    q = scoped(SavedView, principal).filter(id=pk)
    if conn is not None:
        q = q.using_db(conn)
    view = await q.first()
    if view is None or not await may_see(principal, view, conn):
        raise not_found("View", view_id)
    return view
