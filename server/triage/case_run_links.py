"""Which runs a case form or mutation names (the seed's Related_Run_IDs): the run ids the pages
show (`RUN-…`), checked as input (`run_refs`), then found and locked in the caller's
organization (`runs_in_org`: another organization's run reads exactly like a missing one), and
the rule that a run belongs to one case at a time (`refuse_held_elsewhere`).

Triage must not import credit's services (credit imports triage): this module reads the Run
model only, and bumps a run's `updated_at` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from riskops.server.core.errors import Conflict, Invalid, NotFound
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit.models import Run
from riskops.server.triage.models import Case, CaseStatus

MAX_RUNS = 100
MAX_RUN_ID = 128  # Run.run_id
FIELD = "run_ids"

_MOVABLE = frozenset({CaseStatus.OPEN, CaseStatus.INVESTIGATING})


def run_refs(raw: Any, *, required: bool = False) -> list[str]:
    """The run ids given (as the pages show them, `RUN-…`), without repeats, in order; from 0
    (or 1 when `required`) to MAX_RUNS."""
    if raw is None:
        raw = []
    if not isinstance(raw, list | tuple) or not all(isinstance(r, str) for r in raw):
        raise Invalid("Runs must be a list of run ids (text, like RUN-1042).", field=FIELD)
    refs = list(dict.fromkeys(r.strip() for r in raw if r.strip()))
    if required and not refs:
        raise Invalid("Runs: give at least one run id (like RUN-1042).", field=FIELD)
    if len(refs) > MAX_RUNS:
        raise Invalid(
            f"Runs has {len(refs)} entries; the limit is {MAX_RUNS}. Split them.", field=FIELD
        )
    long = [r for r in refs if len(r) > MAX_RUN_ID]
    if long:
        raise Invalid(
            f"Run id {long[0][:40]}… is longer than {MAX_RUN_ID} characters; no run has such "
            "an id.",
            field=FIELD,
        )
    return refs


async def runs_in_org(
    principal: Principal, conn: BaseDBAsyncClient, refs: Sequence[str]
) -> list[Run]:
    """The runs of `refs`, all of the caller's organization, locked until the transaction ends,
    in the order given; otherwise NotFound naming every one not found."""
    if not refs:
        return []
    rows = (
        await scoped(Run, principal)
        .filter(run_id__in=list(refs))
        .select_for_update()
        .using_db(conn)
    )
    by_ref = {r.run_id: r for r in rows}
    missing = [r for r in refs if r not in by_ref]
    if missing:
        listed = ", ".join(missing)
        what = f"No run {listed}" if len(missing) == 1 else f"No runs {listed}"
        raise NotFound(
            f"{what} in your organization. Check the run ids against the runs page.",
            field=FIELD, kind="run",
        )  # fmt: skip
    return [by_ref[r] for r in refs]


async def refuse_held_elsewhere(
    principal: Principal, conn: BaseDBAsyncClient, runs: Sequence[Run], case_id: int | None
) -> None:
    """A run belongs to one case at a time: a run already in another case is refused, naming
    that case and what to do (unlink it there first; a resolved or closed case keeps its runs,
    link the run's rerun instead)."""
    held = [r for r in runs if r.case_id is not None and r.case_id != case_id]
    if not held:
        return
    cases = {
        c.id: c
        for c in await scoped(Case, principal)
        .filter(id__in=sorted({r.case_id for r in held if r.case_id is not None}))
        .using_db(conn)
    }
    parts = []
    for r in held:
        other = cases.get(r.case_id or 0)
        if other is None:  # cannot happen (same organization); say it plainly anyway
            parts.append(f"run {r.run_id} is in another case")
        elif other.status in _MOVABLE:
            parts.append(
                f"run {r.run_id} is in case {other.display_number} ({other.status.value}): "
                f"unlink it from {other.display_number} first"
            )
        else:
            parts.append(
                f"run {r.run_id} is in case {other.display_number}, which is "
                f"{other.status.value} and keeps its runs: link the run's rerun instead"
            )
    message = "A run belongs to one case at a time; " + "; ".join(parts) + "."
    raise Conflict(message[0].upper() + message[1:], field=FIELD)


async def attach(
    principal: Principal, conn: BaseDBAsyncClient, runs: Sequence[Run], case_id: int | None,
    now: datetime,
) -> None:  # fmt: skip
    """Set (or clear, `case_id` None) the case of `runs`, bumping their `updated_at` (what
    `runs(updatedAfter:)` pages on)."""
    if not runs:
        return
    await (
        scoped(Run, principal)
        .filter(id__in=[r.id for r in runs])
        .using_db(conn)
        .update(case_id=case_id, updated_at=now)
    )
    for r in runs:
        r.case_id = case_id
        r.updated_at = now


# Run severities and case severities on one scale (seed 001's Sev0..Sev3 are critical..low).
RUN_LEVEL = {"SEV0": 0, "SEV1": 1, "SEV2": 2, "SEV3": 3}
CASE_LEVEL = {"critical": 0, "high": 1, "medium": 2, "low": 3}
NO_LEVEL = 4  # a run without a severity (below SEV3, or no baseline)


def policy_name(number: int) -> str:
    """How messages name a policy version: its number, or the built-in defaults (number 0)."""
    return f"policy v{number}" if number else "the default policy"


def run_level(run: Run) -> int:
    sev = run.severity.value if run.severity is not None else None
    return RUN_LEVEL.get(sev or "", NO_LEVEL)
