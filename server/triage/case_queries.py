"""Reading cases: one case with its notes, linked alerts and history (an audited data access), and
the list with its filters, newest first."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from riskops.server.core import approvals, validation
from riskops.server.core.approvals import Decision
from riskops.server.core.audit_trail import access
from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, scoped
from riskops.server.triage.case_resolution import ResolveAlone, resolve_alone
from riskops.server.triage.cases import (
    MAX_PAGE,
    WORKING,
    CaseActions,
    case_actions,
    parse_choice,
    parse_user_id,
)
from riskops.server.triage.models import (
    Alert,
    Case,
    CaseEvent,
    CaseNote,
    CaseSeverity,
    CaseStatus,
)


@dataclass(frozen=True)
class CasePage:
    items: list[Case]
    end_cursor: str | None
    has_next_page: bool


async def get_case(principal: Principal, case_id: str | int) -> Case:
    """One case of the caller's organization; viewing it writes a data-access audit event."""
    principal.require(Perm.CASE_READ)
    case = await get_scoped(Case, principal, case_id, "Case")
    await access(principal, "case.view", "case", case.id)
    return case


@dataclass(frozen=True)
class CaseDetail:
    case: Case
    notes: list[CaseNote]
    alerts: list[Alert]  # linked alerts, highest score first
    history: list[CaseEvent]
    # The resolution waiting for an approver, as this caller sees it (None: none is pending).
    resolution: Decision | None = None
    actions: CaseActions | None = None  # what this caller may do on it now
    # Whether this caller may resolve it without an approver now, and why (not); None when the
    # question does not arise (not under work, or the caller does not work cases).
    resolve_alone: ResolveAlone | None = None


async def get_case_detail(principal: Principal, case_id: str | int) -> CaseDetail:
    """The case with its notes, linked alerts and history (one `case.view` event)."""
    case = await get_case(principal, case_id)
    notes = await CaseNote.filter(case_id=case.id).order_by("created_at", "id")
    alerts = (
        await scoped(Alert, principal).filter(case_links__case_id=case.id).order_by("-score", "id")
    )
    history = await scoped(CaseEvent, principal).filter(case_id=case.id).order_by("at", "id")
    resolution = (
        approvals.decision_for(principal, Perm.CASE_APPROVE, case.requested_by_id)
        if case.status is CaseStatus.PENDING_APPROVAL
        else None
    )
    alone = (
        await resolve_alone(principal, case)
        if principal.can(Perm.CASE_WORK) and case.status in WORKING and case.archived_at is None
        else None
    )
    return CaseDetail(
        case,
        list(notes),
        list(alerts),
        list(history),
        resolution,
        case_actions(principal, case),
        alone,
    )


_NUMBER_RE = re.compile(r"(?:case-)?0*(\d{1,9})", re.IGNORECASE)


async def list_cases(
    principal: Principal,
    *,
    status: str | CaseStatus | None = None,
    severity: str | CaseSeverity | None = None,
    assignee_id: str | int | None = None,
    text: str | None = None,
    first: int = 50,
    after: str | None = None,
    updated_after: datetime | None = None,
    archived: bool | None = None,
) -> CasePage:
    """Cases newest first, keyset-paged by id: `after` is the `end_cursor` of the page before.
    `text` matches part of the title, or a case number (`CASE-000123`, `123`).
    `archived`: True only archived cases, False only the others; None (the default) hides
    archived cases, except in a sync, which returns every changed case (archiving is a change).
    `updated_after` (incremental sync): only cases changed after it, oldest change first,
    keyset-paged on (updated_at, id) with cursors of their own (`case_cursor`)."""
    principal.require(Perm.CASE_READ)
    since = validation.updated_after(updated_after)
    wanted = parse_choice(CaseStatus, status, "status")
    wanted_severity = parse_choice(CaseSeverity, severity, "severity")
    assignee = parse_user_id(assignee_id) if assignee_id not in (None, "") else None
    if text is not None:
        text = validation.text(text, "text", max_len=200, required=False) or None
    validation.page_size(first, MAX_PAGE)
    if archived is not None and not isinstance(archived, bool):
        raise Invalid("archived must be true or false.", field="archived")
    query = scoped(Case, principal)
    if archived is True:
        query = query.filter(archived_at__isnull=False)
    elif archived is False or since is None:
        query = query.filter(archived_at=None)
    if wanted is not None:
        query = query.filter(status=wanted)
    if wanted_severity is not None:
        query = query.filter(severity=wanted_severity)
    if assignee is not None:
        query = query.filter(assignee_id=assignee)
    if text:
        number = _NUMBER_RE.fullmatch(text)
        title = Q(title__icontains=text)
        query = query.filter(title | Q(number=int(number.group(1))) if number else title)
    if since is not None:
        return await _changed_cases(query.filter(updated_at__gt=since), first, after)
    if after is not None and after != "":
        try:
            cursor = int(after)
        except (TypeError, ValueError):
            cursor = 0
        if cursor <= 0 or cursor > 2**31 - 1:
            raise Invalid("after is not a cursor of this list; start from the first page.",
                          field="after")  # fmt: skip
        query = query.filter(id__lt=cursor)
    rows = await query.order_by("-id").limit(first + 1)
    items = rows[:first]
    more = len(rows) > first
    return CasePage(items, str(items[-1].id) if items and more else None, more)


# --- incremental sync --------------------------------------------------------------------------

_SYNC = "casesync"


def case_cursor(case: Case, *, sync: bool = False) -> str:
    """The cursor of a case in the list: its id, or in a sync (`updated_after`) its
    (updated_at, id)."""
    if not sync:
        return str(case.id)
    raw = f"{_SYNC}:{case.updated_at.astimezone(UTC).isoformat()}|{case.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _sync_position(cursor: str) -> tuple[datetime, int]:
    try:
        kind, _, rest = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        at, _, pk = rest.rpartition("|")
        when, ident = datetime.fromisoformat(at), int(pk)
        if kind != _SYNC or when.tzinfo is None or not 1 <= ident <= 2**31 - 1:
            raise ValueError(cursor)
        return when, ident
    except (ValueError, UnicodeError, binascii.Error):
        raise Invalid(
            "after is not a cursor of this list with updatedAfter; pass the endCursor of the "
            "previous page of the same sync.",
            field="after",
        ) from None


async def _changed_cases(query: QuerySet[Case], first: int, after: str | None) -> CasePage:
    if after:
        at, pk = _sync_position(after)
        query = query.filter(
            Q(updated_at__gte=at) & (Q(updated_at__gt=at) | Q(updated_at=at, id__gt=pk))
        )
    rows = await query.order_by("updated_at", "id").limit(first + 1)
    items, more = rows[:first], len(rows) > first
    return CasePage(items, case_cursor(items[-1], sync=True) if items else None, more)
