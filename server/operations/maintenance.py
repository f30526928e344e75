"""Maintenance (read-only) mode (issue 15, seed 003 DO-001, EP-001/002, IR-002).

While a period is on, every write of the organization answers 503 with the period's reason:
GraphQL mutations (`graphql/app.py`'s `MaintenanceGuard`), page form POSTs (`ui.common.posts.
form_post`) and jobs (`jobs.runner.run_job`). Reads keep working, and so do signing in and out
(a person must be able to sign in to read; their session rows are not business data), ending
or changing the period itself, and audit events (they are written by the services, never
refused here). A period holds one organization (an admin of it, from the page or the API) or
every organization (`org_id` None: only from the CLI on the machine, `riskops maintenance on`
without `--org`).

The check costs one indexed query (`maintenance_period (org_id, ended_at)`): `active_for` reads
the open period of the organization and the installation-wide one together. Every face asks
that function, so a period started by another process is seen by the very next write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import SYSTEM_ORG, Actor, Entry, RiskLevel
from riskops.server.core import validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict, DomainError, ErrorCode, Invalid
from riskops.server.core.formatting import when
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.operations.models import MaintenancePeriod

MAX_REASON = 500
RETRY_AFTER_SECONDS = 60
# The GraphQL mutations that still run while a period is on: ending it, and starting one (which
# answers "already on" then). Signing in and out are pages, never refused.
ALLOWED_MUTATIONS = frozenset({"startMaintenance", "endMaintenance"})
# The job kinds that still run: the audit's own (audit events still write), the delivery of
# messages already written (a password-reset link must still reach a person who signs in to
# read), and the view counts reading pages ask for (a cache of what is read, not data). Every
# other job writes the organization's data and fails with the reason.
ALLOWED_JOBS = frozenset({"audit.checkpoint", "audit.flush_spool", "outbox.deliver", "view.count"})


@dataclass(frozen=True)
class Maintenance:
    """The period a caller is under: its own organization's, or the installation-wide one."""

    id: int
    org_id: int | None  # None: every organization (started on the machine)
    reason: str
    started_at: datetime
    started_by: str

    @property
    def everywhere(self) -> bool:
        return self.org_id is None

    @classmethod
    def of(cls, p: MaintenancePeriod) -> Maintenance:
        return cls(p.id, p.org_id, p.reason, p.started_at, p.started_by)


class UnderMaintenance(DomainError):
    """A write refused because a maintenance period is on: 503 with the reason on every face."""

    code = ErrorCode.UNAVAILABLE

    def __init__(self, period: Maintenance) -> None:
        scope = "riskops" if period.everywhere else "Your organization"
        super().__init__(
            f"{scope} is in read-only maintenance since {when(period.started_at)}: "
            f"{period.reason} Nothing was changed; reading still works. Try again once it ends "
            "(an admin ends it on Admin > Maintenance"
            + (", or `riskops maintenance off` on the server)." if period.everywhere else ").")
        )
        self.period = period


async def active_for(org_id: int | None) -> Maintenance | None:
    """The open period `org_id` is under (the installation-wide one first), or None; with no
    organization (nobody signed in), the installation-wide one only. One indexed query."""
    where = Q(org_id=None) if org_id is None else Q(org_id=org_id) | Q(org_id=None)
    rows = await MaintenancePeriod.filter(where, ended_at=None).order_by("id").limit(2)
    if not rows:
        return None
    chosen = next((p for p in rows if p.org_id is None), rows[0])
    return Maintenance.of(chosen)


async def refuse_writes(org_id: int | None) -> None:
    """Raise `UnderMaintenance` when `org_id` is under a period (every face's one check)."""
    period = await active_for(org_id)
    if period is not None:
        raise UnderMaintenance(period)


async def refuse_job(kind: str, org_id: int | None) -> None:
    """`jobs.runner.run_job`'s check: a job that writes fails with the reason while its
    organization (or every organization) is read-only."""
    if kind not in ALLOWED_JOBS:
        await refuse_writes(org_id)


def _reason(reason: str | None) -> str:
    if not (reason or "").strip():
        raise Invalid(
            "Reason is required: say why writes stop (it is shown to everyone who tries one), "
            f"in at most {MAX_REASON} characters.",
            field="reason",
        )
    return validation.text(reason, "reason", max_len=MAX_REASON)


def _who(principal: Principal) -> str:
    return principal.actor.actor


async def status(principal: Principal) -> Maintenance | None:
    """The period the caller's organization is under, if any (every signed-in person may see it:
    the banner shows it to all)."""
    return await active_for(principal.org_id)


async def history(principal: Principal, *, limit: int = 20) -> list[MaintenancePeriod]:
    """The organization's periods, newest first (ops.read)."""
    principal.require(Perm.OPS_READ)
    return await scoped(MaintenancePeriod, principal).order_by("-id").limit(limit)


async def start(principal: Principal, reason: str, *, by: str | None = None) -> Maintenance:
    """Put the caller's organization in read-only mode (maintenance.manage), audited. `by`
    names who for the period's row when the caller is the CLI (`cli:<os user>`)."""
    principal.require(Perm.MAINTENANCE_MANAGE)
    text = _reason(reason)
    async with in_transaction() as conn:
        current = await active_for(principal.org_id)
        if current is not None:
            raise Conflict(_already_on(current))
        period = await MaintenancePeriod.create(
            org_id=principal.org_id, reason=text, started_at=datetime.now(UTC),
            started_by=by or _who(principal), using_db=conn,
        )  # fmt: skip
        await record(principal, conn, "maintenance.start", "maintenance_period", period.id,
                     new={"reason": text}, risk=RiskLevel.HIGH)  # fmt: skip
    return Maintenance.of(period)


def _already_on(current: Maintenance) -> str:
    where = "riskops (every organization)" if current.everywhere else "your organization"
    return (
        f"Maintenance is already on for {where} since {when(current.started_at)} "
        f"({current.reason}); end it first."
    )


async def end(principal: Principal, *, by: str | None = None) -> MaintenancePeriod:
    """End the caller's organization's period (maintenance.manage), audited. The installation-
    wide period is ended on the machine only (`riskops maintenance off`)."""
    principal.require(Perm.MAINTENANCE_MANAGE)
    async with in_transaction() as conn:
        period = (
            await scoped(MaintenancePeriod, principal)
            .filter(ended_at=None)
            .select_for_update()
            .using_db(conn)
            .first()
        )
        if period is None:
            everywhere = await active_for(None)
            if everywhere is not None:
                raise Conflict(
                    "This maintenance covers every organization: it was started on the server "
                    "and ends there (`riskops maintenance off`)."
                )
            raise Conflict("Maintenance is not on for your organization: nothing to end.")
        period.ended_at, period.ended_by = datetime.now(UTC), by or _who(principal)
        await period.save(using_db=conn, update_fields=["ended_at", "ended_by"])
        await record(principal, conn, "maintenance.end", "maintenance_period", period.id,
                     old={"reason": period.reason}, risk=RiskLevel.HIGH)  # fmt: skip
    return period


# --------------------------------------------------------------------------- on the machine


async def start_everywhere(actor: Actor, reason: str, *, by: str | None = None) -> Maintenance:
    """`riskops maintenance on` without --org: every organization, audited in the platform's
    chain (`actor` is the CLI's, org 0)."""
    text = _reason(reason)
    async with in_transaction() as conn:
        current = await active_for(None)
        if current is not None:
            raise Conflict(_already_on(current))
        period = await MaintenancePeriod.create(
            org_id=None, reason=text, started_at=datetime.now(UTC), started_by=by or actor.actor,
            using_db=conn,
        )  # fmt: skip
        entry = Entry("maintenance.start", "maintenance_period", period.id, {},
                      {"reason": text, "scope": "every organization"}, RiskLevel.HIGH)  # fmt: skip
        await store.append(_platform(actor), entry, conn)
    return Maintenance.of(period)


async def end_everywhere(actor: Actor, *, by: str | None = None) -> MaintenancePeriod:
    """`riskops maintenance off` without --org: ends the installation-wide period."""
    async with in_transaction() as conn:
        period = (
            await MaintenancePeriod.filter(org_id=None, ended_at=None)
            .select_for_update()
            .using_db(conn)
            .first()
        )
        if period is None:
            raise Conflict(
                "No maintenance is on for every organization: nothing to end (an organization's "
                "own period ends with --org ORG)."
            )
        period.ended_at, period.ended_by = datetime.now(UTC), by or actor.actor
        await period.save(using_db=conn, update_fields=["ended_at", "ended_by"])
        entry = Entry("maintenance.end", "maintenance_period", period.id,
                      {"reason": period.reason, "scope": "every organization"}, {},
                      RiskLevel.HIGH)  # fmt: skip
        await store.append(_platform(actor), entry, conn)
    return period


def _platform(actor: Actor) -> Actor:
    return Actor(org_id=SYSTEM_ORG, actor=actor.actor, actor_type=actor.actor_type)


async def open_periods() -> list[MaintenancePeriod]:
    """Every open period, of any organization (`riskops status`, installation-wide)."""
    return await MaintenancePeriod.filter(ended_at=None).order_by("id")
