"""Asking the assistant and reading its answers: the one service both faces and the CLI call.

A request checks permission first (`assistant.use` on alerts and cases, `assistant.runs` on
runs, and the target's own read permission), finds the target in the caller's organization
(another organization's id reads as not found), writes the response row and its
`assistant.request` audit event in one transaction, and after commit enqueues the
`assistant.respond` job. When the assistant is off, the row is written `unavailable` with the
reason at once and no job is queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from riskops.server.assistant.availability import Availability
from riskops.server.assistant.grounding import Structured
from riskops.server.assistant.models import AssistantResponse, ResponseKind, TargetType
from riskops.server.core.principal import Principal
from riskops.server.triage.models import CaseNote

MAX_COMMENT = 2000
MAX_NOTE = 20_000  # the case note limit of triage


@dataclass(frozen=True)
class RequestResult:
    response: AssistantResponse
    job_id: UUID | None  # None when the assistant was off (the response is unavailable)


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
    raise NotImplementedError  # issue 13: h/api


async def get_response(principal: Principal, response_id: str | int) -> AssistantResponse:
    raise NotImplementedError  # issue 13: h/api


async def list_responses(
    principal: Principal, target_type: TargetType | str, target_id: str | int, first: int = 20
) -> list[AssistantResponse]:
    """The target's responses, newest first."""
    raise NotImplementedError  # issue 13: h/api


async def rate_response(
    principal: Principal, response_id: str | int, helpful: bool, comment: str | None = None
) -> AssistantResponse:
    """Feedback on a finished answer (helpful or not, with an optional comment); audited."""
    raise NotImplementedError  # issue 13: h/api


async def save_draft_as_note(
    principal: Principal, response_id: str | int, body: str, case_id: str | int | None = None
) -> CaseNote:
    """Save an (edited) escalation draft as a note of its case, or of `case_id` among the cases
    of its alert; the note records the response it began as."""
    raise NotImplementedError  # issue 13: h/api


async def panel(principal: Principal, target_type: TargetType | str, target_id: str | int) -> Panel:
    raise NotImplementedError  # issue 13: h/api
