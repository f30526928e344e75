"""Archiving the old segment of a chain: the one privileged path that removes audit events.

Retention never deletes audit events. An operator may move the old part of a chain out of the
database (`riskops audit archive --before DATE -o DIR`), in this order, per chain:

1. the stored chain must verify (`verify_org`); a broken chain is never touched;
2. the segment is the events from the first unarchived seq up to the last seq before the first
   event at or after `before` (by seq, so the segment is contiguous);
3. the segment is written to `DIR/<name>.jsonl` (the export format, AUDIT.md's contract) and its
   signed checkpoint to `DIR/<name>.checkpoint.json`, fsync'd, then read back and verified on
   its own: seq 1's prev_hash is the genesis hash, a later segment starts at the previous
   archive's last hash; the file's SHA-256 is recorded;
4. only then, in ONE transaction (`_remove_segment`): the `AuditArchive` row (the signed
   checkpoint verification starts from afterwards) is written, the guard is lifted for exactly
   that segment (a row in `audit_archive_lift`, which the append-only triggers of migration
   0022 consult), the segment is deleted, the lift row is deleted again, and an `audit.archived`
   event is appended to the same chain. Anything failing rolls all of it back.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.chain import GENESIS_HASH, format_ts, verify_export
from riskops.audit.checkpoint import checkpoint_all
from riskops.audit.models import AuditArchive, AuditEvent
from riskops.audit.types import Actor, Entry, RiskLevel
from riskops.audit.verify import _COLUMNS as COLUMNS
from riskops.audit.verify import row_to_event, sign_checkpoint, stream_rows, verify_org


class ArchiveRefused(Exception):
    """The archive was refused before anything was removed; the message says why and what to
    do."""


@dataclass(frozen=True)
class Segment:
    org_id: int
    first_seq: int
    last_seq: int
    first_prev_hash: str
    last_hash: str
    first_ts: str
    last_ts: str

    @property
    def events(self) -> int:
        return self.last_seq - self.first_seq + 1

    @property
    def name(self) -> str:
        return f"audit-org{self.org_id}-seq{self.first_seq}-{self.last_seq}"


@dataclass(frozen=True)
class Archived:
    archive: AuditArchive
    file: Path
    checkpoint_file: Path


def _mark(conn: BaseDBAsyncClient, n: int) -> str:
    return f"${n}" if conn.capabilities.dialect == "postgres" else "?"


async def plan_segment(org_id: int, before: datetime) -> Segment | None:
    """The events of `org_id` that may be archived at `before`: from the first seq not archived
    yet up to (not including) the first event stamped at or after `before`. None: nothing."""
    last_archive = await AuditArchive.filter(org_id=org_id).order_by("-last_seq").first()
    start = last_archive.last_seq + 1 if last_archive is not None else 1
    cut = format_ts(before)
    after = (
        await AuditEvent.filter(org_id=org_id, seq__gte=start, ts__gte=cut)
        .order_by("seq")
        .limit(1)
        .values_list("seq", flat=True)
    )
    q = AuditEvent.filter(org_id=org_id, seq__gte=start)
    if after:
        q = q.filter(seq__lt=after[0])
    lasts = await q.order_by("-seq").limit(1).values("seq", "hash", "ts")
    if not lasts:
        return None
    last = lasts[0]
    first = await AuditEvent.filter(org_id=org_id, seq=start).values("seq", "prev_hash", "ts")
    if not first:
        return None
    return Segment(
        org_id=org_id,
        first_seq=start,
        last_seq=int(last["seq"]),
        first_prev_hash=first[0]["prev_hash"],
        last_hash=last["hash"],
        first_ts=first[0]["ts"],
        last_ts=last["ts"],
    )


def check_output_dir(out_dir: Path) -> None:
    """The directory must exist (or be creatable) and be writable, before anything is read."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchiveRefused(
            f"cannot create the output directory {out_dir}: {exc.strerror or exc}. "
            "Choose a directory you can write to."
        ) from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ArchiveRefused(
            f"the output directory {out_dir} is not writable. Choose a directory you can write "
            "to, or fix its permissions."
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def _write_segment(segment: Segment, path: Path) -> None:
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8") as fh:
        async for rows in stream_rows(segment.org_id, segment.first_seq):
            for row in rows:
                if row[1] > segment.last_seq:
                    break
                event = row_to_event(dict(zip(COLUMNS, row, strict=True)))
                fh.write(json.dumps(event, sort_keys=True, ensure_ascii=False) + "\n")
            if rows[-1][1] >= segment.last_seq:
                break
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def verify_segment_file(path: Path, segment: Segment) -> str | None:
    """Read the written file back and check it on its own (`verify_export`, the same contract
    as the docs' independent verifier): one chain, exactly the segment, from its first
    prev_hash to its last hash. None when it holds, else why not."""
    events = []
    with path.open(encoding="utf-8") as fh:
        events = [json.loads(line) for line in fh if line.strip()]
    checks = verify_export(events)
    if len(checks) != 1:
        return f"the file holds {len(checks)} chains, expected 1"
    check = checks[0]
    if not check.ok:
        return check.describe()
    if (check.org, check.first_seq, check.last_seq) != (
        segment.org_id,
        segment.first_seq,
        segment.last_seq,
    ):
        return (
            f"the file holds org {check.org} seq {check.first_seq}-{check.last_seq}, "
            f"expected org {segment.org_id} seq {segment.first_seq}-{segment.last_seq}"
        )
    if events[0]["prev_hash"] != segment.first_prev_hash or events[-1]["hash"] != (
        segment.last_hash
    ):
        return "the file's first prev_hash or last hash differs from the stored chain"
    if segment.first_seq == 1 and segment.first_prev_hash != GENESIS_HASH:
        return "seq 1 does not start at the genesis hash"
    return None


async def archive_chain(
    org_id: int, before: datetime, out_dir: Path, key: bytes, actor: Actor
) -> Archived:
    """Archive the segment of `org_id`'s chain older than `before` into `out_dir`, verified,
    then remove it through the one privileged path. Raises `ArchiveRefused`, with nothing
    removed, when the date is in the future, there is nothing to archive, the directory is not
    writable, the stored chain does not verify, or the written file does not."""
    now = datetime.now(UTC)
    if before > now:
        raise ArchiveRefused(
            f"--before {format_ts(before)} is in the future. Archive only what is already past: "
            "give a date before now."
        )
    check_output_dir(out_dir)
    verification = await verify_org(org_id, key)
    if not verification.ok:
        raise ArchiveRefused(
            f"the chain of org {org_id} does not verify ({verification.describe()}); nothing "
            "was archived. Investigate the break first (riskops audit verify)."
        )
    segment = await plan_segment(org_id, before)
    if segment is None:
        raise ArchiveRefused(
            f"org {org_id} has no audit events before {format_ts(before)} left to archive."
        )
    file = out_dir / f"{segment.name}.jsonl"
    cp_file = out_dir / f"{segment.name}.checkpoint.json"
    if file.exists() or cp_file.exists():
        raise ArchiveRefused(
            f"{file} already exists. Move it away or choose another output directory."
        )
    try:
        await _write_segment(segment, file)
    except OSError as exc:
        raise ArchiveRefused(f"cannot write {file}: {exc.strerror or exc}.") from None
    problem = verify_segment_file(file, segment)
    if problem is not None:
        raise ArchiveRefused(
            f"the archive file {file} does not verify ({problem}); nothing was removed."
        )
    file_sha = _sha256(file)
    cp_ts = format_ts()
    signature = sign_checkpoint(key, org_id, segment.last_seq, segment.last_hash, cp_ts)
    checkpoint = {
        "org": org_id,
        "first_seq": segment.first_seq,
        "last_seq": segment.last_seq,
        "first_prev_hash": segment.first_prev_hash,
        "last_hash": segment.last_hash,
        "events": segment.events,
        "before": format_ts(before),
        "file": file.name,
        "file_sha256": file_sha,
        # The signed checkpoint: HMAC-SHA256 over canonical {org, seq, head_hash, ts}, like the
        # database's audit_checkpoint rows (seq = last_seq, head_hash = last_hash).
        "checkpoint": {
            "org": org_id,
            "seq": segment.last_seq,
            "head_hash": segment.last_hash,
            "ts": cp_ts,
            "signature": signature,
        },
    }
    with cp_file.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(checkpoint, indent=2, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    archive = await _remove_segment(segment, before, file.name, file_sha, cp_ts, signature, actor)
    await checkpoint_all(key)  # the chain's next checkpoint is past the archived segment
    return Archived(archive, file, cp_file)


async def _remove_segment(
    segment: Segment,
    before: datetime,
    file_name: str,
    file_sha: str,
    cp_ts: str,
    signature: str,
    actor: Actor,
) -> AuditArchive:
    """THE privileged path: the only code that deletes audit events. In one transaction: lock
    the chain (its head row), write the archive row, lift the guard for exactly this segment,
    delete it, drop the lift, append `audit.archived`. A failure anywhere rolls it all back."""
    async with in_transaction() as conn:
        m1, m2, m3 = _mark(conn, 1), _mark(conn, 2), _mark(conn, 3)
        # The head row lock serialises this with appenders and with another archive of the chain.
        await conn.execute_query(
            f"UPDATE audit_head SET seq = seq WHERE org_id = {m1}", [segment.org_id]
        )
        stored = (
            await AuditEvent.filter(
                org_id=segment.org_id, seq__in=[segment.first_seq, segment.last_seq]
            )
            .using_db(conn)
            .order_by("seq")
            .values("seq", "prev_hash", "hash")
        )
        if (
            len(stored) != (1 if segment.first_seq == segment.last_seq else 2)
            or stored[0]["prev_hash"] != segment.first_prev_hash
            or stored[-1]["hash"] != segment.last_hash
        ):
            raise ArchiveRefused(
                f"the stored segment of org {segment.org_id} changed while it was archived "
                "(another archive ran?); nothing was removed. Run the command again."
            )
        archive = await AuditArchive.create(
            org_id=segment.org_id,
            first_seq=segment.first_seq,
            last_seq=segment.last_seq,
            first_prev_hash=segment.first_prev_hash,
            last_hash=segment.last_hash,
            first_ts=segment.first_ts,
            last_ts=segment.last_ts,
            before=format_ts(before),
            events=segment.events,
            file_name=file_name,
            file_sha256=file_sha,
            checkpoint_ts=cp_ts,
            signature=signature,
            created_at=format_ts(),
            created_by=actor.actor,
            using_db=conn,
        )
        lift = [segment.org_id, segment.first_seq, segment.last_seq]
        await conn.execute_query(
            f"INSERT INTO audit_archive_lift (org_id, first_seq, last_seq, archive_id) "
            f"VALUES ({m1}, {m2}, {m3}, {_mark(conn, 4)})",
            [*lift, archive.id],
        )
        deleted, _ = await conn.execute_query(
            f"DELETE FROM audit_event WHERE org_id = {m1} AND seq >= {m2} AND seq <= {m3}", lift
        )
        await conn.execute_query(
            f"DELETE FROM audit_archive_lift WHERE archive_id = {m1}", [archive.id]
        )
        if deleted != segment.events:
            raise ArchiveRefused(
                f"removing seq {segment.first_seq}-{segment.last_seq} of org {segment.org_id} "
                f"touched {deleted} events, expected {segment.events}; rolled back."
            )
        await store.append(
            actor,
            Entry(
                "audit.archived",
                "audit_chain",
                segment.org_id,
                {},
                {
                    "archive_id": archive.id,
                    "first_seq": segment.first_seq,
                    "last_seq": segment.last_seq,
                    "events": segment.events,
                    "last_hash": segment.last_hash,
                    "before": format_ts(before),
                    "file": file_name,
                    "file_sha256": file_sha,
                },
                RiskLevel.HIGH,
            ),
            conn,
        )
    return archive
