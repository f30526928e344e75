"""The assistant's daily budget per organization: what it may spend (the settings' default, or
the organization's override by slug) and what it spent today (UTC), summed in SQL over the
responses created today (index org_id, created_at); and the early warnings at 80 and 95
percent of it, each sent once per organization and day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Sum

from riskops.server.assistant.models import AssistantResponse
from riskops.server.core.scoping import scoped
from riskops.server.identity.models import Organization
from riskops.server.settings import Settings, get_settings

THRESHOLDS = (80, 95)  # percent of the daily budget at which the review channel is told
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Budget:
    budget: Decimal  # what the organization may spend today
    spent: Decimal  # what it spent today (UTC)
    day: date

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.budget

    def crossed(self) -> list[int]:
        """The warning thresholds (percent) today's spending has reached."""
        if self.budget <= 0:
            return []
        return [t for t in THRESHOLDS if self.spent * 100 >= self.budget * t]


def day_of(now: datetime) -> tuple[date, datetime, datetime]:
    """The UTC day of `now`, with its start and the next day's start."""
    day = now.astimezone(UTC).date()
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return day, start, start + timedelta(days=1)


async def spent_today(
    org_id: int, now: datetime | None = None, conn: BaseDBAsyncClient | None = None
) -> Decimal:
    """SUM(cost) of the organization's responses created today (UTC), in one query."""
    _, start, end = day_of(now or datetime.now(UTC))
    q = scoped(AssistantResponse, org_id=org_id).filter(created_at__gte=start, created_at__lt=end)
    if conn is not None:
        q = q.using_db(conn)
    rows = await q.annotate(total=Sum("cost")).values_list("total", flat=True)
    total = rows[0] if rows else None
    return Decimal(str(total)) if total is not None else Decimal(0)


async def daily_budget(
    org_id: int, settings: Settings | None = None, conn: BaseDBAsyncClient | None = None
) -> Decimal:
    """The organization's daily budget: RISKOPS_ASSISTANT_BUDGETS[slug], or the default."""
    settings = settings or get_settings()
    q = scoped(Organization, org_id=org_id)
    if conn is not None:
        q = q.using_db(conn)
    slug = await q.values_list("slug", flat=True)
    return settings.assistant_budget_for(str(slug[0])) if slug else settings.assistant_daily_budget


async def today(
    org_id: int,
    now: datetime | None = None,
    settings: Settings | None = None,
    conn: BaseDBAsyncClient | None = None,
) -> Budget:
    now = now or datetime.now(UTC)
    return Budget(
        budget=await daily_budget(org_id, settings, conn),
        spent=await spent_today(org_id, now, conn),
        day=day_of(now)[0],
    )


def money(value: Decimal) -> str:
    """$5.00; an amount under a cent keeps four decimals ($0.0004), so it does not read $0.00."""
    if value != 0 and abs(value) < CENT:
        return f"${value:.4f}"
    return f"${value.quantize(CENT):,}"
