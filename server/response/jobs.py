"""The job of the response loop: `response.escalate`, every minute (`jobs/schedule.py`), escalates
the unacknowledged SEV0/SEV1 items past their target (`riskops.server.response.escalation`)."""

from __future__ import annotations

from typing import Any

from riskops.jobs.registry import job
from riskops.server.response.escalation import escalate_due


@job("response.escalate")
async def response_escalate(ctx: dict[str, Any]) -> dict[str, Any]:
    return await escalate_due()
