"""The rerun gate (seed 002): after a SEV0/SEV1 run (or a SEV2 flagged misconfig) a rerun needs
a request with a mitigation, approved by an approver other than the requester; an approval
allows exactly one rerun."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server.core import approvals, validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict, Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, lock_scoped, scoped
from riskops.server.core.versioning import check_version, parse_version
from riskops.server.credit.models import RerunRequest, RerunStatus, Run
from riskops.server.credit.recording import MAX_REASON, locked_run, touch_run

# A rerun request is open while pending or approved-but-unused: a run has at most one.
OPEN_RERUN = (RerunStatus.PENDING, RerunStatus.APPROVED)


async def request_rerun(principal: Principal, run_pk: str | int, reason: str) -> RerunRequest:
    """Ask for a rerun of a gated run (operators, approvers). One open request at a time."""
    principal.require(Perm.RERUN_REQUEST)
    reason = validation.long_text(reason, "reason", max_len=MAX_REASON)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        run = await locked_run(principal, conn, run_pk)
        if not run.rerun_gate:
            raise Invalid(
                f"Run {run.run_id} has no rerun gate: it can be rerun without approval.",
                field="run_id",
            )
        open_req = (
            await scoped(RerunRequest, principal)
            .filter(run_id=run.id, status__in=OPEN_RERUN)
            .using_db(conn)
            .first()
        )
        if open_req is not None:
            raise Conflict(
                f"Run {run.run_id} already has a {open_req.status.value} rerun request "
                f"(#{open_req.id}); decide or use that one.",
                field="run_id",
                current_request=open_req.id,
            )
        req = await RerunRequest.create(
            org_id=principal.org_id,
            run_id=run.id,
            reason=reason,
            requested_by_id=principal.user_id or None,
            requested_at=now,
            using_db=conn,
        )
        await touch_run(principal, conn, run.id, now)
        await record(
            principal, conn, "rerun.request", "rerun_request", req.id,
            new={"run": run.run_id, "status": req.status.value},
        )  # fmt: skip
    return req


async def _locked_request(
    principal: Principal,
    conn: BaseDBAsyncClient,
    request_id: str | int,
    run_pk: str | int | None = None,
) -> RerunRequest:
    """The request, locked; with `run_pk` (an address naming the run and its request) a request
    of another run is as missing as another organization's."""
    if run_pk is None:
        return await lock_scoped(RerunRequest, principal, conn, request_id, "RerunRequest")
    run = await get_scoped(Run, principal, run_pk, "Run", conn)
    return await lock_scoped(
        RerunRequest, principal, conn, request_id, "RerunRequest", run_id=run.id
    )


async def _decide_rerun(
    principal: Principal,
    request_id: str | int,
    expected_version: int,
    status: RerunStatus,
    note_field: str,
    note: str,
    run_pk: str | int | None,
) -> RerunRequest:
    principal.require(Perm.RUN_APPROVE)
    note = validation.long_text(note, note_field, max_len=MAX_REASON)
    parse_version(expected_version)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        req = await _locked_request(principal, conn, request_id, run_pk)
        check_version(
            f"Rerun request #{req.id}", req.version, expected_version, status=req.status.value
        )
        if req.status is not RerunStatus.PENDING:
            raise Conflict(
                f"Rerun request #{req.id} is {req.status.value}; only a pending request can be "
                "decided.",
                field="request_id",
                current_status=req.status.value,
                current_version=req.version,
            )
        approvals.require_checker(principal, req.requested_by_id, f"rerun request #{req.id}")
        values: dict[str, Any] = {
            "status": status,
            "decided_by_id": principal.user_id or None,
            "decided_at": now,
            "version": req.version + 1,
            note_field: note,
        }
        await scoped(RerunRequest, principal).filter(id=req.id).using_db(conn).update(**values)
        for k, v in values.items():
            setattr(req, k, v)
        await touch_run(principal, conn, req.run_id, now)
        await record(
            principal, conn, f"rerun.{'approve' if status is RerunStatus.APPROVED else 'deny'}",
            "rerun_request", req.id,
            old={"status": RerunStatus.PENDING.value},
            new={"status": status.value, "version": req.version},
            risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    return req


async def approve_rerun(
    principal: Principal,
    request_id: str | int,
    mitigation: str,
    *,
    expected_version: int,
    run_pk: str | int | None = None,
) -> RerunRequest:
    """Approve a rerun with the mitigation applied (approver, not the requester). `run_pk`:
    the request must be of that run."""
    return await _decide_rerun(
        principal, request_id, expected_version, RerunStatus.APPROVED, "mitigation", mitigation,
        run_pk,
    )  # fmt: skip


async def deny_rerun(
    principal: Principal,
    request_id: str | int,
    reason: str,
    *,
    expected_version: int,
    run_pk: str | int | None = None,
) -> RerunRequest:
    return await _decide_rerun(
        principal, request_id, expected_version, RerunStatus.DENIED, "deny_reason", reason,
        run_pk,
    )  # fmt: skip
