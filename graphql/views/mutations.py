"""Saved view mutations: save, edit (a standard view: its draft), share with a team, archive,
restore, default and pinned views. Every resolver calls one service; expected errors are data
(`as_payload`), and a stale expectedVersion answers CONFLICT with the view as it is now."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated

import strawberry

from riskops.graphql.core.context import Info, principal
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.core.inputs import value_of
from riskops.graphql.views.types import View, ViewDefinitionInput, ViewQueue, view_nodes
from riskops.server.core.errors import DomainError
from riskops.server.core.principal import Principal
from riskops.server.views import models as vm
from riskops.server.views import preferences, service
from riskops.server.views.service import ViewResult


@strawberry.type
class ViewPayload:
    view: View | None = strawberry.field(
        default=None, description="The view; on CONFLICT, its current state."
    )
    replayed: bool = strawberry.field(
        default=False, description="True when the idempotency key repeated an earlier request."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _node(p: Principal, view: vm.SavedView | None) -> View | None:
    return (await view_nodes(p, [view]))[0] if view is not None else None


async def _payload(
    p: Principal, view_id: strawberry.ID | None, change: Awaitable[ViewResult]
) -> ViewPayload:
    async def done(result: ViewResult) -> ViewPayload:
        return ViewPayload(view=await _node(p, result.view), replayed=result.replayed)

    async def current(errors: list[UserError]) -> ViewPayload:
        view = None
        if view_id is not None:
            try:
                view = await service.get_view(p, str(view_id))
            except DomainError:
                view = None
        return ViewPayload(view=await _node(p, view), errors=errors)

    return await as_payload(ViewPayload, change, done, conflict=current)


_VERSIONED = (
    " Needs expectedVersion (a stale one is CONFLICT, and `view` carries the current state)."
)
_DefinitionArg = Annotated[
    ViewDefinitionInput,
    strawberry.argument(description="Filters of the view's queue, columns and sort."),
]


@strawberry.type
class ViewsMutation:
    @strawberry.mutation(
        description="Save filters, columns and sort as a personal view of a queue. Names are "
        "unique among your active views of the queue (case-insensitive), 1 to 120 characters. "
        "An idempotencyKey makes a retry replay the first result."
    )
    async def save_view(
        self,
        info: Info,
        queue: ViewQueue,  # type: ignore[valid-type]
        name: str,
        definition: _DefinitionArg,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> ViewPayload:
        p = principal(info)
        return await _payload(
            p, None,
            service.save_view(
                p, queue=str(value_of(queue)), name=name, definition=definition.as_dict(),
                description=description or "", idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(
        description="Rename or edit your personal or team view. On a standard view, the edit "
        "becomes its draft: the version in force stays until a promotion of the draft is "
        "published." + _VERSIONED
    )
    async def update_view(
        self,
        info: Info,
        view_id: strawberry.ID,
        expected_version: int,
        name: str | None = None,
        description: str | None = None,
        definition: ViewDefinitionInput | None = None,
    ) -> ViewPayload:
        p = principal(info)
        return await _payload(
            p, view_id,
            service.update_view(
                p, str(view_id), expected_version=expected_version, name=name,
                description=description,
                definition=definition.as_dict() if definition is not None else None,
            ),
        )  # fmt: skip

    @strawberry.mutation(
        description="Share your view with one of your teams (teamId null: make it personal "
        "again). A standard view is shown to everyone already." + _VERSIONED
    )
    async def share_view_with_team(
        self,
        info: Info,
        view_id: strawberry.ID,
        expected_version: int,
        team_id: strawberry.ID | None = None,
    ) -> ViewPayload:
        p = principal(info)
        return await _payload(
            p, view_id,
            service.share_view_with_team(
                p, str(view_id), expected_version=expected_version,
                team_id=str(team_id) if team_id is not None else None,
            ),
        )  # fmt: skip

    @strawberry.mutation(
        description="Archive your view: only you see it then, among your archived views. A "
        "standard view cannot be archived: it stays in force for everyone." + _VERSIONED
    )
    async def archive_view(
        self, info: Info, view_id: strawberry.ID, expected_version: int
    ) -> ViewPayload:
        p = principal(info)
        return await _payload(
            p, view_id,
            service.archive_view(p, str(view_id), expected_version=expected_version),
        )  # fmt: skip

    @strawberry.mutation(description="Restore your archived view." + _VERSIONED)
    async def restore_view(
        self, info: Info, view_id: strawberry.ID, expected_version: int
    ) -> ViewPayload:
        p = principal(info)
        return await _payload(
            p, view_id,
            service.restore_view(p, str(view_id), expected_version=expected_version),
        )  # fmt: skip

    @strawberry.mutation(
        description="Your default view of a queue (viewId null: none). `view` is the new default."
    )
    async def set_default_view(
        self,
        info: Info,
        queue: ViewQueue,  # type: ignore[valid-type]
        view_id: strawberry.ID | None = None,
    ) -> ViewPayload:
        p = principal(info)

        async def done(view: vm.SavedView | None) -> ViewPayload:
            return ViewPayload(view=await _node(p, view))

        return await as_payload(
            ViewPayload,
            preferences.set_default_view(
                p, str(value_of(queue)), str(view_id) if view_id is not None else None
            ),
            done,
        )

    @strawberry.mutation(description="Pin a view you may see to your home page, or unpin it.")
    async def pin_view(self, info: Info, view_id: strawberry.ID, pinned: bool) -> ViewPayload:
        p = principal(info)

        async def done(_: vm.ViewPreference) -> ViewPayload:
            return ViewPayload(view=await _node(p, await service.get_view(p, str(view_id))))

        return await as_payload(ViewPayload, preferences.pin_view(p, str(view_id), pinned), done)
