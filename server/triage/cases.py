"""Cases: group alerts, take notes, change fields and status. Opening one is
`riskops.server.triage.case_create`, the maker-checker resolution is
`riskops.server.triage.case_resolution`, reads are `riskops.server.triage.case_queries`.

    open ⇄ investigating ─request_resolution→ pending_approval ─approve→ resolved ─update→ closed
                 ↑                                  │
                 └──────────────reject──────────────┘

Every change follows the pattern of `alerts.py`: authorize → check the input → load scoped
(another organization's id is NotFound) → idempotency (where a client may retry) → expected
version (stale is Conflict carrying the current status and version) → one transaction
{ case, history row, idempotency key, audit event }.

Free text (titles, notes, summaries, reasons) stays in the case and its history, which can be
redacted; the audit chain, which cannot, gets only structured values (ids, statuses, enums).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.server.core import validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict, Invalid
from riskops.server.core.idempotency import (
    key_race,
    parse_idempotency_key,
    remember_key,
    used_idempotency_key,
)
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import lock_scoped, parse_id, scoped
from riskops.server.core.versioning import check_version, parse_version, write_versioned
from riskops.server.identity import users
from riskops.server.identity.models import User
from riskops.server.response import clocks
from riskops.server.triage import case_alerts
from riskops.server.triage.alerts import member
from riskops.server.triage.models import (
    Alert,
    Case,
    CaseAlert,
    CaseEvent,
    CaseNote,
    CaseSeverity,
    CaseStatus,
    RootCause,
)

MAX_TITLE = 300
MAX_NOTE = 10_000
MAX_SUMMARY = 4000
MAX_REASON = 1000
MAX_PAGE = 200

S = CaseStatus

# The status changes `update_case` may make; pending_approval and resolved have their own actions.
UPDATE_TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    S.OPEN: frozenset({S.INVESTIGATING}),
    S.INVESTIGATING: frozenset({S.OPEN}),
    S.PENDING_APPROVAL: frozenset(),
    S.RESOLVED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}
WORKING = frozenset({S.OPEN, S.INVESTIGATING})  # where fields, links and requests may change

_FREE_TEXT = frozenset({"summary", "reason"})

E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True)
class CaseResult:
    case: Case
    replayed: bool = False  # True when an idempotency key repeated an earlier, identical request


@dataclass(frozen=True)
class CaseActions:
    """What one caller may do on a case now: the forms its page shows, by the same rules the
    changes enforce."""

    change_fields: bool  # fields, alert links and the resolution request (open, investigating)
    next_statuses: list[str]  # the statuses an update may move it to
    add_note: bool  # notes until the case is closed


def notes_open(status: CaseStatus) -> bool:
    return status is not CaseStatus.CLOSED


def case_actions(principal: Principal, case: Case) -> CaseActions:
    if not principal.can(Perm.CASE_WORK) or case.archived_at is not None:  # archived: read-only
        return CaseActions(change_fields=False, next_statuses=[], add_note=False)
    return CaseActions(
        change_fields=case.status in WORKING,
        next_statuses=sorted(s.value for s in UPDATE_TRANSITIONS[case.status]),
        add_note=notes_open(case.status),
    )


# Who may be a case's assignee: someone who may work cases (the picker offers exactly them).
ASSIGNEE = (Perm.CASE_WORK, "allowed to work cases")


def eligible_assignees(people: Iterable[User], *, active: bool = True) -> list[User]:
    """The people of `people` who may be assigned a case: the active ones (the assignee picker),
    or also the suspended ones (`active=False`: filtering cases by whom they are assigned to)."""
    return users.holding(people, ASSIGNEE[0], active=active)


# --- input checks ------------------------------------------------------------------------------


def parse_choice(enum: type[E], raw: Any, name: str, *, required: bool = False) -> E | None:
    choices = validation.choices(enum)
    what = validation.label(name)
    if raw is None or raw == "":
        if required:
            raise Invalid(f"{what} is required; choose one of {choices}.", field=name)
        return None
    try:
        return enum(str(raw).strip().lower())
    except ValueError:
        raise Invalid(f"{what} '{raw}' is unknown; choose one of {choices}.", field=name) from None


def parse_text(raw: Any, name: str, max_len: int) -> str:
    if raw is not None and not isinstance(raw, str):
        raise Invalid(f"{validation.label(name)} must be text.", field=name)
    return validation.text(raw, name, max_len=max_len)


def parse_long_text(raw: Any, name: str, max_len: int) -> str:
    return validation.long_text(raw, name, max_len=max_len)


def parse_user_id(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(raw) if not isinstance(raw, bool) else 0
    except (TypeError, ValueError):
        value = 0
    if value <= 0 or value > 2**31 - 1:
        raise Invalid(f"Assignee: choose a person from the list, not {raw!r}.", field="assignee_id")
    return value


# --- transaction parts -------------------------------------------------------------------------


async def lock_case(principal: Principal, conn: BaseDBAsyncClient, pk: int) -> Case:
    return await lock_scoped(Case, principal, conn, pk, "Case")


def require_live(case: Case, doing: str) -> None:
    """An archived case is read-only until it is unarchived."""
    if case.archived_at is not None:
        raise Conflict(
            f"Cannot {doing} case {case.display_number}: it is archived. Unarchive it first.",
            current_status=case.status.value,
            current_version=case.version,
        )


def _check_version(case: Case, expected: int) -> None:
    check_version(f"Case {case.display_number}", case.version, expected, status=case.status.value)


def require_status(case: Case, allowed: frozenset[CaseStatus], doing: str) -> None:
    if case.status not in allowed:
        raise Conflict(
            f"Cannot {doing} case {case.display_number} while it is {case.status.value}; "
            f"that is possible only while it is {' or '.join(sorted(s.value for s in allowed))}.",
            current_status=case.status.value,
            current_version=case.version,
        )


async def case_history(
    principal: Principal,
    conn: BaseDBAsyncClient,
    case: Case,
    action: str,
    frm: CaseStatus | None,
    data: dict[str, Any],
    now: datetime,
) -> None:
    """The history row of a change, and the case's `updated_at` (what incremental sync pages
    on): every change of a case passes here."""
    if action != "create":
        await scoped(Case, principal).filter(id=case.id).using_db(conn).update(updated_at=now)
    case.updated_at = now
    await CaseEvent.create(
        case_id=case.id,
        org_id=principal.org_id,
        action=action,
        actor=principal.actor.actor,
        from_status=frm.value if frm else None,
        to_status=case.status.value,
        data=data,
        at=now,
        using_db=conn,
    )


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.value if isinstance(v, StrEnum) else v for k, v in values.items()}


# An action's own part: check the case, return (fields to set, history data).
Apply = Callable[[BaseDBAsyncClient, Case, datetime], Awaitable[tuple[dict[str, Any], dict]]]


async def _change(
    principal: Principal,
    case_id: str | int,
    action: str,
    apply: Apply,
    *,
    expected_version: int,
    idempotency_key: str | None = None,
) -> CaseResult:
    expected = parse_version(expected_version)
    pk = parse_id("Case", case_id)
    key = parse_idempotency_key(idempotency_key)
    with key_race(key):
        return await _change_in_transaction(principal, pk, action, apply, expected, key)


async def _change_in_transaction(
    principal: Principal, pk: int, action: str, apply: Apply, expected: int, key: str | None
) -> CaseResult:
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        case = await lock_case(principal, conn, pk)
        if key is not None and await used_idempotency_key(
            principal, conn, key, f"case.{action}", case.id
        ):
            return CaseResult(case, replayed=True)
        if action != "unarchive":
            require_live(case, "change")
        _check_version(case, expected)
        frm = case.status
        old = {"status": frm.value, "version": case.version}
        changes, history = await apply(conn, case, now)
        for name, value in changes.items():
            setattr(case, name, value)
        case.version += 1
        await write_versioned(
            scoped(Case, principal).filter(id=case.id), expected, conn,
            f"Case {case.display_number}", **changes, version=case.version,
        )  # fmt: skip
        await case_history(principal, conn, case, action, frm, history, now)
        await clocks.case_changed(conn, case, changes, now)  # re-time or close (issue 16)
        if key is not None:
            await remember_key(
                principal, conn, key, f"case.{action}", case.id, now,
                entity=f"case {case.display_number}",
            )  # fmt: skip
        structured = {k: v for k, v in history.items() if k not in _FREE_TEXT}
        await record(
            principal, conn, f"case.{action}", "case", case.id,
            old=old, new={"status": case.status.value, "version": case.version, **structured},
        )  # fmt: skip
    return CaseResult(case)


# --- notes and links ---------------------------------------------------------------------------


async def add_case_note(
    principal: Principal, case_id: str | int, body: str, *, from_response: int | None = None
) -> CaseNote:
    """A note on a case. Its text stays out of the audit chain, which records only the note id.
    `from_response`: the assistant response whose draft the note began as (the assistant checks
    that it exists and that the caller may read it)."""
    principal.require(Perm.CASE_WORK)
    text = parse_long_text(body, "body", MAX_NOTE)
    pk = parse_id("Case", case_id)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        case = await lock_case(principal, conn, pk)
        require_live(case, "add a note to")
        if not notes_open(case.status):
            raise Conflict(
                f"Case {case.display_number} is closed; notes can no longer be added.",
                current_status=case.status.value,
                current_version=case.version,
            )
        note = await note_in(principal, conn, case, text, now, from_response=from_response)
    return note


async def note_in(
    principal: Principal,
    conn: BaseDBAsyncClient,
    case: Case,
    body: str,
    now: datetime,
    *,
    from_response: int | None = None,
) -> CaseNote:
    """A note in the caller's transaction, with its history row and audit event (the audit
    chain records the note id, never its text). Callers decide whether the case takes notes:
    people cannot add to a closed case; a system record (a quarantine release) may."""
    note = await CaseNote.create(
        case_id=case.id, author_id=principal.user_id or None, body=body, created_at=now,
        from_response_id=from_response, using_db=conn,
    )  # fmt: skip
    facts: dict[str, int] = {"note_id": note.id}
    if from_response is not None:
        facts["from_response"] = from_response
    await case_history(principal, conn, case, "add_note", case.status, facts, now)
    await record(principal, conn, "case.add_note", "case", case.id, new=facts)
    return note


async def link_alerts(
    principal: Principal,
    case_id: str | int,
    alert_ids: Sequence[int | str] = (),
    *,
    alert_external_ids: Sequence[str] | None = None,
) -> Case:
    """Link alerts of the caller's organization, given by id or by the external id the queue
    shows, to an open or investigating case; alerts linked already are left as they are."""
    principal.require(Perm.CASE_WORK)
    ids = case_alerts.alert_ids(list(alert_ids), alert_external_ids)
    external = case_alerts.external_ids(alert_external_ids)
    pk = parse_id("Case", case_id)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        case = await lock_case(principal, conn, pk)
        ids = await case_alerts.alerts_in_org(principal, conn, ids, external)
        require_live(case, "link alerts to")
        require_status(case, WORKING, "link alerts to")
        linked = set(
            await CaseAlert.filter(case_id=case.id, alert_id__in=ids)
            .using_db(conn)
            .values_list("alert_id", flat=True)
        )
        new = [a for a in ids if a not in linked]
        if new:
            await CaseAlert.bulk_create(
                [
                    CaseAlert(
                        case_id=case.id, alert_id=a, linked_by_id=principal.user_id, linked_at=now
                    )
                    for a in new
                ],
                using_db=conn,
            )
            await case_history(
                principal, conn, case, "link_alerts", case.status, {"alert_ids": new}, now
            )
            await record(
                principal, conn, "case.link_alerts", "case", case.id, new={"alert_ids": new}
            )
    return case


async def unlink_alerts(
    principal: Principal,
    case_id: str | int,
    alert_ids: Sequence[int | str] = (),
    *,
    alert_external_ids: Sequence[str] | None = None,
) -> Case:
    """Unlink alerts (by id or external id) from an open or investigating case; a case keeps at
    least one alert."""
    principal.require(Perm.CASE_WORK)
    ids = case_alerts.alert_ids(list(alert_ids), alert_external_ids)
    external = case_alerts.external_ids(alert_external_ids)
    pk = parse_id("Case", case_id)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        case = await lock_case(principal, conn, pk)
        ids = await case_alerts.alerts_in_org(principal, conn, ids, external)
        require_live(case, "unlink alerts from")
        require_status(case, WORKING, "unlink alerts from")
        linked = set(
            await CaseAlert.filter(case_id=case.id)
            .using_db(conn)
            .values_list("alert_id", flat=True)
        )
        stray = [a for a in ids if a not in linked]
        if stray:  # named as the queue shows them, every one
            names = dict(
                await scoped(Alert, principal)
                .filter(id__in=stray)
                .using_db(conn)
                .values_list("id", "external_id")
            )
            listed = ", ".join(str(names.get(a, a)) for a in stray)
            plural = "s" if len(stray) > 1 else ""
            verb = "are" if len(stray) > 1 else "is"
            raise Invalid(
                f"Alert{plural} {listed} {verb} not linked to case {case.display_number}.",
                field="alert_external_ids" if external else "alert_ids",
            )
        if linked <= set(ids):
            raise Invalid(
                f"Case {case.display_number} must keep at least one alert; link another first.",
                field="alert_ids",
            )
        await CaseAlert.filter(case_id=case.id, alert_id__in=ids).using_db(conn).delete()
        await case_history(
            principal, conn, case, "unlink_alerts", case.status, {"alert_ids": ids}, now
        )
        await record(principal, conn, "case.unlink_alerts", "case", case.id, new={"alert_ids": ids})
    return case


# --- status, fields and the resolution ---------------------------------------------------------


async def update_case(
    principal: Principal,
    case_id: str | int,
    *,
    expected_version: int,
    status: str | CaseStatus | None = None,
    root_cause: str | RootCause | None = None,
    assignee_id: int | str | None = None,
    severity: str | CaseSeverity | None = None,
) -> CaseResult:
    """Move between open and investigating, close a resolved case, or set the root cause,
    assignee and severity of a case under work."""
    principal.require(Perm.CASE_WORK)
    new_status = parse_choice(CaseStatus, status, "status")
    cause = parse_choice(RootCause, root_cause, "root_cause")
    sev = parse_choice(CaseSeverity, severity, "severity")
    assignee = parse_user_id(assignee_id)
    fields_given = {
        k: v
        for k, v in {"root_cause": cause, "assignee_id": assignee, "severity": sev}.items()
        if v is not None
    }
    if new_status is None and not fields_given:
        raise Invalid("Nothing to change: give a status, root cause, assignee or severity.")

    async def apply(
        conn: BaseDBAsyncClient, case: Case, now: datetime
    ) -> tuple[dict[str, Any], dict]:
        changes: dict[str, Any] = {}
        if new_status is not None and new_status is not case.status:
            allowed = UPDATE_TRANSITIONS[case.status]
            if new_status not in allowed:
                how = {
                    S.PENDING_APPROVAL: " (use request resolution)",
                    S.RESOLVED: " (an approver approves the requested resolution)",
                }.get(new_status, "")
                raise Conflict(
                    f"Cannot move case {case.display_number} from {case.status.value} to "
                    f"{new_status.value}{how}; from {case.status.value} it may move to: "
                    f"{', '.join(sorted(s.value for s in allowed)) or 'nothing'}.",
                    field="status",
                    current_status=case.status.value,
                    current_version=case.version,
                )
            changes["status"] = new_status
        if fields_given:
            require_status(case, WORKING, "change the fields of")
            if assignee is not None:
                await member(principal, conn, assignee, "assignee_id", *ASSIGNEE)
            changes.update(fields_given)
        if not changes:
            raise Invalid(f"Case {case.display_number} is {case.status.value} already.")
        return changes, _plain(changes)

    return await _change(principal, case_id, "update", apply, expected_version=expected_version)


# --- reads -------------------------------------------------------------------------------------
