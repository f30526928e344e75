"""The versioned classification policy of credit monitoring, changed by maker-checker: one
approver proposes a version, another approves it; the version in force stays until then. The
read used while recording runs (`current_policy`) lives here too, so "which policy is in force"
is decided in one place; the kill switches are `riskops.server.credit.kill_switches`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server.core import approvals, formatting, validation
from riskops.server.core.approvals import ChangeStatus, Decision
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict, Invalid, not_found
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit.models import PolicyVersion
from riskops.server.credit.terms import Policy
from riskops.server.identity import users
from riskops.server.identity.orgs import lock_organization

log = logging.getLogger("riskops.controls")

MAX_REASON = 2000
MAX_VERSIONS = 200


@dataclass(frozen=True)
class PolicyInForce:
    number: int  # 0: the built-in defaults, no version stored yet
    policy: Policy
    version: PolicyVersion | None = None  # the stored row (reason, who, when); None for defaults


async def current_policy(org_id: int, conn: BaseDBAsyncClient | None = None) -> PolicyInForce:
    """The newest approved policy version of the organization, or the defaults (number 0)."""
    q = (
        scoped(PolicyVersion, org_id=org_id)
        .filter(status=ChangeStatus.APPROVED)
        .order_by("-number")
    )
    if conn is not None:
        q = q.using_db(conn)
    row = await q.first()
    if row is None:
        return PolicyInForce(0, Policy())
    return PolicyInForce(row.number, Policy.from_dict(row.data), row)


def in_force(now: datetime) -> Q:
    """Switches not cleared and not expired at `now`."""
    return Q(cleared_at=None) & (Q(expires_at=None) | Q(expires_at__gt=now))


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
    "ack_sev0_minutes": "A SEV0 run must be acknowledged within this many minutes (seed 002: 15).",
    "ack_sev1_minutes": "A SEV1 run must be acknowledged within this many minutes (seed 002: 60).",
    "case_sev0_minutes": "Response target of a Sev0 (critical) case, in minutes (0: immediate).",
    "case_sev1_minutes": "Response target of a Sev1 (high) case, in minutes.",
    "case_sev2_minutes": "Response target of a Sev2 (medium) case, in minutes.",
    "case_sev3_business_days": "Response target of a Sev3 (low) case, in business days.",
    "escalation_step_minutes": "An unacknowledged item escalates one level further after this "
    "many more minutes; the last level pages PagerDuty.",
    "postmortem_due_hours": "The post-incident report of a Sev0/Sev1 case is due this many "
    "hours after it is resolved.",
    "operator_resolve_from_sev": "Operators may resolve a case alone when its runs are SEVn with "
    "n at least this (2: SEV2 and SEV3); other cases need an approver (4: always).",
    "archive_resolved_after_days": "Resolved cases older than this many days may be archived.",
    "baseline_quiet_days": "A baseline update needs no SEV0/SEV1 run of the scenario in this "
    "many days.",
    "baseline_min_data_days": "A baseline update needs runs spanning at least this many days.",
}

POLICY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Policy))
INT_FIELDS = frozenset(f.name for f in fields(Policy) if f.type == "int")


# --- input checks ------------------------------------------------------------------------------


def parse_reason(raw: Any, name: str = "reason") -> str:
    return validation.long_text(
        raw, name, max_len=MAX_REASON, why="say why (it is kept with the change)"
    )


def _whole(raw: Any, name: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise Invalid(f"{name} must be a whole number, not {raw!r}.", field=name)
    return raw


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
    decision: Decision  # as the caller sees it (maker-checker)


async def _open_proposal(
    org_id: int, conn: BaseDBAsyncClient | None = None
) -> PolicyVersion | None:
    q = scoped(PolicyVersion, org_id=org_id).filter(status=ChangeStatus.PROPOSED).order_by("number")
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
    return PolicyProposal(
        row,
        current,
        changed_fields(current.policy, Policy.from_dict(row.data)),
        approvals.decision_for(principal, Perm.POLICY_MANAGE, row.set_by_id),
    )


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


async def changes_of(
    principal: Principal, row: PolicyVersion
) -> dict[str, tuple[float | int, float | int]]:
    """What one version changes: a proposal relative to the version in force now (what approving
    it would change), any other version relative to the approved one before it."""
    if row.status is ChangeStatus.PROPOSED:
        current = await current_policy(principal.org_id)
        return changed_fields(current.policy, Policy.from_dict(row.data))
    return version_changes(await list_policy_versions(principal)).get(row.id, {})


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
            f"Nothing to change: give the field(s) to change, from: {', '.join(POLICY_FIELDS)}.",
            field="values",
        )
    text = parse_reason(reason)
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
            proposer = await users.name_of(principal, pending.set_by_id, conn)
            raise Conflict(
                f"Policy version {pending.number} proposed by "
                f"{proposer} at {formatting.when(pending.created_at)} is "
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
        last = await scoped(PolicyVersion, principal).using_db(conn).order_by("-number").first()
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
        when = f" at {formatting.when(row.decided_at)}" if row.decided_at else ""
        by = (
            f" by {await users.name_of(principal, row.decided_by_id, conn)}"
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
    text = parse_reason(reason)
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
                f"proposed ({formatting.when(row.created_at)}), so the proposal was made "
                f"against an older policy: reject it and propose the change again from version "
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
    text = parse_reason(reason)
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
                 "withdrawn": not approvals.may_decide(principal, row.set_by_id)},
        )  # fmt: skip
    return row
