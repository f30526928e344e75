"""Verifying a chain against its contract and its latest signed checkpoint."""

from __future__ import annotations

import hashlib
import hmac
import json
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
    async for rows in stream_rows(org_id, expected):
        for row in rows:
            seq, row_prev, row_hash = row[1], row[14], row[15]
            if seq != expected:
                bad = (expected, f"seq {expected} is missing (next stored is {seq})")
            elif row_prev != prev:
                bad = (
                    (expected, "prev_hash does not match the archived checkpoint's last hash")
                    if archive is not None and expected == archive.last_seq + 1
                    else (expected, "prev_hash does not match the previous event's hash")
                )
            elif _fast_hash(row) != row_hash and _slow_hash(row) != row_hash:
                bad = (expected, "content does not match its hash (edited)")
            if bad:
                break
            prev, expected, checked = row_hash, expected + 1, checked + 1
        if bad:
            break
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
