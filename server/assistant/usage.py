"""Assistant usage and cost: by person, model, case or kind over a period, in SQL. A response
counts toward a case when it is about the case or about one of the case's alerts (the trail
alert -> case -> LLM call -> cost)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from riskops.server.core.principal import Principal


class UsagePeriod(StrEnum):
    TODAY = "today"
    LAST_7_DAYS = "7d"
    LAST_30_DAYS = "30d"
    ALL = "all"


class UsageGroup(StrEnum):
    USER = "user"
    MODEL = "model"
    CASE = "case"
    KIND = "kind"


@dataclass(frozen=True)
class UsageRow:
    key: str  # user id, model name, case id or kind
    label: str  # the person's name, the model, CASE-000004, the kind in words
    responses: int
    failures: int  # failed or unavailable
    tokens_in: int
    tokens_out: int
    cost: Decimal


async def usage(
    principal: Principal, period: UsagePeriod | str, group_by: UsageGroup | str
) -> list[UsageRow]:
    """Needs `assistant.usage`. Most expensive first."""
    raise NotImplementedError  # issue 13: h/api


async def case_cost(principal: Principal, case_id: str | int) -> Decimal:
    """The assistant's cost on one case and its alerts (shown on the case page; `case.read`)."""
    raise NotImplementedError  # issue 13: h/api
