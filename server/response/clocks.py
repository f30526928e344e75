"""Response clocks (issue 16): the target of every SEV0/SEV1 run and of every case, written in the
transaction that records the run or opens the case, re-timed when a case's severity changes and
closed when the case is resolved or closed (a run's clock closes with its case).

Targets come from the policy in force (`riskops.server.credit.policy.current_policy`):

- a SEV0 run: `ack_sev0_minutes` (15) after it was recorded, a SEV1 run `ack_sev1_minutes` (60);
- a case: Sev0 (critical) `case_sev0_minutes` (0, immediately), Sev1 (high) 30 min, Sev2
  (medium) 2 h, Sev3 (low) `case_sev3_business_days` (1) business days (Monday to Friday, UTC: the
  same time of day that many weekdays later; a case opened on a weekend counts from Monday 00:00);
- a case a SEV0/SEV1 run opened takes the run's target (one incident, one clock).

SEV0/SEV1 runs and Sev0/Sev1 cases `need_ack`: only they escalate (`riskops.server.response.
escalation`). A run that opened a case is escalated through its case: its own clock is parked
(next_escalation_at null) while the case's clock needs an acknowledgement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from riskops.server.core.scoping import scoped
from riskops.server.credit.policy import current_policy
from riskops.server.credit.terms import Policy
from riskops.server.identity.models import Organization
from riskops.server.notify import outbox
from riskops.server.response.models import ResponseClock, SubjectKind
from riskops.server.triage.models import Case, CaseSeverity, CaseStatus

CASE_SEV = {
    CaseSeverity.CRITICAL: "SEV0",
    CaseSeverity.HIGH: "SEV1",
    CaseSeverity.MEDIUM: "SEV2",
    CaseSeverity.LOW: "SEV3",
}
ACK_SEVERITIES = frozenset({"SEV0", "SEV1"})
INCIDENT_SEVERITIES = frozenset({CaseSeverity.CRITICAL, CaseSeverity.HIGH})
CLOSING = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED})
PAGER_LEVEL = 2  # the last escalation level: a PagerDuty trigger
MAX_KEY = 128


def dedup_key(slug: str, kind: SubjectKind, ident: str | int) -> str:
    """The item's PagerDuty incident key: `riskops-<org slug>-case-<number>` or
    `riskops-<org slug>-run-<run_id>`; stable, unique per organization and at most 128
    characters (a run_id too long for it is replaced by its digest)."""
    key = f"riskops-{slug}-{kind.value}-{ident}"
    if len(key) <= MAX_KEY:
        return key
    digest = hashlib.sha256(str(ident).encode()).hexdigest()[:32]
    return f"riskops-{slug[:64]}-{kind.value}-h{digest}"


def add_business_days(start: datetime, days: int) -> datetime:
    """`days` weekdays (Monday to Friday, UTC) after `start`, at the same time of day; a start on
    a Saturday or Sunday counts from the next Monday 00:00 UTC."""
    at = start.astimezone(UTC)
    if at.weekday() >= 5:
        at = (at + timedelta(days=7 - at.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
    left = days
    while left > 0:
        at += timedelta(days=1)
        if at.weekday() < 5:
            left -= 1
    return at


def run_target(policy: Policy, severity: str, detected: datetime) -> datetime:
    minutes = policy.ack_sev0_minutes if severity == "SEV0" else policy.ack_sev1_minutes
    return detected + timedelta(minutes=minutes)


def case_target(policy: Policy, severity: CaseSeverity, opened: datetime) -> datetime:
    if severity is CaseSeverity.LOW:
        return add_business_days(opened, policy.case_sev3_business_days)
    minutes = {
        CaseSeverity.CRITICAL: policy.case_sev0_minutes,
        CaseSeverity.HIGH: policy.case_sev1_minutes,
        CaseSeverity.MEDIUM: policy.case_sev2_minutes,
    }[severity]
    return opened + timedelta(minutes=minutes)


def next_escalation(
    due_at: datetime, level: int, step_minutes: int, escalated_at: datetime | None = None
) -> datetime | None:
    """When an unacknowledged clock at `level` escalates next: level 1 at its target, level 2
    (PagerDuty) one step after level 1 went out (at the earliest one step after the target);
    none after the last level."""
    if level >= PAGER_LEVEL:
        return None
    if level == 0:
        return due_at
    return max(due_at, escalated_at or due_at) + timedelta(minutes=step_minutes)


async def org_slug(org_id: int, conn: BaseDBAsyncClient) -> str:
    slug = (
        await scoped(Organization, org_id=org_id)
        .using_db(conn)
        .first()
        .values_list("slug", flat=True)
    )
    return str(slug)


@dataclass(frozen=True)
class RunClockInput:
    run_pk: int
    run_id: str
    severity: str  # SEV0 or SEV1
    case_id: int | None  # the case it opened, if any: that case escalates for it


async def open_run_clocks(
    org_id: int,
    conn: BaseDBAsyncClient,
    runs: Sequence[RunClockInput],
    now: datetime,
) -> list[ResponseClock]:
    """The clocks of a recording call's SEV0/SEV1 runs, in one bulk insert (with the policy and
    the organization's slug read once)."""
    todo = [r for r in runs if r.severity in ACK_SEVERITIES]
    if not todo:
        return []
    policy = (await current_policy(org_id, conn)).policy
    slug = await org_slug(org_id, conn)
    rows = []
    for r in todo:
        due = run_target(policy, r.severity, now)
        rows.append(
            ResponseClock(
                org_id=org_id,
                subject_kind=SubjectKind.RUN,
                subject_id=r.run_pk,
                severity=r.severity,
                needs_ack=True,
                started_at=now,
                due_at=due,
                level=0,
                next_escalation_at=None if r.case_id is not None else due,
                dedup_key=dedup_key(slug, SubjectKind.RUN, r.run_id),
                version=1,
            )
        )
    await ResponseClock.bulk_create(rows, batch_size=500, using_db=conn)
    return rows


async def open_case_clock(
    conn: BaseDBAsyncClient,
    case: Case,
    now: datetime,
    source: dict[str, Any] | None = None,
) -> ResponseClock:
    """The clock of a case just opened. A case a SEV0/SEV1 run opened (source reason sev0/sev1)
    takes the run's target."""
    policy = (await current_policy(case.org_id, conn)).policy
    slug = await org_slug(case.org_id, conn)
    reason = str((source or {}).get("reason", "")).upper()
    due = (
        run_target(policy, reason, now)
        if reason in ACK_SEVERITIES
        else case_target(policy, case.severity, now)
    )
    sev = CASE_SEV[case.severity]
    needs = case.severity in INCIDENT_SEVERITIES
    return await ResponseClock.create(
        org_id=case.org_id, subject_kind=SubjectKind.CASE, subject_id=case.id, severity=sev,
        needs_ack=needs, started_at=now, due_at=due, level=0,
        next_escalation_at=due if needs else None,
        dedup_key=dedup_key(slug, SubjectKind.CASE, case.number), version=1, using_db=conn,
    )  # fmt: skip


async def case_changed(
    conn: BaseDBAsyncClient,
    case: Case,
    changes: dict[str, Any],
    now: datetime,
    *,
    suppressed: bool | None = None,
) -> None:
    """Called by every change of a case (`riskops.server.triage.cases._change_in_transaction`):
    a new severity re-times its clock; resolving or closing it closes its clock and its runs'
    clocks, resolves their PagerDuty incidents and sets when the post-incident report is due."""
    if "severity" in changes:
        await _retime(conn, case, now)
    status = changes.get("status")
    if status is not None and CaseStatus(status) in CLOSING:
        await close_case_clocks(conn, case, now, suppressed=suppressed)
        if CaseStatus(status) is CaseStatus.RESOLVED and case.severity in INCIDENT_SEVERITIES:
            policy = (await current_policy(case.org_id, conn)).policy
            due = now + timedelta(hours=policy.postmortem_due_hours)
            await (
                scoped(Case, org_id=case.org_id)
                .filter(id=case.id)
                .using_db(conn)
                .update(postmortem_due_at=due)
            )
            case.postmortem_due_at = due


async def _retime(conn: BaseDBAsyncClient, case: Case, now: datetime) -> None:
    clock = (
        await scoped(ResponseClock, org_id=case.org_id)
        .filter(subject_kind=SubjectKind.CASE, subject_id=case.id)
        .using_db(conn)
        .select_for_update()
        .first()
    )
    if clock is None:
        await open_case_clock(conn, case, now)
        return
    if clock.closed_at is not None:
        return
    policy = (await current_policy(case.org_id, conn)).policy
    due = case_target(policy, case.severity, clock.started_at)
    needs = case.severity in INCIDENT_SEVERITIES
    nxt = (
        next_escalation(due, clock.level, policy.escalation_step_minutes, clock.escalated_at)
        if needs and clock.acknowledged_at is None
        else None
    )
    await scoped(ResponseClock, org_id=case.org_id).filter(id=clock.id).using_db(conn).update(
        severity=CASE_SEV[case.severity], needs_ack=needs, due_at=due,
        next_escalation_at=nxt, version=clock.version + 1,
    )  # fmt: skip
    # the runs it escalated for escalate on their own once it no longer needs an acknowledgement
    runs = await _case_run_clocks(conn, case)
    for rc in runs:
        if rc.acknowledged_at is None and rc.closed_at is None:
            park = needs and clock.acknowledged_at is None
            await (
                scoped(ResponseClock, org_id=case.org_id)
                .filter(id=rc.id)
                .using_db(conn)
                .update(
                    next_escalation_at=None
                    if park
                    else next_escalation(
                        rc.due_at, rc.level, policy.escalation_step_minutes, rc.escalated_at
                    ),
                    version=rc.version + 1,
                )
            )


async def _case_run_clocks(conn: BaseDBAsyncClient, case: Case) -> list[ResponseClock]:
    from riskops.server.credit.models import Run

    run_ids = list(
        await scoped(Run, org_id=case.org_id)
        .filter(case_id=case.id)
        .using_db(conn)
        .values_list("id", flat=True)
    )
    if not run_ids:
        return []
    return list(
        await scoped(ResponseClock, org_id=case.org_id)
        .filter(subject_kind=SubjectKind.RUN, subject_id__in=run_ids)
        .using_db(conn)
    )


async def close_case_clocks(
    conn: BaseDBAsyncClient, case: Case, now: datetime, *, suppressed: bool | None = None
) -> list[ResponseClock]:
    """Close the case's clock and its runs' clocks; a PagerDuty RESOLVE for each one whose
    incident was triggered (it reached the last level)."""
    clocks = [
        c
        for c in await scoped(ResponseClock, org_id=case.org_id)
        .filter(subject_kind=SubjectKind.CASE, subject_id=case.id)
        .using_db(conn)
    ]
    clocks += await _case_run_clocks(conn, case)
    open_ = [c for c in clocks if c.closed_at is None]
    if not open_:
        return []
    await (
        scoped(ResponseClock, org_id=case.org_id)
        .filter(id__in=[c.id for c in open_])
        .using_db(conn)
        .update(closed_at=now, next_escalation_at=None)
    )
    triggered = [c for c in open_ if c.level >= PAGER_LEVEL]
    if triggered:
        if suppressed is None:
            suppressed = await suppression(case.org_id, now, conn)
        await outbox.add_many(conn, [  # at once: one look for the triggers of all their keys
            outbox.outbox_rows(
                case.org_id, outbox.Channel.ESCALATION, "response.resolved",
                {"subject": c.subject_kind.value, "subject_id": c.subject_id,
                 "case_number": case.display_number, "severity": c.severity,
                 "text": f"{c.severity} {case.display_number} resolved"},
                suppressed=suppressed, now=now, dedup_key=c.dedup_key,
                action=outbox.PagerAction.RESOLVE,
            )
            for c in triggered
        ])  # fmt: skip
    for c in open_:
        c.closed_at, c.next_escalation_at = now, None
    return open_


async def suppression(org_id: int, now: datetime, conn: BaseDBAsyncClient) -> bool:
    from riskops.server.credit import kill_switches

    return kill_switches.suppression_on(await kill_switches.active_switches(org_id, now, conn))


# --- display -------------------------------------------------------------------------------------


def span(seconds: float) -> str:
    """ "12 min", "1 h 5 min", "2 d 3 h": a duration as people read it (at least 1 min)."""
    minutes = max(1, int(seconds // 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


@dataclass(frozen=True)
class ClockView:
    """What pages show of a clock: `state` is acknowledged, closed, overdue or open; `text`
    says it in words ("12 min left", "overdue by 1 h 5 min", "acknowledged")."""

    clock: ResponseClock
    state: str
    text: str
    overdue: bool
    seconds_left: int

    @property
    def needs_attention(self) -> bool:
        return self.clock.needs_ack and self.state in ("open", "overdue")


def view(clock: ResponseClock, now: datetime | None = None) -> ClockView:
    now = now or datetime.now(UTC)
    left = int((clock.due_at - now).total_seconds())
    if clock.acknowledged_at is not None:
        return ClockView(clock, "acknowledged", "acknowledged", False, left)
    if clock.closed_at is not None:
        return ClockView(clock, "closed", "closed", False, left)
    if left < 0:
        return ClockView(clock, "overdue", f"overdue by {span(-left)}", True, left)
    return ClockView(clock, "open", f"{span(left)} left", False, left)
