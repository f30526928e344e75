"""The jobs of credit monitoring: the weekly credit review (`report.weekly`, Mondays 10:00 UTC
by `jobs/schedule.py`) and recording expired kill switches (`kill_switch.expire`, every minute).

For every organization with runs, the report of the last complete Monday-to-Monday week is
generated as the system actor `scheduler`. Generation is idempotent per (organization, week), so
a redelivered or repeated job adds nothing; one organization failing does not stop the others
(the job fails at the end, so the runner retries, and the done ones are then skipped).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from riskops.jobs.registry import job
from riskops.server.core.scoping import scoped
from riskops.server.credit import reports
from riskops.server.credit.kill_switches import expire_kill_switches
from riskops.server.credit.models import Run
from riskops.server.identity.models import Organization

log = logging.getLogger("riskops.reports")


async def generate_all(now: datetime | None = None) -> dict[str, Any]:
    week = reports.last_complete_week(now or datetime.now(UTC))
    _, end = reports.period_bounds(week)
    done: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    org_ids = [o.id for o in await Organization.all().order_by("id").only("id")]
    for org_id in org_ids:
        if not await scoped(Run, org_id=org_id).filter(started_at__lt=end).exists():
            continue  # an organization that never recorded a run gets no report
        try:
            report = await reports.generate_weekly_report_system(org_id, week)
        except Exception as exc:
            log.exception("weekly report of organization %s failed", org_id)
            failed.append({"org_id": org_id, "error": type(exc).__name__})
            continue
        done.append(
            {"org_id": org_id, "report_id": report.id, "period_start": week.isoformat(),
             "sha256": report.sha256}
        )  # fmt: skip
    if failed:
        raise RuntimeError(f"weekly report failed for organization(s) {failed}; retry the job")
    return {"reports": done}


@job("report.weekly")
async def report_weekly(ctx: dict[str, Any]) -> dict[str, Any]:
    return await generate_all()


@job("kill_switch.expire")
async def kill_switch_expire(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"expired": await expire_kill_switches()}
