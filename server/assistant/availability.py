"""Whether the assistant may answer for an organization now, and if not, why, in one line.

It is off when any of these holds (checked in this order): `AGENT_SAFE_MODE=1` in the
environment (read at each call, so the flag console's change takes effect without a restart) or
the settings; the governed `assistant` kill switch is in force; no model is configured; the
organization's daily budget is spent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient

from riskops.server.assistant import budget as budgets
from riskops.server.assistant import provider
from riskops.server.core.scoping import scoped
from riskops.server.credit import kill_switches
from riskops.server.credit.models import KillSwitch
from riskops.server.identity.models import User
from riskops.server.identity.users import DELETED
from riskops.server.settings import Settings, get_settings

TRUE = frozenset({"1", "true", "yes", "on"})

SAFE_MODE = "The assistant is off: AGENT_SAFE_MODE is set on the server (agent kill switch)."
NO_MODEL = "The assistant is off: no model is configured: set RISKOPS_ASSISTANT_MODEL."


@dataclass(frozen=True)
class Availability:
    on: bool
    reason: str | None  # one line for the panel when off, e.g. "The assistant is off: ..."
    budget: Decimal  # the organization's daily budget
    spent: Decimal  # spent today (UTC)


def safe_mode(settings: Settings) -> bool:
    """AGENT_SAFE_MODE as the environment says now (or as the settings were loaded)."""
    return os.environ.get("AGENT_SAFE_MODE", "").strip().lower() in TRUE or settings.agent_safe_mode


async def availability(
    org_id: int,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
    conn: BaseDBAsyncClient | None = None,
) -> Availability:
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    today = await budgets.today(org_id, now, settings, conn)

    def off(reason: str) -> Availability:
        return Availability(False, reason, today.budget, today.spent)

    if safe_mode(settings):
        return off(SAFE_MODE)
    switch = kill_switches.assistant_off(await kill_switches.active_switches(org_id, now, conn))
    if switch is not None:
        return off(await switch_reason(switch, conn))
    if not provider.configured(settings):
        return off(NO_MODEL)
    if today.exhausted:
        return off(
            f"The assistant is off: the daily budget of {budgets.money(today.budget)} is spent "
            f"({budgets.money(today.spent)} today); it resets at 00:00 UTC."
        )
    return Availability(True, None, today.budget, today.spent)


async def switch_reason(switch: KillSwitch, conn: BaseDBAsyncClient | None = None) -> str:
    """ "The assistant is off: Ana Ruiz set the assistant kill switch at 2026-12-06 09:00 UTC
    until 2026-12-07 09:00 UTC: provider incident." """
    setter = await _name(switch.org_id, switch.set_by_id, conn)
    until = f" until {_when(switch.expires_at)}" if switch.expires_at else ""
    why = " ".join((switch.reason or "").split())
    text = f"The assistant is off: {setter} set the assistant kill switch at {_when(switch.set_at)}"
    text += until + (f": {why}" if why else "")
    return text if text.endswith(".") else text + "."


async def _name(org_id: int, user_id: int | None, conn: BaseDBAsyncClient | None) -> str:
    if user_id is None:
        return DELETED
    q = scoped(User, org_id=org_id).filter(id=user_id)
    if conn is not None:
        q = q.using_db(conn)
    user = await q.first()
    return user.name if user is not None and user.deleted_at is None else DELETED


def _when(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
