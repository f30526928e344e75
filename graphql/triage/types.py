"""GraphQL types of alerts and cases, built from already-loaded models (no queries in here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from riskops.graphql.core.context import Info, principal, query
from riskops.graphql.core.errors import UserError
from riskops.graphql.core.ids import as_id, as_opt_id
from riskops.graphql.core.pagination import PageInfo
from riskops.graphql.identity.types import UserRef
from riskops.graphql.response.types import Incident, ResponseClock, clock_of, incident_of
from riskops.graphql.triage.loaders import Loaders
from riskops.server.assistant.usage import case_costs
from riskops.server.core.errors import ErrorCode
from riskops.server.operations import retention
from riskops.server.triage import case_archive
from riskops.server.triage import models as m
from riskops.server.triage.models import (
    AlertDisposition,
    AlertPriority,
    AlertStatus,
    CaseSeverity,
    CaseStatus,
    RootCause,
)
from riskops.server.triage.queue import AlertCount
from riskops.server.triage.similar import SimilarAlert as SimilarAlertModel


@strawberry.enum(description="The order of the alert queue.")
class AlertSort(Enum):
    SCORE = "score"
    CREATED = "created"
    DUE = "due"
    AMOUNT = strawberry.enum_value(
        "amount",
        description="Largest amount first, within the one currency the filter must name "
        "(amounts are not converted).",
    )
    UPDATED = strawberry.enum_value(
        "updated",
        description="Oldest change first, on (updatedAt, id): the order of incremental sync "
        "(`updatedAfter`), the default when `updatedAfter` is given.",
    )


@strawberry.type(description="A detection rule that fired, with its share of the score.")
class RuleHit:
    rule_id: str
    name: str
    version: str
    score_contribution: float
    matched_values: JSON

    @classmethod
    def of(cls, h: dict[str, Any]) -> RuleHit:
        """From a row of `alert_queue.RULE_HIT_COLUMNS`."""
        return cls(
            rule_id=h["rule_id"], name=h["name"], version=h["version"],
            score_contribution=h["score_contribution"], matched_values=h["matched_values"],
        )  # fmt: skip


@strawberry.type(
    description="A model signal and how much it pushed the risk up or down, in model points."
)
class Signal:
    signal: str
    value: JSON | None
    contribution: float
    direction: str

    @classmethod
    def of(cls, s: dict[str, Any]) -> Signal:
        """From a row of `alert_queue.SIGNAL_COLUMNS`."""
        return cls(
            signal=s["signal"], value=s["value"], contribution=s["contribution"],
            direction=s["direction"].value,
        )  # fmt: skip


# The model enums are the GraphQL enums (registered here, values are their member names).
strawberry.enum(AlertStatus, description="Where an alert is in triage.")
strawberry.enum(AlertPriority, description="Sets the SLA (due time).")
strawberry.enum(AlertDisposition, description="Why an alert was closed.")
strawberry.enum(CaseStatus, description="Where a case is in its life.")
strawberry.enum(CaseSeverity, description="How bad what a case is about is.")
strawberry.enum(RootCause, description="What caused what a case is about.")


def alert_fields(a: m.Alert, loaded: Loaders) -> dict[str, Any]:
    transaction: Any = a.transaction
    user = loaded.users.get(a.assignee_id) if a.assignee_id is not None else None
    return {
        "assignee": UserRef(id=as_id(user.id), name=user.name) if user else None,
        "rule_hits": [RuleHit.of(h) for h in loaded.rule_hits.get(a.id, ())],
        "signals": [Signal.of(s) for s in loaded.signals.get(a.id, ())],
        "id": as_id(a.id),
        "external_id": a.external_id,
        "source": a.source,
        "title": a.title,
        "score": a.score,
        "priority": a.priority,
        "status": a.status,
        "team_id": as_opt_id(a.team_id),
        "customer_ref": a.customer_ref,
        "account_ref": a.account_ref,
        "amount": a.amount,
        "currency": a.currency,
        "transaction": transaction,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "due_at": a.due_at,
        "closed_at": a.closed_at,
        "disposition": a.disposition,
        "version": a.version,
    }


@strawberry.type(
    description="A risk alert. Nested fields are batch-loaded per request (one query per "
    "relation for a whole page, none for a relation not selected)."
)
class Alert:
    id: strawberry.ID
    external_id: str
    source: str
    title: str
    score: float
    priority: AlertPriority
    status: AlertStatus
    team_id: strawberry.ID | None
    customer_ref: str | None
    account_ref: str | None
    amount: Decimal | None
    currency: str | None
    transaction: JSON
    created_at: datetime
    updated_at: datetime
    due_at: datetime = strawberry.field(description="When the SLA of its priority runs out.")
    closed_at: datetime | None
    disposition: AlertDisposition | None
    version: int = strawberry.field(description="Pass as expectedVersion to the workflow.")

    assignee: UserRef | None
    rule_hits: list[RuleHit] = strawberry.field(
        description="The rules that fired, strongest first."
    )
    signals: list[Signal] = strawberry.field(
        description="The risk model's signals, largest contribution first (ties by name). "
        "Contributions are in the risk model's own points, not score points: they rank what "
        "pushed the risk up or down and do not add up to the score (rule hits' score "
        "contributions are in score points)."
    )

    @classmethod
    def of(cls, a: m.Alert, loaded: Loaders) -> Alert:
        """The node, its nested fields taken from what the resolver batch-loaded for the page
        (`Loaders.load_for`); a relation the query did not select is left empty."""
        return cls(**alert_fields(a, loaded))


@strawberry.type
class AlertEdge:
    cursor: str
    node: Alert


@strawberry.type
class AlertConnection:
    edges: list[AlertEdge]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[AlertCount]]]

    @strawberry.field(
        description="How many alerts match the filter (all pages), counted up to 10,000: "
        "beyond that it is 10,000 and `totalCountIsExact` is false. Counted only when asked."
    )
    async def total_count(self) -> int:
        return (await self.count()).count

    @strawberry.field(description="False when there are more than `totalCount` alerts.")
    async def total_count_is_exact(self) -> bool:
        return (await self.count()).exact


@strawberry.input(description="Every field narrows the queue; unset fields do not.")
class AlertFilterInput:
    status: list[AlertStatus] | None = None
    priority: list[AlertPriority] | None = None
    score_min: float | None = None
    score_max: float | None = None
    assignee: str | None = strawberry.field(
        default=None, description='"me", "unassigned" or a user id.'
    )
    team: strawberry.ID | None = None
    rule_id: str | None = None
    amount_min: Decimal | None = strawberry.field(
        default=None, description="In `currency`, which it requires (amounts are not converted)."
    )
    amount_max: Decimal | None = strawberry.field(
        default=None, description="In `currency`, which it requires (amounts are not converted)."
    )
    currency: str | None = strawberry.field(
        default=None,
        description="ISO 4217 code (any case). Required by amountMin, amountMax and the AMOUNT "
        "sort: amounts are compared within one currency, never converted.",
    )
    created_from: datetime | None = None
    created_to: datetime | None = None
    text: str | None = strawberry.field(
        default=None, description="Part of the title, customer or external id."
    )


@strawberry.type
class AlertHistoryEntry:
    action: str
    actor: str = strawberry.field(description="The reference (user:N, token:N, ...).")
    actor_name: str = strawberry.field(
        description='Who, as people read it: a name, "deleted user" or "system".'
    )
    from_status: str | None
    to_status: str | None
    data: JSON
    at: datetime

    @classmethod
    def of(cls, e: m.AlertEvent, names: dict[str, str]) -> AlertHistoryEntry:
        data: Any = e.data
        return cls(
            action=e.action, actor=e.actor, actor_name=names.get(e.actor, "system"),
            from_status=e.from_status, to_status=e.to_status,
            data=data, at=e.at,
        )  # fmt: skip


@strawberry.type
class InfoRequest:
    id: strawberry.ID
    question: str
    asked_by_id: strawberry.ID | None
    answerer_id: strawberry.ID | None
    answer: str | None
    asked_at: datetime
    answered_at: datetime | None

    @classmethod
    def of(cls, r: m.InfoRequest) -> InfoRequest:
        return cls(
            id=as_id(r.id), question=r.question, asked_by_id=as_opt_id(r.asked_by_id),
            answerer_id=as_opt_id(r.answerer_id), answer=r.answer, asked_at=r.asked_at,
            answered_at=r.answered_at,
        )  # fmt: skip


@strawberry.type(
    description="An alert like this one: the same customer, account or merchant, shared rules or "
    "a close signal profile, ranked by `score`."
)
class SimilarAlert:
    id: strawberry.ID
    external_id: str
    title: str
    score: float = strawberry.field(description="The similar alert's own risk score.")
    similarity: float = strawberry.field(
        description="How alike it is: 4 for the same customer, 4 for the same account, 2 for "
        "the same merchant, 3 times the share of this alert's rules it shares, and the signal "
        "similarity (0 to 1). The list is ordered by it, largest first."
    )
    status: AlertStatus
    shared_rules: int
    same_customer: bool
    same_account: bool
    same_merchant: bool
    signal_similarity: float = strawberry.field(
        description="How close its signal profile is, 0 (nothing in common) to 1 (the same)."
    )
    reasons: list[str] = strawberry.field(
        description='Why it is similar, as the page says it: "same customer", "2 shared rules".'
    )

    @classmethod
    def of(cls, s: SimilarAlertModel) -> SimilarAlert:
        a = s.alert
        return cls(
            id=as_id(a.id), external_id=a.external_id, title=a.title, score=a.score,
            similarity=s.score, status=a.status, shared_rules=s.shared_rules,
            same_customer=s.same_customer, same_account=s.same_account,
            same_merchant=s.same_merchant, signal_similarity=s.signal_similarity,
            reasons=s.reasons,
        )  # fmt: skip


@strawberry.type(description="An alert with why it fired, its history, cases and look-alikes.")
class AlertDetail(Alert):
    history: list[AlertHistoryEntry]
    info_requests: list[InfoRequest]
    case_ids: list[strawberry.ID]
    similar: list[SimilarAlert]


# --- ingest ------------------------------------------------------------------------------------


@strawberry.input
class RuleHitInput:
    rule_id: str
    name: str
    score_contribution: float
    version: str | None = None
    matched_values: JSON | None = None


@strawberry.input
class SignalInput:
    signal: str
    contribution: float
    direction: str = strawberry.field(description='"up" or "down".')
    value: JSON | None = None


@strawberry.input(description="One alert to ingest; (organization, externalId) is its identity.")
class AlertInput:
    external_id: str
    source: str
    title: str
    score: float
    priority: AlertPriority
    customer_ref: str | None = None
    account_ref: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    transaction: JSON | None = None
    rule_hits: list[RuleHitInput] | None = None
    signals: list[SignalInput] | None = None


@strawberry.type(description="An invalid item of an ingest call; the valid ones were stored.")
class IngestItemError:
    index: int
    field: str
    code: str
    message: str


@strawberry.type
class IngestAlertsPayload:
    batch_id: str | None = None
    created: int = 0
    unchanged: int = 0
    invalid: int = 0
    created_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    item_errors: list[IngestItemError] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


# --- bulk actions ------------------------------------------------------------------------------


@strawberry.input(description="One alert of a bulk action, with the version you loaded.")
class BulkAlertItem:
    alert_id: strawberry.ID
    expected_version: int


@strawberry.type(
    description="Why one item of a bulk action failed: its index, the alert as it was given "
    "(alertId) and, when it was found, its externalId; the message names it too."
)
class BulkItemError:
    index: int
    field: str | None
    code: ErrorCode
    message: str
    alert_id: strawberry.ID | None = None
    external_id: str | None = strawberry.field(
        default=None,
        description="Null when the alert was not found (or is another "
        "organization's, which reads the same).",
    )


@strawberry.type(
    description="A bulk action changes every alert or none: with itemErrors, nothing changed."
)
class BulkAlertsPayload:
    alerts: list[Alert] = strawberry.field(default_factory=list)
    replayed: bool = strawberry.field(
        default=False, description="True when the idempotency key repeated an earlier request."
    )
    item_errors: list[BulkItemError] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


# --- cases -------------------------------------------------------------------------------------


@strawberry.type
class CaseNote:
    id: strawberry.ID
    author_id: strawberry.ID | None
    body: str
    created_at: datetime
    from_response_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The assistant response whose draft the note began as (kept after the "
        "response is removed by retention: see fromResponseRemoved).",
    )

    @strawberry.field(
        description="True when the note began as a draft of an assistant answer since removed "
        "(by the retention policy): fromResponseId then names nothing you can open."
    )
    async def from_response_removed(self, info: Info) -> bool:
        if self.from_response_id is None:
            return False
        if self.removed is not None:  # known already: the case's notes asked for it at once
            return self.removed
        rid = int(self.from_response_id)
        return rid in await retention.removed_responses(principal(info), [rid])

    # Whether the answer is gone, when the case resolver read it for all its notes in one query
    # (`retention.removed_responses`, as the page does); None: asked per note.
    removed: strawberry.Private[bool | None] = None

    @classmethod
    def of(cls, n: m.CaseNote, removed: set[int] | None = None) -> CaseNote:
        return cls(
            id=as_id(n.id), author_id=as_opt_id(n.author_id), body=n.body, created_at=n.created_at,
            from_response_id=as_opt_id(n.from_response_id),
            removed=None if removed is None else n.from_response_id in removed,
        )  # fmt: skip


def _case_fields(c: m.Case) -> dict[str, Any]:
    return {
        "id": as_id(c.id),
        "number": c.display_number,
        "title": c.title,
        "status": c.status,
        "severity": c.severity,
        "root_cause": c.root_cause,
        "assignee_id": as_opt_id(c.assignee_id),
        "opened_by_id": as_opt_id(c.opened_by_id),
        "opened_at": c.opened_at,
        "updated_at": c.updated_at,
        "resolved_at": c.resolved_at,
        "resolution_summary": c.resolution_summary,
        "requested_by_id": as_opt_id(c.requested_by_id),
        "approved_by_id": as_opt_id(c.approved_by_id),
        "archived_at": c.archived_at,
        "version": c.version,
    }


@strawberry.type
class Case:
    id: strawberry.ID
    number: str = strawberry.field(description="Like CASE-000123.")
    title: str
    status: CaseStatus
    severity: CaseSeverity
    root_cause: RootCause | None
    assignee_id: strawberry.ID | None
    opened_by_id: strawberry.ID | None
    opened_at: datetime
    updated_at: datetime = strawberry.field(
        description="When the case last changed (status, fields, notes, alert links): what "
        "`cases(updatedAfter:)` compares."
    )
    resolved_at: datetime | None
    resolution_summary: str | None
    requested_by_id: strawberry.ID | None
    approved_by_id: strawberry.ID | None
    archived_at: datetime | None = strawberry.field(
        description="When it was archived: hidden from the default lists, read-only until "
        "unarchived. Null: not archived."
    )
    version: int = strawberry.field(description="Pass as expectedVersion to change it.")

    @strawberry.field(
        description="What the assistant's answers about this case and its alerts cost, in USD "
        "(the trail alert -> case -> LLM call -> cost)."
    )
    async def assistant_cost(self, info: Info) -> Decimal:
        # The node was read in the caller's organization: one query for its cost (the SQL
        # counts the organization's responses only).
        costs = await query(case_costs(principal(info), [int(self.id)]))
        return costs.get(int(self.id), Decimal(0))

    @strawberry.field(
        description="The case's response target and acknowledgement; batch-loaded for every "
        "case of the request."
    )
    async def response_clock(self, info: Info) -> ResponseClock | None:
        return await clock_of(info, "case", self.id)

    @strawberry.field(description="The incident record of a Sev0/Sev1 case (null for others).")
    async def incident(self, info: Info) -> Incident | None:
        return await incident_of(info, self.id)

    @strawberry.field(
        description="Whether you may archive it now (archiveCase): you work cases and it is "
        "resolved or closed, not archived yet. The case page shows its Archive button by it."
    )
    def can_archive(self, info: Info) -> bool:
        return case_archive.can_archive(principal(info), self)

    @strawberry.field(
        description="Whether you may unarchive it now (unarchiveCase): you work cases and it "
        "is archived."
    )
    def can_unarchive(self, info: Info) -> bool:
        return case_archive.can_unarchive(principal(info), self)

    @classmethod
    def of(cls, c: m.Case) -> Case:
        return cls(**_case_fields(c))


@strawberry.type(
    description="Whether you may resolve the case without an approver now (resolveCase), and "
    "why or why not, by the versioned policy's operator_resolve_from_sev."
)
class ResolveAlone:
    allowed: bool
    reason: str
    policy_number: int


@strawberry.type
class CaseDetail(Case):
    alert_ids: list[strawberry.ID]
    notes: list[CaseNote]
    run_ids: list[str] = strawberry.field(
        default_factory=list,
        description="The run ids (RUN-…) of its runs, as the pages show them (Related_Run_IDs); "
        "empty without run.read.",
    )
    resolve_alone: ResolveAlone | None = strawberry.field(
        default=None,
        description="Null unless the case is open or investigating and you work cases.",
    )

    @classmethod
    def detail(
        cls,
        c: m.Case,
        alert_ids: list[int],
        notes: list[m.CaseNote],
        run_ids: list[str] | None = None,
        alone: ResolveAlone | None = None,
        removed: set[int] | None = None,
    ) -> CaseDetail:
        return cls(
            **_case_fields(c),
            alert_ids=[as_id(a) for a in alert_ids],
            notes=[CaseNote.of(n, removed) for n in notes],
            run_ids=run_ids or [],
            resolve_alone=alone,
        )


@strawberry.type
class CaseEdge:
    cursor: str
    node: Case


@strawberry.type
class CaseConnection:
    edges: list[CaseEdge]
    page_info: PageInfo
