"""Assistant mutations: ask for an answer (each returns the response, PENDING until its job
finishes, and the job's id), rate an answer, save an escalation draft as a case note. Every
resolver calls one service; expected errors are data (`as_payload`)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from riskops.graphql.assistant.types import AssistantResponse, response_nodes
from riskops.graphql.core.context import Info, principal
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.core.ids import as_opt_id
from riskops.graphql.triage.types import CaseNote
from riskops.server.assistant import models as am
from riskops.server.assistant import service
from riskops.server.assistant.service import RequestResult
from riskops.server.assistant.targets import one_target, require_may_ask
from riskops.server.core.principal import Principal
from riskops.server.triage import models as tm


@strawberry.type
class AssistantRequestPayload:
    response: AssistantResponse | None = strawberry.field(
        default=None,
        description="The response: PENDING until the job finishes (poll assistantResponse), or "
        "UNAVAILABLE at once with the reason when the assistant is off.",
    )
    job_id: strawberry.ID | None = strawberry.field(
        default=None, description="The job answering it (null when no job was queued)."
    )
    replayed: bool = strawberry.field(
        default=False,
        description="True when the idempotency key repeated an earlier request, or your own "
        "pending request of the same kind on the same target was returned.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AssistantResponsePayload:
    response: AssistantResponse | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AssistantNotePayload:
    note: CaseNote | None = strawberry.field(
        default=None, description="The case note; fromResponseId names the draft it began as."
    )
    case_id: strawberry.ID | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _node(p: Principal, response: am.AssistantResponse) -> AssistantResponse:
    return (await response_nodes(p, [response]))[0]


async def _ask(
    p: Principal,
    kind: am.ResponseKind,
    target_type: am.TargetType | None,
    target_id: strawberry.ID | None,
    *,
    alert_id: strawberry.ID | None = None,
    case_id: strawberry.ID | None = None,
    idempotency_key: str | None,
) -> AssistantRequestPayload:
    async def change() -> RequestResult:
        require_may_ask(p, kind)  # permission first, before the target is judged
        t, raw = (
            (target_type, str(target_id))
            if target_type is not None
            else one_target(alert_id, case_id)
        )
        return await service.request_response(p, kind, t, raw, idempotency_key=idempotency_key)

    async def done(result: RequestResult) -> AssistantRequestPayload:
        return AssistantRequestPayload(
            response=await _node(p, result.response),
            job_id=as_opt_id(str(result.job_id) if result.job_id else None),
            replayed=result.replayed,
        )

    return await as_payload(AssistantRequestPayload, change(), done)


_KEY = Annotated[
    str | None,
    strawberry.argument(description="A retry with the same key returns the first response."),
]
_OFF = (
    " When the assistant is off (kill switch, AGENT_SAFE_MODE, no model, budget spent) the "
    "response is UNAVAILABLE at once, with the reason, and no job is queued."
)


@strawberry.type
class AssistantMutation:
    @strawberry.mutation(
        description="Ask the assistant why an alert fired, from its rule hits, signals and "
        "transaction only, citing them by id. Needs assistant.use and alert.read." + _OFF
    )
    async def request_explanation(
        self, info: Info, alert_id: strawberry.ID, idempotency_key: _KEY = None
    ) -> AssistantRequestPayload:
        return await _ask(
            principal(info), am.ResponseKind.EXPLAIN_ALERT, am.TargetType.ALERT, alert_id,
            idempotency_key=idempotency_key,
        )  # fmt: skip

    @strawberry.mutation(
        description="Ask what happened to the closed alerts and cases most similar to an alert "
        "or a case (give exactly one of alertId and caseId). Needs assistant.use." + _OFF
    )
    async def request_similar_cases(
        self,
        info: Info,
        alert_id: strawberry.ID | None = None,
        case_id: strawberry.ID | None = None,
        idempotency_key: _KEY = None,
    ) -> AssistantRequestPayload:
        return await _ask(
            principal(info), am.ResponseKind.SIMILAR_CASES, None, None, alert_id=alert_id,
            case_id=case_id, idempotency_key=idempotency_key,
        )  # fmt: skip

    @strawberry.mutation(
        description="Ask for a draft escalation note for an alert or a case (exactly one of "
        "alertId and caseId); edit it and save it with saveAssistantDraftAsNote. Needs "
        "assistant.use." + _OFF
    )
    async def request_escalation_draft(
        self,
        info: Info,
        alert_id: strawberry.ID | None = None,
        case_id: strawberry.ID | None = None,
        idempotency_key: _KEY = None,
    ) -> AssistantRequestPayload:
        return await _ask(
            principal(info), am.ResponseKind.ESCALATION_DRAFT, None, None, alert_id=alert_id,
            case_id=case_id, idempotency_key=idempotency_key,
        )  # fmt: skip

    @strawberry.mutation(
        description="Ask why a SEV0, SEV1 or SEV2 run spiked, from its flags, multiplier, "
        "baseline and the recent runs of its scenario. Needs assistant.runs and run.read." + _OFF
    )
    async def request_run_explanation(
        self, info: Info, run_id: strawberry.ID, idempotency_key: _KEY = None
    ) -> AssistantRequestPayload:
        return await _ask(
            principal(info), am.ResponseKind.EXPLAIN_RUN, am.TargetType.RUN, run_id,
            idempotency_key=idempotency_key,
        )  # fmt: skip

    @strawberry.mutation(
        description="Rate a finished answer: helpful or not, with an optional comment of at "
        f"most {service.MAX_COMMENT} characters. Rating again replaces your rating. Needs the "
        "permission that may ask for its kind (assistant.use, or assistant.runs for a run)."
    )
    async def rate_assistant_response(
        self, info: Info, id: strawberry.ID, helpful: bool, comment: str | None = None
    ) -> AssistantResponsePayload:
        p = principal(info)

        async def done(response: am.AssistantResponse) -> AssistantResponsePayload:
            return AssistantResponsePayload(response=await _node(p, response))

        return await as_payload(
            AssistantResponsePayload, service.rate_response(p, str(id), helpful, comment), done
        )

    @strawberry.mutation(
        description="Save an escalation draft that succeeded, edited as you like (body, at most "
        f"{service.MAX_NOTE} characters), as a note of its case; for a draft about an alert, a "
        "note of one of the alert's cases (caseId; the alert's only case when not given). The "
        "note records the response it began as. Needs assistant.use and case.work."
    )
    async def save_assistant_draft_as_note(
        self,
        info: Info,
        response_id: strawberry.ID,
        body: str,
        case_id: strawberry.ID | None = None,
    ) -> AssistantNotePayload:
        p = principal(info)

        def done(note: tm.CaseNote) -> AssistantNotePayload:
            return AssistantNotePayload(note=CaseNote.of(note), case_id=as_opt_id(note.case_id))

        return await as_payload(
            AssistantNotePayload,
            service.save_draft_as_note(
                p, str(response_id), body, str(case_id) if case_id is not None else None
            ),
            done,
        )
