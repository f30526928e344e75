"""Report jobs: the weekly credit review."""

from __future__ import annotations

from typing import Any

from riskops.jobs.registry import job


@job("report.weekly")
async def report_weekly(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"reports": []}
