"""Assistant queries: one stored response (poll it while PENDING), the responses about an
alert, case or run, the usage and cost of the assistant, and whether it is on. Every resolver
calls one service."""

from __future__ import annotations

from typing import Annotated

import strawberry

from riskops.graphql.assistant.types import (
    AssistantAvailability,
    AssistantResponse,
    AssistantTargetType,
    AssistantUsageGroup,
    AssistantUsagePeriod,
    AssistantUsageRow,
    response_nodes,
)
from riskops.graphql.core.context import Info, or_none, principal, query
from riskops.graphql.core.inputs import value_of
from riskops.server.assistant import service
from riskops.server.assistant import usage as usage_service
from riskops.server.assistant.usage import UsagePeriod


@strawberry.type
class AssistantQuery:
    @strawberry.field(
        description="One stored answer of the assistant; null when it does not exist or is "
        "another organization's. Needs assistant.read and the read permission of its target."
    )
    async def assistant_response(self, info: Info, id: strawberry.ID) -> AssistantResponse | None:
        who = principal(info)
        response = await or_none(service.get_response(who, str(id)))
        return (await response_nodes(who, [response]))[0] if response is not None else None

    @strawberry.field(
        description="The assistant's answers about one alert, case or run, newest first."
    )
    async def assistant_responses(
        self,
        info: Info,
        target_type: AssistantTargetType,  # type: ignore[valid-type]
        target_id: strawberry.ID,
        first: Annotated[int, strawberry.argument(description="1 to 100.")] = 20,
    ) -> list[AssistantResponse]:
        who = principal(info)
        rows = await query(
            service.list_responses(who, value_of(target_type) or "", str(target_id), first=first)
        )
        return await response_nodes(who, rows)

    @strawberry.field(
        description="The assistant's use and cost over a period, by person, model, case (about "
        "the case or one of its alerts) or kind, most expensive first. Needs assistant.usage."
    )
    async def assistant_usage(
        self,
        info: Info,
        group_by: AssistantUsageGroup,  # type: ignore[valid-type]
        period: AssistantUsagePeriod = UsagePeriod.LAST_7_DAYS,  # type: ignore[valid-type]
    ) -> list[AssistantUsageRow]:
        rows = await query(
            usage_service.usage(principal(info), value_of(period) or "", value_of(group_by) or "")
        )
        return [AssistantUsageRow.of(r) for r in rows]

    @strawberry.field(
        description="Whether the assistant answers for your organization now (and why not), "
        "with its daily budget and what was spent today. Needs assistant.read or "
        "assistant.usage."
    )
    async def assistant_status(self, info: Info) -> AssistantAvailability:
        return AssistantAvailability.of(await query(service.status(principal(info))))
