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

Set-based, so that 10,000 overdue items take under a second: the due clocks are read by the
`next_escalation_at` index and claimed by one conditional UPDATE on (id, level) with RETURNING
(two passes running at once never escalate the same level twice: the second finds the level
moved and gets nothing back), sent before the items are built so that the database runs it
meanwhile (`store.started`). The writes then go through a `db.Pipeline` while the pass goes on
computing: each built slice's case history once the claim is in, the audit seqs, the messages,
and the audit events slice by slice as they are hashed. A Slack or e-mail channel that would get
more than DIGEST_AT escalations of one level in a pass gets one digest naming them all.
Docs/PERFORMANCE.md "Escalation". While the alert-suppression kill switch is on, the messages
are written suppressed (the record of what would have been sent stays) and the levels still
advance.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.chain import format_ts
from riskops.audit.types import Actor, Entry, RiskLevel
from riskops.server import db
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
SLICE = 2000  # items per slice of the writes (db.Pipeline)
DIGEST_AT = 10  # more escalations than this for one chat channel in a pass: one digest
DIGEST_LIST = 20  # items a digest shows in full


_OUTBOX = (
    "org_id", "channel", "kind", "payload", "status", "attempts", "next_attempt_at", "created_at",
    "dedup_key", "destination_id",
)  # fmt: skip
_OUTBOX_TYPES = ("int", "text", "text", "jsonb", "text", "int", "timestamptz",
                 "timestamptz", "text", "int")  # fmt: skip
_EVENT = ("case_id", "org_id", "action", "actor", "data", "at", "from_status", "to_status")
_EVENT_TYPES = ("int", "int", "text", "text", "jsonb", "timestamptz", "text", "text")


_KINDS = {k.value: k for k in SubjectKind}  # a dict lookup: 10,000 Enum calls cost more


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


# Every due clock one level up, only where it still is at the level read (ids at level 0 in
# the first array, at level 1 in the second), unacknowledged and open. The next escalation is
# one step later, or none after the last level. The same text every pass on PostgreSQL.
_CLAIM = (
    "UPDATE response_clock SET level = level + 1, escalated_at = {now}, "
    f"next_escalation_at = CASE WHEN level + 1 < {rc.PAGER_LEVEL} THEN {{nxt}} END, "
    "version = version + 1 WHERE ((level = 0 AND id {zero}) OR (level = 1 AND id {one})) "
    "AND acknowledged_at IS NULL AND closed_at IS NULL RETURNING id"
)
_CLAIM_PG = _CLAIM.format(
    now="$1", nxt="$2::timestamptz", zero="= ANY($3::int[])", one="= ANY($4::int[])"
)


async def _claim(
    conn: BaseDBAsyncClient, todo: list[_Due], now: datetime, step: timedelta
) -> asyncio.Future[list[Any]]:
    """Claim the due clocks (`_CLAIM`), in one statement sent now (`store.started`): it runs
    while the messages are built; its future gives the ids this pass got (another pass that
    claimed first leaves this one nothing). At most MAX_PASS ids: no bind or IN limit."""
    stamps = [_db(conn, "escalated_at", now), _db(conn, "next_escalation_at", now + step)]
    zero = [d.id for d in todo if d.level == 0]
    one = [d.id for d in todo if d.level == 1]
    if conn.capabilities.dialect == "postgres":
        return await store.started(conn, _CLAIM_PG, [*stamps, zero, one])
    sql = _CLAIM.format(
        now="?", nxt="?", zero=f"IN ({','.join(map(str, zero))})",
        one=f"IN ({','.join(map(str, one))})",
    )  # fmt: skip
    return await store.started(conn, sql, stamps)


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
            _Due(int(r["id"]), int(r["org_id"]), _KINDS[r["subject_kind"]],
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
        at = store.stamp(conn, now)  # the history's and messages' time, as their insert takes it
        actor = Actor(org_id=org_id, actor=SCHEDULER, actor_type="system")
        # The claim is sent first and runs in the database while the items are built here, in
        # slices; once its answer is in, each built slice's history is written (db.Pipeline)
        # while the next is built, then the messages and, slice by slice as they are hashed,
        # the audit events: the database writes while this process computes.
        claiming = await _claim(conn, todo, now, step)
        built: list[_Built] = []
        claimed: set[int] | None = None
        reserving: asyncio.Future[tuple[int, str]] | None = None  # the audit seqs, once claimed
        queued = 0  # built items whose history is queued
        async with db.Pipeline(conn) as pipe:
            try:
                for i in range(0, len(todo), SLICE):
                    built.extend(
                        _build(org_id, todo[i : i + SLICE], runs, cases, case_runs,
                               suppressed, now, at)
                    )  # fmt: skip
                    await pipe.turn()  # the claim's answer is read if it came
                    if claimed is None and claiming.done():
                        claimed = {int(r["id"]) for r in claiming.result()}
                        reserving = _reserve(pipe, conn, org_id, len(claimed))
                    if claimed is not None:
                        queued = _history(pipe, conn, built, queued, claimed, cases)
            finally:
                got = await claiming  # done, or failed with the transaction: never left behind
            if claimed is None:
                claimed = {int(r["id"]) for r in got}
                reserving = _reserve(pipe, conn, org_id, len(claimed))
            _history(pipe, conn, built, queued, claimed, cases)
            await pipe.turn()  # the database starts on them while the messages are routed
            built = [b for b in built if b.due.id in claimed]  # another pass took the rest
            if not built:
                return {"level1": 0, "level2": 0, "parked": len(parked)}
            # The messages routed to the organization's channels (no query: prefetched), else
            # to the installation default; a chat channel's many at once as one digest.
            messages = await _digests(
                conn, org_id, await routing.route(conn, [b.message for b in built])
            )
            routed = [
                (m.org_id, m.channel, m.kind, m.payload, m.status.value, 0, at, at, m.dedup_key,
                 m.destination_id)
                for m in messages
            ]  # fmt: skip
            for k in range(0, len(routed), SLICE):
                outbox_part: store.Part = (
                    "outbox_message", _OUTBOX, _OUTBOX_TYPES, routed[k : k + SLICE],
                )  # fmt: skip
                pipe.send(store.ready_insert(conn, [outbox_part]))
            assert reserving is not None
            seq, prev = await reserving
            stamp = format_ts()
            for k in range(0, len(built), SLICE):
                rows, prev = store.chain_rows(
                    actor, [b.entry for b in built[k : k + SLICE]], seq + k, prev, stamp
                )
                part = ("audit_event", store.COLUMNS, store.TYPES, rows)
                pipe.send(store.ready_insert(conn, [part]))
                await pipe.turn()
            pipe.send(functools.partial(store.move_head, org_id, prev, conn))
        counts = {"level1": 0, "level2": 0, "parked": len(parked)}
        for b in built:
            counts["level2" if b.due.level + 1 >= rc.PAGER_LEVEL else "level1"] += 1
    return counts


def _reserve(
    pipe: db.Pipeline, conn: BaseDBAsyncClient, org_id: int, n: int
) -> asyncio.Future[tuple[int, str]] | None:
    """Take the audit seqs of the n claimed items first thing once the claim is in (the head
    row is locked after the clocks, as every other writer does), ahead of the history."""
    return pipe.send(functools.partial(store.reserve, org_id, n, conn)) if n else None


def _history(
    pipe: db.Pipeline,
    conn: BaseDBAsyncClient,
    built: list[_Built],
    start: int,
    claimed: set[int],
    cases: dict[int, tuple[int, str, str]],
) -> int:
    """Queue the case history rows of built[start:] this pass claimed (the status unchanged:
    from and to the same); returns how many items are queued now."""
    rows = [
        (*b.history, cases.get(b.history[0], (0, "", None))[2],
         cases.get(b.history[0], (0, "", None))[2])
        for b in built[start:] if b.history is not None and b.due.id in claimed
    ]  # fmt: skip
    if rows:
        pipe.send(store.ready_insert(conn, [("case_event", _EVENT, _EVENT_TYPES, rows)]))
    return len(built)


async def _digests(
    conn: BaseDBAsyncClient, org_id: int, messages: list[routing.Pending]
) -> list[routing.Pending]:
    """The routed messages, where a channel people read (Slack, e-mail) would get more than
    DIGEST_AT of one level in this pass: one digest message for them instead (10,000 chat
    messages at once help nobody, and Slack takes about one a second). A generic webhook,
    PagerDuty (one incident per item) and the installation default get every message."""
    people = await routing.read_by_people(conn, org_id) if len(messages) > DIGEST_AT else set()
    if not people:
        return messages
    out: list[routing.Pending] = []
    groups: dict[tuple[int, int], list[routing.Pending]] = defaultdict(list)
    for m in messages:
        if m.destination_id in people:
            groups[(m.destination_id, m.payload["level"])].append(m)
        else:
            out.append(m)
    for (_, level), group in groups.items():
        out.extend(group if len(group) <= DIGEST_AT else [_digest(group, level)])
    return out


def _digest(group: list[routing.Pending], level: int) -> routing.Pending:
    """One message for a channel standing for `group` (same destination and level): how many,
    the first DIGEST_LIST items in full (the longest overdue first, then by reference), and
    every item's (subject, id), so that the record of what was sent names each."""
    payloads = sorted((m.payload for m in group), key=lambda p: (-p["late_seconds"], p["item"]))
    shown = [
        {k: p[k] for k in ("item", "title", "severity", "late", "link")}
        for p in payloads[:DIGEST_LIST]
    ]
    named = ", ".join(p["item"] for p in payloads[:5])
    more = f" and {len(group) - 5:,} more" if len(group) > 5 else ""
    then = "paging PagerDuty" if level >= rc.PAGER_LEVEL else f"escalation level {level}"
    worst = min(str(p["severity"]) for p in payloads)  # SEV0 before SEV1
    payload = {
        "subject": "digest", "level": level, "count": len(group), "severity": worst,
        "items": shown, "subjects": [[p["subject"], p["subject_id"]] for p in payloads],
        "link": get_settings().base_url.rstrip("/") + "/",  # My work: what waits
        "text": f"{len(group):,} items not acknowledged past their target: {named}{more}: "
                f"{then}",
    }  # fmt: skip
    return dataclasses.replace(group[0], kind=routing.DIGEST_KIND, payload=payload, dedup_key=None)


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
    at: Any,
) -> list[_Built]:
    """The message, audit entry and case history row of each item going one level up. What
    all items share is worked out once (10,000 items: each attribute or enum lookup in the loop
    counts)."""
    base = get_settings().base_url.rstrip("/")
    out: list[_Built] = []
    append = out.append
    case_kind, run_kind = SubjectKind.CASE, SubjectKind.RUN.value
    notification = "suppressed" if suppressed else "escalation"
    high, medium = RiskLevel.HIGH, RiskLevel.MEDIUM
    channel, trigger = outbox.Channel.ESCALATION, outbox.PagerAction.TRIGGER
    spans: dict[int, str] = {}  # minutes late repeat across items: worded once
    no_case: tuple[int, str, str] = (0, "", "")
    for d in todo:
        level = d.level + 1
        late = int((now - d.due_at).total_seconds())
        if late < 0:
            late = 0
        case_id: int | None
        if d.kind is case_kind:
            kind = case_kind.value
            number, title, _ = cases.get(d.subject_id, no_case)
            label, case_id = case_ref(number), d.subject_id
            link, listed = f"{base}/cases/{d.subject_id}", case_runs.get(d.subject_id, [])
        else:
            kind = run_kind
            run_id, case_id = runs.get(d.subject_id, (str(d.subject_id), None))
            label, title, listed = run_id, d.severity, []
            link = f"{base}/runs/{d.subject_id}"
        pager = level >= rc.PAGER_LEVEL
        if late:
            minutes = late // 60
            worded = spans.get(minutes) or spans.setdefault(minutes, rc.span(late))
            said, overdue = worded, f", overdue by {worded}"
        else:
            said, overdue = "on time", ""
        then = "paging PagerDuty" if pager else f"escalation level {level}"
        payload: dict[str, Any] = {
            "subject": kind, "subject_id": d.subject_id, "item": label, "title": title,
            "severity": d.severity, "level": level, "late_seconds": late, "late": said,
            "link": link, "runs": listed,
            "text": f"{d.severity} {label} not acknowledged{overdue}: {then}",
        }  # fmt: skip
        # Level 1 goes to the chat channels routed for "escalation" only: without a
        # dedup_key a message never reaches a PagerDuty channel (notify.routing). The last
        # level carries the key and the trigger: PagerDuty opens the item's incident, and
        # its acknowledge and resolve later find the channels it went to.
        message = outbox.pending_row(
            org_id, channel, "response.escalated", payload, suppressed=suppressed, now=now,
            dedup_key=d.dedup_key if pager else None, action=trigger if pager else None,
        )  # fmt: skip
        entry = Entry(
            "response.escalate",
            kind,
            d.subject_id,
            {"level": d.level},
            {
                "level": level,
                "clock": d.id,
                "severity": d.severity,
                "late_seconds": late,
                "pagerduty": pager,
                "runs": len(listed),
                "notification": notification,
            },
            high if pager else medium,
        )
        row = None
        if case_id is not None:
            data = {
                "level": level,
                "runs": listed,
                "late_seconds": late,
                "subject": kind,
                "subject_id": d.subject_id,
            }
            row = (case_id, org_id, "escalate", SCHEDULER, data, at)
        append(_Built(d, message, entry, row))
    return out
