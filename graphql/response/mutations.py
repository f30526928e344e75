"""Mutations of the response loop (issue 16): acknowledge a run or a case, and the incident
record of a Sev0/Sev1 case. Errors are data (`errors`), like every mutation."""

from __future__ import annotations

import strawberry

from riskops.graphql.core.context import Info, principal
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.response.types import (
    AcknowledgePayload,
    ResponseClock,
    TimelineEntryPayload,
    timeline_entry,
)
from riskops.graphql.triage.case_mutations import CasePayload, _case_payload
from riskops.server.response import service as svc


def _acked(result: svc.AckResult) -> AcknowledgePayload:
    return AcknowledgePayload(
        clock=ResponseClock.of(result.clock), acknowledged=len(result.acknowledged),
        already=result.already, message=result.message,
    )  # fmt: skip


@strawberry.type
class ResponseMutation:
    @strawberry.mutation(
        description="Acknowledge a SEV0/SEV1 run: stops its escalation, and acknowledges its "
        "case and the case's other runs too (one incident). Taken by a named person; the same "
        "person again changes nothing (already: true)."
    )
    async def acknowledge_run(
        self, info: Info, run_id: strawberry.ID, expected_version: int | None = None
    ) -> AcknowledgePayload:
        return await as_payload(
            AcknowledgePayload,
            svc.acknowledge(principal(info), "run", str(run_id), expected_version=expected_version),
            _acked,
        )

    @strawberry.mutation(
        description="Acknowledge a case: stops its escalation and acknowledges its SEV0/SEV1 "
        "runs too. Taken by a named person; the same person again changes nothing."
    )
    async def acknowledge_case(
        self, info: Info, case_id: strawberry.ID, expected_version: int | None = None
    ) -> AcknowledgePayload:
        return await as_payload(
            AcknowledgePayload,
            svc.acknowledge(
                principal(info), "case", str(case_id), expected_version=expected_version
            ),
            _acked,
        )

    @strawberry.mutation(description="Become the incident commander of a Sev0/Sev1 case.")
    async def take_incident_command(
        self, info: Info, case_id: strawberry.ID, expected_version: int
    ) -> CasePayload:
        p = principal(info)
        return await _case_payload(
            p, case_id, svc.take_command(p, str(case_id), expected_version=expected_version)
        )

    @strawberry.mutation(
        description="Add an entry written by hand to the timeline of a Sev0/Sev1 case (at most "
        "2,000 characters; kept in the case history)."
    )
    async def add_timeline_entry(
        self, info: Info, case_id: strawberry.ID, text: str
    ) -> TimelineEntryPayload:
        return await as_payload(
            TimelineEntryPayload,
            svc.add_timeline_entry(principal(info), str(case_id), text),
            lambda e: TimelineEntryPayload(entry=timeline_entry(e)),
        )

    @strawberry.mutation(
        description="Submit the post-incident report of a resolved Sev0/Sev1 case (from the "
        "template in Incident.reportTemplate; submitting again replaces it)."
    )
    async def submit_post_incident_report(
        self, info: Info, case_id: strawberry.ID, expected_version: int, report: str
    ) -> CasePayload:
        p = principal(info)
        return await _case_payload(
            p, case_id,
            svc.submit_postmortem(p, str(case_id), report, expected_version=expected_version),
        )  # fmt: skip


__all__ = ["ResponseMutation", "UserError"]
