"""Triage queries: the alert queue, an alert's detail, cases and a case's detail. Every resolver
calls one service; nested relations are batch-loaded."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, Selection

from graphql import GraphQLError
from riskops.graphql.core.context import Info, or_none, principal, query
from riskops.graphql.core.ids import as_id
from riskops.graphql.core.inputs import value_of
from riskops.graphql.core.pagination import PageInfo
from riskops.graphql.triage.loaders import NESTED
from riskops.graphql.triage.types import (
    Alert,
    AlertConnection,
    AlertDetail,
    AlertEdge,
    AlertFilterInput,
    AlertHistoryEntry,
    AlertSort,
    Case,
    CaseConnection,
    CaseDetail,
    CaseEdge,
    CaseSeverity,
    CaseStatus,
    InfoRequest,
    ResolveAlone,
    SimilarAlert,
    alert_fields,
)
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.credit import runs
from riskops.server.identity import users
from riskops.server.operations import retention
from riskops.server.triage import case_queries, queue, queue_filters
from riskops.server.triage import models as m
from riskops.server.triage.queue import encode_cursor
from riskops.server.triage.queue_filters import AlertFilter
from riskops.server.views import applying

T = TypeVar("T")

UPDATED_AFTER = (
    "Incremental sync: only rows changed after this time (exclusive), oldest change first on "
    "(updatedAt, id) unless another sort is asked for. Keep the last page's endCursor (or the "
    "last updatedAt seen) for the next pass; see docs/INTEGRATORS.md."
)


async def alert_nodes(
    info: Info, rows: Sequence[m.Alert], wanted: Iterable[str] = NESTED
) -> list[Alert]:
    """Nodes for alerts, their `wanted` nested relations batch-loaded for all of them."""
    loaders = info.context.loaders
    await loaders.load_for(rows, wanted)
    return [Alert.of(a, loaders) for a in rows]


def _selected(selections: Sequence[Selection], path: Sequence[str]) -> set[str]:
    """Names of the fields selected at `path` (e.g. edges → node), through fragments."""
    names: set[str] = set()
    for sel in selections:
        if isinstance(sel, FragmentSpread | InlineFragment):
            names |= _selected(sel.selections, path)
        elif not path:
            names.add(sel.name)
        elif sel.name == path[0]:
            names |= _selected(sel.selections, path[1:])
    return names


def _argument(field: str) -> str:
    """The GraphQL argument a service field name stands for: `score_min` → `filter.scoreMin`;
    a saved view's own filter (`view.status`) → `viewId`."""
    if field in ("sort", "first", "after"):
        return field
    if field == "updated_after":
        return "updatedAfter"
    if field.startswith("view."):
        return "viewId"
    head, *rest = field.split("_")
    return "filter." + head + "".join(part.title() for part in rest)


async def _listed(who: Principal, flt: AlertFilter, **page: Any) -> queue.AlertPage:
    """`queue.list_alerts`; invalid arguments are one GraphQL error that lists every one of
    them with its field (`extensions.errors`), `extensions.field` being the first."""
    return await _refused_filters(queue.list_alerts(who, flt, **page))


async def _refused_filters(call: Awaitable[T]) -> T:
    try:
        return await call
    except queue_filters.FilterErrors as exc:
        raise GraphQLError(
            exc.message,
            extensions={
                "code": exc.code.value,
                "field": exc.field,
                "errors": [
                    {"field": f, "argument": _argument(f), "message": m}
                    for f, m in exc.errors.items()
                ],
            },
        ) from exc


def _filter(f: AlertFilterInput | None) -> AlertFilter:
    if f is None:
        return AlertFilter()
    return AlertFilter(
        status=[s.value for s in f.status or []],
        priority=[p.value for p in f.priority or []],
        score_min=f.score_min,
        score_max=f.score_max,
        assignee=f.assignee,
        team=f.team,
        rule_id=f.rule_id,
        amount_min=f.amount_min,
        amount_max=f.amount_max,
        currency=f.currency,
        created_from=f.created_from,
        created_to=f.created_to,
        text=f.text,
    )


@strawberry.type
class AlertsQuery:
    @strawberry.field(
        description="The triage queue: filtered, sorted, keyset-paged (stable while alerts "
        "arrive). Pass `pageInfo.endCursor` as `after` with the same sort."
    )
    async def alerts(
        self,
        info: Info,
        filter: AlertFilterInput | None = None,
        sort: Annotated[
            AlertSort | None,
            strawberry.argument(description="Default: the view's sort, else SCORE."),
        ] = None,
        first: int = 50,
        after: str | None = None,
        view_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="A saved view of the alert queue: its filters apply, and `filter` "
                "narrows them further (it never widens a view)."
            ),
        ] = None,
        updated_after: Annotated[
            datetime | None,
            strawberry.argument(description=UPDATED_AFTER),
        ] = None,
    ) -> AlertConnection:
        flt, who = _filter(filter), principal(info)
        within: list[AlertFilter] = []
        order = sort.value if sort is not None else None
        if updated_after is not None:
            order = order or AlertSort.UPDATED.value
        if view_id is not None:
            _, in_view, view_sort = await query(applying.alert_filter_of(who, str(view_id)))
            within, order = [in_view], order or view_sort
        order = order or AlertSort.SCORE.value
        page = await query(
            _listed(who, flt, sort=order, first=first, after=after, within=within,
                    updated_after=updated_after)
        )  # fmt: skip
        counted: list[queue.AlertCount] = []

        async def count() -> queue.AlertCount:
            if not counted:
                counted.append(
                    await _refused_filters(
                        queue.count_changed_alerts(who, flt, updated_after, sort=order,
                                                   within=within)
                    )
                )  # fmt: skip
            return counted[0]

        # info.selected_fields is this `alerts` field itself; look below it.
        below = [sel for field in info.selected_fields for sel in field.selections]
        wanted = _selected(below, ("edges", "node")) & NESTED
        nodes = await alert_nodes(info, page.alerts, wanted)
        return AlertConnection(
            edges=[
                AlertEdge(cursor=encode_cursor(order, row), node=node)
                for row, node in zip(page.alerts, nodes, strict=True)
            ],
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor),
            count=count,
        )

    @strawberry.field(
        description="One alert of your organization with why it fired, or null. Opening it "
        "writes an `alert.view` audit event."
    )
    async def alert(self, info: Info, id: strawberry.ID) -> AlertDetail | None:
        d = await or_none(queue.get_alert_detail(principal(info), str(id)))
        if d is None:
            return None
        # The detail already holds its rule hits and signals: the loaders need not query again.
        info.context.loaders.prime(d.alert.id, d.rule_hits, d.signals)
        await info.context.loaders.load_for([d.alert], {"assignee"})
        names = await users.actor_labels(d.alert.org_id, [e.actor for e in d.history])
        return AlertDetail(
            **alert_fields(d.alert, info.context.loaders),
            history=[AlertHistoryEntry.of(e, names) for e in d.history],
            info_requests=[InfoRequest.of(r) for r in d.info_requests],
            case_ids=[as_id(c) for c in d.case_ids],
            similar=[SimilarAlert.of(s) for s in d.similar],
        )

    @strawberry.field(
        description="Cases of your organization, newest first (keyset); with `updatedAfter`, "
        "the cases changed since, oldest change first."
    )
    async def cases(
        self,
        info: Info,
        status: CaseStatus | None = None,
        severity: CaseSeverity | None = None,
        assignee_id: strawberry.ID | None = None,
        text: Annotated[
            str | None,
            strawberry.argument(description="Part of the title, or a case number (CASE-000123)."),
        ] = None,
        first: int = 50,
        after: str | None = None,
        updated_after: Annotated[
            datetime | None,
            strawberry.argument(description=UPDATED_AFTER),
        ] = None,
        archived: Annotated[
            bool | None,
            strawberry.argument(
                description="true: archived cases only; false: the others. Not given: archived "
                "cases are hidden, except with updatedAfter (a sync returns every changed case; "
                "archivedAt says which are archived)."
            ),
        ] = None,
    ) -> CaseConnection:
        page = await query(
            case_queries.list_cases(
                principal(info), status=value_of(status), severity=value_of(severity),
                assignee_id=assignee_id, text=text,
                first=first, after=after, updated_after=updated_after, archived=archived,
            )
        )  # fmt: skip
        sync = updated_after is not None
        return CaseConnection(
            edges=[
                CaseEdge(cursor=case_queries.case_cursor(c, sync=sync), node=Case.of(c))
                for c in page.items
            ],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )

    @strawberry.field(
        description="One case of your organization with its alerts and notes, or null. "
        "Opening it writes a `case.view` audit event."
    )
    async def case(self, info: Info, id: strawberry.ID) -> CaseDetail | None:
        p = principal(info)
        d = await or_none(case_queries.get_case_detail(p, str(id)))
        if d is None:
            return None
        linked = await runs.runs_of_case(p, d.case.id) if p.can(Perm.RUN_READ) else []
        run_ids = sorted(r.run_id for r in linked)
        alone = (
            ResolveAlone(allowed=d.resolve_alone.allowed, reason=d.resolve_alone.reason,
                         policy_number=d.resolve_alone.policy_number)
            if d.resolve_alone is not None else None
        )  # fmt: skip
        # the notes' answers removed by retention: one query for all of them
        removed = await retention.removed_responses(p, [n.from_response_id for n in d.notes])
        return CaseDetail.detail(
            d.case, sorted(a.id for a in d.alerts), d.notes, run_ids, alone, removed
        )
