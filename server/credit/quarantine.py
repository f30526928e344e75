"""Quarantine of a run's artifacts by hand, its release, and the declassification of a PII or
regulatory flag found to be a false positive (seed 002 "Quarantine Procedure", troubleshooting
"False positive PII flag").

    quarantine_run   (run.approve)  an approver quarantines a run by hand, with a reason (kept on
                                    the run, `quarantine_reason`, and as a note on its case; the
                                    audit event carries its length): the managed files move
                                    aside exactly as for a SEV0 (`artifacts.move_to_quarantine`)
                                    and dispatch is blocked
    release_quarantine (run.approve) after the run's case is resolved (a run quarantined by hand
                                    without a case has none to wait for), every held file
                                    re-hashed before it goes back
    declassify_run   (run.approve)  the run's pii_exposure / regulatory_data flag was a false
                                    positive: declassified_at/by set, the note on its case;
                                    optionally released in the same transaction

Files move only after the commit (a rolled-back decision moves nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server.core import validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict, Invalid, not_found
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.core.versioning import check_version, parse_version
from riskops.server.credit import artifacts
from riskops.server.credit.auto_actions import CLOSED_CASE
from riskops.server.credit.models import (
    Run,
    RunArtifact,
)
from riskops.server.credit.recording import MAX_REASON, locked_run, log
from riskops.server.credit.terms import RiskFlag
from riskops.server.identity import users
from riskops.server.triage.cases import note_in
from riskops.server.triage.models import Case

# The flags a declassification answers (seed 002: "Run flagged with pii_exposure but no PII
# actually accessed"; regulatory data is quarantined the same way).
SENSITIVE = (RiskFlag.PII_EXPOSURE.value, RiskFlag.REGULATORY_DATA.value)


@dataclass(frozen=True)
class Release:
    run: Run
    checks: list[artifacts.Check]


@dataclass(frozen=True)
class Declassification:
    run: Run
    release: Release | None  # when released in the same step


def _who(principal: Principal) -> str:
    return principal.name or principal.email or principal.actor.actor


async def _case_of(principal: Principal, conn: BaseDBAsyncClient, run: Run) -> Case | None:
    if not run.case_id:
        return None
    return await scoped(Case, principal).filter(id=run.case_id).using_db(conn).first()


# --- manual quarantine ---------------------------------------------------------------------------


async def quarantine_run(
    principal: Principal, run_pk: str | int, reason: str, *, expected_version: int
) -> Run:
    """Quarantine a run's artifacts by hand (approvers): its managed files move to the
    quarantine as a SEV0's do, dispatch is blocked, the reason is kept on the run (and on its
    case, if it has one). An already quarantined run is refused, saying since when and why."""
    principal.require(Perm.RUN_APPROVE)
    reason = validation.long_text(
        reason, "reason", max_len=MAX_REASON, why="say why the artifacts must be held"
    )
    parse_version(expected_version)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        run = await locked_run(principal, conn, run_pk)
        check_version(
            f"Run {run.run_id}", run.version, expected_version, quarantined=run.quarantined,
            verb="quarantine it",
        )  # fmt: skip
        if run.quarantined:
            how = "by hand" if run.quarantine_reason else "automatically (SEV0)"
            raise Conflict(
                f"Run {run.run_id} is already quarantined ({how}); release it first if its "
                "quarantine must be applied again.",
                field="run_id",
            )
        arts = await RunArtifact.filter(run_id=run.id).using_db(conn).order_by("id")
        moves: list[tuple[str, str]] = []
        await (
            RunArtifact.filter(run_id=run.id)
            .using_db(conn)
            .update(quarantined_at=now, released_at=None)
        )
        for a in arts:
            if not artifacts.is_managed(a.uri):
                continue  # an external reference: its quarantine is the blocked dispatch
            qpath = a.quarantine_path or artifacts.quarantine_path(
                principal.org_id, run.run_id, a.uri
            )
            moves.append((a.uri, qpath))
            if a.quarantine_path is None:
                await (
                    RunArtifact.filter(id=a.id, run_id=run.id)
                    .using_db(conn)
                    .update(quarantine_path=qpath)
                )
        blocked = run.dispatch_blocked
        await (
            scoped(Run, principal)
            .filter(id=run.id)
            .using_db(conn)
            .update(
                quarantined=True, dispatch_blocked=True, quarantine_reason=reason,
                version=run.version + 1, updated_at=now,
            )
        )  # fmt: skip
        run.quarantined, run.dispatch_blocked, run.quarantine_reason = True, True, reason
        run.version += 1
        case = await _case_of(principal, conn, run)
        if case is not None:
            await note_in(
                principal, conn, case,
                f"Run {run.run_id} quarantined by hand on {now:%Y-%m-%d %H:%M} UTC by "
                f"{_who(principal)}. Reason: {reason}",
                now,
            )  # fmt: skip
        await record(
            principal, conn, "run.quarantine", "run", run.id,
            old={"quarantined": False, "dispatch_blocked": blocked},
            new={"quarantined": True, "dispatch_blocked": True, "manual": True,
                 "reason_length": len(reason), "artifacts_held": len(moves),
                 "case": case.display_number if case else None},
            risk=RiskLevel.HIGH,
        )  # fmt: skip
    for uri, qpath in moves:
        try:
            if not artifacts.move_to_quarantine(uri, qpath):
                log.warning("artifact %s is not in the store; its quarantine is logical", uri)
        except OSError:
            log.exception("could not move artifact %s to quarantine", uri)
    return run


async def quarantine_run_by_run_id(principal: Principal, run_id: str, reason: str) -> Run:
    """`quarantine_run` for the ledger's run id (`RUN-123`, as operators and the CLI name it),
    on the run as it is now: refused before anything is looked up for a non-approver."""
    principal.require(Perm.RUN_APPROVE)
    run = await scoped(Run, principal).filter(run_id=run_id).first()
    if run is None:
        raise not_found("Run", run_id)
    return await quarantine_run(principal, run.id, reason, expected_version=run.version)


# --- release -------------------------------------------------------------------------------------


async def _release(
    principal: Principal, conn: BaseDBAsyncClient, run: Run, reason: str, now: datetime
) -> tuple[list[artifacts.Check], list[tuple[str, str]]]:
    """Release the locked run in `conn`: the checks of its held files and the moves back to do
    after the commit. Its case must be resolved; a run quarantined by hand that has no case has
    nothing to wait for."""
    if not run.quarantined:
        raise Conflict(f"Run {run.run_id} is not quarantined.", field="run_id")
    case = await _case_of(principal, conn, run)
    manual_without_case = case is None and run.quarantine_reason is not None
    if not manual_without_case and (case is None or case.status not in CLOSED_CASE):
        state = f"{case.display_number} is {case.status.value}" if case else "it has no case"
        raise Conflict(
            f"Run {run.run_id} cannot be released: {state}. Resolve the case first "
            "(root cause, mitigation, approval).",
            field="run_id",
        )
    arts = await RunArtifact.filter(run_id=run.id).using_db(conn).order_by("id")
    checks = [
        artifacts.verify_quarantined(a.uri, a.quarantine_path, a.sha256 or None) for a in arts
    ]
    bad = [c for c in checks if not c.ok]
    if bad:
        raise Conflict(
            "Quarantined artifacts failed verification: "
            + "; ".join(f"{c.uri}: {c.detail}" for c in bad)
            + ". Investigate before release.",
            field="run_id",
        )
    await (
        scoped(Run, principal)
        .filter(id=run.id)
        .using_db(conn)
        .update(quarantined=False, dispatch_blocked=False, version=run.version + 1, updated_at=now)
    )
    run.quarantined, run.dispatch_blocked, run.version = False, False, run.version + 1
    await RunArtifact.filter(run_id=run.id).using_db(conn).update(released_at=now)
    if case is not None:
        await note_in(
            principal, conn, case,
            f"Quarantine of run {run.run_id} released on {now:%Y-%m-%d %H:%M} UTC by "
            f"{_who(principal)}. Reason: {reason}",
            now,
        )  # fmt: skip
    await record(
        principal, conn, "run.release", "run", run.id,
        old={"quarantined": True, "dispatch_blocked": True},
        new={"quarantined": False, "dispatch_blocked": False,
             "case": case.display_number if case else None,
             "verified": [c.detail for c in checks if c.held]},
        risk=RiskLevel.HIGH,
    )  # fmt: skip
    return checks, [(a.uri, a.quarantine_path) for a in arts if a.quarantine_path]


def _move_back(moves: list[tuple[str, str]]) -> None:
    for uri, qpath in moves:
        try:
            artifacts.move_back(uri, qpath)
        except OSError:
            log.exception("could not move artifact %s back from quarantine", uri)


async def release_quarantine(
    principal: Principal, run_pk: str | int, reason: str, *, expected_version: int
) -> Release:
    """Release a quarantined run (approver only): its case must be resolved, and every artifact
    we hold must still have its recorded SHA-256. Dispatch is unblocked; a note goes on the case
    ("Quarantine released on <date> by <name>", seed 002)."""
    principal.require(Perm.RUN_APPROVE)
    reason = validation.long_text(reason, "reason", max_len=MAX_REASON)
    parse_version(expected_version)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        run = await locked_run(principal, conn, run_pk)
        check_version(
            f"Run {run.run_id}", run.version, expected_version, quarantined=run.quarantined
        )
        checks, moves = await _release(principal, conn, run, reason, now)
    _move_back(moves)
    return Release(run, checks)


# --- declassification ----------------------------------------------------------------------------


def sensitive_flags(run: Run) -> list[str]:
    return [f for f in (run.flags or []) if f in SENSITIVE]


async def declassify_run(
    principal: Principal,
    run_pk: str | int,
    note: str,
    *,
    expected_version: int,
    release: bool = False,
) -> Declassification:
    """Mark a run's pii_exposure / regulatory_data flag a false positive (approvers; seed 002
    "False positive PII flag": document it, release from quarantine). The flag stays as it was
    raised; declassified_at/by say an approver found it false, which the monthly false-positive
    rate counts. The note (what was checked) goes on the run's case, so the run needs one.
    With `release`, the quarantine is released in the same step (same rules as a release; if
    it is refused, nothing is declassified either)."""
    principal.require(Perm.RUN_APPROVE)
    note = validation.long_text(
        note, "note", max_len=MAX_REASON, why="say what showed the flag is a false positive"
    )
    parse_version(expected_version)
    if not isinstance(release, bool):
        raise Invalid("release must be true or false.", field="release")
    now = datetime.now(UTC)
    moves: list[tuple[str, str]] = []
    released: Release | None = None
    async with in_transaction() as conn:
        run = await locked_run(principal, conn, run_pk)
        check_version(
            f"Run {run.run_id}", run.version, expected_version, verb="declassify it"
        )  # fmt: skip
        flags = sensitive_flags(run)
        if not flags:
            raise Conflict(
                f"Run {run.run_id} has no pii_exposure or regulatory_data flag: there is "
                "nothing to declassify.",
                field="run_id",
            )
        if run.declassified_at is not None:
            by = await users.name_of(principal, run.declassified_by_id, conn)
            raise Conflict(
                f"Run {run.run_id} was already declassified by {by} at "
                f"{run.declassified_at:%Y-%m-%d %H:%M} UTC.",
                field="run_id",
            )
        case = await _case_of(principal, conn, run)
        if case is None:
            raise Conflict(
                f"Run {run.run_id} has no case to keep the declassification note in: open a "
                "case for it (or link it to one) first.",
                field="run_id",
            )
        await (
            scoped(Run, principal)
            .filter(id=run.id)
            .using_db(conn)
            .update(
                declassified_at=now, declassified_by_id=principal.user_id or None,
                version=run.version + 1, updated_at=now,
            )
        )  # fmt: skip
        run.declassified_at, run.declassified_by_id = now, principal.user_id or None
        run.version += 1
        await note_in(
            principal, conn, case,
            f"Flag {', '.join(flags)} of run {run.run_id} declassified as a false positive on "
            f"{now:%Y-%m-%d %H:%M} UTC by {_who(principal)}. Note: {note}",
            now,
        )  # fmt: skip
        await record(
            principal, conn, "run.declassify", "run", run.id,
            old={"declassified": False},
            new={"declassified": True, "flags": flags, "note_length": len(note),
                 "case": case.display_number, "release": release},
            risk=RiskLevel.HIGH,
        )  # fmt: skip
        if release:
            checks, moves = await _release(
                principal, conn, run, f"PII flag declassified as a false positive. {note}", now
            )
            released = Release(run, checks)
    _move_back(moves)
    return Declassification(run, released)
