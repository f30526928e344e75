"""GraphQL types of the assistant, built from what `riskops.server.assistant` returns: a stored
response with its citations, the usage rows, and whether the assistant is on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry

from riskops.graphql.core.ids import as_id, as_opt_id
from riskops.graphql.identity.types import UserRef
from riskops.server.assistant import models as am
from riskops.server.assistant.availability import Availability
from riskops.server.assistant.usage import UsageGroup, UsagePeriod, UsageRow
from riskops.server.core.principal import Principal
from riskops.server.identity import users

AssistantKind = strawberry.enum(
    am.ResponseKind,
    name="AssistantKind",
    description="What the assistant was asked for: EXPLAIN_ALERT (why an alert fired), "
    "SIMILAR_CASES (what happened to similar closed alerts and cases), ESCALATION_DRAFT (a "
    "draft escalation note), EXPLAIN_RUN (why a SEV0 to SEV2 run spiked).",
)
AssistantTargetType = strawberry.enum(
    am.TargetType, name="AssistantTargetType", description="What a response is about."
)
AssistantResponseStatus = strawberry.enum(
    am.ResponseStatus,
    name="AssistantResponseStatus",
    description="PENDING until the job finishes (poll the response); SUCCEEDED with the answer; "
    "FAILED or UNAVAILABLE with the reason in one line.",
)
AssistantUsagePeriod = strawberry.enum(
    UsagePeriod,
    name="AssistantUsagePeriod",
    description="TODAY is the UTC day, as the daily budget counts; the others end now.",
)
AssistantUsageGroup = strawberry.enum(UsageGroup, name="AssistantUsageGroup")


@strawberry.type(description="A row an answer cites, linked to its page where it has one.")
class AssistantCitation:
    kind: str = strawberry.field(description="rule, signal, alert, case, run, flag, ...")
    ref: str = strawberry.field(description="Its id as the answer cites it: R-101, CASE-000004.")
    label: str
    url: str | None = strawberry.field(description="The page of the cited row (null: none).")

    @classmethod
    def of(cls, c: Any) -> AssistantCitation:
        c = c if isinstance(c, dict) else {"kind": "", "ref": str(c)}
        kind, ref = str(c.get("kind") or ""), str(c.get("ref") or "")
        label = str(c.get("label") or f"{kind} {ref}".strip())
        url = c.get("url")
        return cls(kind=kind, ref=ref, label=label, url=str(url) if url else None)


@strawberry.type(description="One answer of the assistant about an alert, case or run.")
class AssistantResponse:
    id: strawberry.ID
    kind: AssistantKind  # type: ignore[valid-type]
    target_type: AssistantTargetType  # type: ignore[valid-type]
    target_id: strawberry.ID
    status: AssistantResponseStatus  # type: ignore[valid-type]
    reason: str | None = strawberry.field(
        description="Why it failed or is unavailable, in one line (null otherwise)."
    )
    output: str | None = strawberry.field(
        description="The answer, in Markdown; citations appear as [kind:ref]."
    )
    citations: list[AssistantCitation]
    dropped_citations: int = strawberry.field(
        description="Citations of rows the target does not have, dropped from the answer."
    )
    model: str | None = strawberry.field(description="The model that answered.")
    template_version: str
    prompt_hash: str = strawberry.field(description="SHA-256 of the redacted prompt sent.")
    tokens_in: int
    tokens_out: int
    cost: Decimal = strawberry.field(description="What the call cost, in USD.")
    latency_ms: int | None
    requested_by: UserRef | None
    job_id: strawberry.ID | None
    helpful: bool | None = strawberry.field(description="The latest rating (null: not rated).")
    feedback_comment: str | None
    feedback_by: UserRef | None
    feedback_at: datetime | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, r: am.AssistantResponse, names: dict[int, str]) -> AssistantResponse:
        def who(user_id: int | None) -> UserRef | None:
            if user_id is None:
                return None
            return UserRef(id=as_id(user_id), name=names.get(user_id, users.DELETED))

        return cls(
            id=as_id(r.id), kind=r.kind, target_type=r.target_type,
            target_id=as_id(r.target_id), status=r.status, reason=r.reason, output=r.output,
            citations=[AssistantCitation.of(c) for c in r.citations or []],
            dropped_citations=r.dropped_citations, model=r.model,
            template_version=r.template_version, prompt_hash=r.prompt_hash,
            tokens_in=r.tokens_in, tokens_out=r.tokens_out, cost=Decimal(r.cost),
            latency_ms=r.latency_ms, requested_by=who(r.requested_by_id),
            job_id=as_opt_id(str(r.job_id) if r.job_id else None), helpful=r.helpful,
            feedback_comment=r.feedback_comment,
            feedback_by=who(r.feedback_by_id),
            feedback_at=r.feedback_at, created_at=r.created_at, finished_at=r.finished_at,
        )  # fmt: skip


async def response_nodes(
    principal: Principal, rows: Sequence[am.AssistantResponse]
) -> list[AssistantResponse]:
    """Nodes of `rows`, the people they name read in one query."""
    ids = [r.requested_by_id for r in rows] + [r.feedback_by_id for r in rows]
    names = await users.names_of(principal, ids)
    return [AssistantResponse.of(r, names) for r in rows]


@strawberry.type(description="The assistant's use and cost for one person, model, case or kind.")
class AssistantUsageRow:
    key: str = strawberry.field(description="The user id, model, case id or kind.")
    label: str = strawberry.field(
        description="The person's name, the model, CASE-000004 or the kind in words."
    )
    responses: int
    failures: int = strawberry.field(description="Responses that failed or were unavailable.")
    tokens_in: int
    tokens_out: int
    cost: Decimal = strawberry.field(description="In USD.")

    @classmethod
    def of(cls, u: UsageRow) -> AssistantUsageRow:
        return cls(
            key=u.key, label=u.label, responses=u.responses, failures=u.failures,
            tokens_in=u.tokens_in, tokens_out=u.tokens_out, cost=u.cost,
        )  # fmt: skip


@strawberry.type(description="Whether the assistant answers for your organization now.")
class AssistantAvailability:
    on: bool
    reason: str | None = strawberry.field(description="Why it is off, in one line (null: on).")
    budget: Decimal = strawberry.field(description="The organization's daily budget, in USD.")
    spent: Decimal = strawberry.field(description="Spent today (UTC), in USD.")

    @classmethod
    def of(cls, a: Availability) -> AssistantAvailability:
        return cls(on=a.on, reason=a.reason, budget=a.budget, spent=a.spent)
