"""Whether the assistant may answer, and why not in one line, in order: AGENT_SAFE_MODE (the
environment at call time, or the settings), the governed `assistant` switch (who, when, until
when, why; expired or cleared ones do not count; another organization's does not count), no
model, the budget spent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from riskops.server.assistant.availability import NO_MODEL, SAFE_MODE, availability
from riskops.server.credit import kill_switches
from riskops.server.credit.models import KillSwitch
from riskops.server.identity.orgs import create_organization
from riskops.server.settings import Settings, get_settings
from tests.assistant.helpers import pending


def on(**overrides: object) -> Settings:
    values: dict[str, object] = {"assistant_model": "openai/gpt-4o-mini", "agent_safe_mode": False}
    values.update(overrides)
    return get_settings().model_copy(update=values)


async def test_on_with_the_budget_and_what_was_spent(tenant) -> None:
    await pending(tenant.org_id, 1, cost=Decimal("1.25"))
    state = await availability(tenant.org_id, settings=on())
    assert (state.on, state.reason) == (True, None)
    assert (state.budget, state.spent) == (Decimal("5.00"), Decimal("1.25"))


@pytest.mark.parametrize("value", ["1", "true", "YES"])
async def test_safe_mode_from_the_environment_at_call_time(tenant, monkeypatch, value) -> None:
    assert (await availability(tenant.org_id, settings=on())).on
    monkeypatch.setenv("AGENT_SAFE_MODE", value)
    state = await availability(tenant.org_id, settings=on())
    assert (state.on, state.reason) == (False, SAFE_MODE)
    monkeypatch.setenv("AGENT_SAFE_MODE", "0")
    assert (await availability(tenant.org_id, settings=on())).on


async def test_safe_mode_from_the_settings_comes_first(tenant) -> None:
    settings = on(agent_safe_mode=True, assistant_model=None)
    state = await availability(tenant.org_id, settings=settings)
    assert state.reason == SAFE_MODE


async def test_the_governed_switch_says_who_why_and_until_when(tenant) -> None:
    _, approver = await tenant.user("approver", name="Ana Ruiz")
    until = datetime.now(UTC) + timedelta(hours=6)
    switch = await kill_switches.set_kill_switch(
        approver, "assistant", None, "Provider\nincident", until
    )
    state = await availability(tenant.org_id, settings=on(assistant_model=None))
    when = f"{switch.set_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    assert state.reason == (
        f"The assistant is off: Ana Ruiz set the assistant kill switch at {when} until "
        f"{until:%Y-%m-%d %H:%M} UTC: Provider incident."
    )
    # another organization is not affected
    other = await create_organization(f"o-{tenant.slug}", "Other")
    assert (await availability(other.id, settings=on())).on
    # cleared, it is on again
    await kill_switches.clear_kill_switch(approver, switch.id, "Provider is back")
    assert (await availability(tenant.org_id, settings=on())).on


async def test_an_expired_switch_does_not_count(tenant) -> None:
    _, approver = await tenant.user("approver")
    switch = await kill_switches.set_kill_switch(approver, "assistant", None, "Short one")
    past = datetime.now(UTC) - timedelta(seconds=1)
    await KillSwitch.filter(id=switch.id).update(expires_at=past)
    assert (await availability(tenant.org_id, settings=on())).on


async def test_no_model(tenant) -> None:
    state = await availability(tenant.org_id, settings=on(assistant_model=None))
    assert (state.on, state.reason) == (False, NO_MODEL)


async def test_the_budget_spent(tenant) -> None:
    await pending(tenant.org_id, 1, cost=Decimal("5.01"))
    state = await availability(tenant.org_id, settings=on())
    assert (state.on, state.spent) == (False, Decimal("5.01"))
    assert state.reason == (
        "The assistant is off: the daily budget of $5.00 is spent ($5.01 today); it resets at "
        "00:00 UTC."
    )
    # exactly the budget is spent too; the organization's override lifts it
    bigger = on(assistant_budgets={tenant.slug: Decimal("20")})
    assert (await availability(tenant.org_id, settings=bigger)).on
