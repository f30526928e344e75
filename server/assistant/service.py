"""Asking the assistant and reading its answers: the one service both faces and the CLI call.

A request checks permission first (`assistant.use` on alerts and cases, `assistant.runs` on
runs, and the target's own read permission), finds the target in the caller's organization
(another organization's id reads as not found), writes the response row and its
`assistant.request` audit event in one transaction, and after commit enqueues the
`assistant.respond` job. When the assistant is off, the row is written `unavailable` with the
reason at once and no job is queued.

Idempotency keys are the organization's one key space (`core.idempotency`): a key already used
by another request (of the assistant or any other action) is DUPLICATE, naming what it was used
for; the same request again replays its first response.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.jobs import runner
from riskops.server.assistant import availability as availability_mod
from riskops.server.assistant import grounding
from riskops.server.assistant.availability import Availability
from riskops.server.assistant.grounding import Structured
from riskops.server.assistant.models import (
    FINISHED,
    AssistantResponse,
    ResponseKind,
    ResponseStatus,
    TargetType,
)
from riskops.server.assistant.targets import (
    ASK_PERM,
    EXPLAINED_SEVERITIES,
    KIND_A,
    PANEL_KIND,
    READ_PERM,
    TARGETS,
    Target,
    check_pair,
    check_run,
    find_target,
    parse_kind,
    parse_target_type,
    require_may_ask,
)
from riskops.server.core import validation
from riskops.server.core.audit_trail import access, record
from riskops.server.core.errors import Conflict, Invalid
from riskops.server.core.formatting import case_ref
from riskops.server.core.idempotency import (
    key_race,
    parse_idempotency_key,
    remember_key,
    used_idempotency_key,
)
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, lock_scoped, parse_id, scoped
from riskops.server.credit.models import Run
from riskops.server.observability import ASSISTANT_ERRORS
from riskops.server.triage import cases
from riskops.server.triage.models import Alert, Case, CaseNote, CaseStatus

log = logging.getLogger("riskops.assistant")

MAX_COMMENT = 2000
MAX_NOTE = cases.MAX_NOTE  # a saved draft is a case note: triage's limit
MAX_PAGE = 100
K = ResponseKind
T = TargetType
QUEUE_DOWN = "The assistant is unavailable: the job queue cannot be reached; try again shortly."


@dataclass(frozen=True)
class RequestResult:
    response: AssistantResponse
    job_id: UUID | None  # None when the assistant was off (the response is unavailable)
    replayed: bool = False  # the same idempotency key again, or a pending request returned


@dataclass(frozen=True)
class Panel:
    """The assistant panel of one alert, case or run, as the caller may use it."""

    target_type: TargetType
    target_id: int
    availability: Availability
    kinds: list[ResponseKind]  # the buttons: the kinds this caller may ask for on this target
    latest: dict[ResponseKind, AssistantResponse]  # the newest response of each kind
    structured: Structured  # shown whenever the assistant is unavailable
    can_rate: bool = False
    can_save_note: bool = False  # an escalation draft may become a case note
    note_cases: list[tuple[int, str]] = field(default_factory=list)  # (case id, CASE-000004)


def _comment(raw: Any) -> str | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise Invalid("Comment must be text.", field="comment")
    return validation.long_text(raw, "comment", max_len=MAX_COMMENT)


async def _may_read_target(principal: Principal, response: AssistantResponse) -> None:
    principal.require(READ_PERM[response.target_type])


# --- asking ------------------------------------------------------------------------------------


async def request_response(
    principal: Principal,
    kind: ResponseKind | str,
    target_type: TargetType | str,
    target_id: str | int,
    *,
    idempotency_key: str | None = None,
) -> RequestResult:
    """Ask for one answer. The same key again returns the first request; a pending request of
    the same kind on the same target by the same person is returned instead of a second one."""
    require_may_ask(principal, kind)
    k = parse_kind(kind)
    principal.require(ASK_PERM[k])
    t = parse_target_type(target_type)
    check_pair(k, t)
    principal.require(READ_PERM[t])
    key = parse_idempotency_key(idempotency_key)
    target = await find_target(principal, t, target_id)
    if k is K.EXPLAIN_RUN:
        check_run(target)
    state = await availability_mod.availability(principal.org_id)
    with key_race(key):
        response, created = await _request_in_transaction(principal, k, target, key, state)
    if not created:
        return RequestResult(response, response.job_id, replayed=True)
    if response.status is not ResponseStatus.PENDING:
        ASSISTANT_ERRORS.labels(model="none", kind=k.value, outcome=response.status.value).inc()
        return RequestResult(response, None)
    return await _enqueue(principal, response)


async def _request_in_transaction(
    principal: Principal,
    kind: ResponseKind,
    target: Target,
    key: str | None,
    state: Availability,
) -> tuple[AssistantResponse, bool]:
    now = datetime.now(UTC)
    entity = f"{target.type.value}:{target.id}"
    async with in_transaction() as conn:
        if key is not None:
            used = await used_idempotency_key(principal, conn, key, kind.value, entity)
            if used is not None:
                return await _replayed(principal, conn, kind, target, key), False
        pending = await _pending(principal, conn, kind, target)
        if pending is not None:
            if key is not None:
                await remember_key(
                    principal, conn, key, kind.value, entity, now, entity=target.label
                )
            return pending, False
        status = ResponseStatus.PENDING if state.on else ResponseStatus.UNAVAILABLE
        response = await AssistantResponse.create(
            org_id=principal.org_id, kind=kind, target_type=target.type, target_id=target.id,
            requested_by_id=principal.user_id or None, status=status,
            reason=None if state.on else state.reason, idempotency_key=key, created_at=now,
            finished_at=None if state.on else now, using_db=conn,
        )  # fmt: skip
        if key is not None:
            await remember_key(principal, conn, key, kind.value, entity, now, entity=target.label)
        await record(
            principal, conn, "assistant.request", "assistant_response", response.id,
            new={"kind": kind.value, "target_type": target.type.value,
                 "target_id": target.id, "status": status.value,
                 **({} if state.on else {"reason": state.reason})},
        )  # fmt: skip
    return response, True


async def _pending(
    principal: Principal, conn: BaseDBAsyncClient, kind: ResponseKind, target: Target
) -> AssistantResponse | None:
    return (
        await scoped(AssistantResponse, principal)
        .filter(
            kind=kind,
            target_type=target.type,
            target_id=target.id,
            requested_by_id=principal.user_id,
            status=ResponseStatus.PENDING,
        )
        .using_db(conn)
        .order_by("-created_at", "-id")
        .first()
    )


async def _replayed(
    principal: Principal, conn: BaseDBAsyncClient, kind: ResponseKind, target: Target, key: str
) -> AssistantResponse:
    """The response the key first asked for: the one it created, or (when it met a pending
    request of the same person) that person's latest of this kind on this target."""
    q = scoped(AssistantResponse, principal).using_db(conn)
    first = await q.filter(idempotency_key=key).first()
    if first is None:
        first = (
            await q.filter(
                kind=kind,
                target_type=target.type,
                target_id=target.id,
                requested_by_id=principal.user_id,
            )
            .order_by("-created_at", "-id")
            .first()
        )
    if first is None:  # the key's request left no response (it cannot: they commit together)
        raise Conflict(
            f"Idempotency key '{key}' was used for a request that has no answer; use a new key.",
            field="idempotency_key",
        )
    return first


async def _enqueue(principal: Principal, response: AssistantResponse) -> RequestResult:
    """After commit: queue the job and note its id; a queue that cannot be reached finishes the
    response unavailable rather than leave it pending forever."""
    try:
        job = await runner.enqueue(
            "assistant.respond", org_id=principal.org_id,
            payload={"response_id": response.id, "org_id": principal.org_id},
            dedupe_key=f"assistant.respond:{response.id}",
        )  # fmt: skip
    except Exception as exc:
        log.warning("assistant response %s: the job queue cannot be reached: %s", response.id, exc)
        return RequestResult(await _queue_down(principal, response, exc), None)
    await scoped(AssistantResponse, principal).filter(id=response.id).update(job_id=job.id)
    response.job_id = job.id
    return RequestResult(response, job.id)


async def _queue_down(
    principal: Principal, response: AssistantResponse, exc: Exception
) -> AssistantResponse:
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        done = await (
            scoped(AssistantResponse, principal)
            .filter(id=response.id, status=ResponseStatus.PENDING)
            .using_db(conn)
            .update(
                status=ResponseStatus.UNAVAILABLE,
                reason=QUEUE_DOWN,
                error=f"{type(exc).__name__}: {exc}"[:2000],
                finished_at=now,
            )
        )
        if done:
            await record(
                principal, conn, "assistant.call", "assistant_response", response.id,
                new={"kind": response.kind.value, "target_type": response.target_type.value,
                     "target_id": response.target_id, "outcome": "unavailable",
                     "reason": QUEUE_DOWN, "model": None, "tokens_in": 0, "tokens_out": 0,
                     "cost": "0", "prompt_hash": None},
            )  # fmt: skip
    if done:
        ASSISTANT_ERRORS.labels(model="none", kind=response.kind.value, outcome="unavailable").inc()
    return await scoped(AssistantResponse, principal).get(id=response.id)


# --- reading -----------------------------------------------------------------------------------


async def get_response(principal: Principal, response_id: str | int) -> AssistantResponse:
    """One stored answer (`assistant.read` and the read permission of what it is about). Reading
    a finished one writes an `assistant.view` data-access event; a pending one shows only that
    it is pending (the panel polls it every second), so it is not audited."""
    principal.require(Perm.ASSISTANT_READ)
    response = await get_scoped(AssistantResponse, principal, response_id, "Assistant response")
    await _may_read_target(principal, response)
    if response.status in FINISHED:
        await access(
            principal, "assistant.view", "assistant_response", response.id,
            detail={"target_type": response.target_type.value, "target_id": response.target_id},
        )  # fmt: skip
    return response


async def list_responses(
    principal: Principal, target_type: TargetType | str, target_id: str | int, first: int = 20
) -> list[AssistantResponse]:
    """The target's responses, newest first."""
    principal.require(Perm.ASSISTANT_READ)
    t = parse_target_type(target_type)
    size = validation.page_size(first, MAX_PAGE)
    target = await find_target(principal, t, target_id)
    return list(
        await scoped(AssistantResponse, principal)
        .filter(target_type=t, target_id=target.id)
        .order_by("-created_at", "-id")
        .limit(size)
    )


# --- feedback ----------------------------------------------------------------------------------


def may_rate(principal: Principal, kind: ResponseKind) -> bool:
    return principal.can(ASK_PERM[kind]) and principal.can(Perm.ASSISTANT_READ)


async def rate_response(
    principal: Principal,
    response_id: str | int,
    helpful: bool | None,
    comment: str | None = None,
) -> AssistantResponse:
    """Feedback on a finished answer (helpful or not, with an optional comment); audited. Rating
    again replaces the rating."""
    require_may_ask(principal)
    if not isinstance(helpful, bool):
        raise Invalid("Choose Helpful or Not helpful.", field="helpful")
    text = _comment(comment)
    pk = parse_id("Assistant response", response_id)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        response = await lock_scoped(AssistantResponse, principal, conn, pk, "Assistant response")
        principal.require(ASK_PERM[response.kind])
        await _may_read_target(principal, response)
        if response.status not in FINISHED:
            raise Conflict(
                f"Assistant response {response.id} is still being answered; rate it once the "
                "answer is there.",
                current_status=response.status.value,
            )
        old = {"helpful": response.helpful}
        await (
            scoped(AssistantResponse, principal)
            .filter(id=response.id)
            .using_db(conn)
            .update(
                helpful=helpful,
                feedback_comment=text,
                feedback_by_id=principal.user_id or None,
                feedback_at=now,
            )
        )
        # The comment is free text: it stays in the response row, out of the audit chain.
        await record(
            principal, conn, "assistant.feedback", "assistant_response", response.id,
            old=old, new={"helpful": helpful, "comment": text is not None},
        )  # fmt: skip
    return await scoped(AssistantResponse, principal).get(id=pk)


# --- a draft becomes a case note ---------------------------------------------------------------


async def save_draft_as_note(
    principal: Principal, response_id: str | int, body: str, case_id: str | int | None = None
) -> CaseNote:
    """Save an (edited) escalation draft as a note of its case, or of `case_id` among the cases
    of its alert; the note records the response it began as."""
    principal.require(Perm.ASSISTANT_USE)
    principal.require(Perm.CASE_WORK)
    text = validation.long_text(body, "body", max_len=MAX_NOTE)
    response = await get_scoped(AssistantResponse, principal, response_id, "Assistant response")
    await _may_read_target(principal, response)
    if response.kind is not K.ESCALATION_DRAFT:
        raise Invalid(
            f"Assistant response {response.id} is {KIND_A[response.kind]}; only an "
            "escalation draft can be saved as a case note.",
            field="response_id",
        )
    if response.status is not ResponseStatus.SUCCEEDED:
        raise Conflict(_not_a_draft_yet(response), current_status=response.status.value)
    case = await _note_case(principal, response, case_id)
    return await cases.add_case_note(principal, case, text, from_response=response.id)


def _not_a_draft_yet(response: AssistantResponse) -> str:
    if response.status is ResponseStatus.PENDING:
        return (
            f"Assistant response {response.id} is still being answered; save it once the draft "
            "is there."
        )
    ended = "failed" if response.status is ResponseStatus.FAILED else "was unavailable"
    return (
        f"Assistant response {response.id} {ended}; it has no draft to save. Ask for a new "
        "escalation draft."
    )


async def _note_case(
    principal: Principal, response: AssistantResponse, case_id: str | int | None
) -> int:
    """The case a draft is saved to: its own case, or `case_id` among its alert's cases (the
    alert's one case when `case_id` is not given)."""
    given = None
    if case_id is not None and str(case_id).strip() != "":
        given = parse_id("Case", case_id)
    if response.target_type is T.CASE:
        if given is not None and given != response.target_id:
            await get_scoped(Case, principal, given, "Case")  # another org's: not found
            raise Invalid(
                "This draft was written for another case; it can be saved only to that case.",
                field="case_id",
            )
        return (await get_scoped(Case, principal, response.target_id, "Case")).id
    alert = await get_scoped(Alert, principal, response.target_id, "Alert")
    linked = await _alert_cases(principal, alert.id)
    if given is not None:
        if given not in linked:
            await get_scoped(Case, principal, given, "Case")  # another org's: not found
            raise Invalid(
                f"That case is not one of the cases of alert {alert.external_id}; choose one of "
                f"{', '.join(linked.values()) or 'its cases'}.",
                field="case_id",
            )
        return given
    if not linked:
        raise Invalid(
            f"Alert {alert.external_id} is in no case: open a case from the alert first.",
            field="case_id",
        )
    if len(linked) > 1:
        raise Invalid(
            f"Alert {alert.external_id} is in {len(linked)} cases; choose one of "
            f"{', '.join(linked.values())}.",
            field="case_id",
        )
    return next(iter(linked))


async def _alert_cases(principal: Principal, alert_id: int) -> dict[int, str]:
    """The cases of one alert of the caller's organization, oldest first: id -> CASE-000004."""
    rows = (
        await scoped(Case, principal)
        .filter(alert_links__alert_id=alert_id)
        .order_by("number")
        .values_list("id", "number", "status")
    )
    return {int(i): case_ref(n) for i, n, _ in rows}


async def _open_cases(principal: Principal, target: Target) -> list[tuple[int, str]]:
    """Where a draft of this target may be saved: its case, or its alert's cases, not closed."""
    if isinstance(target.row, Case):
        return (
            []
            if target.row.status is CaseStatus.CLOSED
            else [(target.id, target.row.display_number)]
        )
    rows = (
        await scoped(Case, principal)
        .filter(alert_links__alert_id=target.id)
        .exclude(status=CaseStatus.CLOSED)
        .order_by("number")
        .values_list("id", "number")
    )
    return [(int(i), case_ref(n)) for i, n in rows]


# --- the panel ---------------------------------------------------------------------------------


async def panel(principal: Principal, target_type: TargetType | str, target_id: str | int) -> Panel:
    """What the assistant panel of an alert, case or run shows this caller: whether the
    assistant is on (and why not), the buttons, the newest answer of each kind, the structured
    explanation, and whether the caller may rate answers and save a draft as a case note."""
    principal.require(Perm.ASSISTANT_READ)
    t = parse_target_type(target_type)
    target = await find_target(principal, t, target_id)
    kinds = [k for k in ResponseKind if t in TARGETS[k] and principal.can(ASK_PERM[k])]
    if isinstance(target.row, Run) and target.row.severity not in EXPLAINED_SEVERITIES:
        kinds = []  # no button: the assistant explains SEV0 to SEV2 runs only
    latest: dict[ResponseKind, AssistantResponse] = {}
    for kind in (k for k in ResponseKind if t in TARGETS[k]):  # one indexed read per kind
        newest = (
            await scoped(AssistantResponse, principal)
            .filter(target_type=t, target_id=target.id, kind=kind)
            .order_by("-created_at", "-id")
            .first()
        )
        if newest is not None:
            latest[kind] = newest
    may_note = (
        t is not T.RUN and principal.can(Perm.ASSISTANT_USE) and principal.can(Perm.CASE_WORK)
    )
    return Panel(
        target_type=t,
        target_id=target.id,
        availability=await availability_mod.availability(principal.org_id),
        kinds=kinds,
        latest=latest,
        structured=await grounding.structured(principal.org_id, PANEL_KIND[t], t, target.id),
        can_rate=any(may_rate(principal, k) for k in ResponseKind if t in TARGETS[k]),
        can_save_note=may_note,
        note_cases=await _open_cases(principal, target) if may_note else [],
    )


async def status(principal: Principal) -> Availability:
    """Whether the assistant is on for the caller's organization, and its budget spent today
    (`assistant.read`, or `assistant.usage` for those who watch its cost)."""
    if not principal.can(Perm.ASSISTANT_USAGE):
        principal.require(Perm.ASSISTANT_READ)
    return await availability_mod.availability(principal.org_id)
