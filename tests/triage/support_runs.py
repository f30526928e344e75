"""Shared helpers of the case-from-runs, self-resolve and archive tests: runs recorded through the
real ledger service (so their severity is the classifier's), and a snapshot of a case and its
runs that a refused call must leave as it was."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from riskops.audit.models import AuditEvent
from riskops.server.credit import recording
from riskops.server.credit.models import Baseline, BaselineSource, Run, Scenario
from riskops.server.triage.models import Case, CaseAlert, CaseEvent

NOW = datetime.now(UTC)

# Credits against a baseline median of 100: the severity each gives (seed 002 defaults).
CREDITS = {"SEV1": 600.0, "SEV2": 250.0, "SEV3": 160.0, None: 100.0}


async def scenario(org_id: int) -> str:
    key = f"SCEN_{uuid.uuid4().hex[:8].upper()}"
    sc = await Scenario.create(org_id=org_id, key=key, name=key, created_at=NOW)
    await Baseline.create(
        org_id=org_id, scenario_id=sc.id, median=100.0, cv=0.1, sample_size=20,
        source=BaselineSource.MANUAL, set_at=NOW,
    )  # fmt: skip
    return key


async def runs(tenant: Any, *severities: str | None, key: str | None = None) -> list[Run]:
    """One run per severity given (SEV1 opens its own case automatically), in order."""
    key = key or await scenario(tenant.org_id)
    items = [
        {"run_id": f"RUN-{uuid.uuid4().hex[:10]}", "scenario": key,
         "credits_total": CREDITS[s] + i * 0.01,
         "started_at": (NOW - timedelta(minutes=30 - i)).isoformat()}
        for i, s in enumerate(severities)
    ]  # fmt: skip
    result = await recording.record_runs(tenant.admin, items)
    assert result.errors == []
    rows = {r.run_id: r for r in await Run.filter(org_id=tenant.org_id)}
    out = [rows[str(i["run_id"])] for i in items]
    assert [r.severity.value if r.severity else None for r in out] == list(severities)
    return out


async def run_state(*run_pks: int) -> list[tuple[Any, ...]]:
    return [
        (r.run_id, r.case_id, r.updated_at)
        for r in await Run.filter(id__in=list(run_pks)).order_by("id")
    ]


async def case_state(case_id: int) -> tuple[Any, ...]:
    c = await Case.get(id=case_id)
    return (
        c.status, c.version, c.root_cause, c.resolution_summary, c.resolved_at, c.archived_at,
        c.updated_at, c.requested_by_id, c.approved_by_id,
        sorted(await CaseAlert.filter(case_id=case_id).values_list("alert_id", flat=True)),
        sorted(await Run.filter(case_id=case_id).values_list("run_id", flat=True)),
        await CaseEvent.filter(case_id=case_id).count(),
    )  # fmt: skip


async def audited(org_id: int) -> int:
    """Events that record a change (not a refusal, not a view)."""
    return (
        await AuditEvent.filter(org_id=org_id)
        .exclude(action__startswith="permission.denied")
        .exclude(action="case.view")
        .count()
    )
