"""Whether the assistant may answer for an organization now, and if not, why, in one line.

It is off when any of these holds (checked in this order): `AGENT_SAFE_MODE=1` in the
environment (read at each call, so the flag console's change takes effect without a restart) or
the settings; the governed `assistant` kill switch is in force; no model is configured; the
organization's daily budget is spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Availability:
    on: bool
    reason: str | None  # one line for the panel when off, e.g. "The assistant is off: ..."
    budget: Decimal  # the organization's daily budget
    spent: Decimal  # spent today (UTC)


async def availability(org_id: int) -> Availability:
    raise NotImplementedError  # issue 13: h/provider
