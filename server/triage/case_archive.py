"""Archiving cases (seed 002 weekly checks: "Archive resolved cases older than 30 days").

An archived case is hidden from the default lists (the cases list and query, "My work") and stays
readable by id and with the filter `archived`; it is read-only until it is unarchived
(`cases.require_live`). One case is archived or unarchived by anyone who works cases, once it is
resolved or closed. The bulk archive takes the resolved and closed cases resolved more than N
days ago, N from the versioned policy (`archive_resolved_after_days`, default 30; a caller may
ask for more days, never fewer), at most MAX_BULK per call: each case gets its own history row
and audit event, like each alert of a bulk alert action (`triage/bulk.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict, Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit.policy import current_policy
from riskops.server.triage.case_run_links import policy_name
from riskops.server.triage.cases import CaseResult, S, _change, case_history
from riskops.server.triage.models import Case, CaseStatus

DONE = frozenset({S.RESOLVED, S.CLOSED})
MAX_BULK = 500  # cases per bulk call; the result says how many remain
MAX_DAYS = 3660


class CaseState(Protocol):
    """What the archiving rule reads of a case (a stored case, or GraphQL's node of one)."""

    @property
    def status(self) -> CaseStatus: ...

    @property
    def archived_at(self) -> datetime | None: ...


def can_archive(principal: Principal, case: CaseState) -> bool:
    """Whether this caller may archive the case now (the rule `archive_case` enforces, and what
    the case page and GraphQL's `canArchive` show): someone who works cases, a resolved or
    closed case, not archived yet."""
    return principal.can(Perm.CASE_WORK) and case.archived_at is None and case.status in DONE


def can_unarchive(principal: Principal, case: CaseState) -> bool:
    """Whether this caller may unarchive the case now (`unarchive_case`'s rule): someone who
    works cases, an archived case."""
    return principal.can(Perm.CASE_WORK) and case.archived_at is not None


async def archive_case(
    principal: Principal, case_id: str | int, *, expected_version: int
) -> CaseResult:
    """Archive one resolved or closed case."""
    principal.require(Perm.CASE_WORK)

    async def apply(conn: BaseDBAsyncClient, case: Case, now: datetime) -> tuple[dict, dict]:
        if not can_archive(principal, case):  # live and permitted by now: its status
            raise Conflict(
                f"Cannot archive case {case.display_number} while it is {case.status.value}; "
                "only resolved or closed cases are archived.",
                current_status=case.status.value, current_version=case.version,
            )  # fmt: skip
        return {"archived_at": now}, {"archived": True}

    return await _change(principal, case_id, "archive", apply, expected_version=expected_version)


async def unarchive_case(
    principal: Principal, case_id: str | int, *, expected_version: int
) -> CaseResult:
    """Bring an archived case back to the default lists (and make it changeable again)."""
    principal.require(Perm.CASE_WORK)

    async def apply(conn: BaseDBAsyncClient, case: Case, now: datetime) -> tuple[dict, dict]:
        if not can_unarchive(principal, case):  # permitted by now: not archived
            raise Conflict(
                f"Case {case.display_number} is not archived.",
                current_status=case.status.value, current_version=case.version,
            )  # fmt: skip
        return {"archived_at": None}, {"archived": False}

    return await _change(principal, case_id, "unarchive", apply, expected_version=expected_version)


@dataclass(frozen=True)
class ArchiveRun:
    """What a bulk archive did (or, `dry_run`, would do)."""

    older_than_days: int
    cutoff: datetime  # cases resolved before this
    count: int  # archived (or that would be, up to MAX_BULK)
    case_numbers: list[str]
    remaining: int  # still eligible after this call (more than MAX_BULK were)
    dry_run: bool
    policy_number: int


def _days(raw: Any, floor: int, policy_number: int) -> int:
    if raw is None or raw == "":
        return floor
    try:
        days = int(raw) if not isinstance(raw, bool) and float(raw) == int(raw) else -1
    except (TypeError, ValueError):
        days = -1
    if days < 1 or days > MAX_DAYS:
        raise Invalid(
            f"Older than: give a whole number of days from {floor} to {MAX_DAYS}, not {raw!r}.",
            field="older_than_days",
        )
    if days < floor:
        raise Invalid(
            f"Older than: {policy_name(policy_number)} archives cases resolved more than "
            f"{floor} days ago; give {floor} or more days.",
            field="older_than_days",
        )
    return days


def _eligible(principal: Principal, cutoff: datetime) -> Any:
    return scoped(Case, principal).filter(
        status__in=[s.value for s in DONE], archived_at=None, resolved_at__lt=cutoff
    )


async def archive_resolved_cases(
    principal: Principal, *, older_than_days: int | str | None = None, dry_run: bool = False
) -> ArchiveRun:
    """Archive the resolved and closed cases resolved more than `older_than_days` ago (the
    policy's `archive_resolved_after_days` when not given), oldest first, at most MAX_BULK;
    `dry_run` counts them and changes nothing."""
    principal.require(Perm.CASE_WORK)
    in_force = await current_policy(principal.org_id)
    days = _days(older_than_days, in_force.policy.archive_resolved_after_days, in_force.number)
    now = datetime.now(UTC)
    cutoff = now - timedelta(days=days)
    total = await _eligible(principal, cutoff).count()
    if dry_run:
        rows = await _eligible(principal, cutoff).order_by("resolved_at", "id").limit(MAX_BULK)
        return ArchiveRun(days, cutoff, total, [c.display_number for c in rows],
                          max(0, total - MAX_BULK), True, in_force.number)  # fmt: skip
    numbers: list[str] = []
    async with in_transaction() as conn:
        rows = (
            await _eligible(principal, cutoff)
            .order_by("resolved_at", "id")
            .limit(MAX_BULK)
            .select_for_update()
            .using_db(conn)
        )
        for case in rows:
            old = {"status": case.status.value, "version": case.version}
            case.version += 1
            case.archived_at = now
            await (
                scoped(Case, principal)
                .filter(id=case.id)
                .using_db(conn)
                .update(archived_at=now, version=case.version)
            )
            facts = {"archived": True, "older_than_days": days, "bulk": True}
            await case_history(principal, conn, case, "archive", case.status, facts, now)
            await record(
                principal, conn, "case.archive", "case", case.id,
                old=old, new={"status": case.status.value, "version": case.version, **facts},
            )  # fmt: skip
            numbers.append(case.display_number)
    return ArchiveRun(days, cutoff, len(numbers), numbers, max(0, total - len(numbers)), False,
                      in_force.number)  # fmt: skip


async def archive_preview(principal: Principal) -> ArchiveRun:
    """How many cases the bulk archive would take now under the policy (the cases page's count:
    one COUNT, no rows; `case_numbers` is empty)."""
    principal.require(Perm.CASE_WORK)
    in_force = await current_policy(principal.org_id)
    days = in_force.policy.archive_resolved_after_days
    cutoff = datetime.now(UTC) - timedelta(days=days)
    total = await _eligible(principal, cutoff).count()
    return ArchiveRun(days, cutoff, total, [], max(0, total - MAX_BULK), True, in_force.number)
