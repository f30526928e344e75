"""What the run and case pages show of the response loop (issue 16), computed for their
templates `response/_run.html` and `response/_case.html`: the clock in words, who acknowledged
it, and the incident record of a Sev0/Sev1 case."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit.models import Run
from riskops.server.credit.policy import current_policy
from riskops.server.identity import users
from riskops.server.response import clocks as rc
from riskops.server.response import service as svc
from riskops.server.response.models import SubjectKind
from riskops.server.triage.models import Case, CaseEvent


async def _ackers(org_id: int, ids: list[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    from riskops.server.identity.models import User

    return dict(await scoped(User, org_id=org_id).filter(id__in=wanted).values_list("id", "name"))


async def run_context(principal: Principal, run: Run) -> dict[str, Any]:
    clock = await svc.clock_of(principal.org_id, SubjectKind.RUN, run.id)
    names = await _ackers(principal.org_id, [clock.acknowledged_by_id] if clock else [])
    return {
        "clock": rc.view(clock) if clock else None,
        "acked_by": names.get(clock.acknowledged_by_id or 0, "") if clock else "",
        "can_ack": principal.can(Perm.RESPONSE_ACK) and principal.can(Perm.RUN_READ),
    }


async def case_context(principal: Principal, case: Case) -> dict[str, Any]:
    clock = await svc.clock_of(principal.org_id, SubjectKind.CASE, case.id)
    incident = case.severity in rc.INCIDENT_SEVERITIES
    timeline: list[CaseEvent] = []
    if incident:
        timeline = list(
            await scoped(CaseEvent, principal)
            .filter(case_id=case.id)
            .filter(action__in=["create", "acknowledge", "escalate", "timeline",
                                "take_command", "approve_resolution", "postmortem"])
            .order_by("at", "id")
        )  # fmt: skip
    people = [clock.acknowledged_by_id if clock else None, case.incident_commander_id,
              case.postmortem_by_id]  # fmt: skip
    names = await _ackers(principal.org_id, people)
    actors = await users.actor_labels(case.org_id, [e.actor for e in timeline])
    now = datetime.now(UTC)
    return {
        "clock": rc.view(clock, now) if clock else None,
        "acked_by": names.get(clock.acknowledged_by_id or 0, "") if clock else "",
        "can_ack": principal.can(Perm.RESPONSE_ACK),
        "incident": incident,
        "commander": names.get(case.incident_commander_id or 0, ""),
        "report_by": names.get(case.postmortem_by_id or 0, ""),
        "timeline": timeline,
        "timeline_actors": actors,
        "report_overdue": case.postmortem is None
        and case.postmortem_due_at is not None
        and case.postmortem_due_at < now,
        "report_open": case.status.value in ("resolved", "closed"),
        "template": svc.report_template(),
        "report_hours": (await current_policy(case.org_id)).policy.postmortem_due_hours,
        "is_commander": case.incident_commander_id == principal.user_id,
    }


async def clock_views(principal: Principal, kind: str, ids: list[int]) -> dict[int, rc.ClockView]:
    """The clocks of a list page's runs or cases in words, by id (one query)."""
    if not ids:
        return {}
    now = datetime.now(UTC)
    rows = await svc.clocks_for(principal.org_id, SubjectKind(kind), ids)
    return {i: rc.view(c, now) for i, c in rows.items()}
