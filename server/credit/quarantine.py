"""Quarantine release (seed 002): an approver only, after the run's case is resolved, with every
held file re-hashed before it goes back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server.core import validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict
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
from riskops.server.credit.recording import MAX_REASON, _locked_run, log
from riskops.server.triage.cases import note_in
from riskops.server.triage.models import Case


@dataclass(frozen=True)
class Release:
    run: Run
    checks: list[artifacts.Check]


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
    moves: list[tuple[str, str]] = []
    async with in_transaction() as conn:
        run = await _locked_run(principal, conn, run_pk)
        check_version(
            f"Run {run.run_id}", run.version, expected_version, quarantined=run.quarantined
        )
        if not run.quarantined:
            raise Conflict(f"Run {run.run_id} is not quarantined.", field="run_id")
        case = (
            await scoped(Case, principal).filter(id=run.case_id).using_db(conn).first()
            if run.case_id
            else None
        )
        if case is None or case.status not in CLOSED_CASE:
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
            .update(
                quarantined=False, dispatch_blocked=False, version=run.version + 1, updated_at=now
            )
        )
        run.quarantined, run.dispatch_blocked, run.version = False, False, run.version + 1
        await RunArtifact.filter(run_id=run.id).using_db(conn).update(released_at=now)
        who = principal.name or principal.email or principal.actor.actor
        await note_in(
            principal, conn, case,
            f"Quarantine of run {run.run_id} released on {now:%Y-%m-%d %H:%M} UTC by {who}. "
            f"Reason: {reason}",
            now,
        )  # fmt: skip
        moves = [(a.uri, a.quarantine_path) for a in arts if a.quarantine_path]
        await record(
            principal, conn, "run.release", "run", run.id,
            old={"quarantined": True, "dispatch_blocked": True},
            new={"quarantined": False, "dispatch_blocked": False, "case": case.display_number,
                 "verified": [c.detail for c in checks if c.held]},
            risk=RiskLevel.HIGH,
        )  # fmt: skip
    for uri, qpath in moves:
        try:
            artifacts.move_back(uri, qpath)
        except OSError:
            log.exception("could not move artifact %s back from quarantine", uri)
    return Release(run, checks)
