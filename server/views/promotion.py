"""Promotion of a view to standard (seed 000 section 3): request with a rationale (a snapshot of
the definition) → a job validates it (`view.promotion.validate`: rows selected, time taken,
fields the standard audience may see; notifies the reviewers through the outbox, channel
`review`) → a compliance reviewer AND a product reviewer approve (never the requester, and one
person holding both roles counts once) or one declines with a reason → a job publishes
(`view.promotion.publish`: a new `ViewVersion`, who approved what). The requester may withdraw a
pending request.

CONTRACT (issue 12): the signatures below are what the faces and the home page call. Audit
events: `view.promotion_requested`, `view.promotion_validated`, `view.promotion_reviewed`,
`view.promotion_declined`, `view.promotion_withdrawn`, `view.promotion_published`.

Who sees a request: its requester, the reviewers (VIEW_REVIEW), and everyone who may see its
view (`access.may_see`); anyone else, another organization included, gets "not found". The jobs
(`riskops.server.views.jobs`) are enqueued after the commit that made them necessary, with a
dedupe key per request, so a retried request or a redelivered job never runs one twice.
Reading requests (a request with its change in words, lists, the history of a standard view) is
`riskops.server.views.promotion_reads`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.jobs import runner
from riskops.server.core import validation
from riskops.server.core.approvals import require_checker
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict, Duplicate, Forbidden, Invalid, not_found
from riskops.server.core.idempotency import (
    key_race,
    parse_idempotency_key,
    remember_key,
    used_idempotency_key,
)
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import lock_scoped, parse_id, scoped
from riskops.server.core.versioning import check_version, parse_version, write_versioned
from riskops.server.views import access
from riskops.server.views.models import (
    OPEN_PROMOTION,
    PromotionStatus,
    ReviewDecision,
    ReviewRole,
    SavedView,
    ViewPromotionRequest,
    ViewReview,
    ViewScope,
    ViewStatus,
)
from riskops.server.views.promotion_rules import (
    WITHDRAWABLE,
    held_review_roles,
    label,
    may_see_request,
    snapshot_of,
)

log = logging.getLogger("riskops.views")

MAX_RATIONALE = 2000
MAX_NOTE = 2000

VALIDATE_JOB = "view.promotion.validate"
PUBLISH_JOB = "view.promotion.publish"

S = PromotionStatus


@dataclass(frozen=True)
class PromotionResult:
    request: ViewPromotionRequest
    replayed: bool = False


async def _lock_request(
    principal: Principal, conn: BaseDBAsyncClient, pk: int, raw: str | int
) -> tuple[ViewPromotionRequest, SavedView]:
    request = await lock_scoped(ViewPromotionRequest, principal, conn, pk, "View promotion")
    view = await scoped(SavedView, principal).using_db(conn).get(id=request.view_id)
    if not await may_see_request(principal, request, view, conn):
        raise not_found("View promotion", raw)
    return request, view


def _check_request_version(request: ViewPromotionRequest, expected: int, verb: str) -> None:
    check_version(
        f"View promotion {request.id}", request.version, expected,
        status=request.status.value, verb=verb,
    )  # fmt: skip


def _optional_note(raw: Any) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return ""
    return validation.long_text(raw, "note", max_len=MAX_NOTE)


def _decision(raw: Any) -> ReviewDecision:
    choices = validation.choices(ReviewDecision)
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid(f"Decision is required; choose one of {choices}.", field="decision")
    try:
        return ReviewDecision(raw.strip().lower())
    except ValueError:
        raise Invalid(
            f"Decision '{raw}' is unknown; choose one of {choices}.", field="decision"
        ) from None


def _role(principal: Principal, raw: ReviewRole | str | None) -> ReviewRole | None:
    if raw is None or raw == "":
        return None
    try:
        role = ReviewRole(str(raw).strip().lower())
    except ValueError:
        raise Invalid(
            f"Role '{raw}' is unknown; choose one of {validation.choices(ReviewRole)}.",
            field="role",
        ) from None
    if role not in held_review_roles(principal):
        raise Forbidden(
            f"You do not hold the {role.value} role, so you cannot review as one.",
            permission=Perm.VIEW_REVIEW.value, field="role",
        )  # fmt: skip
    return role


# --- request, withdraw, review -----------------------------------------------------------------


async def request_promotion(
    principal: Principal,
    view_id: str | int,
    *,
    rationale: str,
    expected_version: int,
    idempotency_key: str | None = None,
) -> PromotionResult:
    """Ask for `view` (its draft, for a standard view) to become the standard version. The
    request starts `validating`; the validation job runs after the commit."""
    principal.require(Perm.VIEW_SAVE)
    why = validation.long_text(
        rationale, "rationale", max_len=MAX_RATIONALE,
        why="say why this view should be the standard one for everyone",
    )  # fmt: skip
    expected = parse_version(expected_version, of="of the view ")
    pk = parse_id("View", view_id)
    key = parse_idempotency_key(idempotency_key)
    with key_race(key):
        result = await _request_in_transaction(principal, pk, view_id, why, expected, key)
    if result.request.status is S.VALIDATING:
        await enqueue_validation(result.request)  # a replay re-sends it: the dedupe key holds
    return result


async def _request_in_transaction(
    principal: Principal, pk: int, raw: str | int, why: str, expected: int, key: str | None
) -> PromotionResult:
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        view = await lock_scoped(SavedView, principal, conn, pk, "View")
        if not await access.may_see(principal, view, conn):
            raise not_found("View", raw)
        if key is not None:
            used = await used_idempotency_key(principal, conn, key, "view.promotion_request", None)
            if used is not None:
                earlier = (
                    await scoped(ViewPromotionRequest, principal)
                    .using_db(conn)
                    .get(id=int(used.entity_id))
                )
                if earlier.view_id != view.id:
                    raise Duplicate(
                        f"Idempotency key '{key}' was already used for a promotion of another "
                        "view; use a new key for a new request.",
                        field="idempotency_key",
                    )
                return PromotionResult(earlier, replayed=True)
        _may_request(principal, view)
        check_version(
            f"View '{view.name}'", view.version, expected, verb="request the promotion",
        )  # fmt: skip
        await _no_open_request(principal, conn, view)
        snapshot = snapshot_of(view)
        request = await ViewPromotionRequest.create(
            org_id=principal.org_id, view_id=view.id, requested_by_id=principal.user_id,
            rationale=why, snapshot=snapshot, base_number=view.published_number,
            status=S.VALIDATING, created_at=now, updated_at=now, using_db=conn,
        )  # fmt: skip
        if key is not None:
            await remember_key(
                principal, conn, key, "view.promotion_request", request.id, now,
                entity=f"view promotion {request.id}",
            )  # fmt: skip
        await record(
            principal, conn, "view.promotion_requested", "view_promotion", request.id,
            new={"view_id": view.id, "status": request.status.value,
                 "scope": view.scope.value, "base_number": view.published_number},
        )  # fmt: skip
    return PromotionResult(request)


def _may_request(principal: Principal, view: SavedView) -> None:
    if view.status is not ViewStatus.ACTIVE:
        raise Conflict(
            f"View '{view.name}' is archived; restore it before asking for its promotion.",
            current_version=view.version,
        )
    if view.scope is ViewScope.STANDARD:
        if view.draft is None:
            raise Conflict(
                f"View '{view.name}' is already standard and has no edit waiting: edit it "
                "first, then ask for the promotion of your edit.",
                current_version=view.version,
            )
        return
    if view.owner_id != principal.user_id:
        raise Forbidden(
            f"Only the owner of view '{view.name}' may ask for its promotion to standard; save "
            "it as a view of your own to propose it.",
            permission=Perm.VIEW_SAVE.value,
        )


async def _no_open_request(principal: Principal, conn: BaseDBAsyncClient, view: SavedView) -> None:
    open_ = (
        await scoped(ViewPromotionRequest, principal)
        .using_db(conn)
        .filter(view_id=view.id, status__in=[s.value for s in OPEN_PROMOTION])
        .first()
    )
    if open_ is not None:
        raise Conflict(
            f"View '{view.name}' already has an open promotion request ({label(open_)}, "
            f"{open_.status.value}); wait for its outcome or withdraw it first.",
            current_status=open_.status.value,
            request_id=open_.id,
        )


async def enqueue_validation(request: ViewPromotionRequest) -> None:
    await _enqueue(VALIDATE_JOB, request)


async def enqueue_publication(request: ViewPromotionRequest) -> None:
    await _enqueue(PUBLISH_JOB, request)


async def _enqueue(kind: str, request: ViewPromotionRequest) -> None:
    """After the commit. If the queue is down the request stays as it is (validating or
    approved) and says so; the request's replay or the next review enqueues again."""
    try:
        await runner.enqueue(
            kind, org_id=request.org_id,
            payload={"org_id": request.org_id, "request_id": request.id},
            dedupe_key=f"{kind}:{request.id}",
        )  # fmt: skip
    except Exception as exc:
        log.exception("could not queue %s for view promotion %s", kind, request.id)
        await (
            scoped(ViewPromotionRequest, org_id=request.org_id)
            .filter(id=request.id)
            .update(job_error=f"The job could not be queued ({type(exc).__name__}); retry shortly.")
        )


async def withdraw_promotion(
    principal: Principal, request_id: str | int, *, expected_version: int
) -> PromotionResult:
    """The requester takes their open request back (until both approvals are in)."""
    principal.require(Perm.VIEW_SAVE)
    expected = parse_version(expected_version, of="of the request ")
    pk = parse_id("View promotion", request_id)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        request, _ = await _lock_request(principal, conn, pk, request_id)
        if request.requested_by_id != principal.user_id:
            raise Forbidden(
                f"Only the person who asked for {label(request)} may withdraw it.",
                permission=Perm.VIEW_SAVE.value,
            )
        _check_request_version(request, expected, "withdraw it")
        if request.status not in WITHDRAWABLE:
            raise Conflict(
                f"Cannot withdraw {label(request)} while it is {request.status.value}; that is "
                "possible only until both reviewers approved it.",
                current_status=request.status.value, current_version=request.version,
            )  # fmt: skip
        old = {"status": request.status.value, "version": request.version}
        await _write(principal, conn, request, expected, status=S.WITHDRAWN, decided_at=now)
        await record(
            principal, conn, "view.promotion_withdrawn", "view_promotion", request.id,
            old=old, new={"status": request.status.value, "version": request.version},
        )  # fmt: skip
    return PromotionResult(request)


async def _write(
    principal: Principal,
    conn: BaseDBAsyncClient,
    request: ViewPromotionRequest,
    expected: int,
    **changes: Any,
) -> None:
    changes["updated_at"] = datetime.now(UTC)
    changes["version"] = request.version + 1
    for name, value in changes.items():
        setattr(request, name, value)
    await write_versioned(
        scoped(ViewPromotionRequest, principal).filter(id=request.id), expected, conn,
        f"View promotion {request.id}", **changes,
    )  # fmt: skip


async def review_promotion(
    principal: Principal,
    request_id: str | int,
    *,
    decision: str,
    note: str,
    expected_version: int,
    role: ReviewRole | str | None = None,
) -> PromotionResult:
    """Approve or decline as a compliance or product reviewer. A decline needs a note (the
    reason the requester sees) and ends the request; the second approval (the other role, by
    another person) approves it and the publish job runs after the commit."""
    principal.require(Perm.VIEW_REVIEW)
    choice = _decision(decision)
    if choice is ReviewDecision.DECLINE:
        text = validation.long_text(
            note, "note", max_len=MAX_NOTE, why="say why, the requester sees it"
        )
    else:
        text = _optional_note(note)
    expected = parse_version(expected_version, of="of the request ")
    as_role = _role(principal, role)
    pk = parse_id("View promotion", request_id)
    async with in_transaction() as conn:
        request, _ = await _lock_request(principal, conn, pk, request_id)
        require_checker(principal, request.requested_by_id, label(request))
        _check_request_version(request, expected, "review it")
        if request.status is not S.PENDING_REVIEW:
            raise Conflict(
                f"{label(request).capitalize()} is {request.status.value}; only a request "
                "waiting for review can be reviewed.",
                current_status=request.status.value, current_version=request.version,
            )  # fmt: skip
        reviews = list(
            await scoped(ViewReview, principal).filter(request_id=request.id).using_db(conn)
        )
        as_role = _review_role(principal, request, reviews, as_role)
        await _decide(principal, conn, request, reviews, expected, choice, as_role, text)
    if request.status is S.APPROVED:
        await enqueue_publication(request)
    return PromotionResult(request)


def _review_role(
    principal: Principal,
    request: ViewPromotionRequest,
    reviews: list[ViewReview],
    as_role: ReviewRole | None,
) -> ReviewRole:
    mine = next((r for r in reviews if r.reviewer_id == principal.user_id), None)
    if mine is not None:
        raise Conflict(
            f"You already reviewed {label(request)} as {mine.role.value}; one person counts "
            "once, so the other review must come from someone else.",
            current_status=request.status.value, current_version=request.version,
        )  # fmt: skip
    taken = {r.role: r for r in reviews}
    open_roles = [r for r in held_review_roles(principal) if r not in taken]
    if as_role is None:
        held = held_review_roles(principal)
        if len(open_roles) > 1:
            raise Invalid(
                "You hold both reviewer roles: say which one you review as "
                f"({validation.choices(held)}).",
                field="role",
            )
        if not open_roles:
            raise Conflict(
                f"The {held[0].value} review of {label(request)} is already in; it waits for "
                "the other reviewer role.",
                current_status=request.status.value, current_version=request.version,
            )  # fmt: skip
        return open_roles[0]
    if as_role in taken:
        raise Conflict(
            f"The {as_role.value} review of {label(request)} is already in; it waits for the "
            "other reviewer role.",
            current_status=request.status.value, current_version=request.version,
        )  # fmt: skip
    return as_role


async def _decide(
    principal: Principal,
    conn: BaseDBAsyncClient,
    request: ViewPromotionRequest,
    reviews: list[ViewReview],
    expected: int,
    choice: ReviewDecision,
    role: ReviewRole,
    note: str,
) -> None:
    now = datetime.now(UTC)
    review = await ViewReview.create(
        org_id=principal.org_id, request_id=request.id, reviewer_id=principal.user_id,
        role=role, decision=choice, note=note, at=now, using_db=conn,
    )  # fmt: skip
    old = {"status": request.status.value, "version": request.version}
    approvals = {r.role for r in [*reviews, review] if r.decision is ReviewDecision.APPROVE}
    if choice is ReviewDecision.DECLINE:
        changes: dict[str, Any] = {"status": S.DECLINED, "decline_reason": note, "decided_at": now}
    elif approvals == set(ReviewRole):
        changes = {"status": S.APPROVED, "decided_at": now}
    else:
        changes = {}
    await _write(principal, conn, request, expected, **changes)
    await record(
        principal, conn, "view.promotion_reviewed", "view_promotion", request.id,
        old=old, new={"status": request.status.value, "version": request.version,
                      "role": role.value, "decision": choice.value},
    )  # fmt: skip
    if choice is ReviewDecision.DECLINE:
        await record(
            principal, conn, "view.promotion_declined", "view_promotion", request.id,
            old=old, new={"status": request.status.value, "role": role.value},
        )  # fmt: skip
