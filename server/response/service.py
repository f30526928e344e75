"""Acknowledge a SEV0/SEV1 run or case, and the incident record of a Sev0/Sev1 case (issue 16):
one service function per action, used by GraphQL, the pages and the CLI alike.

- `acknowledge`: by a named person (a person signed in, or a person's own API token; a service
  account's token is refused: an acknowledgement says who is on it). Acknowledging a case also
  acknowledges its unacknowledged runs, acknowledging a run its case and the case's other runs:
  one incident, one acknowledgement, one transaction. It stops the escalation, writes a PagerDuty
  ACKNOWLEDGE for every clock whose incident was triggered, an audit event per clock
  (`response.acknowledge`) and an entry in the case history. The same person acknowledging
  again changes nothing; someone else gets a Conflict naming who acknowledged it and when.
- `take_command`: the caller becomes the incident commander of a Sev0/Sev1 case.
- `add_timeline_entry`: a hand-written timeline entry (case history action "timeline"; its text
  stays in the history row, the audit event records only its length).
- `submit_postmortem`: the post-incident report of a resolved Sev0/Sev1 case (case.postmortem;
  the audit event records its length).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server.core import validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict, Forbidden, Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import lock_scoped, parse_id, scoped
from riskops.server.core.versioning import check_version, parse_version
from riskops.server.credit.models import Run
from riskops.server.identity.models import User, UserKind
from riskops.server.notify import outbox
from riskops.server.response import clocks as rc
from riskops.server.response.models import ResponseClock, SubjectKind
from riskops.server.triage.cases import CaseResult, _change
from riskops.server.triage.models import Case, CaseEvent, CaseStatus

MAX_TIMELINE = 2000
MAX_REPORT = 50_000
READ = {SubjectKind.RUN: Perm.RUN_READ, SubjectKind.CASE: Perm.CASE_READ}
TEMPLATE = Path(__file__).resolve().parents[2] / "docs" / "templates" / "post_incident_report.md"


def subject_kind(raw: Any) -> SubjectKind:
    try:
        return SubjectKind(str(raw).strip().lower())
    except ValueError:
        raise Invalid(f"Kind '{raw}' is unknown; choose run or case.", field="kind") from None


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


async def _person(principal: Principal, conn: BaseDBAsyncClient, doing: str) -> User:
    user = await scoped(User, principal).using_db(conn).get_or_none(id=principal.user_id)
    if user is None or user.kind is not UserKind.PERSON:
        raise Forbidden(
            f"{doing} is taken by a named person; a service account's token cannot. "
            "Sign in, or use a personal API token.",
            permission=Perm.RESPONSE_ACK.value,
        )
    return user


@dataclass(frozen=True)
class AckResult:
    clock: ResponseClock  # the clock of the item asked for, as it is now
    acknowledged: list[ResponseClock] = field(default_factory=list)  # every clock this call acked
    already: bool = False  # the caller had acknowledged it already: nothing changed
    message: str = ""


async def _subject(
    principal: Principal, conn: BaseDBAsyncClient, kind: SubjectKind, pk: int
) -> tuple[str, int | None]:
    """Lock the run or case (another organization's is not found); its name and its case."""
    if kind is SubjectKind.RUN:
        run = await lock_scoped(Run, principal, conn, pk, "Run")
        return f"Run {run.run_id}", run.case_id
    case = await lock_scoped(Case, principal, conn, pk, "Case")
    return f"Case {case.display_number}", case.id


async def clock_of(
    org_id: int, kind: SubjectKind, pk: int, conn: BaseDBAsyncClient | None = None
) -> ResponseClock | None:
    q = scoped(ResponseClock, org_id=org_id).filter(subject_kind=kind, subject_id=pk)
    return await (q.using_db(conn) if conn is not None else q).first()


async def acknowledge(
    principal: Principal,
    kind: str | SubjectKind,
    subject_id: str | int,
    *,
    expected_version: int | None = None,
) -> AckResult:
    principal.require(Perm.RESPONSE_ACK)
    sk = subject_kind(kind)
    principal.require(READ[sk])
    expected = None if expected_version is None else parse_version(expected_version)
    pk = parse_id(sk.value.capitalize(), subject_id)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        name, case_id = await _subject(principal, conn, sk, pk)
        clock = await scoped(ResponseClock, principal).filter(
            subject_kind=sk, subject_id=pk
        ).using_db(conn).select_for_update().first()  # fmt: skip
        if clock is None:
            raise Conflict(
                f"{name} has no response target: only SEV0/SEV1 runs and cases have one.",
                field="kind",
            )
        if clock.acknowledged_at is not None:
            if clock.acknowledged_by_id == principal.user_id:
                return AckResult(
                    clock, [], already=True,
                    message=f"You acknowledged {name} already, at {_when(clock.acknowledged_at)}; "
                    "nothing changed.",
                )  # fmt: skip
            who = (
                await scoped(User, principal)
                .filter(id=clock.acknowledged_by_id)
                .using_db(conn)
                .first()
            )
            raise Conflict(
                f"{name} was acknowledged already by {who.name if who else 'someone'} at "
                f"{_when(clock.acknowledged_at)}.",
                current_version=clock.version,
            )
        if expected is not None:
            check_version(name, clock.version, expected, verb="acknowledge it")
        if clock.closed_at is not None:
            raise Conflict(
                f"{name} is resolved already; there is nothing to acknowledge.",
                current_version=clock.version,
            )
        await _person(principal, conn, "An acknowledgement")
        group = [clock] + await _linked(conn, principal.org_id, clock, case_id)
        acked = await _ack_all(principal, conn, group, case_id, now)
        fresh = await scoped(ResponseClock, principal).using_db(conn).get(id=clock.id)
    linked = len(acked) - 1
    more = f" with {linked} linked item{'s' if linked != 1 else ''}" if linked > 0 else ""
    return AckResult(fresh, acked, message=f"{name} acknowledged{more}.")


async def _linked(
    conn: BaseDBAsyncClient, org_id: int, clock: ResponseClock, case_id: int | None
) -> list[ResponseClock]:
    """The other open, unacknowledged clocks of the same incident: the case and its runs."""
    if case_id is None:
        return []
    run_ids = list(
        await scoped(Run, org_id=org_id)
        .filter(case_id=case_id)
        .using_db(conn)
        .values_list("id", flat=True)
    )
    open_ = (
        scoped(ResponseClock, org_id=org_id)
        .filter(acknowledged_at=None, closed_at=None)
        .exclude(id=clock.id)
    )
    rows = list(
        await open_.filter(subject_kind=SubjectKind.CASE, subject_id=case_id)
        .using_db(conn)
        .select_for_update()
    )
    if run_ids:
        rows += await open_.filter(
            subject_kind=SubjectKind.RUN, subject_id__in=run_ids, needs_ack=True
        ).using_db(conn).select_for_update()  # fmt: skip
    return rows


async def _ack_all(
    principal: Principal,
    conn: BaseDBAsyncClient,
    group: list[ResponseClock],
    case_id: int | None,
    now: datetime,
) -> list[ResponseClock]:
    ids = [c.id for c in group]
    # One statement for the whole group, each clock one version up from its own: the group's
    # rows are locked and open and unacknowledged (`acknowledge` and `_linked` checked it under
    # the lock), so this touches each of them once, and nothing else.
    await (
        scoped(ResponseClock, principal)
        .filter(id__in=ids, acknowledged_at=None, closed_at=None)
        .using_db(conn)
        .update(acknowledged_at=now, acknowledged_by_id=principal.user_id,
                next_escalation_at=None, version=F("version") + 1)
    )  # fmt: skip
    suppressed: bool | None = None
    acks: list[outbox.OutboxMessage] = []  # written at once: one look for their triggers
    for c in group:
        late = max(0, int((now - c.due_at).total_seconds()))
        if c.level >= rc.PAGER_LEVEL:  # its PagerDuty incident was triggered: acknowledge it
            if suppressed is None:
                suppressed = await rc.suppression(principal.org_id, now, conn)
            acks.append(outbox.outbox_rows(
                principal.org_id, outbox.Channel.ESCALATION, "response.acknowledged",
                {"subject": c.subject_kind.value, "subject_id": c.subject_id,
                 "severity": c.severity, "acknowledged_by": principal.name or principal.email,
                 "acknowledged_by_id": principal.user_id,
                 "text": f"{c.severity} {c.subject_kind.value} {c.subject_id} acknowledged by "
                         f"{principal.name or principal.email}"},
                suppressed=suppressed, now=now, dedup_key=c.dedup_key,
                action=outbox.PagerAction.ACKNOWLEDGE,
            ))  # fmt: skip
        await record(
            principal, conn, "response.acknowledge", c.subject_kind.value, c.subject_id,
            old={"acknowledged": False, "level": c.level, "version": c.version},
            new={"acknowledged": True, "clock": c.id, "severity": c.severity,
                 "late_seconds": late, "with": [x.id for x in group if x.id != c.id]},
            risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    await outbox.add_many(conn, acks)
    if case_id is not None:
        pks = [c.subject_id for c in group if c.subject_kind is SubjectKind.RUN]
        run_ids = (
            list(
                await scoped(Run, principal)
                .filter(id__in=pks)
                .using_db(conn)
                .values_list("run_id", flat=True)
            )
            if pks
            else []
        )
        await case_history(
            principal.actor.actor, conn, principal.org_id, [case_id], "acknowledge",
            {"runs": sorted(str(r) for r in run_ids), "level": max(c.level for c in group)},
            now,
        )  # fmt: skip

    for c in group:
        c.acknowledged_at, c.acknowledged_by_id, c.next_escalation_at = now, principal.user_id, None
        c.version += 1
    return group


async def case_history(
    actor: str,
    conn: BaseDBAsyncClient,
    org_id: int,
    case_ids: Sequence[int],
    action: str,
    data: dict[str, Any] | list[dict[str, Any]],
    now: datetime,
) -> None:
    """History rows (one per case, in one insert) that change nothing else of the cases, and
    their `updated_at` (what incremental sync pages on). `data` is one dict for all, or one each."""
    if not case_ids:
        return
    statuses = dict(
        await scoped(Case, org_id=org_id)
        .filter(id__in=list(case_ids))
        .using_db(conn)
        .values_list("id", "status")
    )
    rows = [
        CaseEvent(
            case_id=cid,
            org_id=org_id,
            action=action,
            actor=actor,
            from_status=str(statuses.get(cid)),
            to_status=str(statuses.get(cid)),
            data=data[i] if isinstance(data, list) else data,
            at=now,
        )
        for i, cid in enumerate(case_ids)
    ]
    await CaseEvent.bulk_create(rows, batch_size=1000, using_db=conn)
    await (
        scoped(Case, org_id=org_id)
        .filter(id__in=list(case_ids))
        .using_db(conn)
        .update(updated_at=now)
    )


# --- the incident record -------------------------------------------------------------------------


def _incident(case: Case, doing: str) -> None:
    if case.severity not in rc.INCIDENT_SEVERITIES:
        raise Conflict(
            f"Case {case.display_number} is {case.severity.value}; only Sev0 (critical) and Sev1 "
            f"(high) cases have an incident record, so you cannot {doing}.",
            current_version=case.version,
        )


async def take_command(
    principal: Principal, case_id: str | int, *, expected_version: int
) -> CaseResult:
    """The caller becomes the incident commander of a Sev0/Sev1 case that is not closed."""
    principal.require(Perm.RESPONSE_ACK)
    principal.require(Perm.CASE_READ)

    async def apply(conn: BaseDBAsyncClient, case: Case, now: datetime) -> tuple[dict, dict]:
        _incident(case, "take command of it")
        if case.status is CaseStatus.CLOSED:
            raise Conflict(
                f"Case {case.display_number} is closed; its incident has no commander to change.",
                current_status=case.status.value,
                current_version=case.version,
            )
        if case.incident_commander_id == principal.user_id:
            raise Conflict(
                f"You command the incident of case {case.display_number} already.",
                current_version=case.version,
            )
        await _person(principal, conn, "Command of an incident")
        changes = {"incident_commander_id": principal.user_id}
        return changes, {**changes, "previous_commander_id": case.incident_commander_id}

    return await _change(
        principal, case_id, "take_command", apply, expected_version=expected_version
    )


async def add_timeline_entry(principal: Principal, case_id: str | int, text: str) -> CaseEvent:
    """A timeline entry written by hand on a Sev0/Sev1 case that is not closed. Its text is kept
    in the case history; the audit event records its length."""
    principal.require(Perm.RESPONSE_ACK)
    principal.require(Perm.CASE_READ)
    body = validation.long_text(text, "text", max_len=MAX_TIMELINE)
    pk = parse_id("Case", case_id)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        case = await lock_scoped(Case, principal, conn, pk, "Case")
        _incident(case, "add to its timeline")
        if case.status is CaseStatus.CLOSED:
            raise Conflict(
                f"Case {case.display_number} is closed; its timeline can no longer change.",
                current_status=case.status.value,
                current_version=case.version,
            )
        await scoped(Case, principal).filter(id=case.id).using_db(conn).update(updated_at=now)
        event = await CaseEvent.create(
            case_id=case.id, org_id=principal.org_id, action="timeline",
            actor=principal.actor.actor, from_status=case.status.value,
            to_status=case.status.value, data={"text": body}, at=now, using_db=conn,
        )  # fmt: skip
        await record(
            principal, conn, "case.timeline", "case", case.id,
            new={"event_id": event.id, "length": len(body)},
        )  # fmt: skip
    return event


def report_template() -> str:
    """The post-incident report template (docs/templates/post_incident_report.md)."""
    try:
        return TEMPLATE.read_text(encoding="utf-8")
    except OSError:
        return ""


async def submit_postmortem(
    principal: Principal, case_id: str | int, text: str, *, expected_version: int
) -> CaseResult:
    """The post-incident report of a resolved (or closed) Sev0/Sev1 case; submitting again
    replaces it. The audit event records its length, the text is on the case."""
    principal.require(Perm.RESPONSE_ACK)
    principal.require(Perm.CASE_READ)
    body = validation.long_text(text, "report", max_len=MAX_REPORT)
    if body.strip() == report_template().strip():
        raise Invalid(
            "The report is still the empty template: fill in its sections.", field="report"
        )

    async def apply(conn: BaseDBAsyncClient, case: Case, now: datetime) -> tuple[dict, dict]:
        _incident(case, "write its post-incident report")
        if case.status not in rc.CLOSING:
            raise Conflict(
                f"Case {case.display_number} is {case.status.value}; the post-incident report is "
                "written once it is resolved.",
                current_status=case.status.value,
                current_version=case.version,
            )
        changes = {"postmortem": body, "postmortem_by_id": principal.user_id, "postmortem_at": now}
        return changes, {"length": len(body), "replaced": case.postmortem is not None}

    return await _change(principal, case_id, "postmortem", apply, expected_version=expected_version)


# --- reads ---------------------------------------------------------------------------------------


async def clocks_for(
    org_id: int, kind: SubjectKind, ids: Sequence[int]
) -> dict[int, ResponseClock]:
    """The clocks of these runs or cases (one query), by subject id."""
    if not ids:
        return {}
    rows = await scoped(ResponseClock, org_id=org_id).filter(
        subject_kind=kind, subject_id__in=list(ids)
    )
    return {r.subject_id: r for r in rows}


@dataclass(frozen=True)
class Waiting:
    """An unacknowledged SEV0/SEV1 item for "My work"."""

    clock: ResponseClock
    view: rc.ClockView
    label: str  # "Case CASE-000012" / "Run RUN-123"
    title: str
    href: str
    runs: list[str]  # a case: the runs of the incident


async def unacknowledged(principal: Principal, limit: int = 20) -> list[Waiting]:
    """Open SEV0/SEV1 items nobody acknowledged, soonest target first; a run that belongs to an
    unacknowledged case is listed under its case, not on its own line."""
    if not principal.can(Perm.RESPONSE_ACK):
        return []
    clocks = await scoped(ResponseClock, principal).filter(
        needs_ack=True, acknowledged_at=None, closed_at=None
    ).order_by("due_at").limit(500)  # fmt: skip
    case_ids = [c.subject_id for c in clocks if c.subject_kind is SubjectKind.CASE]
    run_ids = [c.subject_id for c in clocks if c.subject_kind is SubjectKind.RUN]
    cases = {c.id: c for c in await scoped(Case, principal).filter(id__in=case_ids)}
    runs = {
        r.id: r
        for r in await scoped(Run, principal)
        .filter(id__in=run_ids)
        .only("id", "run_id", "case_id", "severity")
    }
    by_case: dict[int, list[str]] = {}
    for r in runs.values():
        if r.case_id is not None:
            by_case.setdefault(r.case_id, []).append(r.run_id)
    now = datetime.now(UTC)
    out: list[Waiting] = []
    for c in clocks:
        v = rc.view(c, now)
        if c.subject_kind is SubjectKind.CASE and c.subject_id in cases:
            case = cases[c.subject_id]
            out.append(Waiting(
                c, v, f"Case {case.display_number}", case.title, f"/cases/{case.id}",
                by_case.get(case.id, []),
            ))  # fmt: skip
        elif c.subject_kind is SubjectKind.RUN and c.subject_id in runs:
            run = runs[c.subject_id]
            if run.case_id is not None and run.case_id in cases:
                continue  # listed with its case
            out.append(Waiting(c, v, f"Run {run.run_id}", c.severity, f"/runs/{run.id}", []))
        if len(out) >= limit:
            break
    return out


async def overdue_reports(principal: Principal, limit: int = 20) -> list[Case]:
    """Resolved Sev0/Sev1 cases whose post-incident report is past due and not written."""
    if not principal.can(Perm.CASE_READ):
        return []
    now = datetime.now(UTC)
    return list(
        await scoped(Case, principal)
        .filter(postmortem_due_at__lt=now, postmortem__isnull=True, archived_at__isnull=True)
        .order_by("postmortem_due_at")
        .limit(limit)
    )
