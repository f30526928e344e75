"""The controls of credit monitoring: the versioned classification policy and the kill switches
(alert suppression; backfill mode per scenario). Reads used while recording runs live here too,
so every rule about "which policy / which switch is in force" is in one place.

A kill switch is in force from `set_at` until it is cleared or `expires_at` passes: an expired
switch is off the moment it expires (every read checks the time), and a periodic job records the
expiry (clears the row and writes its audit event).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from riskops.server.classification import Policy
from riskops.server.run_models import KillSwitch, PolicyVersion


class SwitchName(StrEnum):
    ALERT_SUPPRESSION = "alert_suppression"  # notifications stop (recorded as suppressed)
    BACKFILL = "backfill"  # per scenario (scope = scenario key): SEV1 relaxed, legit signal


@dataclass(frozen=True)
class PolicyInForce:
    number: int  # 0: the built-in defaults, no version stored yet
    policy: Policy


async def current_policy(org_id: int, conn: BaseDBAsyncClient | None = None) -> PolicyInForce:
    """The newest policy version of the organization, or the defaults (number 0)."""
    q = PolicyVersion.filter(org_id=org_id).order_by("-number")
    if conn is not None:
        q = q.using_db(conn)
    row = await q.first()
    if row is None:
        return PolicyInForce(0, Policy())
    return PolicyInForce(row.number, Policy.from_dict(row.data))


def in_force(now: datetime) -> Q:
    """Switches not cleared and not expired at `now`."""
    return Q(cleared_at=None) & (Q(expires_at=None) | Q(expires_at__gt=now))


async def active_switches(
    org_id: int, now: datetime, conn: BaseDBAsyncClient | None = None
) -> list[KillSwitch]:
    q = KillSwitch.filter(in_force(now), org_id=org_id)
    if conn is not None:
        q = q.using_db(conn)
    return await q


def suppression_on(switches: list[KillSwitch]) -> bool:
    return any(s.name == SwitchName.ALERT_SUPPRESSION for s in switches)


def backfill_scenarios(switches: list[KillSwitch]) -> frozenset[str]:
    """Scenario keys in backfill mode."""
    return frozenset(s.scope for s in switches if s.name == SwitchName.BACKFILL)
