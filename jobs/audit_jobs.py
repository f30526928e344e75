"""The audit jobs: periodic signed checkpoints of every chain, and flushing the spool."""

from __future__ import annotations

from typing import Any

from riskops.audit.checkpoint import checkpoint_all
from riskops.audit.refusals import flush_refusals
from riskops.audit.store import flush_spool
from riskops.jobs.registry import job
from riskops.server.settings import get_settings


@job("audit.checkpoint")
async def audit_checkpoint(ctx: dict[str, Any]) -> dict[str, Any]:
    """Store a signed checkpoint of every chain whose head moved (a second run adds nothing)."""
    await flush_spool()
    await flush_refusals()  # the counts of refusals whose minute is over, before signing
    made = await checkpoint_all(get_settings().key)
    return {"checkpoints": [{"org": c.org_id, "seq": c.seq} for c in made]}


@job("audit.flush_spool")
async def audit_flush_spool(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"stored": await flush_spool()}
