"""Assistant usage and cost: by person, model, case or kind over a period, in SQL. A response
counts toward a case when it is about the case or about one of the case's alerts (the trail
alert -> case -> LLM call -> cost)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from riskops.server.assistant.models import AssistantResponse, ResponseKind, ResponseStatus
from riskops.server.assistant.targets import KIND_WORDS
from riskops.server.core import validation
from riskops.server.core.formatting import case_ref
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, scoped
from riskops.server.identity import users
from riskops.server.triage.models import Case

MILLIONTH = Decimal("0.000001")  # the cost column's precision (6 places)


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


PERIOD_WORDS = {
    UsagePeriod.TODAY: "today (UTC)",
    UsagePeriod.LAST_7_DAYS: "the last 7 days",
    UsagePeriod.LAST_30_DAYS: "the last 30 days",
    UsagePeriod.ALL: "all time",
}


@dataclass(frozen=True)
class UsageRow:
    key: str  # user id, model name, case id or kind
    label: str  # the person's name, the model, CASE-000004, the kind in words
    responses: int
    failures: int  # failed or unavailable
    tokens_in: int
    tokens_out: int
    cost: Decimal


def parse_period(raw: UsagePeriod | str) -> UsagePeriod:
    return validation.member(UsagePeriod, raw, "Period", "period")


def parse_group(raw: UsageGroup | str) -> UsageGroup:
    return validation.member(UsageGroup, raw, "Grouping", "group_by")


def since(period: UsagePeriod, now: datetime | None = None) -> datetime | None:
    """The start of `period` (None: all time). Today is the UTC day, as the budget counts."""
    now = now or datetime.now(UTC)
    if period is UsagePeriod.TODAY:
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is UsagePeriod.LAST_7_DAYS:
        return now - timedelta(days=7)
    if period is UsagePeriod.LAST_30_DAYS:
        return now - timedelta(days=30)
    return None


# --- SQL ---------------------------------------------------------------------------------------

_FAILED = (ResponseStatus.FAILED.value, ResponseStatus.UNAVAILABLE.value)
_SUMS = (
    "COUNT(*) AS responses, "
    f"SUM(CASE WHEN x.status IN ('{_FAILED[0]}', '{_FAILED[1]}') THEN 1 ELSE 0 END) AS failures, "
    "COALESCE(SUM(x.tokens_in), 0) AS tokens_in, COALESCE(SUM(x.tokens_out), 0) AS tokens_out, "
    "{cost} AS cost"
)
# The responses of the organization in the period; for CASE, once per case they count toward:
# about the case itself, or about one of its alerts (case_alert: unique per case and alert).
_RESPONSES = (
    'SELECT r.{key} AS "key", r.status, r.tokens_in, r.tokens_out, r.cost '
    "FROM assistant_response r WHERE r.org_id = :org{when}"
)
_BY_CASE = (
    'SELECT r.target_id AS "key", r.status, r.tokens_in, r.tokens_out, r.cost '
    "FROM assistant_response r WHERE r.org_id = :org AND r.target_type = 'case'{when} "
    "UNION ALL "
    'SELECT ca.case_id AS "key", r.status, r.tokens_in, r.tokens_out, r.cost '
    "FROM assistant_response r JOIN case_alert ca ON ca.alert_id = r.target_id "
    "WHERE r.org_id = :org AND r.target_type = 'alert'{when}"
)
_GROUPED = (
    'SELECT x."key", {sums} FROM ({rows}) x GROUP BY x."key" '
    'ORDER BY cost DESC, responses DESC, x."key"'
)
_PLACEHOLDER = re.compile(r":([a-z][a-z0-9_]*)")
_COLUMN = {
    UsageGroup.USER: "requested_by_id",
    UsageGroup.MODEL: "model",
    UsageGroup.KIND: "kind",
}


def _cost_sum(dialect: str) -> str:
    # PostgreSQL sums the NUMERIC column exactly; SQLite keeps decimals as text, TOTAL reads them
    # as floats (rounded back to the column's 6 places in `_money`).
    return "COALESCE(SUM(x.cost), 0)" if dialect == "postgres" else "TOTAL(x.cost)"


def _bind(sql: str, params: dict[str, Any], dialect: str) -> tuple[str, list[Any]]:
    """`:name` placeholders as the dialect writes them: `$n` (PostgreSQL) or `?` (SQLite)."""
    values: list[Any] = []

    def one(m: re.Match[str]) -> str:
        values.append(params[m.group(1)])
        return f"${len(values)}" if dialect == "postgres" else "?"

    return _PLACEHOLDER.sub(one, sql), values


async def _grouped(org_id: int, group: UsageGroup, start: datetime | None) -> list[dict[str, Any]]:
    conn = AssistantResponse._meta.db
    dialect = conn.capabilities.dialect
    when = " AND r.created_at >= :since" if start is not None else ""
    if group is UsageGroup.CASE:
        rows = _BY_CASE.format(when=when)
    else:
        rows = _RESPONSES.format(key=_COLUMN[group], when=when)
    sql = _GROUPED.format(sums=_SUMS.format(cost=_cost_sum(dialect)), rows=rows)
    params: dict[str, Any] = {"org": org_id}
    if start is not None:
        params["since"] = start
    bound, values = _bind(sql, params, dialect)
    return list(await conn.execute_query_dict(bound, values))


def _money(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    return amount.quantize(MILLIONTH)


# --- labels ------------------------------------------------------------------------------------


async def _labels(principal: Principal, group: UsageGroup, keys: list[Any]) -> dict[str, str]:
    if group is UsageGroup.USER:
        ids = [int(k) for k in keys if k is not None]
        names = await users.actor_labels(principal.org_id, ids)
        return {str(i): users.actor_label(names, i) for i in ids}
    if group is UsageGroup.CASE:
        ids = [int(k) for k in keys if k is not None]
        numbers = await scoped(Case, principal).filter(id__in=ids).values_list("id", "number")
        return {str(i): case_ref(n) for i, n in numbers}
    if group is UsageGroup.KIND:
        return {k.value: KIND_WORDS[k] for k in ResponseKind}
    return {str(k): str(k) for k in keys if k is not None}


_NONE_LABEL = {
    UsageGroup.USER: users.DELETED,
    UsageGroup.MODEL: "no model (unavailable before a call)",
    UsageGroup.CASE: "no case",
    UsageGroup.KIND: "unknown",
}


async def usage(
    principal: Principal, period: UsagePeriod | str, group_by: UsageGroup | str
) -> list[UsageRow]:
    """Needs `assistant.usage`. Most expensive first."""
    principal.require(Perm.ASSISTANT_USAGE)
    p = parse_period(period)
    g = parse_group(group_by)
    rows = await _grouped(principal.org_id, g, since(p))
    labels = await _labels(principal, g, [r["key"] for r in rows])
    out = []
    for r in rows:
        key = "" if r["key"] is None else str(r["key"])
        out.append(
            UsageRow(
                key=key,
                label=labels.get(key, _NONE_LABEL[g]) if key else _NONE_LABEL[g],
                responses=int(r["responses"] or 0),
                failures=int(r["failures"] or 0),
                tokens_in=int(r["tokens_in"] or 0),
                tokens_out=int(r["tokens_out"] or 0),
                cost=_money(r["cost"]),
            )
        )
    # The SQL sorts by cost already; SQLite's float sums may tie differently: sort exactly.
    return sorted(out, key=lambda u: (-u.cost, -u.responses, u.key))


async def case_cost(principal: Principal, case_id: str | int) -> Decimal:
    """The assistant's cost on one case and its alerts (shown on the case page; `case.read`)."""
    principal.require(Perm.CASE_READ)
    case = await get_scoped(Case, principal, case_id, "Case")
    costs = await case_costs(principal, [case.id])
    return costs.get(case.id, Decimal(0))


async def case_costs(principal: Principal, case_ids: list[int]) -> dict[int, Decimal]:
    """The assistant's cost of each of these cases of the caller's organization, in one query
    (a page of cases costs one query, whatever its size). Cases with none are left out."""
    principal.require(Perm.CASE_READ)
    wanted = sorted({int(i) for i in case_ids})
    if not wanted:
        return {}
    conn = AssistantResponse._meta.db
    dialect = conn.capabilities.dialect
    marks = ", ".join(f":c{n}" for n in range(len(wanted)))
    rows = _BY_CASE.format(when="")
    sql = (
        f'SELECT x."key", {_cost_sum(dialect)} AS cost FROM ({rows}) x '
        f'WHERE x."key" IN ({marks}) GROUP BY x."key"'
    )
    params: dict[str, Any] = {"org": principal.org_id}
    params.update({f"c{n}": i for n, i in enumerate(wanted)})
    bound, values = _bind(sql, params, dialect)
    found = await conn.execute_query_dict(bound, values)
    return {int(r["key"]): _money(r["cost"]) for r in found if r["key"] is not None}
