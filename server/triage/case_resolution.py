"""The resolution of a case (seed 002). Maker-checker: one person requests it with a summary and a
root cause, an approver other than the requester approves or rejects it. Or, where the versioned
policy allows it (seed 002 Escalation Level 1, `operator_resolve_from_sev`), one person who works
cases resolves it alone with the documentation: a root cause and a note (`resolve_case`).

The self-resolve rule, on one scale: case severities critical, high, medium, low are Sev0..Sev3
(seed 001), run severities SEV0..SEV3 (seed 002). A case may be resolved alone when its own
severity and every linked run's severity are at least `operator_resolve_from_sev` (default 2:
SEV2/SEV3 cases, and cases of medium or low severity without a SEV0/SEV1 run; 4: never, 0:
always). Runs without a severity do not count. The case's severity is the most severe it has
had (its history keeps the one it opened with and every change): lowering it does not open the
way round the approver. Otherwise the maker-checker request applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from riskops.server.core import approvals
from riskops.server.core.errors import Conflict
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit.models import Run
from riskops.server.credit.policy import current_policy
from riskops.server.triage import case_run_links as links
from riskops.server.triage.cases import (
    MAX_REASON,
    MAX_SUMMARY,
    WORKING,
    CaseResult,
    S,
    _change,
    parse_choice,
    parse_long_text,
    require_status,
)
from riskops.server.triage.models import (
    Case,
    CaseEvent,
    RootCause,
)

MAX_NOTE = MAX_SUMMARY


async def request_case_resolution(
    principal: Principal,
    case_id: str | int,
    *,
    expected_version: int,
    summary: str,
    root_cause: str | RootCause,
    idempotency_key: str | None = None,
) -> CaseResult:
    """Ask an approver to resolve the case, with a summary and the root cause."""
    principal.require(Perm.CASE_WORK)
    text = parse_long_text(summary, "summary", MAX_SUMMARY)
    cause = parse_choice(RootCause, root_cause, "root_cause", required=True)
    assert cause is not None

    async def apply(conn: BaseDBAsyncClient, case: Case, now: datetime) -> tuple[dict, dict]:
        require_status(case, WORKING, "request resolution of")
        changes = {
            "status": S.PENDING_APPROVAL,
            "root_cause": cause,
            "resolution_summary": text,
            "requested_by_id": principal.user_id,
            "approved_by_id": None,
        }
        return changes, {"root_cause": cause.value, "summary": text}

    return await _change(
        principal, case_id, "request_resolution", apply,
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip


def _not_own_request(principal: Principal, case: Case) -> None:
    approvals.require_checker(
        principal, case.requested_by_id, f"the resolution request of case {case.display_number}"
    )


async def approve_case_resolution(
    principal: Principal,
    case_id: str | int,
    *,
    expected_version: int,
    idempotency_key: str | None = None,
) -> CaseResult:
    """An approver other than the requester resolves the case."""
    principal.require(Perm.CASE_APPROVE)

    async def apply(conn: BaseDBAsyncClient, case: Case, now: datetime) -> tuple[dict, dict]:
        require_status(case, frozenset({S.PENDING_APPROVAL}), "approve the resolution of")
        _not_own_request(principal, case)
        changes = {"status": S.RESOLVED, "resolved_at": now, "approved_by_id": principal.user_id}
        return changes, {"requested_by_id": case.requested_by_id}

    return await _change(
        principal, case_id, "approve_resolution", apply,
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip


async def reject_case_resolution(
    principal: Principal,
    case_id: str | int,
    *,
    expected_version: int,
    reason: str,
    idempotency_key: str | None = None,
) -> CaseResult:
    """An approver other than the requester sends the case back to investigating, with a reason
    (kept in the case history)."""
    principal.require(Perm.CASE_APPROVE)
    text = parse_long_text(reason, "reason", MAX_REASON)

    async def apply(conn: BaseDBAsyncClient, case: Case, now: datetime) -> tuple[dict, dict]:
        require_status(case, frozenset({S.PENDING_APPROVAL}), "reject the resolution of")
        _not_own_request(principal, case)
        changes = {"status": S.INVESTIGATING, "requested_by_id": None}
        return changes, {"requested_by_id": case.requested_by_id, "reason": text}

    return await _change(
        principal, case_id, "reject_resolution", apply,
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip


# --- resolving alone (seed 002 Escalation Level 1) -----------------------------------------------


@dataclass(frozen=True)
class ResolveAlone:
    """Whether a case may be resolved without an approver now, and why (not), in the words the
    case page shows."""

    allowed: bool
    reason: str
    policy_number: int


def _levels(floor: int) -> str:
    if floor <= 0:
        return "every severity"
    if floor >= 4:
        return "no severity"
    names = [f"SEV{n}" for n in range(floor, 4)]
    return " or ".join(names)


async def _most_severe(
    principal: Principal, case: Case, conn: BaseDBAsyncClient | None
) -> tuple[int, str]:
    """The most severe severity the case has had, from its history (the severity it opened
    with, every severity an update set) and its current one, as (level, name)."""
    q = scoped(CaseEvent, principal).filter(case_id=case.id, action__in=["create", "update"])
    if conn is not None:
        q = q.using_db(conn)
    names = [case.severity.value]
    for data in await q.values_list("data", flat=True):
        value = data.get("severity") if isinstance(data, dict) else None
        if value in links.CASE_LEVEL:
            names.append(str(value))
    worst = min(names, key=lambda n: links.CASE_LEVEL[n])
    return links.CASE_LEVEL[worst], worst


async def resolve_alone(
    principal: Principal, case: Case, conn: BaseDBAsyncClient | None = None
) -> ResolveAlone:
    """The self-resolve rule (module docstring) for `case` under the policy in force."""
    in_force = await current_policy(principal.org_id, conn)
    floor = in_force.policy.operator_resolve_from_sev
    v = links.policy_name(in_force.number)
    if floor >= 4:
        return ResolveAlone(False, f"By {v}, every case needs an approver to resolve it.",
                            in_force.number)  # fmt: skip
    q = scoped(Run, principal).filter(case_id=case.id).order_by("severity", "run_id")
    if conn is not None:
        q = q.using_db(conn)
    runs = await q
    blockers = []
    level = links.CASE_LEVEL[case.severity.value]
    worst, was = await _most_severe(principal, case, conn)
    if level < floor:
        blockers.append(f"its severity is {case.severity.value} (Sev{level})")
    elif worst < floor:  # lowering the severity does not open the way round the approver
        blockers.append(f"it was {was} (Sev{worst}) before its severity was lowered")
    grave = [r for r in runs if links.run_level(r) < floor]
    if grave:
        shown = ", ".join(f"{r.run_id} ({r.severity.value if r.severity else ''})"
                          for r in grave[:5])  # fmt: skip
        more = f" and {len(grave) - 5} more" if len(grave) > 5 else ""
        blockers.append(f"it holds run{'s' if len(grave) > 1 else ''} {shown}{more}")
    if blockers:
        return ResolveAlone(
            False,
            f"An approver must resolve case {case.display_number}: {' and '.join(blockers)}. "
            f"By {v}, a case is resolved without an approver only when it and its runs are "
            f"{_levels(floor)}.",
            in_force.number,
        )
    return ResolveAlone(
        True,
        f"By {v}, cases whose severity and runs are {_levels(floor)} may be resolved without "
        "an approver, with a root cause and a note.",
        in_force.number,
    )


async def resolve_case(
    principal: Principal,
    case_id: str | int,
    *,
    expected_version: int,
    root_cause: str | RootCause,
    note: str,
    idempotency_key: str | None = None,
) -> CaseResult:
    """Resolve an open or investigating case alone, with a root cause and a note, where the
    policy allows it (`resolve_alone`); otherwise CONFLICT saying why and to request the
    resolution from an approver."""
    principal.require(Perm.CASE_WORK)
    cause = parse_choice(RootCause, root_cause, "root_cause", required=True)
    assert cause is not None
    text = parse_long_text(note, "note", MAX_NOTE)

    async def apply(conn: BaseDBAsyncClient, case: Case, now: datetime) -> tuple[dict, dict]:
        require_status(case, WORKING, "resolve")
        verdict = await resolve_alone(principal, case, conn)
        if not verdict.allowed:
            raise Conflict(
                verdict.reason + " Request the resolution instead.",
                current_status=case.status.value, current_version=case.version,
            )  # fmt: skip
        changes = {
            "status": S.RESOLVED,
            "resolved_at": now,
            "root_cause": cause,
            "resolution_summary": text,
            "requested_by_id": None,
            "approved_by_id": None,
        }
        return changes, {
            "root_cause": cause.value, "summary": text, "summary_length": len(text),
            "policy_number": verdict.policy_number,
        }  # fmt: skip

    return await _change(
        principal, case_id, "resolve", apply,
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip
