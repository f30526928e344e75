"""GDPR requests (seed 001 SOP4, seed 003 CO-002): the one service both faces and the CLI call.

- `export_subject`: everything held about a user or a customer as one JSON document, recorded
  as a request completed at once and audited as a data access (gdpr.request).
- `request_erasure`: ask for an erasure (gdpr.request); `approve_erasure` by another person
  (gdpr.approve, maker-checker) pseudonymizes the subject everywhere in the same transaction
  (`gdpr_erase`); `reject_erasure` refuses it with a reason.
- `list_requests` with their deadlines (30 days after a request was received), `overdue_count`
  for the admins' "My work" home.

Audit events of these requests carry the request id, the kind of subject and counts, never the
subject: the chain must stay verifiable after the subject is erased (docs/AUDIT.md).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server.core import approvals, validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict, Forbidden, Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, lock_scoped, scoped
from riskops.server.identity.models import Organization
from riskops.server.operations import gdpr_erase, gdpr_export
from riskops.server.operations.gdpr_models import (
    OPEN_STATUSES,
    GdprKind,
    GdprRequest,
    GdprStatus,
    SubjectKind,
)
from riskops.server.operations.gdpr_subjects import (
    Found,
    Subject,
    digest,
    find_subject,
    parse_subject,
)

DUE_DAYS = 30  # GDPR article 12(3): one month to answer
MAX_NOTE = 2000
MAX_PAGE = 200
KIND = "GDPR request"


@dataclass(frozen=True)
class Export:
    request: GdprRequest
    document: dict[str, Any]


def _legal(legal_review: bool, legal_note: str | None) -> str:
    if not legal_review:
        if legal_note and legal_note.strip():
            raise Invalid(
                "A legal-review note goes with the legal-review flag: set the flag too, or "
                "leave the note out.",
                field="legal_note",
            )
        return ""
    return validation.long_text(
        legal_note, "legal_note", max_len=MAX_NOTE,
        why="say what legal must look at (a hold, a dispute, a retention duty)",
    )  # fmt: skip


def _received(received_at: datetime | None, now: datetime) -> datetime:
    if received_at is None:
        return now
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=UTC)
    if received_at > now + timedelta(minutes=5):
        raise Invalid(
            "The date the request was received is in the future: give the day it arrived.",
            field="received_at",
        )
    if received_at < now - timedelta(days=365):
        raise Invalid(
            "The request was received more than a year ago: give the day it arrived (a date "
            "in the last 12 months).",
            field="received_at",
        )
    return received_at


def _pseudonym() -> str:
    return f"ERASED-{secrets.token_hex(5).upper()}"


async def _new_request(
    principal: Principal,
    conn: BaseDBAsyncClient,
    kind: GdprKind,
    subject: Subject,
    status: GdprStatus,
    now: datetime,
    received: datetime,
    legal_note: str,
    **values: Any,
) -> GdprRequest:
    return await GdprRequest.create(
        org_id=principal.org_id,
        kind=kind,
        subject_kind=subject.kind,
        subject=subject.value,
        subject_digest=digest(principal.org_id, subject),
        status=status,
        requested_by_id=principal.user_id or None,
        requested_at=now,
        received_at=received,
        due_at=received + timedelta(days=DUE_DAYS),
        legal_review=bool(legal_note),
        legal_note=legal_note,
        using_db=conn,
        **values,
    )


async def export_subject(
    principal: Principal,
    subject: str,
    *,
    legal_review: bool = False,
    legal_note: str | None = None,
    received_at: datetime | None = None,
) -> Export:
    """Everything held about `subject` as one JSON document, recorded as a completed export
    request and audited (the event names the request, never the subject)."""
    principal.require(Perm.GDPR_REQUEST)
    parsed = parse_subject(subject)
    note = _legal(legal_review, legal_note)
    now = datetime.now(UTC)
    received = _received(received_at, now)
    async with in_transaction() as conn:
        found = await find_subject(principal, parsed, conn)
        body = await gdpr_export.document(principal, found, conn)
        summary = gdpr_export.counts(body)
        req = await _new_request(
            principal, conn, GdprKind.EXPORT, parsed, GdprStatus.COMPLETED, now, received, note,
            completed_at=now, summary=summary,
        )  # fmt: skip
        await record(
            principal, conn, "gdpr.export", "gdpr_request", req.id,
            new={"kind": "export", "subject_kind": parsed.kind.value, "counts": summary},
            risk=RiskLevel.HIGH,
        )  # fmt: skip
        org = await scoped(Organization, principal).using_db(conn).get()
    document = {
        "format": gdpr_export.FORMAT,
        "organization": org.slug,
        "request_id": req.id,
        "generated_at": now.isoformat(),
        "subject": {"kind": parsed.kind.value, "value": parsed.value},
        **body,
    }
    return Export(req, document)


async def request_erasure(
    principal: Principal,
    subject: str,
    *,
    legal_review: bool = False,
    legal_note: str | None = None,
    received_at: datetime | None = None,
) -> GdprRequest:
    """Ask for the erasure of `subject`; another person approves it (`approve_erasure`). One
    open erasure per subject."""
    principal.require(Perm.GDPR_REQUEST)
    parsed = parse_subject(subject)
    note = _legal(legal_review, legal_note)
    now = datetime.now(UTC)
    received = _received(received_at, now)
    async with in_transaction() as conn:
        await find_subject(principal, parsed, conn)
        open_req = (
            await scoped(GdprRequest, principal)
            .filter(
                kind=GdprKind.ERASE,
                subject_digest=digest(principal.org_id, parsed),
                status__in=OPEN_STATUSES,
            )
            .using_db(conn)
            .first()
        )
        if open_req is not None:
            raise Conflict(
                f"An erasure of {parsed.value} is already requested (GDPR request "
                f"#{open_req.id}, due {open_req.due_at:%Y-%m-%d}): approve or reject that one.",
                field="subject",
                current_request=open_req.id,
            )
        req = await _new_request(
            principal, conn, GdprKind.ERASE, parsed, GdprStatus.REQUESTED, now, received, note
        )
        await record(
            principal, conn, "gdpr.erase_request", "gdpr_request", req.id,
            new={"kind": "erase", "subject_kind": parsed.kind.value, "status": req.status.value,
                 "due_at": req.due_at.isoformat(), "legal_review": req.legal_review},
            risk=RiskLevel.HIGH,
        )  # fmt: skip
    return req


async def _open_erasure(
    principal: Principal, conn: BaseDBAsyncClient, request_id: str | int
) -> GdprRequest:
    req = await lock_scoped(GdprRequest, principal, conn, request_id, KIND)
    if req.kind is not GdprKind.ERASE:
        raise Conflict(
            f"GDPR request #{req.id} is an export: it was completed when it was made and has "
            "nothing to decide.",
            field="request_id",
            current_status=req.status.value,
        )
    if req.status is not GdprStatus.REQUESTED:
        raise Conflict(
            f"GDPR request #{req.id} is already {req.status.value}"
            f"{_decided_on(req)}: a request is decided once. Request a new erasure if needed.",
            field="request_id",
            current_status=req.status.value,
        )
    return req


def _decided_on(req: GdprRequest) -> str:
    when = req.completed_at or req.decided_at
    return f" (on {when:%Y-%m-%d %H:%M} UTC)" if when else ""


async def _move(
    principal: Principal, conn: BaseDBAsyncClient, req: GdprRequest, frm: GdprStatus,
    **values: Any,
) -> None:  # fmt: skip
    """A conditional update from `frm`: a concurrent decision makes it a Conflict instead of a
    second one (the row is locked too, but SQLite has no row locks)."""
    updated = (
        await scoped(GdprRequest, principal)
        .filter(id=req.id, status=frm)
        .using_db(conn)
        .update(**values)
    )
    if updated != 1:
        raise Conflict(f"GDPR request #{req.id} was decided meanwhile.", field="request_id")
    for name, value in values.items():
        setattr(req, name, value)


async def approve_erasure(principal: Principal, request_id: str | int) -> GdprRequest:
    """Approve another person's erasure request and perform it, in one transaction: the
    subject is pseudonymized everywhere (`gdpr_erase`), every request about the subject keeps
    only the pseudonym, and the request is completed with what was erased."""
    principal.require(Perm.GDPR_APPROVE)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        req = await _open_erasure(principal, conn, request_id)
        approvals.require_checker(principal, req.requested_by_id, f"GDPR request #{req.id}")
        subject = Subject(req.subject_kind, req.subject)
        found = await _still_there(principal, req, subject, conn)
        if found.user is not None and found.user.id in principal.own_makers:
            raise Forbidden(
                "This erasure is of your own account: another approver must decide it.",
                maker_checker=True,
            )
        await _move(
            principal, conn, req, GdprStatus.REQUESTED,
            status=GdprStatus.APPROVED, approved_by_id=principal.user_id or None, decided_at=now,
        )  # fmt: skip
        await record(
            principal, conn, "gdpr.erase_approve", "gdpr_request", req.id,
            old={"status": GdprStatus.REQUESTED.value},
            new={"status": GdprStatus.APPROVED.value}, risk=RiskLevel.HIGH,
        )  # fmt: skip
        pseudonym = _pseudonym()
        summary = await gdpr_erase.erase(principal, found, pseudonym, conn)
        await _forget_subject(principal, conn, req, pseudonym)
        await _move(
            principal, conn, req, GdprStatus.APPROVED,
            status=GdprStatus.COMPLETED, completed_at=datetime.now(UTC), summary=summary,
        )  # fmt: skip
        await record(
            principal, conn, "gdpr.erase", "gdpr_request", req.id,
            old={"status": GdprStatus.APPROVED.value},
            new={"status": GdprStatus.COMPLETED.value, "subject_kind": subject.kind.value,
                 "counts": summary},
            risk=RiskLevel.HIGH,
        )  # fmt: skip
    return req


async def _still_there(
    principal: Principal, req: GdprRequest, subject: Subject, conn: BaseDBAsyncClient
) -> Found:
    try:
        return await find_subject(principal, subject, conn)
    except Exception as exc:
        if getattr(exc, "field", None) != "subject":
            raise
        raise Conflict(
            f"GDPR request #{req.id}: {subject.value} is no longer held (erased or removed "
            "since it was requested); reject the request with that reason.",
            field="request_id",
        ) from None


async def _forget_subject(
    principal: Principal, conn: BaseDBAsyncClient, req: GdprRequest, pseudonym: str
) -> None:
    """Every request about the subject (earlier exports too) keeps the pseudonym and the
    digest, no longer the subject."""
    shown = (
        f"{pseudonym.lower()}@{gdpr_erase.ERASED_DOMAIN}"
        if req.subject_kind is SubjectKind.USER
        else pseudonym
    )
    await (
        scoped(GdprRequest, principal)
        .filter(subject_digest=req.subject_digest)
        .using_db(conn)
        .update(subject=shown, pseudonym=pseudonym)
    )
    req.subject, req.pseudonym = shown, pseudonym


async def reject_erasure(principal: Principal, request_id: str | int, reason: str) -> GdprRequest:
    """Refuse an erasure request with the reason (gdpr.approve; the requester may withdraw
    their own the same way)."""
    principal.require(Perm.GDPR_APPROVE)
    reason = validation.long_text(
        reason, "reason", max_len=MAX_NOTE, why="say why, it is kept with the request"
    )
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        req = await _open_erasure(principal, conn, request_id)
        await _move(
            principal, conn, req, GdprStatus.REQUESTED,
            status=GdprStatus.REJECTED, approved_by_id=principal.user_id or None,
            decided_at=now, reject_reason=reason,
        )  # fmt: skip
        # The reason is free text and may name the subject: the chain keeps its length only.
        await record(
            principal, conn, "gdpr.erase_reject", "gdpr_request", req.id,
            old={"status": GdprStatus.REQUESTED.value},
            new={"status": GdprStatus.REJECTED.value, "reason_chars": len(reason)},
            risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    return req


# --------------------------------------------------------------------------- reads


def is_overdue(req: GdprRequest, now: datetime | None = None) -> bool:
    return req.status in OPEN_STATUSES and req.due_at < (now or datetime.now(UTC))


def _reader(principal: Principal) -> None:
    if not (principal.can(Perm.GDPR_REQUEST) or principal.can(Perm.GDPR_APPROVE)):
        principal.require(Perm.GDPR_REQUEST)


async def list_requests(
    principal: Principal,
    *,
    status: str | None = None,
    overdue: bool = False,
    first: int = 50,
) -> list[GdprRequest]:
    """The organization's requests, open ones first by deadline, then the newest decided."""
    _reader(principal)
    limit = validation.page_size(first, MAX_PAGE)
    q = scoped(GdprRequest, principal)
    if status is not None:
        wanted = validation.member(GdprStatus, status, "Status", "status")
        q = q.filter(status=wanted)
    if overdue:
        q = q.filter(status__in=OPEN_STATUSES, due_at__lt=datetime.now(UTC))
    rows = await q.order_by("-requested_at", "-id").limit(MAX_PAGE * 5)
    rows.sort(key=_open_first)
    return rows[:limit]


_DECIDED = datetime.min.replace(tzinfo=UTC)


def _open_first(req: GdprRequest) -> tuple[bool, datetime]:
    """Open requests first, the nearest deadline first; then the decided ones as they came
    (newest first: a stable sort keeps that order among equal keys)."""
    is_open = req.status in OPEN_STATUSES
    return (not is_open, req.due_at if is_open else _DECIDED)


async def get_request(principal: Principal, request_id: str | int) -> GdprRequest:
    _reader(principal)
    return await get_scoped(GdprRequest, principal, request_id, KIND)


async def overdue_count(org_id: int, now: datetime | None = None) -> int:
    """Open requests past their deadline in one organization (e.g. for a job or a report)."""
    return (
        await scoped(GdprRequest, org_id=org_id)
        .filter(status__in=OPEN_STATUSES, due_at__lt=now or datetime.now(UTC))
        .count()
    )


async def overdue_requests(
    principal: Principal, now: datetime | None = None, limit: int = MAX_PAGE
) -> list[GdprRequest]:
    """Open requests past their deadline, the most overdue first: the "My work" home of those
    who decide them (admins and compliance reviewers, gdpr.approve). Nobody else: empty."""
    if not principal.can(Perm.GDPR_APPROVE):
        return []
    return (
        await scoped(GdprRequest, principal)
        .filter(status__in=OPEN_STATUSES, due_at__lt=now or datetime.now(UTC))
        .order_by("due_at", "id")
        .limit(limit)
    )
