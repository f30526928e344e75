"""The jobs of view promotion, run as the system for one organization (`org_id` in the payload):

- `view.promotion.validate`: runs the snapshot's filters on its queue (rows selected, counted up
  to `queue.COUNT_CAP` like the queue's own count, and the time it took), checks the definition
  against the standard audience (`audience.RULES`), sets the request `pending_review` or
  `invalid` (problems in words), and tells the reviewers on the `review` channel;
- `view.promotion.publish`: makes the approved snapshot the view's next standard version
  (`ViewVersion` n+1 with who approved what).

Both are idempotent (they act only from the status they expect, under a row lock), so the
runner's at-least-once delivery never validates or publishes twice. On an exception the job
records the error and the attempt on the request (a transaction of its own, so the rollback of
the failed one does not take it along) and raises again: the runner retries up to
`runner.MAX_ATTEMPTS` times.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import Entry, system_actor
from riskops.jobs.registry import job
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit import kill_switches
from riskops.server.credit import runs as ledger
from riskops.server.credit.models import Run
from riskops.server.identity.models import User
from riskops.server.notify import outbox
from riskops.server.triage.models import Alert
from riskops.server.triage.queue import COUNT_CAP
from riskops.server.triage.queue_filters import FilterErrors, apply_filter
from riskops.server.views import (
    applying,
    audience,
    definitions,
    promotion,
    promotion_rules,
)
from riskops.server.views.definitions import Definition
from riskops.server.views.models import (
    PromotionStatus,
    SavedView,
    ViewPromotionRequest,
    ViewQueue,
    ViewReview,
    ViewScope,
    ViewStatus,
    ViewVersion,
)

log = logging.getLogger("riskops.views")

S = PromotionStatus
MAX_ERROR = 1000


@job(promotion.VALIDATE_JOB)
async def promotion_validate(ctx: dict[str, Any], org_id: int, request_id: int) -> dict[str, Any]:
    try:
        return await validate_request(org_id, request_id)
    except Exception as exc:
        await record_job_error(org_id, request_id, exc)
        raise


@job(promotion.PUBLISH_JOB)
async def promotion_publish(ctx: dict[str, Any], org_id: int, request_id: int) -> dict[str, Any]:
    try:
        return await publish_request(org_id, request_id)
    except Exception as exc:
        await record_job_error(org_id, request_id, exc)
        raise


async def record_job_error(org_id: int, request_id: int, exc: BaseException) -> None:
    """The failure on the request, for the requester and the reviewers to see."""
    try:
        async with in_transaction() as conn:
            await (
                scoped(ViewPromotionRequest, org_id=org_id)
                .filter(id=request_id)
                .using_db(conn)
                .update(
                    job_error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR],
                    job_attempts=F("job_attempts") + 1,
                    updated_at=datetime.now(UTC),
                )
            )
    except Exception:
        log.exception("could not record the failure of view promotion %s", request_id)


# --- validate ----------------------------------------------------------------------------------


async def validate_request(org_id: int, request_id: int) -> dict[str, Any]:
    request = await scoped(ViewPromotionRequest, org_id=org_id).get_or_none(id=request_id)
    if request is None or request.status is not S.VALIDATING:
        return {"skipped": request.status.value if request else "gone"}
    view = await scoped(SavedView, org_id=org_id).get(id=request.view_id)
    snapshot = request.snapshot
    raw = snapshot["definition"]  # a snapshot without one cannot be validated: fail, retry
    problems: list[str] = []
    rows: int | None = None
    took_ms: int | None = None
    try:
        defn: Definition | None = definitions.parse(view.queue, raw)
    except FilterErrors as exc:
        defn = None
        problems += [f"{key}: {message}" for key, message in exc.errors.items()]
    if view.status is not ViewStatus.ACTIVE:
        problems.append(f"View '{view.name}' was archived; restore it and ask again.")
    if defn is not None:
        names = await promotion_rules.names_for(org_id, [defn])
        problems += audience.problems(defn, names)
        problems += await _nothing_changes(org_id, view, request, defn)
        rows, took_ms = await count_rows(org_id, request.requested_by_id, defn)
    now = datetime.now(UTC)
    status = S.INVALID if problems else S.PENDING_REVIEW
    async with in_transaction() as conn:
        locked = await _lock(conn, org_id, request_id, S.VALIDATING)
        if locked is None:
            return {"skipped": "changed meanwhile"}
        await _update(
            conn, locked, status=status, rows_selected=rows, took_ms=took_ms, problems=problems,
            validated_at=now, job_error=None,
        )  # fmt: skip
        await _audit(
            conn, org_id, "view.promotion_validated", locked,
            {"status": status.value, "rows_selected": rows, "took_ms": took_ms,
             "problems": len(problems)},
        )  # fmt: skip
        suppressed = await _notify(conn, org_id, locked, view, now)
    if not suppressed:
        await outbox.kick()
    return {"request_id": request_id, "status": status.value, "rows_selected": rows}


async def _nothing_changes(
    org_id: int, view: SavedView, request: ViewPromotionRequest, defn: Definition
) -> list[str]:
    if view.scope is not ViewScope.STANDARD or request.base_number is None:
        return []
    base = (
        await scoped(ViewVersion, org_id=org_id)
        .filter(view_id=view.id, number=request.base_number)
        .first()
    )
    if base is None or base.definition != defn.to_json():
        return []
    snap = request.snapshot
    if snap.get("name") != base.name or snap.get("description", "") != base.description:
        return []
    return [f"Nothing changes from standard version {base.number}; edit the view first."]


async def count_rows(org_id: int, requester_id: int, defn: Definition) -> tuple[int, int]:
    """Rows the definition selects (capped at COUNT_CAP, as the queue counts) and the time it
    took in ms. "me" is counted as the requester (a standard view's rows differ per reader)."""
    started = time.monotonic()
    if defn.queue is ViewQueue.ALERTS:
        who = Principal(user_id=requester_id, org_id=org_id, roles=frozenset())
        q: QuerySet[Any] = apply_filter(scoped(Alert, org_id=org_id), who, defn.alert_filter())
    else:
        q = ledger.apply_run_filter(scoped(Run, org_id=org_id), defn.run_filter())
    ids = await q.limit(COUNT_CAP + 1).values_list("id", flat=True)
    took_ms = round((time.monotonic() - started) * 1000)
    return min(len(ids), COUNT_CAP), took_ms


async def _notify(
    conn: BaseDBAsyncClient,
    org_id: int,
    request: ViewPromotionRequest,
    view: SavedView,
    now: datetime,
) -> bool:
    suppressed = kill_switches.suppression_on(
        await kill_switches.active_switches(org_id, now, conn)
    )
    waiting = request.status is S.PENDING_REVIEW
    await outbox.add(
        conn, org_id, outbox.Channel.REVIEW, "view.promotion_validated",
        {
            "request_id": request.id, "view_id": view.id,
            "view": request.snapshot.get("name", view.name), "status": request.status.value,
            "rows_selected": request.rows_selected, "took_ms": request.took_ms,
            "problems": list(request.problems),
            "text": (
                f"View promotion {request.id} ('{request.snapshot.get('name', view.name)}') "
                + ("waits for a compliance and a product review." if waiting
                   else "is invalid: the requester must fix it.")
            ),
        },
        suppressed=suppressed, now=now,
    )  # fmt: skip
    return suppressed


# --- publish -----------------------------------------------------------------------------------


async def publish_request(org_id: int, request_id: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        request = await _lock(conn, org_id, request_id, None)
        if request is None:
            return {"skipped": "gone"}
        if request.status is S.PUBLISHED:
            return {"request_id": request_id, "number": request.published_number, "again": True}
        if request.status is not S.APPROVED:
            return {"skipped": request.status.value}
        view = await (
            scoped(SavedView, org_id=org_id)
            .filter(id=request.view_id)
            .select_for_update()
            .using_db(conn)
            .get()
        )
        snapshot = request.snapshot
        defn = definitions.parse(view.queue, snapshot["definition"])
        number = await _next_number(conn, org_id, view)
        approvals = await _approvals(conn, org_id, request)
        await ViewVersion.create(
            org_id=org_id, view_id=view.id, number=number, name=snapshot["name"],
            description=snapshot.get("description", ""), definition=defn.to_json(),
            request_id=request.id, requested_by_id=request.requested_by_id,
            approvals=approvals, published_at=now, using_db=conn,
        )  # fmt: skip
        old = {"scope": view.scope.value, "published_number": view.published_number}
        keep_draft = view.draft is not None and view.draft.get("definition") != snapshot.get(
            "definition"
        )  # an edit made after the request waits for a request of its own
        await scoped(SavedView, org_id=org_id).filter(id=view.id).using_db(conn).update(
            scope=ViewScope.STANDARD, team_id=None, definition=defn.to_json(),
            name=snapshot["name"], description=snapshot.get("description", ""),
            published_number=number, draft=view.draft if keep_draft else None,
            draft_by_id=view.draft_by_id if keep_draft else None,
            version=view.version + 1, updated_at=now,
        )  # fmt: skip
        await _update(conn, request, status=S.PUBLISHED, published_number=number, job_error=None)
        await _audit(
            conn, org_id, "view.promotion_published", request,
            {"status": request.status.value, "view_id": view.id, "number": number,
             "approved_by": [a["reviewer_id"] for a in approvals]},
            old=old,
        )  # fmt: skip
        suppressed = kill_switches.suppression_on(
            await kill_switches.active_switches(org_id, now, conn)
        )
        await outbox.add(
            conn, org_id, outbox.Channel.REVIEW, "view.promotion_published",
            {"request_id": request.id, "view_id": view.id, "view": snapshot["name"],
             "number": number, "requested_by_id": request.requested_by_id,
             "text": f"View '{snapshot['name']}' is now standard (version {number})."},
            suppressed=suppressed, now=now,
        )  # fmt: skip
    applying.forget_applied(view.id)  # this process applies the new version at once
    if not suppressed:
        await outbox.kick()
    return {"request_id": request_id, "number": number}


async def _next_number(conn: BaseDBAsyncClient, org_id: int, view: SavedView) -> int:
    last = (
        await scoped(ViewVersion, org_id=org_id)
        .filter(view_id=view.id)
        .using_db(conn)
        .order_by("-number")
        .first()
        .values_list("number", flat=True)
    )
    return (last if isinstance(last, int) else 0) + 1


async def _approvals(
    conn: BaseDBAsyncClient, org_id: int, request: ViewPromotionRequest
) -> list[dict[str, Any]]:
    reviews = list(
        await scoped(ViewReview, org_id=org_id)
        .filter(request_id=request.id)
        .using_db(conn)
        .order_by("at", "id")
    )
    ids = [r.reviewer_id for r in reviews]
    names = dict(
        await scoped(User, org_id=org_id)
        .filter(id__in=ids or [0])
        .using_db(conn)
        .values_list("id", "name")
    )
    return [
        {"reviewer_id": r.reviewer_id, "reviewer": names.get(r.reviewer_id, "deleted user"),
         "role": r.role.value, "decision": r.decision.value, "note": r.note,
         "at": r.at.astimezone(UTC).isoformat()}
        for r in reviews
    ]  # fmt: skip


# --- shared ------------------------------------------------------------------------------------


async def _lock(
    conn: BaseDBAsyncClient, org_id: int, request_id: int, status: PromotionStatus | None
) -> ViewPromotionRequest | None:
    q = scoped(ViewPromotionRequest, org_id=org_id).filter(id=request_id)
    if status is not None:
        q = q.filter(status=status)
    return await q.select_for_update().using_db(conn).first()


async def _update(conn: BaseDBAsyncClient, request: ViewPromotionRequest, **changes: Any) -> None:
    changes["version"] = request.version + 1
    changes["updated_at"] = datetime.now(UTC)
    for name, value in changes.items():
        setattr(request, name, value)
    await (
        scoped(ViewPromotionRequest, org_id=request.org_id)
        .filter(id=request.id)
        .using_db(conn)
        .update(**changes)
    )


async def _audit(
    conn: BaseDBAsyncClient,
    org_id: int,
    action: str,
    request: ViewPromotionRequest,
    new: dict[str, Any],
    *,
    old: dict[str, Any] | None = None,
) -> None:
    """Jobs act as the system (no person): the audit event names the system actor."""
    await store.append(
        system_actor(org_id), Entry(action, "view_promotion", request.id, old or {}, new), conn
    )
