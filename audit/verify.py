"""Verifying a chain against its contract and its latest signed checkpoint."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from riskops.audit.chain import GENESIS_HASH, canonical, event_hash
from riskops.audit.models import AuditCheckpoint, AuditEvent, AuditHead

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

    def describe(self) -> str:
        if self.ok:
            cp = f", checkpoint at seq {self.checkpoint_seq} holds" if self.checkpoint_seq else ""
            return (
                f"org {self.org_id}: OK, {self.events_checked} events, head seq {self.head_seq}{cp}"
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


async def verify_org(org_id: int, key: bytes) -> Verification:
    prev, expected, checked = GENESIS_HASH, 1, 0
    bad: tuple[int, str] | None = None
    while bad is None:
        rows = (
            await AuditEvent.filter(org_id=org_id, seq__gte=expected)
            .order_by("seq")
            .limit(BATCH)
            .values(*_COLUMNS)
        )
        if not rows:
            break
        for row in rows:
            event = row_to_event(row)
            if event["seq"] != expected:
                bad = (expected, f"seq {expected} is missing (next stored is {event['seq']})")
            elif event["prev_hash"] != prev:
                bad = (expected, "prev_hash does not match the previous event's hash")
            elif event_hash(event) != event["hash"]:
                bad = (expected, "content does not match its hash (edited)")
            if bad:
                break
            prev, expected, checked = event["hash"], expected + 1, checked + 1
    last_seq = expected - 1
    head = await AuditHead.get_or_none(org_id=org_id)
    checkpoint = await AuditCheckpoint.filter(org_id=org_id).order_by("-seq", "-id").first()
    if bad is None and head is not None and head.seq > last_seq:
        bad = (
            last_seq + 1,
            f"chain ends at seq {last_seq} but its head says {head.seq} (truncated)",
        )
    if bad is None and checkpoint is not None:
        bad = await _check_checkpoint(checkpoint, key, last_seq, org_id)
    if bad is not None:
        return Verification(
            org_id, False, checked, last_seq, prev, bad[0], bad[1],
            checkpoint.seq if checkpoint else None,
        )  # fmt: skip
    return Verification(
        org_id, True, checked, last_seq, prev, checkpoint_seq=checkpoint.seq if checkpoint else None
    )


async def _check_checkpoint(
    cp: AuditCheckpoint, key: bytes, last_seq: int, org_id: int
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
    at = await AuditEvent.filter(org_id=org_id, seq=cp.seq).values_list("hash", flat=True)
    if not at or at[0] != cp.head_hash:
        return (cp.seq, f"event {cp.seq} no longer has the hash checkpoint {cp.ts} recorded")
    return None
