"""The maker-checker resolution of a case (seed 002): one person requests it with a summary and a
root cause, an approver other than the requester approves or rejects it."""

from __future__ import annotations

from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from riskops.server.core import approvals
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.triage.cases import (
    MAX_REASON,
    MAX_SUMMARY,
    WORKING,
    CaseResult,
    S,
    _change,
    _choice,
    _long_text,
    _require_status,
)
from riskops.server.triage.models import (
    Case,
    RootCause,
)


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
    text = _long_text(summary, "summary", MAX_SUMMARY)
    cause = _choice(RootCause, root_cause, "root_cause", required=True)
    assert cause is not None

    async def apply(conn: BaseDBAsyncClient, case: Case, now: datetime) -> tuple[dict, dict]:
        _require_status(case, WORKING, "request resolution of")
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
        _require_status(case, frozenset({S.PENDING_APPROVAL}), "approve the resolution of")
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
    text = _long_text(reason, "reason", MAX_REASON)

    async def apply(conn: BaseDBAsyncClient, case: Case, now: datetime) -> tuple[dict, dict]:
        _require_status(case, frozenset({S.PENDING_APPROVAL}), "reject the resolution of")
        _not_own_request(principal, case)
        changes = {"status": S.INVESTIGATING, "requested_by_id": None}
        return changes, {"requested_by_id": case.requested_by_id, "reason": text}

    return await _change(
        principal, case_id, "reject_resolution", apply,
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip
