"""Verifying a chain against its contract and its latest signed checkpoint."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from hashlib import sha256
from json.encoder import encode_basestring as _enc
from typing import Any

from tortoise import connections

from riskops.audit.chain import GENESIS_HASH, canonical, event_hash
from riskops.audit.models import AuditArchive, AuditCheckpoint, AuditEvent, AuditHead

BATCH = 5_000

_COLUMNS = (
    "org_id", "seq", "ts", "actor", "actor_type", "action", "entity_type", "entity_id", "ip",
    "user_agent", "risk_level", "old_values", "new_values", "request_id", "prev_hash", "hash",
)  # fmt: skip


@dataclass(frozen=True)
class Verification:
    org_id: int
    ok: bool
    events_checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: str | None = None
    checkpoint_seq: int | None = None
    archived_seq: int | None = None  # events up to this seq are archived (AuditArchive)

    def describe(self) -> str:
        if self.ok:
            cp = f", checkpoint at seq {self.checkpoint_seq} holds" if self.checkpoint_seq else ""
            arch = (
                f", from the archived checkpoint at seq {self.archived_seq}"
                if self.archived_seq
                else ""
            )
            return (
                f"org {self.org_id}: OK, {self.events_checked} events, head seq {self.head_seq}"
                f"{arch}{cp}"
            )
        return f"org {self.org_id}: BROKEN at seq {self.first_bad_seq}: {self.reason}"


def row_to_event(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the exported, hashed event."""
    event = {k: row[k] for k in _COLUMNS if k != "org_id"}
    event["org"] = row["org_id"]
    event["old_values"] = json.loads(row["old_values"])
    event["new_values"] = json.loads(row["new_values"])
    return event


def sign_checkpoint(key: bytes, org_id: int, seq: int, head_hash: str, ts: str) -> str:
    body = canonical({"org": org_id, "seq": seq, "head_hash": head_hash, "ts": ts})
    return hmac.new(key, body, hashlib.sha256).hexdigest()


async def org_ids() -> list[int]:
    heads = await AuditHead.all().order_by("org_id").values_list("org_id", flat=True)
    seen = await AuditEvent.all().distinct().values_list("org_id", flat=True)
    return sorted(set(heads) | set(seen))  # type: ignore[arg-type]


def _fetch_sql(dialect: str) -> str:
    mark = ("$1", "$2") if dialect == "postgres" else ("?", "?")
    return (
        f"SELECT {', '.join(_COLUMNS)} FROM audit_event "
        f"WHERE org_id = {mark[0]} AND seq >= {mark[1]} ORDER BY seq LIMIT {BATCH}"
    )


async def stream_rows(org_id: int, from_seq: int) -> AsyncIterator[Sequence[Sequence[Any]]]:
    """The stored events of `org_id` from `from_seq` on, in seq order, as pages of at most
    `BATCH` rows (indexed in `_COLUMNS` order): keyset pages on `UNIQUE(org_id, seq)`, so memory
    stays bounded whatever the chain's length. Plain SQL, not model instances: verification of a
    million events spends its time hashing, not building objects."""
    conn = connections.get("default")
    sql = _fetch_sql(conn.capabilities.dialect)
    nxt = from_seq
    while True:
        _, rows = await conn.execute_query(sql, [org_id, nxt])
        if not rows:
            return
        yield rows  # asyncpg records or sqlite rows: indexed like tuples, not copied
        nxt = int(rows[-1][1]) + 1


def _fast_hash(row: Sequence[Any]) -> str:
    """The event hash computed straight from a stored row. `old_values`/`new_values` are stored
    as canonical JSON text (`store.append`) and inlined as they are; every text column goes
    through the JSON string encoder, so no column can reach into another (injective as long as
    the two JSON texts are one JSON value each: a row whose hash does not match is checked again
    the slow way, `_slow_hash`, which decodes them). org_id and seq are integer columns."""
    (org, seq, ts, actor, actor_type, action, entity_type, entity_id, ip, user_agent, risk,
     old_values, new_values, request_id, prev_hash, _) = row  # fmt: skip
    body = (
        f'{{"action":{_enc(action)},"actor":{_enc(actor)},"actor_type":{_enc(actor_type)},'
        f'"entity_id":{_enc(entity_id)},"entity_type":{_enc(entity_type)},'
        f'"ip":{"null" if ip is None else _enc(ip)},"new_values":{new_values},'
        f'"old_values":{old_values},"org":{org},"prev_hash":{_enc(prev_hash)},'
        f'"request_id":{"null" if request_id is None else _enc(request_id)},'
        f'"risk_level":{_enc(risk)},"seq":{seq},"ts":{_enc(ts)},'
        f'"user_agent":{"null" if user_agent is None else _enc(user_agent)}}}'
    )
    return sha256(body.encode()).hexdigest()


def _slow_hash(row: Sequence[Any]) -> str | None:
    try:
        return event_hash(row_to_event(dict(zip(_COLUMNS, row, strict=True))))
    except ValueError:  # old_values/new_values that are not JSON: edited
        return None


# A long chain on PostgreSQL is checked in contiguous seq ranges by child processes, one per
# core (hashing is CPU work and each event's hash depends only on its own row; the ranges are
# then joined: each must start at the seq after the previous one's end, with that one's last
# hash as its prev_hash). Children are plain `python -c` processes reading their range over a
# connection of their own (asyncpg), so nothing of the parent (its __main__, its event loop) is
# re-run in them.
PARALLEL_MIN = 200_000  # events; a shorter chain is checked in this process
_RANGE_MAIN = "from riskops.audit.verify import _range_main; _range_main()"


def _workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _check_rows(rows: Sequence[Sequence[Any]], expected: int, prev: str | None) -> tuple[
    int, str | None, int, tuple[int, str] | None
]:  # fmt: skip
    """Check consecutive rows from seq `expected`; `prev` None: the first row's prev_hash is not
    checked here (a range's first row, joined later). Returns the next expected seq, the last
    hash, how many held and the first problem."""
    checked = 0
    for row in rows:
        seq, row_prev, row_hash = row[1], row[14], row[15]
        if seq != expected:
            return expected, prev, checked, (
                expected, f"seq {expected} is missing (next stored is {seq})"
            )  # fmt: skip
        if prev is not None and row_prev != prev:
            return expected, prev, checked, (
                expected, "prev_hash does not match the previous event's hash"
            )  # fmt: skip
        if _fast_hash(row) != row_hash and _slow_hash(row) != row_hash:
            return expected, prev, checked, (expected, "content does not match its hash (edited)")
        prev, expected, checked = row_hash, expected + 1, checked + 1
    return expected, prev, checked, None


def _range_main() -> None:
    """A child process: check seq lo..hi of one chain; the job comes as JSON on stdin, the
    result goes as JSON to stdout."""
    import asyncpg

    job = json.loads(sys.stdin.read())

    async def run() -> dict[str, Any]:
        conn = await asyncpg.connect(**job["connect"])
        try:
            sql = (
                f"SELECT {', '.join(_COLUMNS)} FROM audit_event WHERE org_id = $1 AND seq >= $2 "
                f"AND seq <= $3 ORDER BY seq LIMIT {BATCH}"
            )
            expected, prev, checked, first_prev = job["lo"], None, 0, None
            bad = None
            while bad is None and expected <= job["hi"]:
                rows = await conn.fetch(sql, job["org"], expected, job["hi"])
                if not rows:
                    break
                if first_prev is None:
                    first_prev = rows[0][14]
                expected, prev, n, bad = _check_rows(rows, expected, prev)
                checked += n
            return {"next": expected, "last_hash": prev, "checked": checked,
                    "first_prev": first_prev, "bad": bad}  # fmt: skip
        finally:
            await conn.close()

    print(json.dumps(asyncio.run(run())))


async def _check_range(connect: dict[str, Any], org_id: int, lo: int, hi: int) -> dict[str, Any]:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _RANGE_MAIN,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    job = {"connect": connect, "org": org_id, "lo": lo, "hi": hi}
    out, _ = await child.communicate(json.dumps(job).encode())
    if child.returncode != 0:
        raise RuntimeError(f"verifying seq {lo}-{hi} of org {org_id} failed in a child process")
    result: dict[str, Any] = json.loads(out)
    return result


async def _verify_parallel(
    org_id: int, expected: int, prev: str, last: int
) -> tuple[int, str, int, tuple[int, str] | None]:
    """Seq `expected`..`last` in ranges checked by child processes, joined in order."""
    client: Any = connections.get("default")
    connect = {"host": client.host, "port": client.port, "user": client.user,
               "password": client.password, "database": client.database}  # fmt: skip
    workers = _workers()
    size = -(-(last - expected + 1) // workers)
    bounds = [(lo, min(lo + size - 1, last)) for lo in range(expected, last + 1, size)]
    results = await asyncio.gather(*(_check_range(connect, org_id, lo, hi) for lo, hi in bounds))
    checked = 0
    for (lo, hi), r in zip(bounds, results, strict=True):
        bad = r["bad"]
        if bad is not None and bad[0] == lo and "missing" in bad[1]:
            return lo, prev, checked, (bad[0], bad[1])
        if r["checked"] == 0 and bad is None:
            return lo, prev, checked, (lo, f"seq {lo} is missing")
        if r["first_prev"] != prev:
            return lo, prev, checked, (lo, "prev_hash does not match the previous event's hash")
        checked += r["checked"]
        if bad is not None:
            return bad[0], r["last_hash"] or prev, checked, (bad[0], bad[1])
        if r["next"] <= hi:  # the range ended early: its next seq is missing
            return r["next"], r["last_hash"], checked, (r["next"], f"seq {r['next']} is missing")
        expected, prev = r["next"], r["last_hash"]
    return expected, prev, checked, None


async def archived_start(org_id: int, key: bytes) -> tuple[AuditArchive | None, str | None]:
    """The latest archive of the chain (verification starts after it), and why the archives do
    not hold, if they do not: each must be genuinely signed, and they must follow one another
    from seq 1 (each segment's first prev_hash is the previous segment's last hash)."""
    archives = await AuditArchive.filter(org_id=org_id).order_by("first_seq")
    prev, expected = GENESIS_HASH, 1
    for a in archives:
        sig = sign_checkpoint(key, org_id, a.last_seq, a.last_hash, a.checkpoint_ts)
        if not hmac.compare_digest(sig, a.signature):
            return a, (
                f"the checkpoint of the archive of seq {a.first_seq}-{a.last_seq} has an invalid "
                "signature (forged or wrong key)"
            )
        if a.first_seq != expected or a.first_prev_hash != prev:
            return a, (
                f"the archive of seq {a.first_seq}-{a.last_seq} does not follow the previous "
                f"segment (expected seq {expected})"
            )
        prev, expected = a.last_hash, a.last_seq + 1
    return (archives[-1] if archives else None), None


async def _last_stored(org_id: int) -> int | None:
    rows = await AuditEvent.filter(org_id=org_id).order_by("-seq").limit(1).values_list(
        "seq", flat=True
    )  # fmt: skip
    return int(rows[0]) if rows else None  # type: ignore[call-overload]


async def verify_org(org_id: int, key: bytes) -> Verification:
    """Check the stored chain of `org_id`, streamed page by page. After an archive
    (`riskops.audit.archive`) it starts from the archive's signed checkpoint: the first remaining
    event's prev_hash must be the archived last hash."""
    archive, archive_problem = await archived_start(org_id, key)
    archived = archive.last_seq if archive is not None else None
    if archive_problem is not None:
        assert archive is not None
        return Verification(
            org_id, False, 0, 0, GENESIS_HASH, archive.first_seq, archive_problem,
            archived_seq=archived,
        )  # fmt: skip
    prev = archive.last_hash if archive is not None else GENESIS_HASH
    expected = (archive.last_seq + 1) if archive is not None else 1
    checked = 0
    bad: tuple[int, str] | None = None
    start = expected
    last = await _last_stored(org_id)
    if (
        last is not None
        and last - expected + 1 >= PARALLEL_MIN
        and _workers() > 1
        and connections.get("default").capabilities.dialect == "postgres"
    ):
        expected, prev, checked, bad = await _verify_parallel(org_id, expected, prev, last)
    if bad is None:  # what the ranges did not cover (or all of it): in this process, streamed
        async for rows in stream_rows(org_id, expected):
            expected, prev_out, n, bad = _check_rows(rows, expected, prev)
            prev = prev_out or prev
            checked += n
            if bad:
                break
    if bad is not None and archive is not None and bad[0] == start and "prev_hash" in bad[1]:
        bad = (start, "prev_hash does not match the archived checkpoint's last hash")
    last_seq = expected - 1
    head = await AuditHead.get_or_none(org_id=org_id)
    checkpoint = await AuditCheckpoint.filter(org_id=org_id).order_by("-seq", "-id").first()
    if bad is None and head is not None and head.seq > last_seq:
        bad = (
            last_seq + 1,
            f"chain ends at seq {last_seq} but its head says {head.seq} (truncated)",
        )
    if bad is None and checkpoint is not None:
        bad = await _check_checkpoint(checkpoint, key, last_seq, org_id, archive)
    cp_seq = checkpoint.seq if checkpoint else None
    if bad is not None:
        return Verification(
            org_id, False, checked, last_seq, prev, bad[0], bad[1], cp_seq, archived
        )  # fmt: skip
    return Verification(
        org_id, True, checked, last_seq, prev, checkpoint_seq=cp_seq, archived_seq=archived
    )


async def _check_checkpoint(
    cp: AuditCheckpoint,
    key: bytes,
    last_seq: int,
    org_id: int,
    archive: AuditArchive | None = None,
) -> tuple[int, str] | None:
    """The latest signed checkpoint must be genuine, within the chain, and still match it
    (a chain rewritten with recomputed hashes fails here)."""
    expected_sig = sign_checkpoint(key, org_id, cp.seq, cp.head_hash, cp.ts)
    if not hmac.compare_digest(expected_sig, cp.signature):
        return (cp.seq, "the latest checkpoint's signature is invalid (forged or wrong key)")
    if cp.seq > last_seq:
        return (
            last_seq + 1,
            f"chain ends at seq {last_seq} but checkpoint {cp.ts} recorded seq {cp.seq} "
            "(truncated)",
        )
    if archive is not None and cp.seq <= archive.last_seq:
        # The checkpoint names an archived event: the archive file holds it (verified before the
        # segment was removed); its last one is the archive's own signed checkpoint.
        if cp.seq == archive.last_seq and cp.head_hash != archive.last_hash:
            return (cp.seq, f"checkpoint {cp.ts} does not match the archived last hash")
        return None
    at = await AuditEvent.filter(org_id=org_id, seq=cp.seq).values_list("hash", flat=True)
    if not at or at[0] != cp.head_hash:
        return (cp.seq, f"event {cp.seq} no longer has the hash checkpoint {cp.ts} recorded")
    return None
