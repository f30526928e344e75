"""GraphQL types of the response loop (issue 16): a run's or case's response clock, loaded for
all the nodes of a request at once (`clock_loader`: one query per subject kind, whatever the
number of runs or cases the query returns)."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from strawberry.dataloader import DataLoader

from riskops.graphql.core.context import Info, principal
from riskops.graphql.core.errors import UserError
from riskops.graphql.core.ids import as_id, as_opt_id
from riskops.server.core.scoping import scoped
from riskops.server.response import clocks as rc
from riskops.server.response import service as svc
from riskops.server.response.models import ResponseClock as ClockRow
from riskops.server.response.models import SubjectKind
from riskops.server.triage.models import Case, CaseEvent


@strawberry.type(
    description="The response target of a SEV0/SEV1 run or of a case, its acknowledgement and "
    "how far it escalated (docs/RESPONSE.md)."
)
class ResponseClock:
    severity: str = strawberry.field(
        description="SEV0 to SEV3 (a case: Sev0 critical to Sev3 low)."
    )
    needs_ack: bool = strawberry.field(
        description="SEV0/SEV1: a named person must acknowledge it, else it escalates."
    )
    started_at: datetime
    due_at: datetime = strawberry.field(description="The response target.")
    acknowledged_at: datetime | None
    acknowledged_by_id: strawberry.ID | None
    level: int = strawberry.field(
        description="Escalation levels reached: 0 none, 1 the escalation channel, 2 PagerDuty."
    )
    escalated_at: datetime | None
    next_escalation_at: datetime | None
    closed_at: datetime | None
    overdue: bool = strawberry.field(description="Past its target and not acknowledged.")
    state: str = strawberry.field(description="open, overdue, acknowledged or closed.")
    text: str = strawberry.field(description='As pages say it: "12 min left", "overdue by 1 h".')
    dedup_key: str = strawberry.field(description="The PagerDuty incident key of the item.")
    version: int = strawberry.field(description="Pass as expectedVersion to acknowledge it.")

    @classmethod
    def of(cls, c: ClockRow, now: datetime | None = None) -> ResponseClock:
        v = rc.view(c, now or datetime.now(UTC))
        return cls(
            severity=c.severity, needs_ack=c.needs_ack, started_at=c.started_at,
            due_at=c.due_at, acknowledged_at=c.acknowledged_at,
            acknowledged_by_id=as_opt_id(c.acknowledged_by_id), level=c.level,
            escalated_at=c.escalated_at, next_escalation_at=c.next_escalation_at,
            closed_at=c.closed_at, overdue=v.overdue, state=v.state, text=v.text,
            dedup_key=c.dedup_key, version=c.version,
        )  # fmt: skip


_KEY = "_response_clock_loader"


def clock_loader(info: Info) -> DataLoader[tuple[str, int], ClockRow | None]:
    """The request's loader of clocks by (kind, subject id): batched per kind."""
    ctx = info.context
    loader = getattr(ctx, _KEY, None)
    if loader is None:
        org_id = principal(info).org_id

        async def load(keys: list[tuple[str, int]]) -> list[ClockRow | None]:
            found: dict[tuple[str, int], ClockRow] = {}
            for kind in {k for k, _ in keys}:
                ids = sorted({i for k, i in keys if k == kind})
                rows = await svc.clocks_for(org_id, SubjectKind(kind), ids)
                found.update({(kind, i): r for i, r in rows.items()})
            return [found.get(k) for k in keys]

        loader = DataLoader(load_fn=load)
        setattr(ctx, _KEY, loader)
    return loader


async def clock_of(info: Info, kind: str, subject_id: strawberry.ID) -> ResponseClock | None:
    row = await clock_loader(info).load((kind, int(subject_id)))
    return ResponseClock.of(row) if row is not None else None


@strawberry.type(description="An acknowledgement: the clock as it is now and what it covered.")
class AcknowledgePayload:
    clock: ResponseClock | None = None
    acknowledged: int = strawberry.field(
        default=0,
        description="How many clocks this acknowledged (the item and the linked run or case).",
    )
    already: bool = strawberry.field(
        default=False, description="You had acknowledged it already: nothing changed."
    )
    message: str = ""
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="A hand-written entry of an incident timeline.")
class TimelineEntry:
    id: strawberry.ID
    case_id: strawberry.ID
    text: str
    actor: str
    at: datetime


@strawberry.type
class TimelineEntryPayload:
    entry: TimelineEntry | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(
    description="The incident record of a Sev0/Sev1 case: its commander, its timeline entries "
    "written by hand, and the post-incident report due after resolution (seed 001 SOP1)."
)
class Incident:
    commander_id: strawberry.ID | None
    postmortem_due_at: datetime | None
    postmortem: str | None
    postmortem_by_id: strawberry.ID | None
    postmortem_at: datetime | None
    postmortem_overdue: bool
    timeline: list[TimelineEntry]
    report_template: str = strawberry.field(description="The template a new report starts from.")


async def incident_of(info: Info, case_id: strawberry.ID) -> Incident | None:
    p = principal(info)
    case = await scoped(Case, p).get_or_none(id=int(case_id))
    if case is None or case.severity not in rc.INCIDENT_SEVERITIES:
        return None
    events = (
        await scoped(CaseEvent, p).filter(case_id=case.id, action="timeline").order_by("at", "id")
    )
    now = datetime.now(UTC)
    return Incident(
        commander_id=as_opt_id(case.incident_commander_id),
        postmortem_due_at=case.postmortem_due_at, postmortem=case.postmortem,
        postmortem_by_id=as_opt_id(case.postmortem_by_id), postmortem_at=case.postmortem_at,
        postmortem_overdue=case.postmortem is None and case.postmortem_due_at is not None
        and case.postmortem_due_at < now,
        timeline=[timeline_entry(e) for e in events], report_template=svc.report_template(),
    )  # fmt: skip


def timeline_entry(e: CaseEvent) -> TimelineEntry:
    return TimelineEntry(
        id=as_id(e.id), case_id=as_id(e.case_id), text=str((e.data or {}).get("text", "")),
        actor=e.actor, at=e.at,
    )  # fmt: skip
