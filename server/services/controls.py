"""The controls of credit monitoring: the versioned classification policy (changed by
maker-checker: one approver proposes a version, another approves it) and the kill switches
(alert suppression; backfill mode per scenario). Reads used while recording runs live here too,
so every rule about "which policy / which switch is in force" is in one place.

A kill switch is in force from `set_at` until it is cleared or `expires_at` passes: an expired
switch is off the moment it expires (every read checks the time), and a periodic job records the
expiry (clears the row and writes its audit event).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import Actor, Entry, RiskLevel
from riskops.server.classification import Policy
from riskops.server.errors import Conflict, Invalid, not_found
from riskops.server.permissions import Perm
from riskops.server.principal import Principal
from riskops.server.run_models import ChangeStatus, KillSwitch, PolicyVersion, Scenario
from riskops.server.services import approvals, validation
from riskops.server.services.audit_trail import record
from riskops.server.services.scoping import lock_organization, lock_scoped, parse_id, scoped

log = logging.getLogger("riskops.controls")

MAX_REASON = 2000
MAX_EXPIRY = timedelta(days=90)
MAX_VERSIONS = 200
SCHEDULER = "scheduler"  # the system actor that records expiries


class SwitchName(StrEnum):
    ALERT_SUPPRESSION = "alert_suppression"  # notifications stop (recorded as suppressed)
    BACKFILL = "backfill"  # per scenario (scope = scenario key): SEV1 relaxed, legit signal


@dataclass(frozen=True)
class PolicyInForce:
    number: int  # 0: the built-in defaults, no version stored yet
    policy: Policy
    version: PolicyVersion | None = None  # the stored row (reason, who, when); None for defaults


async def current_policy(org_id: int, conn: BaseDBAsyncClient | None = None) -> PolicyInForce:
    """The newest approved policy version of the organization, or the defaults (number 0)."""
    q = PolicyVersion.filter(org_id=org_id, status=ChangeStatus.APPROVED).order_by("-number")
    if conn is not None:
        q = q.using_db(conn)
    row = await q.first()
    if row is None:
        return PolicyInForce(0, Policy())
    return PolicyInForce(row.number, Policy.from_dict(row.data), row)


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


# --- what each policy field means (pages, GraphQL) ---------------------------------------------

POLICY_MEANINGS: dict[str, str] = {
    "sev0_multiplier": "SEV0 when credits are at least this many times the baseline and the run "
    "touched PII or regulatory data.",
    "sev1_multiplier": "SEV1 at this many times the baseline.",
    "sev2_multiplier": "SEV2 at this many times the baseline (weekly review).",
    "sev3_multiplier": "SEV3 at this many times the baseline.",
    "backfill_relax": "For a scenario in backfill mode the SEV1 multiplier is multiplied by this.",
    "retry_limit": "retry_loop when a run retried more often than this.",
    "unbounded_items_limit": "unbounded_iterator when a run without max_items processed more "
    "items than this.",
    "linear_scaling_tolerance": "linear_scaling when credits per item are within this fraction "
    "of the scenario's usual.",
    "prompt_growth_factor": "sudden_prompt_growth when prompt tokens are at least this many "
    "times the scenario's median.",
    "deployment_window_minutes": "deployment_correlation when a deploy happened at most this "
    "many minutes before the run started.",
    "weight_retry_loop": "Misconfig weight of retry_loop.",
    "weight_unbounded_iterator": "Misconfig weight of unbounded_iterator.",
    "weight_sudden_prompt_growth": "Misconfig weight of sudden_prompt_growth.",
    "weight_deployment_correlation": "Misconfig weight of deployment_correlation.",
    "weight_batch_job": "Legit weight of batch_job (subtracted).",
    "weight_linear_scaling": "Legit weight of linear_scaling (subtracted).",
    "weight_backfill": "Legit weight of backfill mode (subtracted).",
    "likelihood_high": "Misconfig likelihood is High at this score or more.",
    "likelihood_medium": "Misconfig likelihood is Medium at this score or more.",
    "sev2_pattern_count": "A case is opened when a scenario has this many SEV2 runs ...",
    "sev2_pattern_days": "... within this many days.",
    "baseline_window_days": "Days of healthy runs a calculated baseline uses.",
    "candidate_min_runs": "Baseline candidates need at least this many runs in the period.",
    "candidate_max_cv": "Baseline candidates need a coefficient of variation below this.",
    "candidate_max_variance": "Baseline candidates need period median / baseline below this.",
    "confirm_change_above_pct": "A baseline change above this percentage needs explicit "
    "confirmation.",
}

POLICY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Policy))
INT_FIELDS = frozenset(f.name for f in fields(Policy) if f.type == "int")


# --- input checks ------------------------------------------------------------------------------


def _reason(raw: Any, name: str = "reason") -> str:
    return validation.long_text(
        raw, name, max_len=MAX_REASON, why="say why (it is kept with the change)"
    )


def _whole(raw: Any, name: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise Invalid(f"{name} must be a whole number, not {raw!r}.", field=name)
    return raw


def _switch_name(raw: Any) -> SwitchName:
    choices = ", ".join(s.value for s in SwitchName)
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid(f"name is required; choose one of {choices}.", field="name")
    try:
        return SwitchName(raw.strip().lower())
    except ValueError:
        raise Invalid(f"name '{raw}' is unknown; choose one of {choices}.", field="name") from None


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


def _when(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


# --- the policy --------------------------------------------------------------------------------


async def get_policy(principal: Principal) -> PolicyInForce:
    """The policy in force (number 0: the built-in defaults)."""
    principal.require(Perm.RUN_READ)
    return await current_policy(principal.org_id)


async def list_policy_versions(principal: Principal) -> list[PolicyVersion]:
    """The stored versions, newest first (at most 200)."""
    principal.require(Perm.RUN_READ)
    return await scoped(PolicyVersion, principal).order_by("-number").limit(MAX_VERSIONS)


def changed_fields(old: Policy, new: Policy) -> dict[str, tuple[float | int, float | int]]:
    """Field -> (old, new) for the fields that differ."""
    before, after = old.to_dict(), new.to_dict()
    return {k: (before[k], after[k]) for k in before if before[k] != after[k]}


@dataclass(frozen=True)
class PolicyProposal:
    """The open proposal of an organization, with what it changes relative to the version in
    force (field -> (in force, proposed))."""

    version: PolicyVersion
    in_force: PolicyInForce
    changes: dict[str, tuple[float | int, float | int]]


async def _open_proposal(
    org_id: int, conn: BaseDBAsyncClient | None = None
) -> PolicyVersion | None:
    q = PolicyVersion.filter(org_id=org_id, status=ChangeStatus.PROPOSED).order_by("number")
    if conn is not None:
        q = q.using_db(conn)
    return await q.first()


async def open_policy_proposal(principal: Principal) -> PolicyProposal | None:
    """The proposed version waiting for another approver (at most one per organization)."""
    principal.require(Perm.RUN_READ)
    row = await _open_proposal(principal.org_id)
    if row is None:
        return None
    current = await current_policy(principal.org_id)
    return PolicyProposal(row, current, changed_fields(current.policy, Policy.from_dict(row.data)))


def version_changes(
    versions: list[PolicyVersion],
) -> dict[int, dict[str, tuple[float | int, float | int]]]:
    """For each version (by id): what it changes relative to the approved version before it
    (the defaults before the first). Rejected and proposed versions are compared the same way
    but never become the base of a later one."""
    base, out = Policy(), {}
    for v in sorted(versions, key=lambda v: v.number):
        policy = Policy.from_dict(v.data)
        out[v.id] = changed_fields(base, policy)
        if v.status is ChangeStatus.APPROVED:
            base = policy
    return out


def _number(raw: Any) -> int:
    value = _whole(raw, "number")
    if value < 1:
        raise Invalid(
            f"number {value} is not a policy version; give the number of the proposed version "
            "(1 or more).",
            field="number",
        )
    return value


async def change_policy(
    principal: Principal, values: dict[str, Any], reason: str, expected_number: int
) -> PolicyVersion:
    """Propose a new policy version: `values` (the changed fields) merged over the policy in
    force. It is PROPOSED and another approver puts it in force (`approve_policy_change`);
    until then runs keep being classified with the version in force. `expected_number` is the
    number in force when the change was made (stale: Conflict); one open proposal per
    organization (a second is a Conflict naming the first)."""
    principal.require(Perm.POLICY_MANAGE)
    if not isinstance(values, Mapping):
        raise Invalid("values must be an object of field -> new value.", field="values")
    if not values:
        raise Invalid(
            f"values is empty; give the field(s) to change, from: {', '.join(POLICY_FIELDS)}.",
            field="values",
        )
    text = _reason(reason)
    expected = _whole(expected_number, "expected_number")
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        await lock_organization(principal, conn)
        current = await current_policy(principal.org_id, conn)
        if current.number != expected:
            raise Conflict(
                f"The policy was changed by someone else: version {current.number} is in force "
                f"(you had version {expected}). Reload it and make your change again.",
                field="expected_number",
                current_number=current.number,
            )
        pending = await _open_proposal(principal.org_id, conn)
        if pending is not None:
            proposer = await approvals.name_of(pending.set_by_id, conn)
            raise Conflict(
                f"Policy version {pending.number} proposed by "
                f"{proposer} at {_when(pending.created_at)} is "
                "still open: another approver approves or rejects it (its proposer may "
                "withdraw it) before a new change can be proposed.",
                field="values",
                proposal_number=pending.number,
            )
        new = Policy.from_dict({**current.policy.to_dict(), **dict(values)})
        changes = changed_fields(current.policy, new)
        if not changes:
            raise Invalid(
                "values change nothing: every value given equals the policy in force.",
                field="values",
            )
        # Numbers are never reused (rejected versions keep theirs): the next after the highest.
        last = (
            await PolicyVersion.filter(org_id=principal.org_id)
            .using_db(conn)
            .order_by("-number")
            .first()
        )
        version = await PolicyVersion.create(
            org_id=principal.org_id,
            number=max(last.number if last else 0, current.number) + 1,
            data=new.to_dict(),
            reason=text,
            set_by_id=principal.user_id or None,
            created_at=now,
            status=ChangeStatus.PROPOSED,
            using_db=conn,
        )
        await record(
            principal, conn, "policy.propose", "policy_version", version.id,
            old={k: v[0] for k, v in changes.items()},
            new={"number": version.number, **{k: v[1] for k, v in changes.items()}},
            risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    return version


async def _locked_proposal(
    principal: Principal, conn: BaseDBAsyncClient, number: int
) -> PolicyVersion:
    row = (
        await scoped(PolicyVersion, principal)
        .filter(number=number)
        .select_for_update()
        .using_db(conn)
        .first()
    )
    if row is None:
        raise not_found("PolicyVersion", number)
    if row.status is not ChangeStatus.PROPOSED:
        when = f" at {_when(row.decided_at)}" if row.decided_at else ""
        by = (
            f" by {await approvals.name_of(row.decided_by_id, conn)}"
            if row.decided_by_id is not None or row.decided_at is not None
            else ""
        )
        raise Conflict(
            f"Policy version {row.number} was already {ChangeStatus(row.status).value}{by}{when}; "
            "nothing to decide.",
            field="number",
            current_status=ChangeStatus(row.status).value,
        )
    return row


async def approve_policy_change(principal: Principal, number: int, reason: str) -> PolicyVersion:
    """Put a proposed version in force. Not by its proposer (maker-checker: Forbidden);
    refused (Conflict) when another version came in force after it was proposed."""
    principal.require(Perm.POLICY_MANAGE)
    n = _number(number)
    text = _reason(reason)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        await lock_organization(principal, conn)
        row = await _locked_proposal(principal, conn, n)
        approvals.require_checker(
            principal, row.set_by_id,
            f"policy version {row.number} (you may reject it to withdraw it)",
        )  # fmt: skip
        current = await current_policy(principal.org_id, conn)
        since = (
            current.version.decided_at or current.version.created_at if current.version else None
        )
        if current.number > row.number or (since is not None and since > row.created_at):
            raise Conflict(
                f"Version {current.number} came in force after version {row.number} was "
                f"proposed ({_when(row.created_at)}), so the proposal was made against an "
                f"older policy: reject it and propose the change again from version "
                f"{current.number}.",
                field="number",
                current_number=current.number,
            )
        changes = changed_fields(current.policy, Policy.from_dict(row.data))
        await approvals.decide(
            conn, PolicyVersion, row, ChangeStatus.APPROVED,
            what=f"Policy version {row.number}", field="number",
            decided_by_id=principal.user_id or None, decided_at=now, decision_reason=text,
        )  # fmt: skip
        await record(
            principal, conn, "policy.change", "policy_version", row.id,
            old={k: v[0] for k, v in changes.items()},
            new={k: v[1] for k, v in changes.items()},
            risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    return row


async def reject_policy_change(principal: Principal, number: int, reason: str) -> PolicyVersion:
    """Reject a proposed version with a reason (its proposer may reject it to withdraw it)."""
    principal.require(Perm.POLICY_MANAGE)
    n = _number(number)
    text = _reason(reason)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        await lock_organization(principal, conn)
        row = await _locked_proposal(principal, conn, n)
        await approvals.decide(
            conn, PolicyVersion, row, ChangeStatus.REJECTED,
            what=f"Policy version {row.number}", field="number",
            decided_by_id=principal.user_id or None, decided_at=now, decision_reason=text,
        )  # fmt: skip
        await record(
            principal, conn, "policy.reject", "policy_version", row.id,
            old={"status": ChangeStatus.PROPOSED.value},
            new={"status": ChangeStatus.REJECTED.value, "number": row.number,
                 "withdrawn": row.set_by_id is not None and row.set_by_id == principal.user_id},
        )  # fmt: skip
    return row


# --- kill switches -----------------------------------------------------------------------------


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
    if switch is SwitchName.ALERT_SUPPRESSION and key:
        raise Invalid(
            "alert_suppression applies to the whole organization: leave scope empty.",
            field="scope",
        )
    if switch is SwitchName.BACKFILL and not key:
        raise Invalid(
            "backfill needs a scope: the key of the scenario to put in backfill mode.",
            field="scope",
        )
    if key:
        key = validation.scenario_key(key, "scope")
    text = _reason(reason)
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
            await KillSwitch.filter(in_force(now), org_id=principal.org_id, name=switch.value,
                                    scope=key)
            .using_db(conn)
            .first()
        )  # fmt: skip
        if on is not None:
            what = switch.value + (f" for {key}" if key else "")
            until = f" until {_when(on.expires_at)}" if on.expires_at else ""
            setter = await approvals.name_of(on.set_by_id, conn)
            raise Conflict(
                f"{what} is already in force: set by {setter} at "
                f"{_when(on.set_at)}{until}. Clear it first to set it again.",
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
    text = _reason(reason)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        row = await lock_scoped(KillSwitch, principal, conn, switch_id, "KillSwitch")
        state = switch_state(row, now)
        if state == "cleared":
            assert row.cleared_at is not None
            raise Conflict(
                f"Kill switch {row.id} was already cleared by "
                f"{await approvals.name_of(row.cleared_by_id, conn)} at {_when(row.cleared_at)}.",
                field="switch_id",
            )
        if state == "expired":
            assert row.expires_at is not None
            raise Conflict(
                f"Kill switch {row.id} already expired at {_when(row.expires_at)}; it is off.",
                field="switch_id",
            )
        # Free text stays in our rows, never in the audit chain.
        row.clear_reason = text
        row.cleared_at, row.cleared_by_id = now, principal.user_id or None
        updated = (
            await KillSwitch.filter(id=row.id, cleared_at=None)
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
                await KillSwitch.filter(id=row.id, cleared_at=None)
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
