"""GraphQL types of saved views, built from what `riskops.server.views.service` opened (no
queries in here, except `view_nodes`, which opens a list of views through the service in one
batch). The promotion, pages and home faces import `View`, `ViewDefinition` and
`ViewDefinitionInput` from here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from riskops.graphql.core.ids import as_id
from riskops.graphql.core.inputs import input_dict
from riskops.graphql.credit.run_types import RunFilterInput
from riskops.graphql.identity.types import UserRef
from riskops.graphql.triage.types import AlertFilterInput
from riskops.server.core.principal import Principal
from riskops.server.views import models as vm
from riskops.server.views.definitions import QUEUES, Definition
from riskops.server.views.service import OpenedView, open_views

ViewQueue = strawberry.enum(
    vm.ViewQueue, name="ViewQueue", description="The queue a view saves: the alert queue or the "
    "runs ledger."
)  # fmt: skip
ViewScope = strawberry.enum(
    vm.ViewScope,
    name="ViewScope",
    description="Who sees a view: its owner (personal), the members of the team it is shared "
    "with (team), everyone of the organization who may read its queue (standard).",
)
ViewStatus = strawberry.enum(vm.ViewStatus, name="ViewStatus")


@strawberry.type(description="What a view selects: its filters, columns and sort, and in words.")
class ViewDefinition:
    filters: JSON = strawberry.field(
        description="The filters, by the service's (snake_case) names: the alert queue's "
        "`AlertFilterInput` fields, or the runs ledger's `RunFilterInput` fields (`severities`)."
    )
    columns: list[str] = strawberry.field(description="The columns to show, in order.")
    sort: str = strawberry.field(description="The sort: score, created, due, amount; newest.")
    words: list[str] = strawberry.field(
        description="The definition in words, one line per filter, then sort and columns."
    )

    @classmethod
    def of(cls, defn: Definition, words: Sequence[str]) -> ViewDefinition:
        filters: Any = dict(defn.filters)
        return cls(
            filters=filters, columns=list(defn.columns), sort=defn.sort,
            words=list(words),
        )  # fmt: skip


@strawberry.type(description="A team a view is shared with.")
class ViewTeam:
    id: strawberry.ID
    name: str


@strawberry.type(description="A saved view of the alert queue or the runs ledger.")
class View:
    id: strawberry.ID
    queue: ViewQueue  # type: ignore[valid-type]
    scope: ViewScope  # type: ignore[valid-type]
    status: ViewStatus  # type: ignore[valid-type]
    name: str
    description: str
    version: int = strawberry.field(description="Pass as expectedVersion to change it.")
    owner: UserRef
    team: ViewTeam | None = strawberry.field(description="The team it is shared with (team).")
    definition: ViewDefinition = strawberry.field(
        description="The definition in force (for a standard view: its published version)."
    )
    draft: ViewDefinition | None = strawberry.field(
        description="A standard view's edit waiting for review (null: none)."
    )
    draft_name: str | None = strawberry.field(description="The name the draft gives it.")
    draft_by: UserRef | None = strawberry.field(description="Who edited the draft last.")
    published_number: int | None = strawberry.field(
        description="The number of the standard version in force."
    )
    missing: list[str] = strawberry.field(
        description="What the definition names that no longer exists, in words (a team, a "
        "user, a rule, a scenario). The view still opens."
    )
    is_default: bool = strawberry.field(description="Your default view of its queue.")
    pinned: bool = strawberry.field(description="Pinned to your home page.")
    can_edit: bool = strawberry.field(
        description="You may edit it (a standard view: the edit becomes its draft)."
    )
    can_request_promotion: bool
    path: str = strawberry.field(description="The shareable address of the queue with it.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, o: OpenedView) -> View:
        v, names = o.view, o.names
        words = o.lines
        draft = o.draft
        return cls(
            id=as_id(v.id),
            queue=v.queue,
            scope=v.scope,
            status=v.status,
            name=v.name,
            description=v.description,
            version=v.version,
            owner=UserRef(id=as_id(v.owner_id), name=names.get(f"user:{v.owner_id}", "")),
            team=(
                ViewTeam(id=as_id(v.team_id), name=names.get(f"team:{v.team_id}", ""))
                if v.team_id is not None
                else None
            ),
            definition=ViewDefinition.of(o.definition, words),
            draft=ViewDefinition.of(draft, o.draft_lines) if draft is not None else None,
            draft_name=(v.draft or {}).get("name") if draft is not None else None,
            draft_by=(
                UserRef(id=as_id(v.draft_by_id), name=names.get(f"user:{v.draft_by_id}", ""))
                if v.draft_by_id is not None and draft is not None
                else None
            ),
            published_number=v.published_number,
            missing=list(o.missing),
            is_default=o.is_default,
            pinned=o.pinned,
            can_edit=o.can_edit,
            can_request_promotion=o.can_request_promotion,
            path=f"{QUEUES[v.queue].path}?view={v.id}",
            created_at=v.created_at,
            updated_at=v.updated_at,
        )


async def view_nodes(principal: Principal, rows: Sequence[vm.SavedView]) -> list[View]:
    """Nodes for views: their names, preferences and what is missing loaded for all at once."""
    return [View.of(o) for o in await open_views(principal, rows)]


@strawberry.input(
    description="A view's definition: the filters of its queue (alertFilter for the alert "
    "queue, runFilter for the runs ledger; the same inputs as `alerts(filter:)` and "
    "`runs(filter:)`), the columns to show in order and the sort. Unset parts take the queue's "
    "defaults (every column; score for alerts, newest for runs)."
)
class ViewDefinitionInput:
    alert_filter: AlertFilterInput | None = None
    run_filter: RunFilterInput | None = None
    columns: list[str] | None = None
    sort: str | None = strawberry.field(
        default=None, description="score, created, due or amount (alerts); newest (runs)."
    )

    def as_dict(self) -> dict[str, Any]:
        """The definition as the service takes it: `{"filters", "columns", "sort"}`. Giving
        both filters sends both, and the service names the one that is not the queue's."""
        filters: dict[str, Any] = {}
        if self.alert_filter is not None:
            filters.update(input_dict(self.alert_filter))
        if self.run_filter is not None:
            run = input_dict(self.run_filter)
            if "severity" in run:
                run["severities"] = run.pop("severity")
            filters.update(run)
        out: dict[str, Any] = {"filters": filters}
        if self.columns is not None:
            out["columns"] = list(self.columns)
        if self.sort is not None:
            out["sort"] = self.sort
        return out
