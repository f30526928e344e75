"""Signed checkpoints of each chain's head, so `verify` catches a truncated tail."""

from __future__ import annotations

from riskops.audit.chain import format_ts
from riskops.audit.models import AuditCheckpoint, AuditHead
from riskops.audit.verify import sign_checkpoint


async def checkpoint_all(key: bytes) -> list[AuditCheckpoint]:
    """Record a checkpoint for every chain whose head moved since its last checkpoint."""
    made = []
    for head in await AuditHead.filter(seq__gt=0).order_by("org_id"):
        last = await AuditCheckpoint.filter(org_id=head.org_id).order_by("-seq", "-id").first()
        if last is not None and last.seq == head.seq:
            continue
        ts = format_ts()
        made.append(
            await AuditCheckpoint.create(
                org_id=head.org_id,
                seq=head.seq,
                head_hash=head.hash,
                ts=ts,
                signature=sign_checkpoint(key, head.org_id, head.seq, head.hash, ts),
            )
        )
    return made
