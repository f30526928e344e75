"""The daily budget: today's spending summed in SQL over today's responses (UTC) of the
organization only, the override by slug, the thresholds reached, and money as the panel
writes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from riskops.server.assistant import budget as budgets
from riskops.server.assistant.budget import Budget
from riskops.server.assistant.models import AssistantResponse
from riskops.server.identity.orgs import create_organization
from riskops.server.settings import get_settings
from tests.assistant.helpers import pending


async def test_spent_today_sums_todays_responses_of_the_organization(tenant) -> None:
    await pending(tenant.org_id, 1, cost=Decimal("0.25"))
    await pending(tenant.org_id, 2, cost=Decimal("0.000125"))
    await pending(tenant.org_id, 3)  # pending: nothing spent yet
    yesterday = await pending(tenant.org_id, 4, cost=Decimal("3"))
    await AssistantResponse.filter(id=yesterday.id).update(
        created_at=datetime.now(UTC) - timedelta(days=1)
    )
    other = await create_organization(f"o-{tenant.slug}", "Other")
    await pending(other.id, 1, cost=Decimal("7"))

    assert await budgets.spent_today(tenant.org_id) == Decimal("0.250125")
    assert await budgets.spent_today(other.id) == Decimal("7")
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert await budgets.spent_today(tenant.org_id, tomorrow) == 0


async def test_the_budget_is_the_default_or_the_organizations_override(tenant) -> None:
    settings = get_settings().model_copy(
        update={
            "assistant_daily_budget": Decimal("5"),
            "assistant_budgets": {tenant.slug: Decimal("25")},
        }
    )
    assert await budgets.daily_budget(tenant.org_id, settings) == Decimal("25")
    other = await create_organization(f"o-{tenant.slug}", "Other")
    assert await budgets.daily_budget(other.id, settings) == Decimal("5")


def test_thresholds_reached() -> None:
    day = datetime.now(UTC).date()
    assert Budget(Decimal("1"), Decimal("0.79"), day).crossed() == []
    assert Budget(Decimal("1"), Decimal("0.80"), day).crossed() == [80]
    assert Budget(Decimal("1"), Decimal("0.97"), day).crossed() == [80, 95]
    assert Budget(Decimal("0"), Decimal("0"), day).crossed() == []
    assert Budget(Decimal("0"), Decimal("0"), day).exhausted  # a zero budget turns it off
    assert not Budget(Decimal("1"), Decimal("0.99"), day).exhausted


def test_money() -> None:
    assert budgets.money(Decimal("5")) == "$5.00"
    assert budgets.money(Decimal("5.0149")) == "$5.01"
    assert budgets.money(Decimal("1234.5")) == "$1,234.50"
    assert budgets.money(Decimal("0.000125")) == "$0.0001"
    assert budgets.money(Decimal("0")) == "$0.00"
