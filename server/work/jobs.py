"""The job of the home page and the view picker: `view.count` counts one view for one person (or
for everyone) and caches it (`riskops.server.views.counts`). Enqueued by `counts.counts_for`
when a count is missing or stale, once per view, person and minute."""

from __future__ import annotations

from typing import Any

from riskops.jobs.registry import job
from riskops.server.views import counts


@job(counts.JOB)
async def view_count(
    ctx: dict[str, Any], *, org_id: int, view_id: int, user_id: int
) -> dict[str, Any]:
    return await counts.count_view(org_id, view_id, user_id)
