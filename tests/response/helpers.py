"""What the response tests share: SEV0/SEV1 runs recorded through the real service, cases opened
through the real service, and snapshots of everything an action may change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from riskops.audit.models import AuditHead
from riskops.server.credit import recording
from riskops.server.credit.models import Baseline, BaselineSource, Run, Scenario
from riskops.server.notify.models import OutboxMessage
from riskops.server.response.models import ResponseClock, SubjectKind
from riskops.server.triage.models import Case, CaseEvent

NOW = datetime.now(UTC)


async def scenario(org_id: int) -> str:
    k = f"SCEN_{uuid.uuid4().hex[:8].upper()}"
    s = await Scenario.create(org_id=org_id, key=k, name=k, created_at=NOW)
    await Baseline.create(
        org_id=org_id, scenario_id=s.id, median=100.0, cv=0.1, sample_size=20,
        source=BaselineSource.MANUAL, set_at=NOW,
    )  # fmt: skip
    return k


def run_item(k: str, credits: float, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "run_id": f"RUN-{uuid.uuid4().hex[:10]}",
        "scenario": k,
        "credits_total": credits,
        "started_at": (NOW - timedelta(minutes=5)).isoformat(),
    }
    data.update(over)
    return data


def sev0_item(k: str) -> dict[str, Any]:
    return run_item(
        k, 1250.0, data_classification="pii", retry_count=7, job_type="batch",
        items_processed=9800, has_max_items_config=False, prompt_tokens=140000,
    )  # fmt: skip


async def record(principal: Any, *items: dict[str, Any]) -> list[Run]:
    result = await recording.record_runs(principal, list(items))
    assert result.errors == [], result.errors
    return [await Run.get(id=r.pk) for r in result.recorded]


async def sev0_run(tenant: Any) -> Run:
    (run,) = await record(tenant.admin, sev0_item(await scenario(tenant.org_id)))
    assert run.severity == "SEV0" and run.case_id is not None
    return run


async def sev1_run(tenant: Any) -> Run:
    (run,) = await record(tenant.admin, run_item(await scenario(tenant.org_id), 600.0))
    assert run.severity == "SEV1" and run.case_id is not None
    return run


async def ask_to_resolve(tenant: Any, case_id: int, summary: str = "Fixed the loop") -> Any:
    """A strategist of the tenant asks to resolve the case (root cause: misconfiguration): the
    request an approver then approves (`case_resolution.approve_case_resolution`)."""
    from riskops.server.triage import case_resolution
    from riskops.server.triage.models import RootCause

    _, strategist = await tenant.user("strategist")
    case = await Case.get(id=case_id)
    return await case_resolution.request_case_resolution(
        strategist, case.id, expected_version=case.version, summary=summary,
        root_cause=RootCause.MISCONFIG.value,
    )  # fmt: skip


async def clock(kind: str, subject_id: int) -> ResponseClock:
    return await ResponseClock.get(subject_kind=SubjectKind(kind), subject_id=subject_id)


async def head(org_id: int) -> int:
    row = await AuditHead.get_or_none(org_id=org_id)
    return row.seq if row else 0


async def state(org_id: int) -> tuple:
    """Everything an action of this domain may change in an organization."""
    clocks = sorted(
        await ResponseClock.filter(org_id=org_id).values_list(
            "id", "acknowledged_at", "acknowledged_by_id", "level", "next_escalation_at",
            "closed_at", "version",
        )
    )  # fmt: skip
    cases = sorted(
        await Case.filter(org_id=org_id).values_list(
            "id", "version", "incident_commander_id", "postmortem", "status"
        )
    )
    return (
        clocks,
        cases,
        await CaseEvent.filter(org_id=org_id).count(),
        await OutboxMessage.filter(org_id=org_id).count(),
        await head(org_id),
    )


async def new_case(principal: Any, severity: str, title: str = "Card testing burst") -> Case:
    """A case opened by a strategist from one fresh alert."""
    import dataclasses

    from riskops.server.triage import case_create, ingest

    ingester = dataclasses.replace(principal, roles=frozenset({"strategist"}))
    result = await ingest.ingest_alerts(
        ingester,
        [{"external_id": f"ext-{uuid.uuid4().hex[:10]}", "source": "card-rules",
          "title": title, "score": 80, "priority": "high"}],
    )  # fmt: skip
    assert result.errors == []
    res = await case_create.create_case(
        ingester, title=title, alert_ids=[result.created[0].alert_id], severity=severity
    )
    return res.case
