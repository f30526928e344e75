"""Saved views: save the current filters as a view, edit, rename, share with a team, archive,
restore; list and open them. A person's default and pinned views are
`riskops.server.views.preferences`; the filter a view applies to its queue is
`riskops.server.views.applying`.

CONTRACT (issue 12): the signatures below are what the GraphQL and page faces call. Every
mutation: `principal.require(Perm.VIEW_SAVE)` and the queue's read permission first; another
organization's id, or a view the caller may not see, is "not found"; a stale `expected_version`
is a Conflict carrying the current version; the change and its audit event (`view.created`,
`view.updated`, `view.shared`, `view.archived`, `view.restored`, `view.default_set`,
`view.pinned`) are written in one transaction. A view opened for reading (in words, what no
longer exists, what the caller may do) is `riskops.server.views.opened`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.server.core import validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict, Forbidden, Invalid, NotFound, not_found
from riskops.server.core.idempotency import (
    key_race,
    parse_idempotency_key,
    remember_key,
    used_idempotency_key,
)
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import lock_scoped, parse_id, scoped
from riskops.server.core.versioning import check_version, parse_version, write_versioned
from riskops.server.identity.models import User
from riskops.server.triage.queue_filters import FilterErrors
from riskops.server.views import definitions
from riskops.server.views.access import get_view, may_see, team_ids, visible
from riskops.server.views.definitions import (
    MAX_DESCRIPTION,
    MAX_NAME,
    Definition,
    QueueSpec,
    spec_of,
)
from riskops.server.views.models import (
    SavedView,
    ViewQueue,
    ViewScope,
    ViewStatus,
)
from riskops.server.views.opened import OpenedView, open_views

__all__ = [
    "OpenedView",
    "ViewResult",
    "archive_view",
    "get_view",
    "list_views",
    "open_view",
    "open_views",
    "restore_view",
    "save_view",
    "share_view_with_team",
    "update_view",
    "visible",
]

_SCOPE_ORDER = {ViewScope.STANDARD: 0, ViewScope.TEAM: 1, ViewScope.PERSONAL: 2}


@dataclass(frozen=True)
class ViewResult:
    view: SavedView
    replayed: bool = False


# --- input checks ------------------------------------------------------------------------------


def queue_spec(raw: ViewQueue | str) -> QueueSpec:
    return spec_of(raw.value if isinstance(raw, ViewQueue) else raw)


def require_queue(principal: Principal, spec: QueueSpec) -> None:
    """Views of a queue need its read permission (an admin saves no view, a strategist no view
    of the runs ledger)."""
    if not principal.can(spec.read):
        raise Forbidden(
            f"Not allowed: views of the {spec.label} need the permission {spec.read.value}.",
            permission=spec.read.value,
        )


def _name(raw: Any) -> str:
    if raw is not None and not isinstance(raw, str):
        raise Invalid("Name must be text.", field="name")
    return validation.text(raw, "name", max_len=MAX_NAME)


def _description(raw: Any) -> str:
    if raw is None or raw == "":
        return ""
    if not isinstance(raw, str):
        raise Invalid("Description must be text.", field="description")
    if len(raw) > MAX_DESCRIPTION:
        raise Invalid(
            f"Description is {len(raw)} characters long; the limit is {MAX_DESCRIPTION}.",
            field="description",
        )
    return validation.long_text(raw, "description", max_len=MAX_DESCRIPTION)


def _definition(spec: QueueSpec, raw: Any) -> Definition:
    """Checked against the queue's own filter schema: `FilterErrors` (Invalid) names every bad
    field at once (`filters.<name>`, `columns`, `sort`, `definition`)."""
    if raw is None:
        raise FilterErrors({"definition": "The definition is required: filters, columns and sort."})
    return definitions.parse(spec.queue, raw)


def label(view: SavedView) -> str:
    return f"View '{view.name}'"


# --- reading ---------------------------------------------------------------------------------


def _sorted(views: Iterable[SavedView]) -> list[SavedView]:
    return sorted(views, key=lambda v: (_SCOPE_ORDER[v.scope], v.name.casefold(), v.id))


async def list_views(
    principal: Principal, queue: ViewQueue | str | None = None, *, archived: bool = False
) -> list[SavedView]:
    """The views the caller may see: standard first, then team, then personal, each by name."""
    which: ViewQueue | None = None
    if queue is not None and queue != "":
        spec = queue_spec(queue)
        require_queue(principal, spec)
        which = spec.queue
    q = await visible(principal, which, archived=archived)
    return _sorted(await q)


async def open_view(principal: Principal, view_id: str | int) -> OpenedView:
    view = await get_view(principal, view_id)
    (opened,) = await open_views(principal, [view])
    return opened


# --- transaction parts -------------------------------------------------------------------------


async def lock_owner(principal: Principal, conn: BaseDBAsyncClient) -> None:
    """Serialize one person's view changes (names are unique per owner and queue): their own
    user row, locked (PostgreSQL; SQLite serializes writers anyway)."""
    await (
        scoped(User, principal)
        .filter(id=principal.user_id)
        .select_for_update()
        .using_db(conn)
        .first()
    )


async def _name_taken(
    principal: Principal,
    conn: BaseDBAsyncClient,
    owner_id: int,
    queue: ViewQueue,
    name: str,
    *,
    but: int | None = None,
) -> None:
    q = (
        scoped(SavedView, principal)
        .using_db(conn)
        .filter(owner_id=owner_id, queue=queue, status=ViewStatus.ACTIVE, name__iexact=name)
    )
    if but is not None:
        q = q.exclude(id=but)
    if await q.exists():
        label = definitions.QUEUES[queue].label
        who = "You already have" if owner_id == principal.user_id else "Its owner already has"
        raise Conflict(
            f"{who} a view of the {label} named '{name}'; choose another name.", field="name"
        )


async def _lock_view(
    principal: Principal, conn: BaseDBAsyncClient, view_id: str | int
) -> SavedView:
    """The view, locked; one the caller may not see reads as not found (like another
    organization's, or a missing one)."""
    view = await lock_scoped(SavedView, principal, conn, view_id, "View")
    if not await may_see(principal, view, conn):
        raise not_found("View", view_id)
    return view


def _owner_only(principal: Principal, view: SavedView, doing: str) -> None:
    if view.owner_id != principal.user_id:
        raise Forbidden(
            f"Not allowed: only the owner of view '{view.name}' may {doing} it. Save it as a "
            "view of your own instead.",
        )


def _not_standard(view: SavedView, doing: str, why: str) -> None:
    if view.scope is ViewScope.STANDARD:
        raise Conflict(
            f"{label(view)} is a standard view and cannot be {doing}: {why}",
            current_version=view.version,
        )


def require_active(view: SavedView, doing: str) -> None:
    if view.status is not ViewStatus.ACTIVE:
        raise Conflict(
            f"{label(view)} is archived; restore it before you {doing} it.",
            current_status=view.status.value,
            current_version=view.version,
        )


def _check(view: SavedView, expected: int) -> None:
    check_version(label(view), view.version, expected, status=view.status.value, verb="change it")


def _state(view: SavedView) -> dict[str, Any]:
    return {
        "queue": view.queue.value,
        "scope": view.scope.value,
        "status": view.status.value,
        "team_id": view.team_id,
        "version": view.version,
    }


# An action's own part: check the locked view, return the fields to set and the audit extras.
Apply = Callable[[BaseDBAsyncClient, SavedView], Awaitable[tuple[dict[str, Any], dict[str, Any]]]]


async def _change(
    principal: Principal, view_id: str | int, action: str, expected: int, apply: Apply
) -> ViewResult:
    parse_id("View", view_id)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        await lock_owner(principal, conn)
        view = await _lock_view(principal, conn, view_id)
        require_queue(principal, definitions.QUEUES[ViewQueue(view.queue)])
        _check(view, expected)
        old = _state(view)
        changes, extra = await apply(conn, view)
        for name, value in changes.items():
            setattr(view, name, value)
        view.version += 1
        view.updated_at = now
        await write_versioned(
            scoped(SavedView, principal).filter(id=view.id), expected, conn, label(view),
            **changes, version=view.version, updated_at=now,
        )  # fmt: skip
        await record(
            principal, conn, f"view.{action}", "view", view.id,
            old=old, new={**_state(view), **extra},
        )  # fmt: skip
    return ViewResult(view)


# --- save --------------------------------------------------------------------------------------


async def save_view(
    principal: Principal,
    *,
    queue: ViewQueue | str,
    name: str,
    definition: object,
    description: str = "",
    idempotency_key: str | None = None,
) -> ViewResult:
    """A new personal view of `queue` (names are unique per owner and queue, case-insensitive)."""
    principal.require(Perm.VIEW_SAVE)
    spec = queue_spec(queue)
    require_queue(principal, spec)
    clean_name = _name(name)
    clean_description = _description(description)
    defn = _definition(spec, definition)
    key = parse_idempotency_key(idempotency_key)
    with key_race(key):
        return await _save_in_transaction(principal, spec, clean_name, clean_description, defn, key)


async def _save_in_transaction(
    principal: Principal,
    spec: QueueSpec,
    name: str,
    description: str,
    defn: Definition,
    key: str | None,
) -> ViewResult:
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        if key is not None:
            used = await used_idempotency_key(principal, conn, key, "view.create", None)
            if used is not None:
                view = await scoped(SavedView, principal).using_db(conn).get(id=int(used.entity_id))
                return ViewResult(view, replayed=True)
        await lock_owner(principal, conn)
        await _name_taken(principal, conn, principal.user_id, spec.queue, name)
        view = await SavedView.create(
            org_id=principal.org_id,
            owner_id=principal.user_id,
            queue=spec.queue,
            scope=ViewScope.PERSONAL,
            name=name,
            description=description,
            definition=defn.to_json(),
            status=ViewStatus.ACTIVE,
            version=1,
            created_at=now,
            updated_at=now,
            using_db=conn,
        )
        if key is not None:
            await remember_key(
                principal, conn, key, "view.create", view.id, now, entity=f"view {view.id}"
            )
        await record(
            principal, conn, "view.created", "view", view.id,
            new={**_state(view), "filters": sorted(defn.filters), "sort": defn.sort},
        )  # fmt: skip
    return ViewResult(view)


# --- update, share, archive, restore -----------------------------------------------------------


async def update_view(
    principal: Principal,
    view_id: str | int,
    *,
    expected_version: int,
    name: str | None = None,
    description: str | None = None,
    definition: object | None = None,
) -> ViewResult:
    """Rename or edit one's own personal/team view. On a standard view, the edit becomes its
    draft (the version in force stays until a promotion of the draft is published)."""
    principal.require(Perm.VIEW_SAVE)
    expected = parse_version(expected_version)
    new_name = _name(name) if name is not None else None
    new_description = _description(description) if description is not None else None
    if new_name is None and new_description is None and definition is None:
        raise Invalid(
            "Nothing to change: give a new name, description or definition.", field="name"
        )

    async def apply(
        conn: BaseDBAsyncClient, view: SavedView
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        require_active(view, "edit")
        spec = definitions.QUEUES[ViewQueue(view.queue)]
        defn = _definition(spec, definition) if definition is not None else None
        changed = [
            part
            for part, value in (
                ("name", new_name),
                ("description", new_description),
                ("definition", defn),
            )
            if value is not None
        ]
        if view.scope is ViewScope.STANDARD:
            base = view.draft if isinstance(view.draft, dict) else {
                "name": view.name, "description": view.description,
                "definition": view.definition,
            }  # fmt: skip
            draft = {
                "name": new_name if new_name is not None else base.get("name", view.name),
                "description": (
                    new_description
                    if new_description is not None
                    else base.get("description", view.description)
                ),
                "definition": defn.to_json() if defn is not None else base.get("definition"),
            }
            return (
                {"draft": draft, "draft_by_id": principal.user_id},
                {"changed": changed, "draft": True},
            )
        _owner_only(principal, view, "edit")
        changes: dict[str, Any] = {}
        if new_name is not None and new_name != view.name:
            await _name_taken(principal, conn, view.owner_id, view.queue, new_name, but=view.id)
        if new_name is not None:
            changes["name"] = new_name
        if new_description is not None:
            changes["description"] = new_description
        if defn is not None:
            changes["definition"] = defn.to_json()
        return changes, {"changed": changed, "draft": False}

    return await _change(principal, view_id, "updated", expected, apply)


async def share_view_with_team(
    principal: Principal, view_id: str | int, *, expected_version: int, team_id: str | int | None
) -> ViewResult:
    """Share one's own view with one of one's teams (team_id None: make it personal again)."""
    principal.require(Perm.VIEW_SAVE)
    expected = parse_version(expected_version)
    team: int | None = None
    if team_id is not None and team_id != "":
        try:
            team = parse_id("Team", team_id)
        except NotFound:
            team = 0  # reported below with the same words as a team one is not a member of

    async def apply(
        conn: BaseDBAsyncClient, view: SavedView
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        _not_standard(view, "shared", "it is shown to everyone who reads its queue already.")
        _owner_only(principal, view, "share")
        require_active(view, "share")
        if team is None:
            return {"scope": ViewScope.PERSONAL, "team_id": None}, {}
        if team not in await team_ids(principal, conn):
            raise Invalid(
                f"Team {team_id} is not one of your teams; share the view with a team you are a "
                "member of.",
                field="team_id",
            )
        return {"scope": ViewScope.TEAM, "team_id": team}, {}

    return await _change(principal, view_id, "shared", expected, apply)


async def archive_view(
    principal: Principal, view_id: str | int, *, expected_version: int
) -> ViewResult:
    principal.require(Perm.VIEW_SAVE)
    expected = parse_version(expected_version)

    async def apply(
        conn: BaseDBAsyncClient, view: SavedView
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        _not_standard(
            view, "archived", "it stays in force for everyone of the organization. Edit it "
            "instead: the edit goes through review.",
        )  # fmt: skip
        _owner_only(principal, view, "archive")
        if view.status is ViewStatus.ARCHIVED:
            raise Conflict(
                f"{label(view)} is archived already.",
                current_status=view.status.value,
                current_version=view.version,
            )
        return {"status": ViewStatus.ARCHIVED}, {}

    return await _change(principal, view_id, "archived", expected, apply)


async def restore_view(
    principal: Principal, view_id: str | int, *, expected_version: int
) -> ViewResult:
    principal.require(Perm.VIEW_SAVE)
    expected = parse_version(expected_version)

    async def apply(
        conn: BaseDBAsyncClient, view: SavedView
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        # Another person's view is visible only while active: "not archived" answers them.
        if view.status is not ViewStatus.ARCHIVED:
            raise Conflict(
                f"{label(view)} is not archived; there is nothing to restore.",
                current_status=view.status.value,
                current_version=view.version,
            )
        _owner_only(principal, view, "restore")
        try:
            await _name_taken(principal, conn, view.owner_id, view.queue, view.name, but=view.id)
        except Conflict:
            raise Conflict(
                f"You have another view of the {definitions.QUEUES[view.queue].label} named "
                f"'{view.name}'; rename or archive that one first.",
                field="name",
            ) from None
        return {"status": ViewStatus.ACTIVE}, {}

    return await _change(principal, view_id, "restored", expected, apply)
