"""Kill switches (seed 001 §5, seed 002): alert suppression and backfill mode per scenario, each
with a reason and an optional expiry, set and cleared by approvers and audited."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import Actor, Entry, RiskLevel
from riskops.server.core import formatting, validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict, Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import lock_scoped, parse_id, scoped
from riskops.server.credit.models import KillSwitch, Scenario
from riskops.server.credit.policy import MAX_VERSIONS, in_force, parse_reason
from riskops.server.identity import users
from riskops.server.identity.orgs import lock_organization

log = logging.getLogger("riskops.controls")


MAX_EXPIRY = timedelta(days=90)


SCHEDULER = "scheduler"  # the system actor that records expiries


class SwitchName(StrEnum):
    ALERT_SUPPRESSION = "alert_suppression"  # notifications stop (recorded as suppressed)
    BACKFILL = "backfill"  # per scenario (scope = scenario key): SEV1 relaxed, legit signal
    # the assistant is off for the organization (seed 001 section 5, the agent kill switch): no
    # prompt leaves the process, the panels show the structured explanation
    ASSISTANT = "assistant"


async def active_switches(
    org_id: int, now: datetime, conn: BaseDBAsyncClient | None = None
) -> list[KillSwitch]:
    q = scoped(KillSwitch, org_id=org_id).filter(in_force(now))
    if conn is not None:
        q = q.using_db(conn)
    return await q


def suppression_on(switches: list[KillSwitch]) -> bool:
    return any(s.name == SwitchName.ALERT_SUPPRESSION for s in switches)


def assistant_off(switches: list[KillSwitch]) -> KillSwitch | None:
    """The `assistant` switch in force among `switches`, if any."""
    return next((s for s in switches if s.name == SwitchName.ASSISTANT), None)


def backfill_scenarios(switches: list[KillSwitch]) -> frozenset[str]:
    """Scenario keys in backfill mode."""
    return frozenset(s.scope for s in switches if s.name == SwitchName.BACKFILL)


def _switch_name(raw: Any) -> SwitchName:
    choices = validation.choices(SwitchName)
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid(f"Switch is required; choose one of {choices}.", field="name")
    try:
        return SwitchName(raw.strip().lower())
    except ValueError:
        raise Invalid(
            f"Switch '{raw}' is unknown; choose one of {choices}.", field="name"
        ) from None


def _expiry(raw: Any, now: datetime) -> datetime | None:
    if raw is None:
        return None
    if not isinstance(raw, datetime):
        raise Invalid("expires_at must be a date and time.", field="expires_at")
    when = raw.replace(tzinfo=UTC) if raw.tzinfo is None else raw.astimezone(UTC)
    if when <= now:
        raise Invalid(
            f"expires_at {when:%Y-%m-%d %H:%M} UTC is not in the future; give a later time "
            "or none.",
            field="expires_at",
        )
    if when > now + MAX_EXPIRY:
        raise Invalid(
            f"expires_at is more than {MAX_EXPIRY.days} days ahead; choose an earlier time "
            "(set the switch again when it expires if it is still needed).",
            field="expires_at",
        )
    return when


def switch_state(switch: KillSwitch, now: datetime) -> str:
    """ "in_force", "cleared" or "expired" (an expired switch is off even before the job
    records it)."""
    if switch.cleared_at is not None:
        expired = switch.expires_at is not None and switch.cleared_at >= switch.expires_at
        return "expired" if expired and switch.cleared_by_id is None else "cleared"
    if switch.expires_at is not None and switch.expires_at <= now:
        return "expired"
    return "in_force"


async def set_kill_switch(
    principal: Principal,
    name: str,
    scope: str | None,
    reason: str,
    expires_at: datetime | None = None,
) -> KillSwitch:
    """Turn a switch on: alert suppression (scope "") or backfill mode for one scenario (scope =
    its key). The same switch already in force is a Conflict naming who set it and when."""
    principal.require(Perm.POLICY_MANAGE)
    switch = _switch_name(name)
    if scope is not None and not isinstance(scope, str):
        raise Invalid("scope must be text.", field="scope")
    key = (scope or "").strip()
    if switch is not SwitchName.BACKFILL and key:
        raise Invalid(
            f"{switch.value} applies to the whole organization: leave scope empty.",
            field="scope",
        )
    if switch is SwitchName.BACKFILL and not key:
        raise Invalid(
            "backfill needs a scope: the key of the scenario to put in backfill mode.",
            field="scope",
        )
    if key:
        key = validation.scenario_key(key, "scope")
    text = parse_reason(reason)
    now = datetime.now(UTC)
    expires = _expiry(expires_at, now)
    async with in_transaction() as conn:
        await lock_organization(principal, conn)
        if switch is SwitchName.BACKFILL:
            exists = await scoped(Scenario, principal).filter(key=key).using_db(conn).exists()
            if not exists:
                raise Invalid(
                    f"scope '{key[:128]}' is not a scenario of your organization; give the key "
                    "of an existing scenario (e.g. BINDER_EXPORT_WEEKLY).",
                    field="scope",
                )
        on = (
            await scoped(KillSwitch, principal)
            .filter(in_force(now), name=switch.value, scope=key)
            .using_db(conn)
            .first()
        )  # fmt: skip
        if on is not None:
            what = switch.value + (f" for {key}" if key else "")
            until = f" until {formatting.when(on.expires_at)}" if on.expires_at else ""
            setter = await users.name_of(principal, on.set_by_id, conn)
            raise Conflict(
                f"{what} is already in force: set by {setter} at "
                f"{formatting.when(on.set_at)}{until}. Clear it first to set it again.",
                field="name",
                switch_id=on.id,
            )
        row = await KillSwitch.create(
            org_id=principal.org_id,
            name=switch.value,
            scope=key,
            reason=text,
            set_by_id=principal.user_id or None,
            set_at=now,
            expires_at=expires,
            using_db=conn,
        )
        await record(
            principal, conn, "kill_switch.set", "kill_switch", row.id,
            new={"name": switch.value, "scope": key,
                 "expires_at": expires.isoformat() if expires else None},
            risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    return row


async def clear_kill_switch(principal: Principal, switch_id: str | int, reason: str) -> KillSwitch:
    """Turn a switch off before it expires. The clearing reason is kept on the row."""
    principal.require(Perm.POLICY_MANAGE)
    parse_id("KillSwitch", switch_id)  # a garbled id is not found before the reason is judged
    text = parse_reason(reason)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        row = await lock_scoped(KillSwitch, principal, conn, switch_id, "KillSwitch")
        state = switch_state(row, now)
        if state == "cleared":
            assert row.cleared_at is not None
            raise Conflict(
                f"Kill switch {row.id} was already cleared by "
                f"{await users.name_of(principal, row.cleared_by_id, conn)} at "
                f"{formatting.when(row.cleared_at)}.",
                field="switch_id",
            )
        if state == "expired":
            assert row.expires_at is not None
            raise Conflict(
                f"Kill switch {row.id} already expired at {formatting.when(row.expires_at)}; "
                "it is off.",
                field="switch_id",
            )
        # Free text stays in our rows, never in the audit chain.
        row.clear_reason = text
        row.cleared_at, row.cleared_by_id = now, principal.user_id or None
        updated = (
            await scoped(KillSwitch, principal)
            .filter(id=row.id, cleared_at=None)
            .using_db(conn)
            .update(clear_reason=text, cleared_at=now, cleared_by_id=row.cleared_by_id)
        )
        if updated != 1:
            raise Conflict(f"Kill switch {row.id} was cleared meanwhile.", field="switch_id")
        await record(
            principal, conn, "kill_switch.clear", "kill_switch", row.id,
            old={"cleared_at": None},
            new={"name": row.name, "scope": row.scope, "cleared_at": now.isoformat()},
            risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    return row


async def list_kill_switches(
    principal: Principal, include_inactive: bool = False
) -> list[KillSwitch]:
    """Switches in force (and with `include_inactive` the cleared and expired ones), newest
    first (at most 200)."""
    principal.require(Perm.RUN_READ)
    q = scoped(KillSwitch, principal)
    if not include_inactive:
        q = q.filter(in_force(datetime.now(UTC)))
    return await q.order_by("-set_at", "-id").limit(MAX_VERSIONS)


async def expire_kill_switches(now: datetime | None = None) -> int:
    """Record every switch whose expiry passed (of every organization): cleared at its expiry,
    with a `kill_switch.expired` audit event by the scheduler. Idempotent."""
    now = now or datetime.now(UTC)
    due = await KillSwitch.filter(cleared_at=None, expires_at__lte=now).order_by("id")
    done = 0
    for row in due:
        assert row.expires_at is not None
        async with in_transaction() as conn:
            updated = (
                await scoped(KillSwitch, org_id=row.org_id)
                .filter(id=row.id, cleared_at=None)
                .using_db(conn)
                .update(cleared_at=row.expires_at)
            )
            if updated != 1:
                continue  # another scheduler recorded it
            actor = Actor(org_id=row.org_id, actor=SCHEDULER, actor_type="system")
            entry = Entry(
                "kill_switch.expired", "kill_switch", row.id, {"cleared_at": None},
                {"name": row.name, "scope": row.scope,
                 "cleared_at": row.expires_at.astimezone(UTC).isoformat()},
                RiskLevel.MEDIUM,
            )  # fmt: skip
            await store.append(actor, entry, conn)
        done += 1
    if done:
        log.info("recorded %d expired kill switch(es)", done)
    return done
