"""The scene the assistant's service, GraphQL and usage tests share: an organization with an
alert in a case, an alert in none, a SEV0 to SEV2 run and a run of no severity, its people, and
responses as a finished job leaves them; what a refused call must not change."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from riskops.audit.models import AuditEvent
from riskops.jobs.models import Job
from riskops.server.assistant.models import (
    AssistantResponse,
    ResponseKind,
    ResponseStatus,
    TargetType,
)
from riskops.server.core.models import IdempotencyKey
from riskops.server.core.principal import Principal
from riskops.server.credit import recording
from riskops.server.credit.models import Baseline, BaselineSource, Run, Scenario
from riskops.server.triage import case_create, ingest
from riskops.server.triage.models import Alert, Case, CaseNote

S = ResponseStatus


@dataclass
class Scene:
    org_id: int
    strategist: Principal
    viewer: Principal
    operator: Principal
    alert: Alert  # in `case`
    loose: Alert  # in no case
    case: Case
    sev0: Run
    sev3: Run


def alert_item(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "external_id": f"EXT-{uuid.uuid4().hex[:8].upper()}", "source": "card-rules",
        "title": "Card testing burst", "score": 70.0, "priority": "high",
        "customer_ref": "cust-1", "account_ref": "acct-9",
        "rule_hits": [{"rule_id": "R-17", "name": "Velocity", "version": "3",
                       "score_contribution": 40, "matched_values": {"tx_1h": 14}}],
        "signals": [{"signal": "geo_mismatch", "value": True, "contribution": 12.5,
                     "direction": "up"}],
    }  # fmt: skip
    base.update(over)
    return base


async def scene(tenant: Any) -> Scene:
    """An alert in a case, an alert in none, a SEV0 run and a SEV3 run, and the people."""
    _, strategist = await tenant.user("strategist", name="Sam Strategist")
    _, viewer = await tenant.user("viewer", name="Vera Viewer")
    _, operator = await tenant.user("operator", name="Otto Operator")
    made = await ingest.ingest_alerts(strategist, [alert_item(), alert_item()])
    assert not made.errors, made.errors
    first, second = (c.alert_id for c in made.created)
    case = (await case_create.create_case(strategist, title="Ring", alert_ids=[first])).case
    key = f"SC_{uuid.uuid4().hex[:8].upper()}"
    now = datetime.now(UTC)
    scenario = await Scenario.create(org_id=tenant.org_id, key=key, name=key, created_at=now)
    await Baseline.create(
        org_id=tenant.org_id, scenario_id=scenario.id, median=100.0, sample_size=10,
        source=BaselineSource.MANUAL, set_at=now,
    )  # fmt: skip
    tag = uuid.uuid4().hex[:6]
    recorded = await recording.record_runs(
        tenant.admin,
        [{"run_id": f"RUN-{tag}-hot", "scenario": key, "credits_total": 2000.0},
         {"run_id": f"RUN-{tag}-calm", "scenario": key, "credits_total": 160.0}],
    )  # fmt: skip
    assert not recorded.errors, recorded.errors
    hot = await Run.get(org_id=tenant.org_id, run_id=f"RUN-{tag}-hot")
    calm = await Run.get(org_id=tenant.org_id, run_id=f"RUN-{tag}-calm")
    assert hot.severity is not None and hot.severity.value in ("SEV0", "SEV1", "SEV2")
    assert calm.severity is not None and calm.severity.value == "SEV3"
    return Scene(
        tenant.org_id, strategist, viewer, operator, await Alert.get(id=first),
        await Alert.get(id=second), case, hot, calm,
    )  # fmt: skip


async def answered(
    org_id: int,
    kind: ResponseKind,
    target_type: TargetType,
    target_id: int,
    *,
    by: Principal | None = None,
    status: ResponseStatus = S.SUCCEEDED,
    model: str | None = "openai/gpt-4o-mini",
    cost: str = "0.001000",
    tokens: tuple[int, int] = (100, 40),
    output: str = "Escalate: the card was tested 14 times in an hour [rule:R-17].",
    created_at: datetime | None = None,
) -> AssistantResponse:
    """A response as a finished job leaves it (or pending, as a request leaves it)."""
    now = created_at or datetime.now(UTC)
    return await AssistantResponse.create(
        org_id=org_id, kind=kind, target_type=target_type, target_id=target_id,
        requested_by_id=by.user_id if by else None, status=status, model=model,
        output=output if status is S.SUCCEEDED else None, cost=Decimal(cost),
        tokens_in=tokens[0], tokens_out=tokens[1], created_at=now,
        citations=[{"kind": "rule", "ref": "R-17"}],
        finished_at=now if status is not S.PENDING else None,
        reason="The assistant is off." if status is S.UNAVAILABLE else None,
    )  # fmt: skip


async def state(org_id: int) -> tuple[int, ...]:
    """What any change would move: responses, notes, idempotency keys, jobs, audit events
    (not refusals: a refused call is audited), and the ratings."""
    return (
        await AssistantResponse.filter(org_id=org_id).count(),
        await AssistantResponse.filter(org_id=org_id, helpful__not_isnull=True).count(),
        await CaseNote.filter(case__org_id=org_id).count(),
        await IdempotencyKey.filter(org_id=org_id).count(),
        await Job.filter(org_id=org_id).count(),
        await AuditEvent.filter(org_id=org_id)
        .exclude(action__startswith="permission.denied")
        .count(),
    )


@dataclass(frozen=True)
class Event:
    entity_id: str
    old: dict[str, Any]
    new: dict[str, Any]


async def events(org_id: int, action: str) -> list[Event]:
    """The audit events `action` of the organization, oldest first, their values parsed."""
    rows = await AuditEvent.filter(org_id=org_id, action=action).order_by("seq")
    return [Event(e.entity_id, json.loads(e.old_values), json.loads(e.new_values)) for e in rows]


def same_shape(message: str, value: object) -> str:
    return re.sub(rf"(?<![\w-]){re.escape(str(value))}(?![\w-])", "<id>", message)
