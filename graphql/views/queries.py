"""Saved view queries: the views one may see, and one view opened (its definition in words and
what it names that no longer exists). Every resolver calls one service."""

from __future__ import annotations

from typing import Annotated

import strawberry

from riskops.graphql.core.context import Info, or_none, principal, query
from riskops.graphql.core.inputs import value_of
from riskops.graphql.views.types import View, ViewQueue, view_nodes
from riskops.server.views import service


@strawberry.type
class ViewsQuery:
    @strawberry.field(
        description="The saved views you may see, of one queue or of every queue you read: "
        "standard first, then your teams', then your own, each by name. `archived`: your own "
        "archived views instead. An admin, who reads neither queue, sees none."
    )
    async def views(
        self,
        info: Info,
        queue: ViewQueue | None = None,  # type: ignore[valid-type]
        archived: Annotated[
            bool, strawberry.argument(description="Your own archived views instead.")
        ] = False,
    ) -> list[View]:
        who = principal(info)
        rows = await query(service.list_views(who, value_of(queue), archived=archived))
        return await view_nodes(who, rows)

    @strawberry.field(
        description="One view you may see, with its definition in words and what it names "
        "that no longer exists; null when it does not exist or is not visible to you."
    )
    async def view(self, info: Info, id: strawberry.ID) -> View | None:
        opened = await or_none(service.open_view(principal(info), str(id)))
        return View.of(opened) if opened is not None else None
