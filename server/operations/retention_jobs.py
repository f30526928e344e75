"""The retention job (`retention.enforce`, daily at 02:30 UTC: `riskops.jobs.schedule`): every
organization with a retention policy is enforced as the system (`retention.enforce_all`), and
each enforcement is reported by its `RetentionRun` row and its `retention.enforced` event. The
login state that expired a day ago goes too, whatever the policies (`identity.expiry`)."""

from __future__ import annotations

from typing import Any

from riskops.jobs.registry import job
from riskops.server.identity import expiry
from riskops.server.operations import retention


@job("retention.enforce")
async def retention_enforce(ctx: dict[str, Any]) -> dict[str, Any]:
    runs = await retention.enforce_all()
    expired = await expiry.purge()
    return {
        "runs": [{"org": r.org_id, "run": r.id, "removed": r.removed} for r in runs],
        "expired": expired,
    }
