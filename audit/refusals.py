"""Permission refusals in the audit trail, without flooding it (issue 11, item 4).

A refused attempt (FORBIDDEN on a mutation or a page POST) is a security signal, so it is
audited; a script hammering a mutation must not fill the chain, so refusals are counted per
organization, actor, operation and minute in `audit_refusal` (outside the append-only chain):

- the first refusal of a bucket appends `permission.denied` (with the missing permission) at
  once, in the same transaction as the bucket row that counts it: both or neither;
- a repeat only increments the bucket's `attempts`, atomically (INSERT … ON CONFLICT DO UPDATE,
  on SQLite and PostgreSQL alike);
- once the minute is over, `flush_refusals` (run by the next refusal, the web process every
  minute, the checkpoint job and the `riskops audit` commands) appends one
  `permission.denied_summary` with the bucket's total `attempts`, and marks them reported in
  the same transaction. The claim is a conditional update (`attempts > reported`), so two
  flushers never write the same summary; an attempt counted after a summary leads to a later
  summary with the new total. The last summary of a bucket holds its final count.

The refusal is recorded in a transaction of its own: the action's transaction was rolled back.
If the store cannot be written, the first event goes to the spool like any `emit`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.models import AuditRefusal
from riskops.audit.types import Actor, Entry, RiskLevel

log = logging.getLogger("riskops.audit")

DENIED = "permission.denied"
SUMMARY = "permission.denied_summary"
MAX_OPERATION = 120


def minute_of(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _marks(conn: BaseDBAsyncClient, n: int) -> list[str]:
    pg = conn.capabilities.dialect == "postgres"
    return [f"${i}" if pg else "?" for i in range(1, n + 1)]


def _detail(
    operation: str, permission: str | None, minute: str, attempts: int, **more: Any
) -> dict[str, Any]:
    return {"operation": operation, "permission": permission, "minute": minute,
            "attempts": attempts, **more}  # fmt: skip


async def record_refusal(
    actor: Actor,
    operation: str,
    permission: str | None,
    *,
    maker_checker: bool = False,
    now: datetime | None = None,
) -> None:
    """Count a refused attempt of `actor` at `operation` ("mutation assignAlert",
    "POST /alerts/{alert_id}/assign"); the first of its minute is an audit event at once.
    Never raises: a refusal must reach the user whatever happens to its record."""
    operation = operation[:MAX_OPERATION]
    minute = minute_of(now)
    try:
        await asyncio.create_task(
            _count(actor, operation, permission, minute, maker_checker)
        )  # a task of its own: see store._append_alone
    except Exception as exc:  # the store is down: the first event still reaches the spool
        log.error("refusal count unavailable, spooling its event: %s", exc)
        detail = _detail(operation, permission, minute, 1, maker_checker=maker_checker)
        await store.emit(actor, Entry(DENIED, "operation", operation, {}, detail, RiskLevel.MEDIUM))
        return
    try:
        await flush_refusals(now)
    except Exception as exc:  # later: the next refusal, the periodic flush
        log.error("refusal summaries not flushed: %s", exc)


async def _count(
    actor: Actor, operation: str, permission: str | None, minute: str, maker_checker: bool
) -> None:
    async with in_transaction() as conn:
        m = _marks(conn, 6)
        rows = await conn.execute_query_dict(
            "INSERT INTO audit_refusal (org_id, actor, actor_type, operation, minute, permission,"
            " attempts, reported) "
            f"VALUES ({', '.join(m)}, 1, 1) "
            "ON CONFLICT (org_id, actor, operation, minute) "
            "DO UPDATE SET attempts = audit_refusal.attempts + 1 RETURNING id, attempts",
            [actor.org_id, actor.actor, actor.actor_type, operation, minute, permission],
        )
        if int(rows[0]["attempts"]) != 1:
            return  # a repeat within the minute: counted, summarised when the minute is over
        detail = _detail(operation, permission, minute, 1, maker_checker=maker_checker)
        event = await store.append(
            actor, Entry(DENIED, "operation", operation, {}, detail, RiskLevel.MEDIUM), conn
        )
        await AuditRefusal.filter(id=rows[0]["id"]).using_db(conn).update(first_seq=event.seq)


async def flush_refusals(now: datetime | None = None, *, limit: int = 200) -> int:
    """Carry the counts of the buckets whose minute is over into the chain; returns how many
    summaries were appended."""
    minute = minute_of(now)
    due = (
        await AuditRefusal.filter(minute__lt=minute, attempts__gt=F("reported"))
        .order_by("id")
        .limit(limit)
        .values("id")
    )
    written = 0
    for row in due:
        written += await asyncio.create_task(_summarise(int(row["id"])))
    # Buckets whose count the chain holds are of no further use after a day.
    cutoff = minute_of((now or datetime.now(UTC)) - timedelta(days=1))
    await AuditRefusal.filter(minute__lt=cutoff, attempts=F("reported")).delete()
    return written


async def _summarise(bucket_id: int) -> int:
    async with in_transaction() as conn:
        (m,) = _marks(conn, 1)
        rows = await conn.execute_query_dict(
            "UPDATE audit_refusal SET reported = attempts "
            f"WHERE id = {m} AND attempts > reported "
            "RETURNING org_id, actor, actor_type, operation, minute, permission, attempts, "
            "first_seq",
            [bucket_id],
        )
        if not rows:
            return 0  # another flusher summarised it first
        row = rows[0]
        actor = Actor(org_id=int(row["org_id"]), actor=row["actor"], actor_type=row["actor_type"])
        detail = _detail(row["operation"], row["permission"], row["minute"], int(row["attempts"]),
                         first_seq=row["first_seq"])  # fmt: skip
        await store.append(
            actor, Entry(SUMMARY, "operation", row["operation"], {}, detail, RiskLevel.MEDIUM), conn
        )
    return 1
