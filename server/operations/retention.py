"""Retention per organization (issue 15, docs/RETENTION.md): how long alerts, runs, assistant
answers and sessions are kept, and the enforcement that removes what is older.

One service per capability, used by GraphQL, the page, the CLI and the daily job alike:

- `get_policy` / `set_policy`: the organization's periods (`RetentionPolicy`; a period of None
  keeps that kind forever, and an organization without a row keeps everything);
- `enforce`: remove what the policy says is past, in bounded batches, each batch one
  transaction that also adds its counts to the run's `RetentionRun` row; the run ends with one
  `retention.enforced` audit event carrying the counts. A batch of runs removes their artifact
  records; once it committed, the files those records held (in the artifact store and any
  quarantine copy) are deleted, unless a record that stays still references them, and the run
  counts them (`artifact_files` deleted, `artifact_files_missing`: removed artifacts whose file
  was found nowhere). A crash between the commit and the deletion leaves unreferenced files,
  never a record without its file;
- `enforce_all`: the daily job, every organization with a policy;
- `list_runs`: what the recent enforcements removed.

Never removed: open work. An alert is removed only once closed (counted from `closed_at`) and
not linked to a case still open; a run is kept while quarantined, linked to a case still open,
or waiting for a rerun decision; an assistant answer is kept while pending; a session only
once it ended (expired or revoked). Audit events are never removed by retention
(`riskops audit archive` moves old ones out, verified: docs/AUDIT.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import Actor, Entry, RiskLevel, system_actor
from riskops.server.assistant.models import AssistantResponse, ResponseStatus
from riskops.server.core import validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit import artifacts
from riskops.server.credit.models import RerunRequest, RerunStatus, Run, RunArtifact
from riskops.server.identity.models import Session
from riskops.server.identity.orgs import lock_organization
from riskops.server.operations.retention_models import RetentionPolicy, RetentionRun
from riskops.server.triage.models import (
    Alert,
    AlertEvent,
    AlertStatus,
    Case,
    CaseAlert,
    CaseStatus,
    InfoRequest,
    RuleHit,
    SignalContribution,
)

KINDS = ("alerts", "runs", "assistant", "sessions")
# In a run's `removed`, beside the rows per kind: the artifact files deleted with removed runs
# (store and quarantine copies), and the removed artifacts whose file was found nowhere.
FILES_REMOVED = "artifact_files"
FILES_MISSING = "artifact_files_missing"
KIND_TEXT = {
    "alerts": "closed alerts",
    "runs": "runs",
    "assistant": "assistant answers",
    "sessions": "ended sessions",
}
MAX_DAYS = 36_500  # a hundred years: longer is "keep forever", i.e. no period
BATCH = 500  # rows removed per transaction
TRIGGERS = ("job", "cli", "page", "api")
OPEN_CASE = (CaseStatus.OPEN, CaseStatus.INVESTIGATING, CaseStatus.PENDING_APPROVAL)


@dataclass(frozen=True)
class Periods:
    alerts_days: int | None = None
    runs_days: int | None = None
    assistant_days: int | None = None
    sessions_days: int | None = None

    def of(self, kind: str) -> int | None:
        value: int | None = getattr(self, f"{kind}_days")
        return value

    def as_dict(self) -> dict[str, int | None]:
        return {f"{k}_days": self.of(k) for k in KINDS}


def periods_of(policy: RetentionPolicy | None) -> Periods:
    if policy is None:
        return Periods()
    return Periods(
        policy.alerts_days, policy.runs_days, policy.assistant_days, policy.sessions_days
    )


def _days(value: Any, kind: str) -> int | None:
    if value is None or value == "":
        return None
    field = f"{kind}_days"
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = int(text)
        except ValueError:
            raise Invalid(
                f"Keep {KIND_TEXT[kind]} for: '{text[:40]}' is not a whole number of days. "
                "Give a number of days from 1 to 36,500, or leave it empty to keep them forever.",
                field=field,
            ) from None
    days: int = validation.number(
        value, field, lo=1, hi=MAX_DAYS, whole=True, label=f"Keep {KIND_TEXT[kind]} for (days)"
    )
    return days


async def get_policy(principal: Principal) -> RetentionPolicy | None:
    """The organization's policy (None: no row yet, everything is kept)."""
    principal.require(Perm.RETENTION_MANAGE)
    return await scoped(RetentionPolicy, principal).first()


async def set_policy(principal: Principal, **raw: Any) -> RetentionPolicy:
    """Set the organization's periods: `alerts_days`, `runs_days`, `assistant_days`,
    `sessions_days`, each a whole number of days (1 to 36,500) or None (keep forever). Periods
    not given keep their value. Audited as `retention.policy_set` with the old and new values."""
    principal.require(Perm.RETENTION_MANAGE)
    unknown = sorted(set(raw) - {f"{k}_days" for k in KINDS})
    if unknown:
        raise Invalid(f"unknown retention period(s): {', '.join(unknown)}.", field=unknown[0])
    given = {f"{k}_days": _days(raw[f"{k}_days"], k) for k in KINDS if f"{k}_days" in raw}
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        await lock_organization(principal, conn)
        policy = await scoped(RetentionPolicy, principal).using_db(conn).first()
        old = periods_of(policy).as_dict()
        if policy is None:
            policy = await RetentionPolicy.create(
                org_id=principal.org_id,
                updated_at=now,
                updated_by=principal.actor.actor,
                using_db=conn,
                **given,
            )
        else:
            for name, value in given.items():
                setattr(policy, name, value)
            policy.updated_at = now
            policy.updated_by = principal.actor.actor
            policy.version += 1
            await policy.save(using_db=conn)
        new = periods_of(policy).as_dict()
        await record(
            principal, conn, "retention.policy_set", "retention_policy", policy.id,
            old=old, new=new, risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    return policy


async def removed_responses(principal: Principal, ids: Iterable[int | None]) -> set[int]:
    """Of these assistant answer ids (the answers case notes began as a draft of), those that no
    longer exist: removed by retention. A note keeps its `from_response_id`, as a fact of its
    origin; the pages and GraphQL say "since removed" instead of linking to nothing (case.read,
    and only the caller's organization: another's id reads as removed, never as present)."""
    principal.require(Perm.CASE_READ)
    wanted = {int(i) for i in ids if i is not None}
    if not wanted:
        return set()
    present = await (
        scoped(AssistantResponse, principal)
        .filter(id__in=sorted(wanted))
        .values_list("id", flat=True)
    )
    return wanted - {int(i) for i in present}  # type: ignore[call-overload]


async def list_runs(principal: Principal, limit: int = 20) -> list[RetentionRun]:
    principal.require(Perm.RETENTION_MANAGE)
    limit = validation.page_size(limit, 100)
    return (
        await scoped(RetentionRun, principal).order_by("-started_at", "-id").limit(limit).all()
    )  # fmt: skip


async def enforce(
    principal: Principal, *, trigger: str = "api", now: datetime | None = None
) -> RetentionRun | None:
    """Enforce the caller's organization policy now (the CLI's `retention run`). None when the
    organization keeps everything (no policy, or every period empty)."""
    principal.require(Perm.RETENTION_MANAGE)
    if trigger not in TRIGGERS:
        raise Invalid(f"trigger must be one of {', '.join(TRIGGERS)}.", field="trigger")
    return await enforce_org(principal.org_id, principal.actor, trigger=trigger, now=now)


async def enforce_all(now: datetime | None = None) -> list[RetentionRun]:
    """The daily job: every organization that has a policy, each as the system."""
    rows = await RetentionPolicy.all().order_by("org_id").values("org_id")
    runs = []
    for org_id in (int(r["org_id"]) for r in rows):
        run = await enforce_org(org_id, system_actor(org_id), trigger="job", now=now)
        if run is not None:
            runs.append(run)
    return runs


async def enforce_org(
    org_id: int, actor: Actor, *, trigger: str, now: datetime | None = None
) -> RetentionRun | None:
    policy = await scoped(RetentionPolicy, org_id=org_id).first()
    periods = periods_of(policy)
    if all(periods.of(k) is None for k in KINDS):
        return None
    started = now or datetime.now(UTC)
    cutoffs = {
        k: started - timedelta(days=days) for k in KINDS if (days := periods.of(k)) is not None
    }
    run = await RetentionRun.create(
        org_id=org_id,
        started_at=started,
        trigger=trigger,
        removed={k: 0 for k in cutoffs},
        kept={},
        cutoffs={k: c.isoformat() for k, c in cutoffs.items()},
    )
    for kind, cutoff in cutoffs.items():
        while True:
            files: list[ArtifactFile] = []
            async with in_transaction() as conn:
                n = await _REMOVERS[kind](org_id, cutoff, conn, files)
                if n:
                    run.removed = {**run.removed, kind: run.removed[kind] + n}
                    await run.save(using_db=conn, update_fields=["removed"])
            if files:  # committed: the records are gone, now their files
                gone, missing = await remove_files(org_id, files)
                run.removed = {
                    **run.removed,
                    FILES_REMOVED: run.removed.get(FILES_REMOVED, 0) + gone,
                    FILES_MISSING: run.removed.get(FILES_MISSING, 0) + missing,
                }
                await run.save(update_fields=["removed"])
            if n < BATCH:
                break
    run.kept = {k: await _KEEPERS[k](org_id, c) for k, c in cutoffs.items() if k in _KEEPERS}
    async with in_transaction() as conn:
        run.finished_at = datetime.now(UTC)
        await run.save(using_db=conn, update_fields=["kept", "finished_at"])
        await store.append(
            actor,
            Entry(
                "retention.enforced",
                "retention_run",
                run.id,
                {},
                {
                    "trigger": trigger,
                    "removed": run.removed,
                    "kept_open_work": run.kept,
                    "cutoffs": run.cutoffs,
                },
                RiskLevel.MEDIUM,
            ),
            conn,
        )
    return run


# --- what each kind removes ---------------------------------------------------------------------


def _alerts_due(cutoff: datetime) -> Q:
    return Q(status=AlertStatus.CLOSED, closed_at__lt=cutoff)


def _open_cases(org_id: int) -> Subquery:
    return Subquery(scoped(Case, org_id=org_id).filter(status__in=list(OPEN_CASE)).values("id"))


def _alerts_held(org_id: int) -> Subquery:
    """The alerts an open case of the organization holds (open work)."""
    return Subquery(CaseAlert.filter(case_id__in=_open_cases(org_id)).values("alert_id"))


async def _remove_alerts(
    org_id: int, cutoff: datetime, conn: BaseDBAsyncClient, files: list[ArtifactFile]
) -> int:
    """Closed alerts past the period, not linked to an open case, with their history, rule
    hits, signals, questions and case links (the rows that point at them)."""
    ids = [
        int(i)  # type: ignore[call-overload]
        for i in await scoped(Alert, org_id=org_id)
        .filter(_alerts_due(cutoff))
        .exclude(id__in=_alerts_held(org_id))
        .order_by("id")
        .limit(BATCH)
        .using_db(conn)
        .values_list("id", flat=True)
    ]
    if not ids:
        return 0
    for child in (RuleHit, SignalContribution, AlertEvent, InfoRequest, CaseAlert):
        await child.filter(alert_id__in=ids).using_db(conn).delete()
    return await scoped(Alert, org_id=org_id).filter(id__in=ids).using_db(conn).delete()


async def _kept_alerts(org_id: int, cutoff: datetime) -> int:
    """Closed alerts past the period kept because an open case holds them."""
    return (
        await scoped(Alert, org_id=org_id)
        .filter(_alerts_due(cutoff), id__in=_alerts_held(org_id))
        .count()
    )


def _runs_due(org_id: int, cutoff: datetime) -> Q:
    """Runs started before the cutoff that are not open work: not quarantined, not held by an
    open case, not waiting for a rerun decision."""
    waiting = Subquery(
        scoped(RerunRequest, org_id=org_id).filter(status=RerunStatus.PENDING).values("run_id")
    )
    return (
        Q(started_at__lt=cutoff, quarantined=False)
        & (Q(case_id=None) | ~Q(case_id__in=_open_cases(org_id)))
        & ~Q(id__in=waiting)
    )


@dataclass(frozen=True)
class ArtifactFile:
    """A file riskops holds for a removed artifact record: in the store, and in quarantine if it
    was ever moved there (a release moves it back, a crash may leave it in either)."""

    uri: str
    quarantine_path: str | None


async def remove_files(org_id: int, files: list[ArtifactFile]) -> tuple[int, int]:
    """Delete the files of artifact records of organization `org_id` that a committed transaction
    removed; returns (files deleted, artifacts whose file was found nowhere). A file another record
    still references (the same URI or quarantine path on a run that stays) is never deleted, nor
    counted missing. Managed files live in their organization's folder (`artifacts.check_owner`,
    `artifacts.quarantine_path`), so only that organization's runs can reference them."""
    deleted = missing = 0
    for f in files:
        if await RunArtifact.filter(run__org_id=org_id, uri=f.uri).exists():
            continue  # still referenced by a record that stays
        held = [artifacts.stored_path(f.uri)]
        if (
            f.quarantine_path
            and not await RunArtifact.filter(
                run__org_id=org_id, quarantine_path=f.quarantine_path
            ).exists()
        ):
            held.append(artifacts.quarantine_root() / f.quarantine_path)
        gone = sum(_unlink(p) for p in held)
        deleted += gone
        missing += gone == 0
    return deleted, missing


def _unlink(path: Path) -> bool:
    """Delete a file and its run folder once empty; False when it was not there."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    with contextlib.suppress(OSError):  # other files of the run are still there
        path.parent.rmdir()
    return True


async def _remove_runs(
    org_id: int, cutoff: datetime, conn: BaseDBAsyncClient, files: list[ArtifactFile]
) -> int:
    """Runs started before the period, unless quarantined, linked to an open case or waiting
    for a rerun decision; with their artifact records and decided rerun requests. Reruns of a
    removed run keep existing (their `rerun_of` is cleared). The files of the removed artifact
    records are added to `files`, for the caller to delete once the transaction committed."""
    ids = [
        int(i)  # type: ignore[call-overload]
        for i in await scoped(Run, org_id=org_id)
        .filter(_runs_due(org_id, cutoff))
        .order_by("id")
        .limit(BATCH)
        .using_db(conn)
        .values_list("id", flat=True)
    ]
    if not ids:
        return 0
    records = RunArtifact.filter(run_id__in=ids).using_db(conn)
    files += [
        ArtifactFile(a["uri"], a["quarantine_path"])
        for a in await records.values("uri", "quarantine_path")
        if artifacts.is_managed(a["uri"])  # an external reference has no file riskops holds
    ]
    await records.delete()
    await scoped(RerunRequest, org_id=org_id).filter(run_id__in=ids).using_db(conn).delete()
    await (
        scoped(Run, org_id=org_id)
        .filter(rerun_of_id__in=ids)
        .using_db(conn)
        .update(rerun_of_id=None)
    )
    return await scoped(Run, org_id=org_id).filter(id__in=ids).using_db(conn).delete()


async def _kept_runs(org_id: int, cutoff: datetime) -> int:
    total = await scoped(Run, org_id=org_id).filter(started_at__lt=cutoff).count()
    return total - await scoped(Run, org_id=org_id).filter(_runs_due(org_id, cutoff)).count()


async def _remove_assistant(
    org_id: int, cutoff: datetime, conn: BaseDBAsyncClient, files: list[ArtifactFile]
) -> int:
    """Finished assistant answers created before the period (a pending one is kept)."""
    ids = list(
        await scoped(AssistantResponse, org_id=org_id)
        .filter(created_at__lt=cutoff)
        .exclude(status=ResponseStatus.PENDING)
        .order_by("id")
        .limit(BATCH)
        .using_db(conn)
        .values_list("id", flat=True)
    )
    if not ids:
        return 0
    return await scoped(AssistantResponse, org_id=org_id).filter(id__in=ids).using_db(conn).delete()


async def _remove_sessions(
    org_id: int, cutoff: datetime, conn: BaseDBAsyncClient, files: list[ArtifactFile]
) -> int:
    """Sessions that ended (revoked, or expired) before the period; a live one is never
    removed, however old."""
    ids = list(
        await scoped(Session, org_id=org_id)
        .filter(Q(revoked_at__lt=cutoff) | Q(expires_at__lt=cutoff))
        .order_by("id")
        .limit(BATCH)
        .using_db(conn)
        .values_list("id", flat=True)
    )
    if not ids:
        return 0
    return await scoped(Session, org_id=org_id).filter(id__in=ids).using_db(conn).delete()


_REMOVERS = {
    "alerts": _remove_alerts,
    "runs": _remove_runs,
    "assistant": _remove_assistant,
    "sessions": _remove_sessions,
}
_KEEPERS = {"alerts": _kept_alerts, "runs": _kept_runs}
