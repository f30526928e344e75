"""The query of "My work"."""

from __future__ import annotations

import strawberry

from riskops.graphql.core.context import Info, principal, query
from riskops.graphql.work.types import MyWork
from riskops.server.work import service


@strawberry.type
class WorkQuery:
    @strawberry.field(
        description="What is waiting for the caller, as their home page shows it: alerts "
        "assigned to them (and past their SLA), their default and pinned views with counts, "
        "decisions waiting for them, their own requests and their state, open SEV0/SEV1 runs. "
        "Each item is a count and the page it links to."
    )
    async def my_work(self, info: Info) -> MyWork:
        return MyWork.of(await query(service.my_work(principal(info))))
