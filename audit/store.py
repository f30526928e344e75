"""Appending to an organization's chain.

`append()` runs inside the caller's transaction, so the event commits or rolls back with the change
it records. `emit()` is for events that are not part of a change (data access, failed logins): it
writes in its own transaction and, if the store cannot be written, spools the event durably.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Coroutine
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit import spool
from riskops.audit.chain import GENESIS_HASH, canonical, event_hash, format_ts
from riskops.audit.models import AuditEvent, AuditHead
from riskops.audit.types import Actor, Entry

log = logging.getLogger("riskops.audit")


async def ensure_head(org_id: int, conn: BaseDBAsyncClient) -> None:
    """Create the chain head of an organization if it has none (idempotent, race-free)."""
    await conn.execute_query(
        "INSERT INTO audit_head (org_id, seq, hash) "
        f"VALUES ({_mark(conn, 1)}, 0, {_mark(conn, 2)}) ON CONFLICT (org_id) DO NOTHING",
        [org_id, GENESIS_HASH],
    )


def _mark(conn: BaseDBAsyncClient, n: int) -> str:
    return f"${n}" if conn.capabilities.dialect == "postgres" else "?"


# The head's move to the next seq, returning it and the previous hash (it also takes the lock);
# a caller may run it as the main statement of a data-modifying WITH and pass what it returns
# to `append(head=...)`.
BUMP_SQL = "UPDATE audit_head SET seq = seq + 1 WHERE org_id = {} RETURNING seq, hash"


def bumped(rows: list[dict[str, Any]]) -> tuple[int, str] | None:
    """`append`'s `head` from the rows `BUMP_SQL` returned (None: the chain has no head yet)."""
    return (int(rows[0]["seq"]), str(rows[0]["hash"])) if rows else None


async def _bump(org_id: int, conn: BaseDBAsyncClient) -> tuple[int, str] | None:
    """Take the next seq and the previous hash in one statement (it also takes the lock)."""
    return bumped(await conn.execute_query_dict(BUMP_SQL.format(_mark(conn, 1)), [org_id]))


def _values(values: dict[str, Any]) -> str:
    return canonical(values).decode("utf-8")


async def append(
    actor: Actor,
    entry: Entry,
    conn: BaseDBAsyncClient,
    *,
    ts: str | None = None,
    event_uid: str | None = None,
    head: tuple[int, str] | None = None,
) -> AuditEvent:
    """Append one event to `actor.org_id`'s chain inside the open transaction `conn`.

    Locking: the UPDATE of the head row takes its row lock (PostgreSQL) or the write lock (SQLite)
    until commit, so concurrent appenders queue up and the chain never forks or gaps.
    Call it last in a transaction, to hold the lock briefly.

    `head`: (seq, previous hash) when the caller already moved the head in this transaction
    with `BUMP_SQL` (folded into a statement of its own, to spare a round trip).
    """
    org_id = actor.org_id
    if head is None:
        head = await _bump(org_id, conn)
    if head is None:
        await ensure_head(org_id, conn)
        head = await _bump(org_id, conn)
        assert head is not None
    seq, prev_hash = head
    event = {
        "org": org_id,
        "seq": seq,
        "ts": ts or format_ts(),
        "actor": actor.actor,
        "actor_type": actor.actor_type,
        "action": entry.action,
        "entity_type": entry.entity_type,
        "entity_id": str(entry.entity_id),
        "ip": actor.ip,
        "user_agent": (actor.user_agent or None) and actor.user_agent[:300],
        "risk_level": str(entry.risk_level),
        "old_values": json.loads(_values(entry.old_values)),
        "new_values": json.loads(_values(entry.new_values)),
        "request_id": actor.request_id,
        "prev_hash": prev_hash,
    }
    digest = event_hash(event)
    values = dict(
        org_id=org_id,
        seq=seq,
        ts=event["ts"],
        actor=event["actor"],
        actor_type=event["actor_type"],
        action=event["action"],
        entity_type=event["entity_type"],
        entity_id=event["entity_id"],
        ip=event["ip"],
        user_agent=event["user_agent"],
        risk_level=event["risk_level"],
        old_values=_values(event["old_values"]),
        new_values=_values(event["new_values"]),
        request_id=event["request_id"],
        prev_hash=prev_hash,
        hash=digest,
        event_uid=event_uid or str(uuid.uuid4()),
    )
    if conn.capabilities.dialect == "postgres":
        return await _insert_moving_head(conn, values, digest)
    row = await AuditEvent.create(**values, using_db=conn)
    await AuditHead.filter(org_id=org_id).using_db(conn).update(hash=digest)
    return row


async def append_many(
    actor: Actor,
    entries: list[Entry],
    conn: BaseDBAsyncClient,
    *,
    ts: str | None = None,
    meanwhile: Coroutine[Any, Any, Any] | None = None,
) -> int:
    """Append `entries`, in order, to `actor.org_id`'s chain inside the open transaction `conn`:
    the same events `append` would write one by one, with one head UPDATE taking n seqs, one
    multi-row INSERT and one head UPDATE (a job that audits thousands of changes at once, the
    escalation pass), with raw statements: building thousands of models costs more than the
    writes. The entries' values must be plain JSON (dict, list, str, int, float, bool, None),
    hashed as given (`append` normalises them through a JSON round trip). `meanwhile`: another
    statement of the same transaction, run by the database while the events are hashed here
    (the caller's own bulk insert: the two overlap instead of adding up). Returns how many
    were appended."""
    if not entries:
        return 0
    org_id = actor.org_id
    n = len(entries)
    sql = (
        f"UPDATE audit_head SET seq = seq + {n} WHERE org_id = {_mark(conn, 1)} RETURNING seq, hash"
    )
    rows = await conn.execute_query_dict(sql, [org_id])
    if not rows:
        await ensure_head(org_id, conn)
        rows = await conn.execute_query_dict(sql, [org_id])
    last_seq, prev_hash = int(rows[0]["seq"]), str(rows[0]["hash"])
    stamp = ts or format_ts()
    ua = (actor.user_agent or None) and actor.user_agent[:300]
    values: list[tuple[Any, ...]] = []
    uids = _uuids(n)
    # The canonical event text (`chain.canonical`: sorted keys, compact, not ASCII-escaped) is
    # put together from its parts, each dumped once: the same bytes `chain.event_hash` hashes
    # (tests/audit: test_append_many_hashes_like_append), without dumping old and new twice.
    d = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
    head = f'"actor":{d(actor.actor)},"actor_type":{d(actor.actor_type)},'
    tail_a = f',"request_id":{d(actor.request_id)},"risk_level":'
    tail_b = f',"ts":{d(stamp)},"user_agent":{d(ua)}}}'
    ip, org = d(actor.ip), d(org_id)
    running = None
    if meanwhile is not None:  # sent now; the connection is not used again until it is done
        running = asyncio.ensure_future(meanwhile)
        await asyncio.sleep(0)
    try:
        dumped: dict[str, str] = {}  # actions, entity types and risk levels repeat: dumped once

        def once(value: str) -> str:
            got = dumped.get(value)
            if got is None:
                got = dumped[value] = d(value)
            return got

        for i, entry in enumerate(entries):
            old, new = _values(entry.old_values), _values(entry.new_values)
            seq = last_seq - n + 1 + i
            entity_id, risk = str(entry.entity_id), str(entry.risk_level)
            text = (
                f'{{"action":{once(entry.action)},{head}"entity_id":{d(entity_id)},'
                f'"entity_type":{once(entry.entity_type)},"ip":{ip},"new_values":{new},'
                f'"old_values":{old},"org":{org},"prev_hash":"{prev_hash}"'  # hex: no escaping
                + tail_a
                + once(risk)
                + ',"seq":'
                + str(seq)
                + tail_b
            )
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            values.append(
                (org_id, seq, stamp, actor.actor, actor.actor_type, entry.action,
                 entry.entity_type, entity_id, actor.ip, ua, risk, old, new, actor.request_id,
                 prev_hash, digest, uids[i])
            )  # fmt: skip
            prev_hash = digest
    finally:
        if running is not None:  # done, or failed with the transaction: never left behind
            await running
    await insert_rows(conn, "audit_event", _COLUMNS, _TYPES, values)
    await conn.execute_query(
        f"UPDATE audit_head SET hash = {_mark(conn, 1)} WHERE org_id = {_mark(conn, 2)}",
        [prev_hash, org_id],
    )
    return n


Part = tuple[str, tuple[str, ...], tuple[str, ...], list[tuple[Any, ...]]]


async def insert_rows(
    conn: BaseDBAsyncClient,
    table: str,
    columns: tuple[str, ...],
    pg_types: tuple[str, ...],
    rows: list[tuple[Any, ...]],
) -> None:
    """Insert many rows in the open transaction `conn` with one statement on PostgreSQL (INSERT
    ... SELECT FROM unnest of one array per column, typed by `pg_types`: thousands of rows in
    one round trip and one plan) and one executemany on SQLite (in-process, already cheap)."""
    await insert_parts(conn, [(table, columns, pg_types, rows)])


async def insert_parts(conn: BaseDBAsyncClient, parts: list[Part]) -> None:
    """`insert_rows` for several tables at once: on PostgreSQL one statement (each insert but
    the last in a data-modifying WITH), so that it can run in the database as one `meanwhile`
    of `append_many`; on SQLite one executemany per table."""
    parts = [p for p in parts if p[3]]
    if not parts:
        return
    if conn.capabilities.dialect == "postgres":
        inserts: list[str] = []
        params: list[list[Any]] = []
        for table, columns, pg_types, rows in parts:
            base = len(params)
            arrays = ", ".join(
                f"${base + k + 1}::{t.split('/')[0]}[]" for k, t in enumerate(pg_types)
            )
            names = ", ".join(f"c{k}" for k in range(len(columns)))
            picks = ", ".join(
                f"c{k}::{t.split('/')[1]}" if "/" in t else f"c{k}" for k, t in enumerate(pg_types)
            )
            inserts.append(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {picks} "
                f"FROM unnest({arrays}) AS t({names})"
            )
            params.extend(list(col) for col in zip(*rows, strict=True))
        ctes = ", ".join(f"i{k} AS ({sql})" for k, sql in enumerate(inserts[:-1]))
        await conn.execute_query((f"WITH {ctes} " if ctes else "") + inserts[-1], params)
        return
    for table, columns, _types, rows in parts:
        marks = ", ".join("?" for _ in columns)
        await conn.execute_many(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", [list(r) for r in rows]
        )


def _uuids(n: int) -> list[str]:
    """n random (version 4) UUIDs from one read of the OS random source."""
    h = os.urandom(16 * n).hex()
    out = []
    for i in range(n):
        x = h[32 * i : 32 * i + 32]
        out.append(f"{x[:8]}-{x[8:12]}-4{x[13:16]}-{'89ab'[int(x[16], 16) & 3]}{x[17:20]}-{x[20:]}")
    return out


_COLUMNS = (
    "org_id", "seq", "ts", "actor", "actor_type", "action", "entity_type", "entity_id", "ip",
    "user_agent", "risk_level", "old_values", "new_values", "request_id", "prev_hash", "hash",
    "event_uid",
)  # fmt: skip
_INSERT_MOVING_HEAD = (
    f"WITH e AS (INSERT INTO audit_event ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(_COLUMNS) + 1))}) RETURNING id) "
    f"UPDATE audit_head SET hash = ${len(_COLUMNS) + 1} WHERE org_id = $1 "
    "RETURNING (SELECT id FROM e) AS id"
)


async def _insert_moving_head(
    conn: BaseDBAsyncClient, values: dict[str, Any], digest: str
) -> AuditEvent:
    """PostgreSQL: the event's insert and the head's move to its hash in one statement (a
    data-modifying WITH), so an append is two round trips (`_bump`, this) instead of three.
    Same rows as the ORM path on SQLite; the head row is locked already by `_bump`."""
    rows = await conn.execute_query_dict(
        _INSERT_MOVING_HEAD, [*(values[c] for c in _COLUMNS), digest]
    )
    row = AuditEvent(**values)
    row.id = int(rows[0]["id"])
    row._saved_in_db = True
    return row


# PostgreSQL array types of the columns ("text/jsonb": sent as text, stored as jsonb)
_TYPES = ("int", "bigint") + ("text",) * 15


async def _append_alone(actor: Actor, entry: Entry, ts: str, event_uid: str) -> None:
    # In a task of its own, i.e. on a copy of the caller's context variables: when BEGIN fails on a
    # dropped connection, Tortoise 1.1's in_transaction() leaves its "current connection" context
    # variable on the dead transaction, and every later write in that context (the caller's next
    # emit, the spool flush) would reuse it and fail until the process restarts.
    await asyncio.create_task(_append_in_own_transaction(actor, entry, ts, event_uid))


async def _append_in_own_transaction(actor: Actor, entry: Entry, ts: str, event_uid: str) -> None:
    async with in_transaction() as conn:
        if await AuditEvent.filter(event_uid=event_uid).using_db(conn).exists():
            return  # already stored by an earlier, interrupted flush
        await append(actor, entry, conn, ts=ts, event_uid=event_uid)


async def emit(actor: Actor, entry: Entry) -> None:
    """Record an event that is not part of a state change. Never loses it: if the audit store
    cannot be written, the event goes to the durable spool and is flushed, in order, later."""
    ts, uid = format_ts(), str(uuid.uuid4())
    if spool.depth() == 0:
        try:
            await _append_alone(actor, entry, ts, uid)
            return
        except Exception as exc:  # any failure to store must not lose the event
            log.error("audit store unavailable, spooling event: %s", exc)
    # Something is spooled already (or the store just failed): keep order by spooling this too.
    spool.write(spool.to_record(actor, entry, ts, uid))
    await flush_spool()


async def flush_spool() -> int:
    """Append spooled events in order; stop at the first failure. Returns how many were stored."""
    return await spool.flush(_store_record)


async def _store_record(record: dict[str, Any]) -> None:
    actor, entry, ts, uid = spool.from_record(record)
    await _append_alone(actor, entry, ts, uid)


# ----------------------------------------------------------------------------- one-statement append
# An append folded into the caller's statement (issue 14's login): the database takes the next
# seq and the previous hash and hashes the event's canonical text itself, which Python hands it
# in three parts around them (`event_params`), so the caller's writes and the event are one
# statement on PostgreSQL and one thread hop on SQLite. Same rows and hashes as `append`.

_FIELDS = (
    "ts", "actor", "actor_type", "action", "entity_type", "entity_id", "ip", "user_agent",
    "risk_level", "old_values", "new_values", "request_id", "event_uid",
)  # fmt: skip
_dump = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


def event_params(actor: Actor, entry: Entry, ts: str | None = None) -> list[Any]:
    """The event of `entry` by `actor`, as `_FIELDS` then its canonical text (`chain.canonical`,
    what `chain.event_hash` hashes) cut around the two values the database supplies: the text
    is parts[0] + prev_hash + parts[1] + str(seq) + parts[2]. Values as `append` stores them
    (the entries' values must be plain JSON, as for `append_many`)."""
    d, stamp = _dump, ts or format_ts()
    ua = (actor.user_agent or None) and actor.user_agent[:300]
    old, new = _values(entry.old_values), _values(entry.new_values)
    entity_id, risk = str(entry.entity_id), str(entry.risk_level)
    before = (
        f'{{"action":{d(entry.action)},"actor":{d(actor.actor)},'
        f'"actor_type":{d(actor.actor_type)},"entity_id":{d(entity_id)},'
        f'"entity_type":{d(entry.entity_type)},"ip":{d(actor.ip)},"new_values":{new},'
        f'"old_values":{old},"org":{d(actor.org_id)},"prev_hash":"'
    )
    middle = f'","request_id":{d(actor.request_id)},"risk_level":{d(risk)},"seq":'
    after = f',"ts":{d(stamp)},"user_agent":{d(ua)}}}'
    return [stamp, actor.actor, actor.actor_type, entry.action, entry.entity_type, entity_id,
            actor.ip, ua, risk, old, new, actor.request_id, str(uuid.uuid4()),
            before, middle, after]  # fmt: skip


def pg_append_sql(org: str, first: int, *, only_if: str = "TRUE", last: bool = True) -> str:
    """PostgreSQL: the tail of a data-modifying WITH that appends the event of `event_params`
    (parameters `$first` on) to organization `org`'s chain: CTEs `h` (the head, locked: FOR
    UPDATE returns its newest version) and `e` (the event, hashed by the database), then the
    head's move: the main statement, which returns the event's seq (no row: the organization
    has no head yet, nothing was appended; `ensure_head` and run it again), or, not `last`, a
    CTE `moved` (the caller's main statement follows). `only_if`: a condition of the append."""
    p = [f"${first + i}::text" for i in range(len(_FIELDS) + 3)]
    before, middle, after = p[len(_FIELDS) :]
    text = f"{before} || h.prev || {middle} || h.seq::text || {after}"
    move = (
        f"UPDATE audit_head SET seq = e.seq, hash = e.hash FROM e WHERE audit_head.org_id = {org}"
    )
    return (
        f"h AS (SELECT seq + 1 AS seq, hash AS prev FROM audit_head WHERE org_id = {org} "
        f"AND {only_if} FOR UPDATE), "
        f"e AS (INSERT INTO audit_event (org_id, seq, prev_hash, hash, {', '.join(_FIELDS)}) "
        f"SELECT {org}::int, h.seq, h.prev, encode(sha256(convert_to({text}, 'UTF8')), 'hex'), "
        f"{', '.join(p[: len(_FIELDS)])} FROM h RETURNING seq, hash) "
        + (f"{move} RETURNING e.seq" if last else f", moved AS ({move})")
    )


_SQLITE_EVENT = (
    f"INSERT INTO audit_event (org_id, seq, prev_hash, hash, {', '.join(_FIELDS)}) "
    f"VALUES ({', '.join('?' for _ in range(len(_FIELDS) + 4))})"
)


def sqlite_append(db: sqlite3.Connection, org_id: int, params: list[Any]) -> None:
    """SQLite, in its worker thread (`server.db.sqlite_run`), inside the caller's transaction:
    append the event of `event_params` to organization `org_id`'s chain (the head's move, the
    event, the head's hash: the statements `append` sends, without a thread hop each)."""
    bump = BUMP_SQL.format("?")
    rows = db.execute(bump, [org_id]).fetchall()
    if not rows:
        db.execute(
            "INSERT INTO audit_head (org_id, seq, hash) VALUES (?, 0, ?) "
            "ON CONFLICT (org_id) DO NOTHING",
            [org_id, GENESIS_HASH],
        )
        rows = db.execute(bump, [org_id]).fetchall()
    seq, prev = int(rows[0][0]), str(rows[0][1])
    before, middle, after = params[len(_FIELDS) :]
    digest = hashlib.sha256(f"{before}{prev}{middle}{seq}{after}".encode()).hexdigest()
    db.execute(_SQLITE_EVENT, [org_id, seq, prev, digest, *params[: len(_FIELDS)]])
    db.execute("UPDATE audit_head SET hash = ? WHERE org_id = ?", [digest, org_id])
