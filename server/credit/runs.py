"""Reading the run ledger: the filtered, keyset-paged list, one run and its detail (the policy it
was classified under, its open rerun request), and the runs of a case."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.expressions import Q, RawSQL
from tortoise.queryset import QuerySet

from riskops.server.core import approvals, validation
from riskops.server.core.approvals import Decision
from riskops.server.core.audit_trail import access
from riskops.server.core.errors import Invalid, not_found
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import parse_id, scoped
from riskops.server.credit import policy as controls
from riskops.server.credit.models import (
    Baseline,
    PolicyVersion,
    RerunRequest,
    RerunStatus,
    Run,
    RunArtifact,
    Scenario,
)
from riskops.server.credit.recording import MAX_PAGE
from riskops.server.credit.reruns import OPEN_RERUN
from riskops.server.credit.terms import Policy, RiskFlag, Severity
from riskops.server.triage.models import Case


@dataclass(frozen=True)
class RunFilter:
    severities: Sequence[str] = ()  # SEV0..SEV3, "none" (no severity)
    scenario: str | None = None
    flag: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    quarantined: bool | None = None


@dataclass(frozen=True)
class RunPage:
    runs: list[Run]
    has_next: bool
    end_cursor: str | None


def encode_cursor(run: Run, *, sync: bool = False) -> str:
    """The run's cursor: (started_at, id), or in a sync (`updated_after`) (updated_at, id)."""
    at = run.updated_at if sync else run.started_at
    raw = f"{_SYNC if sync else 'run'}:{at.astimezone(UTC).isoformat()}|{run.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


_SYNC = "runsync"


def decode_cursor(cursor: str, *, sync: bool = False) -> tuple[datetime, int]:
    try:
        kind, _, rest = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        at, _, pk = rest.rpartition("|")
        when, ident = datetime.fromisoformat(at), int(pk)
        if kind != (_SYNC if sync else "run") or when.tzinfo is None:
            raise ValueError
        if not 1 <= ident <= 2**31 - 1:
            raise ValueError
        return when, ident
    except (ValueError, UnicodeError, binascii.Error):
        with_sync = " of the same sync (updatedAfter)" if sync else ""
        raise Invalid(
            f"after: not a cursor returned by this API; pass a pageInfo.endCursor{with_sync}.",
            field="after",
        ) from None


def _severity_filter(values: Sequence[str]) -> Q | None:
    if not values:
        return None
    names = {s.value for s in Severity}
    bad = [v for v in values if v not in names and v != "none"]
    if bad:
        raise Invalid(
            f"severity {', '.join(map(repr, bad))} is unknown; use SEV0, SEV1, SEV2, SEV3 or none.",
            field="severity",
        )
    q = Q(severity__in=[v for v in values if v in names])
    if "none" in values:
        q |= Q(severity__isnull=True)
    return q


def with_flag(q: QuerySet[Run], *flags: str) -> QuerySet[Run]:
    """Narrow `q` to the runs flagged with any of `flags` (risk flag names; an unknown one is
    Invalid): the ledger's flag filter, and the PII runs of the false-positive rate."""
    known = {f.value for f in RiskFlag}
    for flag in flags:
        if flag not in known:
            raise Invalid(
                f"Flag {flag!r} is unknown; choose one of {validation.choices(RiskFlag)}.",
                field="flag",
            )
    if Run._meta.db.capabilities.dialect == "postgres":
        # jsonb @> per flag (a GIN index can serve it)
        return q.filter(Q(*(Q(flags__contains=[f]) for f in flags), join_type="OR"))
    # SQLite has no JSON containment in Tortoise: a flag (a known name, safe to inline) quoted
    # as in the stored JSON text cannot match inside another name.
    found = " + ".join(f'instr("flags", \'"{f}"\')' for f in flags)
    return q.annotate(_flag_at=RawSQL(found)).filter(_flag_at__gt=0)


def apply_run_filter(q: QuerySet[Run], flt: RunFilter) -> QuerySet[Run]:
    """Narrow `q` by the ledger's filter (checked as it is applied: an unknown severity or
    flag is Invalid): what `list_runs` applies, for whoever counts or validates the same rows."""
    sev = _severity_filter(flt.severities)
    if sev is not None:
        q = q.filter(sev)
    if flt.scenario:
        q = q.filter(scenario__key=flt.scenario)
    if flt.flag:
        q = with_flag(q, flt.flag)
    if flt.since is not None:
        q = q.filter(started_at__gte=flt.since)
    if flt.until is not None:
        q = q.filter(started_at__lt=flt.until)
    if flt.quarantined is not None:
        q = q.filter(quarantined=flt.quarantined)
    return q


async def list_runs(
    principal: Principal,
    flt: RunFilter | None = None,
    *,
    first: int = 50,
    after: str | None = None,
    within: Sequence[RunFilter] = (),
) -> RunPage:
    """The ledger, newest first (keyset on started_at, id), filtered. `within`: filters applied
    before `flt`, each narrowing (a saved view's): `flt` never widens them."""
    principal.require(Perm.RUN_READ)
    flt = flt or RunFilter()
    size = validation.page_size(first, MAX_PAGE)
    q = scoped(Run, principal)
    for outer in within:
        q = apply_run_filter(q, outer)
    q = apply_run_filter(q, flt)
    if after:
        at, pk = decode_cursor(after)
        q = q.filter(Q(started_at__lt=at) | Q(started_at=at, id__lt=pk))
    rows = await q.select_related("scenario", "case").order_by("-started_at", "-id").limit(size + 1)
    has_next = len(rows) > size
    rows = rows[:size]
    return RunPage(rows, has_next, encode_cursor(rows[-1]) if rows else None)


async def list_changed_runs(
    principal: Principal,
    flt: RunFilter | None,
    updated_after: datetime,
    *,
    first: int = 50,
    after: str | None = None,
    within: Sequence[RunFilter] = (),
) -> RunPage:
    """Incremental sync: the runs changed after `updated_after` (filtered like `list_runs`),
    oldest change first, keyset on (updated_at, id) with cursors of their own
    (`encode_cursor(run, sync=True)`). The end cursor is given on the last page too: it is
    where the next pass starts."""
    principal.require(Perm.RUN_READ)
    flt = flt or RunFilter()
    size = validation.page_size(first, MAX_PAGE)
    since = validation.updated_after(updated_after)
    q = scoped(Run, principal)
    for outer in within:
        q = apply_run_filter(q, outer)
    q = apply_run_filter(q, flt).filter(updated_at__gt=since)
    if after:
        at, pk = decode_cursor(after, sync=True)
        q = q.filter(Q(updated_at__gte=at) & (Q(updated_at__gt=at) | Q(updated_at=at, id__gt=pk)))
    rows = await q.select_related("scenario", "case").order_by("updated_at", "id").limit(size + 1)
    more = len(rows) > size
    rows = rows[:size]
    return RunPage(rows, more, encode_cursor(rows[-1], sync=True) if rows else None)


def severity_disagrees(run: Run) -> bool:
    """The producer reported a severity (ledger `Severity`) other than the one riskops
    computed. A run reported as none or not reported at all never disagrees."""
    return run.reported_severity is not None and run.reported_severity != run.severity


def dispatch_disagrees(run: Run) -> bool:
    """The producer reported `dispatch_blocked` other than what riskops decided."""
    return (
        run.reported_dispatch_blocked is not None
        and run.reported_dispatch_blocked != run.dispatch_blocked
    )


@dataclass(frozen=True)
class ClassifiedUnder:
    """The thresholds a run was classified with: its stored policy version (0: the built-in
    defaults) and the version in force now (they differ once the policy changed since)."""

    number: int
    policy: Policy
    in_force: int


@dataclass(frozen=True)
class RunDetail:
    run: Run
    scenario: Scenario
    baseline: Baseline | None
    artifacts: list[RunArtifact]
    rerun_requests: list[RerunRequest]
    reruns: list[Run]
    rerun_of: Run | None
    case: Case | None
    classified_under: ClassifiedUnder
    # Each pending rerun request as this caller sees it (maker-checker), by request id.
    rerun_decisions: dict[int, Decision]
    # What this caller may do now, by the rules request_rerun and release_quarantine enforce:
    # ask for a rerun of a gated run with no open request; release a quarantined run.
    can_request_rerun: bool = False
    can_release: bool = False

    @property
    def open_rerun_request(self) -> RerunRequest | None:
        return next((r for r in self.rerun_requests if r.status in OPEN_RERUN), None)


async def classified_under(run: Run) -> ClassifiedUnder:
    current = await controls.current_policy(run.org_id)
    if run.policy_number == current.number:
        return ClassifiedUnder(current.number, current.policy, current.number)
    if run.policy_number == 0:
        return ClassifiedUnder(0, Policy(), current.number)
    row = await scoped(PolicyVersion, org_id=run.org_id).filter(number=run.policy_number).first()
    policy = Policy.from_dict(row.data) if row is not None else current.policy
    return ClassifiedUnder(run.policy_number, policy, current.number)


async def get_run(principal: Principal, run_pk: str | int) -> Run:
    principal.require(Perm.RUN_READ)
    run = await scoped(Run, principal).filter(id=parse_id("Run", run_pk)).first()
    if run is None:
        raise not_found("Run", run_pk)
    return run


async def get_run_by_run_id(principal: Principal, run_id: str) -> Run:
    """The organization's run with this ledger id (`RUN-123`, what operators and files call it);
    another organization's run reads as missing."""
    principal.require(Perm.RUN_READ)
    run = await scoped(Run, principal).filter(run_id=run_id).first()
    if run is None:
        raise not_found("Run", run_id)
    return run


async def get_run_detail(principal: Principal, run_pk: str | int) -> RunDetail:
    """A run with why it got its severity; viewing it is a data-access event (`run.view`)."""
    run = await get_run(principal, run_pk)
    await run.fetch_related("scenario", "case", "rerun_of")
    requests = (
        await scoped(RerunRequest, principal)
        .filter(run_id=run.id)
        .select_related("requested_by", "decided_by")
        .order_by("-id")
    )
    open_request = next((r for r in requests if r.status in OPEN_RERUN), None)
    detail = RunDetail(
        run=run,
        scenario=run.scenario,
        baseline=await scoped(Baseline, principal).get_or_none(scenario_id=run.scenario_id),
        artifacts=await RunArtifact.filter(run_id=run.id).order_by("id"),
        rerun_requests=requests,
        reruns=await scoped(Run, principal)
        .filter(rerun_of_id=run.id)
        .select_related("scenario", "case")
        .order_by("started_at"),
        rerun_of=run.rerun_of,
        case=run.case,
        classified_under=await classified_under(run),
        rerun_decisions={
            r.id: approvals.decision_for(principal, Perm.RUN_APPROVE, r.requested_by_id)
            for r in requests
            if r.status is RerunStatus.PENDING
        },
        can_request_rerun=(
            principal.can(Perm.RERUN_REQUEST) and run.rerun_gate and open_request is None
        ),
        can_release=principal.can(Perm.RUN_APPROVE) and run.quarantined,
    )
    await access(principal, "run.view", "run", run.id, detail={"run_id": run.run_id})
    return detail


async def runs_of_case(principal: Principal, case_id: int) -> list[Run]:
    """All the runs linked to a case (a SEV0/SEV1 run opens its case), newest first: what the
    case page lists and counts, and GraphQL's `case { runIds }` (Related_Run_IDs). No limit: a
    list cut short would hide runs that decide who may resolve the case, under a count that
    looks complete."""
    principal.require(Perm.RUN_READ)
    q = scoped(Run, principal).filter(case_id=case_id).select_related("scenario")
    return list(await q.order_by("-started_at", "-id"))
