"""The escalation pass (issue 16, seed 002 escalation levels), run every minute by the
`response.escalate` job: every open, unacknowledged SEV0/SEV1 clock whose `next_escalation_at`
has passed goes one level up.

- Level 1, at the target (`due_at`): a message on the `escalation` channel (kind
  `response.escalated`) naming the item, its severity, how late it is and a link.
- Level 2, the last, one `escalation_step_minutes` after level 1 (at the earliest `due_at` plus a
  step): a PagerDuty TRIGGER (`escalation` channel, action trigger, the clock's `dedup_key`).
  Then `next_escalation_at` is null: nothing more is sent until it is acknowledged (PagerDuty
  ACKNOWLEDGE) or resolved (RESOLVE).

Each escalation is audited (`response.escalate` by the system actor `scheduler`) and written to
the case history (action `escalate`). A run whose case still waits for an acknowledgement does
not escalate on its own: the case escalates for both, listing its runs (the run's clock is
parked: next_escalation_at null, picked up again if the case stops needing an acknowledgement).

Set-based, so that 10,000 overdue items take under a second: the due clocks are read by
the `next_escalation_at` index, claimed by one conditional UPDATE per level on (id, level) with
RETURNING (so two passes running at once never escalate the same level twice: the second finds
the level moved and gets nothing back; the UPDATE runs in the database while the messages are
built here), then per organization one statement inserting the outbox messages and case history
rows, run while the audit events are hashed, and one inserting the audit events
(`riskops.audit.store.insert_parts`, `append_many`). Docs/PERFORMANCE.md "Escalation". While the
alert-suppression kill switch is on, the messages are written suppressed (the record of what
would have been sent stays) and the levels still advance.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import Actor, Entry, RiskLevel
from riskops.server.core.formatting import case_ref
from riskops.server.core.scoping import scoped
from riskops.server.credit.models import Run
from riskops.server.credit.policy import current_policy
from riskops.server.notify import outbox, routing
from riskops.server.response import clocks as rc
from riskops.server.response.models import ResponseClock, SubjectKind
from riskops.server.settings import get_settings

log = logging.getLogger("riskops.response")

SCHEDULER = "scheduler"
CHUNK = 2000  # ids per IN list of the reads and parks (inlined integers: no bind limit)
MAX_PASS = 50_000  # clocks looked at by one pass; the next minute takes the rest


_OUTBOX = (
    "org_id", "channel", "kind", "payload", "status", "attempts", "next_attempt_at", "created_at",
    "dedup_key", "destination_id",
)  # fmt: skip
_OUTBOX_TYPES = ("int", "text", "text", "text/jsonb", "text", "int", "timestamptz",
                 "timestamptz", "text", "int")  # fmt: skip
_EVENT = ("case_id", "org_id", "action", "actor", "data", "at", "from_status", "to_status")
_EVENT_TYPES = ("int", "int", "text", "text", "text/jsonb", "timestamptz", "text", "text")


_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps's setup, once


def _json(value: Any) -> str:
    return _COMPACT.encode(value)


def _chunks(ids: list[int]) -> list[str]:
    """Integer ids inlined in IN lists of at most CHUNK (no bind-parameter limit, no per-id
    query-building cost)."""
    return [",".join(str(int(x)) for x in ids[i : i + CHUNK]) for i in range(0, len(ids), CHUNK)]


@dataclass(frozen=True)
class _Due:
    id: int
    org_id: int
    kind: SubjectKind
    subject_id: int
    severity: str
    due_at: datetime
    level: int
    dedup_key: str


def _db(conn: BaseDBAsyncClient, name: str, value: datetime | None) -> Any:
    field = ResponseClock._meta.fields_map[name]
    return field.to_db_value(value, ResponseClock)


def _mark(conn: BaseDBAsyncClient, n: int) -> str:
    return f"${n}" if conn.capabilities.dialect == "postgres" else "?"


async def _claim(
    conn: BaseDBAsyncClient, ids: list[int], level: int, now: datetime, nxt: datetime | None
) -> set[int]:
    """Move these clocks from `level` to level + 1, only where they still are at `level`,
    unacknowledged and open: the ids this pass got."""
    got: set[int] = set()
    for i in range(0, len(ids), MAX_PASS):  # one statement: it runs while the messages are built
        chunk = ",".join(str(int(x)) for x in ids[i : i + MAX_PASS])
        sql = (
            f"UPDATE response_clock SET level = {level + 1}, escalated_at = {_mark(conn, 1)}, "
            f"next_escalation_at = {_mark(conn, 2)}, version = version + 1 "
            f"WHERE id IN ({chunk}) AND level = {level} AND acknowledged_at IS NULL "
            "AND closed_at IS NULL RETURNING id"
        )
        rows = await conn.execute_query_dict(
            sql, [_db(conn, "escalated_at", now), _db(conn, "next_escalation_at", nxt)]
        )
        got.update(int(r["id"]) for r in rows)
    return got


async def _park(conn: BaseDBAsyncClient, org_id: int, ids: list[int], level: int) -> None:
    for i in range(0, len(ids), CHUNK):
        await (
            scoped(ResponseClock, org_id=org_id)
            .filter(id__in=ids[i : i + CHUNK], level=level)
            .using_db(conn)
            .update(next_escalation_at=None)
        )


async def escalate_due(now: datetime | None = None) -> dict[str, int]:
    """One pass over every organization: returns how many clocks reached level 1 and level 2
    and how many runs were parked under their case."""
    now = now or datetime.now(UTC)
    conn = connections.get("default")
    _, rows = await conn.execute_query(
        "SELECT id, org_id, subject_kind, subject_id, severity, due_at, level, dedup_key "
        f"FROM response_clock WHERE next_escalation_at <= {_mark(conn, 1)} "
        "AND acknowledged_at IS NULL AND closed_at IS NULL "
        f"ORDER BY next_escalation_at LIMIT {MAX_PASS}",
        [_db(conn, "next_escalation_at", now)],
    )  # the index on next_escalation_at; raw rows (records, not dicts nor models: 10,000 of
    # them cost more to build than the query)
    by_org: dict[int, list[_Due]] = defaultdict(list)
    for r in rows:
        due_at = r["due_at"]
        if isinstance(due_at, str):  # SQLite
            due_at = datetime.fromisoformat(due_at)
        if due_at.tzinfo is None:
            due_at = due_at.replace(tzinfo=UTC)
        by_org[int(r["org_id"])].append(
            _Due(int(r["id"]), int(r["org_id"]), SubjectKind(r["subject_kind"]),
                 int(r["subject_id"]), str(r["severity"]), due_at, int(r["level"]),
                 str(r["dedup_key"]))
        )  # fmt: skip
    totals = {"level1": 0, "level2": 0, "parked": 0}
    for org_id, due in by_org.items():
        try:
            done = await _escalate_org(org_id, due, now)
        except Exception:
            log.exception("escalation of organization %s failed; the next pass retries", org_id)
            continue
        for k, v in done.items():
            totals[k] += v
    if totals["level1"] or totals["level2"]:
        log.info("escalated %(level1)d item(s) to level 1, %(level2)d to PagerDuty", totals)
        await outbox.kick()
    return totals


async def _escalate_org(org_id: int, due: list[_Due], now: datetime) -> dict[str, int]:
    async with in_transaction() as conn:
        policy = (await current_policy(org_id, conn)).policy
        step = timedelta(minutes=policy.escalation_step_minutes)
        suppressed = await rc.suppression(org_id, now, conn)
        case_ids = {d.subject_id for d in due if d.kind is SubjectKind.CASE}
        run_ids = [d.subject_id for d in due if d.kind is SubjectKind.RUN]
        runs = {
            int(r[0]): (str(r[1]), r[2])
            for r in await scoped(Run, org_id=org_id)
            .filter(id__in=run_ids)
            .using_db(conn)
            .values_list("id", "run_id", "case_id")
        } if run_ids else {}  # fmt: skip
        # runs whose case still waits for an acknowledgement: the case escalates for them
        run_cases = {c for _, c in runs.values() if c is not None}
        waiting = set(
            await scoped(ResponseClock, org_id=org_id).filter(
                subject_kind=SubjectKind.CASE, subject_id__in=list(run_cases),
                needs_ack=True, acknowledged_at=None, closed_at=None,
            ).using_db(conn).values_list("subject_id", flat=True)
        ) if run_cases else set()  # fmt: skip
        parked = [
            d for d in due
            if d.kind is SubjectKind.RUN and runs.get(d.subject_id, ("", None))[1] in waiting
        ]  # fmt: skip
        for level in (0, 1):
            await _park(conn, org_id, [d.id for d in parked if d.level == level], level)
        parked_ids = {d.id for d in parked}
        todo = [d for d in due if d.id not in parked_ids]
        if not todo:
            return {"level1": 0, "level2": 0, "parked": len(parked)}
        # Everything the messages need is read before the claim, so that the claiming UPDATE
        # runs in the database while the messages, history rows and audit entries are built
        # here (for every item; the few another pass claimed first are dropped after).
        cases, case_runs = await _case_facts(conn, org_id, case_ids)
        run_case_ids = {runs.get(d.subject_id, ("", None))[1] for d in todo}
        missing = sorted({c for c in run_case_ids if c is not None} - set(cases))
        for chunk in _chunks(missing):  # a run's case, not itself escalated: its status
            for r in await conn.execute_query_dict(
                f"SELECT id, status FROM risk_case WHERE org_id = {org_id} AND id IN ({chunk})"
            ):
                cases[int(r["id"])] = (0, "", str(r["status"]))
        await routing.prefetch(conn, [org_id])  # routing below asks nothing more
        claiming = asyncio.ensure_future(_claim_all(conn, todo, now, step))
        await asyncio.sleep(0)  # the UPDATE is sent; the connection waits until it is done
        try:
            built = _build(org_id, todo, runs, cases, case_runs, suppressed, now)
        finally:
            claimed = await claiming  # done, or failed with the transaction: never left behind
        built = [b for b in built if b.due.id in claimed]
        if not built:
            return {"level1": 0, "level2": 0, "parked": len(parked)}
        counts = {"level1": 0, "level2": 0, "parked": len(parked)}
        for b in built:
            counts["level2" if b.due.level + 1 >= rc.PAGER_LEVEL else "level1"] += 1
        history = [b.history for b in built if b.history is not None]
        values = [
            (*r, cases.get(r[0], (0, "", None))[2], cases.get(r[0], (0, "", None))[2])
            for r in history
        ]  # fmt: skip (status unchanged: from and to the same)
        actor = Actor(org_id=org_id, actor=SCHEDULER, actor_type="system")
        # The messages routed to the organization's channels (no query: prefetched), else to
        # the installation default; then the history and outbox inserts, one statement, run
        # in the database while the audit events are hashed here.
        dumped: dict[int, str] = {}  # a message's copies for several channels: dumped once
        routed = [
            (m.org_id, m.channel, m.kind,
             dumped.get(id(m.payload)) or dumped.setdefault(id(m.payload), _json(m.payload)),
             m.status.value, 0, now, now, m.dedup_key, m.destination_id)
            for m in await routing.route(conn, [b.message for b in built])
        ]  # fmt: skip
        inserting = store.insert_parts(
            conn,
            [
                ("case_event", _EVENT, _EVENT_TYPES, values),
                ("outbox_message", _OUTBOX, _OUTBOX_TYPES, routed),
            ],
        )
        await store.append_many(actor, [b.entry for b in built], conn, meanwhile=inserting)
    return counts


async def _case_facts(
    conn: BaseDBAsyncClient, org_id: int, case_ids: set[int]
) -> tuple[dict[int, tuple[int, str, str]], dict[int, list[str]]]:
    """Number, title and status of each case (by id), and the run ids linked to each."""
    cases: dict[int, tuple[int, str, str]] = {}
    case_runs: dict[int, list[str]] = defaultdict(list)
    for chunk in _chunks(sorted(case_ids)):
        rows = await conn.execute_query_dict(
            f"SELECT id, number, title, status FROM risk_case WHERE org_id = {org_id} "
            f"AND id IN ({chunk})"
        )
        cases.update(
            {int(r["id"]): (int(r["number"]), str(r["title"]), str(r["status"])) for r in rows}
        )
        rows = await conn.execute_query_dict(
            f"SELECT run_id, case_id FROM run WHERE org_id = {org_id} AND case_id IN ({chunk})"
        )
        for r in rows:
            case_runs[int(r["case_id"])].append(str(r["run_id"]))
    return cases, case_runs


async def _claim_all(
    conn: BaseDBAsyncClient, todo: list[_Due], now: datetime, step: timedelta
) -> set[int]:
    claimed: set[int] = set()
    for level in (0, 1):
        ids = [d.id for d in todo if d.level == level]
        if ids:
            nxt = now + step if level + 1 < rc.PAGER_LEVEL else None
            claimed |= await _claim(conn, ids, level, now, nxt)
    return claimed


@dataclass(frozen=True, slots=True)
class _Built:
    due: _Due
    message: routing.Pending
    entry: Entry
    history: tuple[Any, ...] | None


def _build(
    org_id: int,
    todo: list[_Due],
    runs: dict[int, tuple[str, int | None]],
    cases: dict[int, tuple[int, str, str]],
    case_runs: dict[int, list[str]],
    suppressed: bool,
    now: datetime,
) -> list[_Built]:
    """The message, audit entry and case history row of each item going one level up."""
    base = get_settings().base_url.rstrip("/")
    out: list[_Built] = []
    for d in todo:
        level = d.level + 1
        late = max(0, int((now - d.due_at).total_seconds()))
        case_id: int | None
        if d.kind is SubjectKind.CASE:
            number, title, _ = cases.get(d.subject_id, (0, "", ""))
            label, case_id = case_ref(number), d.subject_id
            link, listed = f"{base}/cases/{d.subject_id}", case_runs.get(d.subject_id, [])
        else:
            run_id, case_id = runs.get(d.subject_id, (str(d.subject_id), None))
            label, title, listed = run_id, d.severity, []
            link = f"{base}/runs/{d.subject_id}"
        payload: dict[str, Any] = {
            "subject": d.kind.value, "subject_id": d.subject_id, "item": label,
            "title": title, "severity": d.severity, "level": level,
            "late_seconds": late, "late": rc.span(late) if late else "on time",
            "link": link, "runs": listed,
        }  # fmt: skip
        pager = level >= rc.PAGER_LEVEL
        overdue = f", overdue by {rc.span(late)}" if late else ""
        then = "paging PagerDuty" if pager else f"escalation level {level}"
        payload["text"] = f"{d.severity} {label} not acknowledged{overdue}: {then}"
        # Level 1 goes to the chat channels routed for "escalation" only: without a
        # dedup_key a message never reaches a PagerDuty channel (notify.routing). The last
        # level carries the key and the trigger: PagerDuty opens the item's incident, and
        # its acknowledge and resolve later find the channels it went to.
        message = outbox.pending_row(
            org_id, outbox.Channel.ESCALATION, "response.escalated", payload,
            suppressed=suppressed, now=now, dedup_key=d.dedup_key if pager else None,
            action=outbox.PagerAction.TRIGGER if pager else None,
        )  # fmt: skip
        entry = Entry(
            "response.escalate",
            d.kind.value,
            d.subject_id,
            {"level": d.level},
            {
                "level": level,
                "clock": d.id,
                "severity": d.severity,
                "late_seconds": late,
                "pagerduty": level >= rc.PAGER_LEVEL,
                "runs": len(listed),
                "notification": "suppressed" if suppressed else "escalation",
            },
            RiskLevel.HIGH if level >= rc.PAGER_LEVEL else RiskLevel.MEDIUM,
        )
        row = None
        if case_id is not None:
            data = {
                "level": level,
                "runs": listed,
                "late_seconds": late,
                "subject": d.kind.value,
                "subject_id": d.subject_id,
            }
            row = (case_id, org_id, "escalate", SCHEDULER, _json(data), now)
        out.append(_Built(d, message, entry, row))
    return out
