"""A person's preferences among the views they see: their default view of each queue (opened
when they open the queue with no filters) and the views pinned to their home page. Changes are
audited (`view.default_set`, `view.pinned`) in their transaction.
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import parse_id, scoped
from riskops.server.views import definitions
from riskops.server.views.access import get_view, may_see, visible
from riskops.server.views.models import SavedView, ViewPreference, ViewQueue, ViewStatus
from riskops.server.views.service import (
    label,
    lock_owner,
    queue_spec,
    require_active,
    require_queue,
)


async def default_view(principal: Principal, queue: ViewQueue | str) -> SavedView | None:
    spec = queue_spec(queue)
    if not principal.can(spec.read):
        return None
    pref = (
        await scoped(ViewPreference, principal)
        .filter(user_id=principal.user_id, queue=spec.queue, is_default=True)
        .first()
    )
    if pref is None:
        return None
    view = await scoped(SavedView, principal).filter(id=pref.view_id).first()
    if view is None or view.status is not ViewStatus.ACTIVE or not await may_see(principal, view):
        return None
    return view


async def my_views(principal: Principal) -> list[tuple[SavedView, ViewPreference]]:
    """The caller's default and pinned views (for the home page), defaults first."""
    prefs = list(
        await scoped(ViewPreference, principal).filter(
            Q(is_default=True) | Q(pinned=True), user_id=principal.user_id
        )
    )
    if not prefs:
        return []
    views = {
        v.id: v for v in await (await visible(principal)).filter(id__in=[p.view_id for p in prefs])
    }
    out = [(views[p.view_id], p) for p in prefs if p.view_id in views]
    out.sort(key=lambda vp: (not vp[1].is_default, vp[0].queue.value, vp[0].name.casefold()))
    return out


# --- preferences -------------------------------------------------------------------------------


async def _usable(principal: Principal, conn: BaseDBAsyncClient, view_id: str | int) -> SavedView:
    view = await get_view(principal, view_id, conn)
    require_queue(principal, definitions.QUEUES[ViewQueue(view.queue)])
    require_active(view, "use")
    return view


async def _preference(
    principal: Principal, conn: BaseDBAsyncClient, view: SavedView
) -> ViewPreference:
    pref = (
        await scoped(ViewPreference, principal)
        .using_db(conn)
        .filter(user_id=principal.user_id, view_id=view.id)
        .select_for_update()
        .first()
    )
    if pref is None:
        pref = await ViewPreference.create(
            org_id=principal.org_id, user_id=principal.user_id, view_id=view.id,
            queue=view.queue, using_db=conn,
        )  # fmt: skip
    return pref


async def set_default_view(
    principal: Principal, queue: ViewQueue | str, view_id: str | int | None
) -> SavedView | None:
    """The caller's default view of `queue` (None: no default). Returns the new default."""
    principal.require(Perm.VIEW_SAVE)
    spec = queue_spec(queue)
    require_queue(principal, spec)
    pk = parse_id("View", view_id) if view_id is not None and view_id != "" else None
    async with in_transaction() as conn:
        await lock_owner(principal, conn)
        view = await _usable(principal, conn, pk) if pk is not None else None
        if view is not None and view.queue is not spec.queue:
            raise Invalid(
                f"{label(view)} is a view of the {definitions.QUEUES[view.queue].label}; choose "
                f"a view of the {spec.label} as its default.",
                field="view_id",
            )
        before = (
            await scoped(ViewPreference, principal)
            .using_db(conn)
            .filter(user_id=principal.user_id, queue=spec.queue, is_default=True)
            .values_list("view_id", flat=True)
        )
        await (
            scoped(ViewPreference, principal)
            .using_db(conn)
            .filter(user_id=principal.user_id, queue=spec.queue, is_default=True)
            .update(is_default=False)
        )
        if view is not None:
            pref = await _preference(principal, conn, view)
            pref.is_default = True
            await pref.save(using_db=conn, update_fields=["is_default"])
        # The view that became the default; clearing it: the one that was.
        was = str(before[0]) if before else f"{spec.queue.value}:none"
        await record(
            principal, conn, "view.default_set", "view", view.id if view is not None else was,
            old={"queue": spec.queue.value, "default_view_id": before[0] if before else None},
            new={"queue": spec.queue.value, "default_view_id": view.id if view else None},
        )  # fmt: skip
    return view


async def pin_view(principal: Principal, view_id: str | int, pinned: bool) -> ViewPreference:
    principal.require(Perm.VIEW_SAVE)
    if not isinstance(pinned, bool):
        raise Invalid("Pinned must be true or false.", field="pinned")
    pk = parse_id("View", view_id)
    async with in_transaction() as conn:
        await lock_owner(principal, conn)
        view = await _usable(principal, conn, pk)
        pref = await _preference(principal, conn, view)
        was = pref.pinned
        pref.pinned = pinned
        await pref.save(using_db=conn, update_fields=["pinned"])
        await record(
            principal, conn, "view.pinned", "view", view.id,
            old={"pinned": was}, new={"pinned": pinned, "queue": view.queue.value},
        )  # fmt: skip
    return pref
