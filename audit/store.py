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
from collections.abc import Callable, Coroutine
from datetime import datetime
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
    actor: Actor, entries: list[Entry], conn: BaseDBAsyncClient, *, ts: str | None = None
) -> int:
    """Append `entries`, in order, to `actor.org_id`'s chain inside the open transaction `conn`:
    the same events `append` would write one by one, with one head UPDATE taking n seqs
    (`reserve`), one multi-row INSERT (`chain_rows`, `insert_rows`) and one head UPDATE
    (`move_head`), with raw statements: building thousands of models costs more than the
    writes. The entries' values must be plain JSON (dict, list, str, int, float, bool, None),
    hashed as given (`append` normalises them through a JSON round trip). A job that audits
    thousands of changes at once and wants the inserts to overlap its own work (the escalation
    pass) calls the three parts itself. Returns how many were appended."""
    if not entries:
        return 0
    seq, prev_hash = await reserve(actor.org_id, len(entries), conn)
    values, last = chain_rows(actor, entries, seq, prev_hash, ts or format_ts())
    await insert_rows(conn, "audit_event", COLUMNS, TYPES, values)
    await move_head(actor.org_id, last, conn)
    return len(entries)


async def reserve(org_id: int, n: int, conn: BaseDBAsyncClient) -> tuple[int, str]:
    """Take the next n seqs of the organization's chain in the open transaction `conn` (its
    head row stays locked until the commit): the first of them and the hash before it."""
    sql = (
        f"UPDATE audit_head SET seq = seq + {int(n)} WHERE org_id = {_mark(conn, 1)} "
        "RETURNING seq, hash"
    )
    rows = await conn.execute_query_dict(sql, [org_id])
    if not rows:
        await ensure_head(org_id, conn)
        rows = await conn.execute_query_dict(sql, [org_id])
    return int(rows[0]["seq"]) - n + 1, str(rows[0]["hash"])


async def move_head(org_id: int, digest: str, conn: BaseDBAsyncClient) -> None:
    """The head's hash, after the events of a `reserve` are inserted: the last one's."""
    await conn.execute_query(
        f"UPDATE audit_head SET hash = {_mark(conn, 1)} WHERE org_id = {_mark(conn, 2)}",
        [digest, org_id],
    )


def chain_rows(
    actor: Actor, entries: list[Entry], seq: int, prev_hash: str, stamp: str
) -> tuple[list[tuple[Any, ...]], str]:
    """The audit_event rows (`COLUMNS`) of `entries`, chained from `prev_hash` with seqs from
    `seq` on (taken by `reserve`), and the last one's hash. Pure computation: a caller may hash
    its events in slices, each slice from the last one's hash."""
    org_id = actor.org_id
    ua = (actor.user_agent or None) and actor.user_agent[:300]
    values: list[tuple[Any, ...]] = []
    uids = _uuids(len(entries))
    # The canonical event text (`chain.canonical`: sorted keys, compact, not ASCII-escaped) is
    # put together from its parts, each dumped once: the same bytes `chain.event_hash` hashes
    # (tests/audit: test_append_many_hashes_like_append), without dumping old and new twice.
    d = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
    head = f'"actor":{d(actor.actor)},"actor_type":{d(actor.actor_type)},'
    tail_a = f',"request_id":{d(actor.request_id)},"risk_level":'
    tail_b = f',"ts":{d(stamp)},"user_agent":{d(ua)}}}'
    ip, org = d(actor.ip), d(org_id)
    dumped: dict[str, str] = {}  # actions, entity types and risk levels repeat: dumped once

    def once(value: str) -> str:
        got = dumped.get(value)
        if got is None:
            got = dumped[value] = d(value)
        return got

    for i, entry in enumerate(entries):
        old, new = _values(entry.old_values), _values(entry.new_values)
        entity_id, risk = str(entry.entity_id), str(entry.risk_level)
        text = (
            f'{{"action":{once(entry.action)},{head}"entity_id":{d(entity_id)},'
            f'"entity_type":{once(entry.entity_type)},"ip":{ip},"new_values":{new},'
            f'"old_values":{old},"org":{org},"prev_hash":"{prev_hash}"'  # hex: no escaping
            + tail_a
            + once(risk)
            + ',"seq":'
            + str(seq + i)
            + tail_b
        )
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        values.append(
            (org_id, seq + i, stamp, actor.actor, actor.actor_type, entry.action,
             entry.entity_type, entity_id, actor.ip, ua, risk, old, new, actor.request_id,
             prev_hash, digest, uids[i])
        )  # fmt: skip
        prev_hash = digest
    return values, prev_hash


Part = tuple[str, tuple[str, ...], tuple[str, ...], list[tuple[Any, ...]]]


async def insert_rows(
    conn: BaseDBAsyncClient,
    table: str,
    columns: tuple[str, ...],
    pg_types: tuple[str, ...],
    rows: list[tuple[Any, ...]],
) -> None:
    """Insert many rows in the open transaction `conn` with one statement on PostgreSQL (INSERT
    ... SELECT FROM the rows sent as one JSON text, each column cast as `pg_types` says:
    thousands of rows in one round trip and one plan) and one executemany on SQLite
    (in-process, already cheap)."""
    await insert_parts(conn, [(table, columns, pg_types, rows)])


async def insert_parts(conn: BaseDBAsyncClient, parts: list[Part]) -> None:
    """`insert_rows` for several tables at once: on PostgreSQL one statement (each insert but
    the last in a data-modifying WITH, asyncpg's cached statement after the first time on a
    connection); on SQLite one executemany per table."""
    parts = [p for p in parts if p[3]]
    if not parts:
        return
    if conn.capabilities.dialect == "postgres":
        await conn.execute_query(*_statement(parts))
        return
    for table, columns, pg_types, rows in parts:
        marks = ", ".join("?" for _ in columns)
        dumps = [k for k, t in enumerate(pg_types) if t == "jsonb"]
        values = [list(r) for r in rows]
        for v in values:
            for k in dumps:
                if v[k] is not None:
                    v[k] = _COMPACT.encode(v[k])
        await conn.execute_many(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", values
        )


def ready_insert(
    conn: BaseDBAsyncClient, parts: list[Part]
) -> Callable[[], Coroutine[Any, Any, None]]:
    """`insert_parts` with its statement made now (on PostgreSQL the rows encoded now), to run
    later: a `db.Pipeline` write that is ready the moment the one before is done."""
    parts = [p for p in parts if p[3]]
    if conn.capabilities.dialect != "postgres" or not parts:
        return functools.partial(insert_parts, conn, parts)
    sql, params = _statement(parts)

    async def run() -> None:
        await conn.execute_query(sql, params)

    return run


def _statement(parts: list[Part]) -> tuple[str, list[Any]]:
    """PostgreSQL: one statement inserting the rows of every part (each insert but the last in
    a data-modifying WITH), the rows of each sent as one JSON text."""
    inserts: list[str] = []
    for k, (table, columns, pg_types, _rows) in enumerate(parts):
        picks = ", ".join(_pick(i, t) for i, t in enumerate(pg_types))
        inserts.append(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {picks} "
            f"FROM jsonb_array_elements(${k + 1}::jsonb) AS r"
        )
    ctes = ", ".join(f"i{k} AS ({sql})" for k, sql in enumerate(inserts[:-1]))
    sql = (f"WITH {ctes} " if ctes else "") + inserts[-1]
    return sql, [_ROWS.encode(rows) for *_, rows in parts]


def _pick(k: int, pg_type: str) -> str:
    """Column k of a row sent as a JSON array, as `pg_type` ("jsonb": the value is a JSON
    object or array, taken as it is)."""
    if pg_type == "jsonb":
        return f"r->{k}"
    return f"r->>{k}" if pg_type == "text" else f"(r->>{k})::{pg_type}"


def stamp(conn: BaseDBAsyncClient, value: datetime) -> Any:
    """A timestamptz column's value in `start_parts` rows: ISO text in PostgreSQL's JSON, the
    datetime itself for SQLite (stored as its adapter writes it). Made once for a value many
    rows share."""
    return value.isoformat() if conn.capabilities.dialect == "postgres" else value


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value")


# The rows of a bulk insert go to PostgreSQL as one JSON text per table (JSON arrays, one per
# row, read by jsonb_array_elements): json's C encoder makes it several times faster than
# asyncpg encodes one array per column (which checks each element against the collections
# ABCs), and a jsonb column's value is part of it, not JSON text encoded a second time.
_ROWS = json.JSONEncoder(separators=(",", ":"), default=_plain)
_COMPACT = json.JSONEncoder(separators=(",", ":"))


async def started(
    conn: BaseDBAsyncClient, sql: str, params: list[Any]
) -> asyncio.Future[list[Any]]:
    """Send `sql` now, in the caller's transaction `conn`, so that the database runs it while
    this process computes; the future gives its rows (PostgreSQL records, SQLite dicts). Await
    it before using `conn` again, also when the computation fails (the statement must not be
    left behind).

    PostgreSQL: the statement is prepared first, one round trip answered at once because
    nothing else is running, so that its Bind and Execute leave together when the task starts.
    A statement still waiting for its Parse's answer when the caller begins a long computation
    would start only when the computation ends (asyncio reads the answer only then), and the
    two would add up instead of overlapping. SQLite: aiosqlite's thread runs it (sqlite3 lets
    go of the GIL while it steps)."""
    if conn.capabilities.dialect != "postgres":
        return await _running(conn.execute_query_dict(sql, params))
    async with conn.acquire_connection() as raw:
        statement = await raw.prepare(sql)

    async def fetch() -> list[Any]:
        async with conn.acquire_connection():  # the client's lock, as its own queries take it
            return list(await statement.fetch(*params))

    task = await _running(fetch())
    # A message of several MB (thousands of rows) leaves in as many writes as the socket's
    # buffer allows, each when the loop runs: written out before the computation starts, the
    # database gets all of it now (it reads as fast as we write) instead of a piece per await.
    transport = getattr(raw, "_transport", None)  # asyncpg's; its absence only costs time
    spins = 0
    while transport is not None and transport.get_write_buffer_size() and not task.done():
        spins += 1  # the database reads as fast as we write; should it not, stop spinning
        await asyncio.sleep(0 if spins < 1000 else 0.001)
    return task


async def _running(work: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
    task = asyncio.ensure_future(work)
    await asyncio.sleep(0)  # the task's first step: the statement is sent
    return task


def _uuids(n: int) -> list[str]:
    """n random (version 4) UUIDs from one read of the OS random source."""
    h = os.urandom(16 * n).hex()
    out = []
    for i in range(n):
        x = h[32 * i : 32 * i + 32]
        out.append(f"{x[:8]}-{x[8:12]}-4{x[13:16]}-{'89ab'[int(x[16], 16) & 3]}{x[17:20]}-{x[20:]}")
    return out


COLUMNS = (
    "org_id", "seq", "ts", "actor", "actor_type", "action", "entity_type", "entity_id", "ip",
    "user_agent", "risk_level", "old_values", "new_values", "request_id", "prev_hash", "hash",
    "event_uid",
)  # fmt: skip
_INSERT_MOVING_HEAD = (
    f"WITH e AS (INSERT INTO audit_event ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))}) RETURNING id) "
    f"UPDATE audit_head SET hash = ${len(COLUMNS) + 1} WHERE org_id = $1 "
    "RETURNING (SELECT id FROM e) AS id"
)


async def _insert_moving_head(
    conn: BaseDBAsyncClient, values: dict[str, Any], digest: str
) -> AuditEvent:
    """PostgreSQL: the event's insert and the head's move to its hash in one statement (a
    data-modifying WITH), so an append is two round trips (`_bump`, this) instead of three.
    Same rows as the ORM path on SQLite; the head row is locked already by `_bump`."""
    rows = await conn.execute_query_dict(
        _INSERT_MOVING_HEAD, [*(values[c] for c in COLUMNS), digest]
    )
    row = AuditEvent(**values)
    row.id = int(rows[0]["id"])
    row._saved_in_db = True
    return row


# PostgreSQL array types of the columns ("text/jsonb": sent as text, stored as jsonb)
TYPES = ("int", "bigint") + ("text",) * 15


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
