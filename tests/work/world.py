"""The "My work" tests' small world: alerts, cases, runs and requests made as rows."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from riskops.server.core import approvals
from riskops.server.core.principal import Principal
from riskops.server.credit.models import (
    BaselineChange,
    BaselineSource,
    PolicyVersion,
    RerunRequest,
    Run,
    Scenario,
)
from riskops.server.credit.terms import Severity
from riskops.server.triage import ingest
from riskops.server.triage.models import Alert, AlertStatus, Case, CaseStatus
from riskops.server.views.models import (
    PromotionStatus,
    ViewPromotionRequest,
)

NOW = datetime.now(UTC)


async def alert(
    org_id: int, *, assignee: int | None, status: AlertStatus, overdue: bool = False
) -> int:
    ingester = Principal(user_id=0, org_id=org_id, roles=frozenset({"strategist"}))
    item = {"external_id": f"w-{uuid.uuid4().hex[:10]}", "source": "card-rules",
            "title": "Card testing burst", "score": 70, "priority": "high"}  # fmt: skip
    result = await ingest.ingest_alerts(ingester, [item])
    assert result.errors == []
    pk = result.created[0].alert_id
    due = NOW - timedelta(hours=1) if overdue else NOW + timedelta(days=2)
    await Alert.filter(id=pk).update(assignee_id=assignee, status=status, due_at=due)
    return pk


_numbers: dict[int, int] = {}


async def case(org_id: int, *, status: CaseStatus, requested_by: int | None = None) -> Case:
    _numbers[org_id] = _numbers.get(org_id, 0) + 1
    return await Case.create(
        org_id=org_id, number=1000 + _numbers[org_id], title=f"Case {uuid.uuid4().hex[:6]}",
        status=status, requested_by_id=requested_by, opened_at=NOW,
        resolved_at=NOW if status is CaseStatus.RESOLVED else None,
    )  # fmt: skip


async def scenario(org_id: int) -> Scenario:
    key = f"S_{uuid.uuid4().hex[:8].upper()}"
    return await Scenario.create(org_id=org_id, key=key, name=key, created_at=NOW)


async def run(
    org_id: int, severity: Severity | None, *, case_id: int | None = None,
    quarantined: bool = False,
) -> Run:  # fmt: skip
    s = await scenario(org_id)
    return await Run.create(
        org_id=org_id, run_id=f"RUN-{uuid.uuid4().hex[:8]}", scenario_id=s.id, started_at=NOW,
        recorded_at=NOW, credits_total=60.0, baseline_median=10.0, multiplier=6.0,
        severity=severity, misconfig_likelihood="low", policy_number=0, case_id=case_id,
        quarantined=quarantined,
    )  # fmt: skip


async def baseline_change(org_id: int, by: int | None, **kw: Any) -> BaselineChange:
    s = await scenario(org_id)
    values: dict[str, Any] = {"status": approvals.ChangeStatus.PROPOSED, **kw}
    return await BaselineChange.create(
        org_id=org_id, scenario_id=s.id, new_median=12.0, sample_size=0,
        source=BaselineSource.MANUAL, rationale="seasonal", proposed_by_id=by, created_at=NOW,
        **values,
    )  # fmt: skip


async def policy_version(org_id: int, by: int | None, number: int, **kw: Any) -> PolicyVersion:
    values: dict[str, Any] = {"status": approvals.ChangeStatus.PROPOSED, **kw}
    return await PolicyVersion.create(
        org_id=org_id, number=number, data={}, reason="tighter", set_by_id=by, created_at=NOW,
        **values,
    )  # fmt: skip


async def rerun_request(org_id: int, by: int | None, **kw: Any) -> RerunRequest:
    r = await run(org_id, Severity.SEV2)
    return await RerunRequest.create(
        org_id=org_id, run_id=r.id, reason="fixed", requested_by_id=by, requested_at=NOW, **kw
    )


async def promotion_request(org_id: int, view_id: int, by: int, **kw: Any) -> ViewPromotionRequest:
    values: dict[str, Any] = {"status": PromotionStatus.PENDING_REVIEW, **kw}
    return await ViewPromotionRequest.create(
        org_id=org_id, view_id=view_id, requested_by_id=by, rationale="used by everyone",
        snapshot={"name": "High risk EU", "description": "", "definition": {}},
        created_at=NOW, updated_at=NOW, **values,
    )  # fmt: skip


def as_roles(principal: Principal, *roles: str) -> Principal:
    return dataclasses.replace(principal, roles=frozenset(roles))
