"""Linking runs to a case and unlinking them (seed 002 "Link successful rerun to case",
Related_Run_IDs), by the run ids the pages show. Like the alert links (`cases.link_alerts`): an
open or investigating case, a history row, an audit event with the run ids, the case's
`updated_at` bumped, and the runs' too (their case shows on the run page and in
`runs(updatedAfter:)`).

A run belongs to one case at a time: linking a run of another case is refused, naming that case.
A run whose severity keeps operators from resolving the case alone (SEV0/SEV1 by the policy's
`operator_resolve_from_sev`) is unlinked by an approver only: otherwise unlinking it would be a
way round the approver's resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Forbidden, Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import parse_id
from riskops.server.credit.models import Run
from riskops.server.credit.policy import current_policy
from riskops.server.triage import case_run_links as links
from riskops.server.triage.cases import (
    WORKING,
    case_history,
    lock_case,
    require_live,
    require_status,
)
from riskops.server.triage.models import Case


async def link_runs(principal: Principal, case_id: str | int, run_ids: Sequence[str]) -> Case:
    """Link runs of the caller's organization (1 to 100, by run id) to an open or investigating
    case; runs linked to it already are left as they are."""
    principal.require(Perm.CASE_WORK)
    refs = links.run_refs(run_ids, required=True)
    pk = parse_id("Case", case_id)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        case = await lock_case(principal, conn, pk)
        runs = await links.runs_in_org(principal, conn, refs)
        require_live(case, "link runs to")
        require_status(case, WORKING, "link runs to")
        await links.refuse_held_elsewhere(principal, conn, runs, case.id)
        new = [r for r in runs if r.case_id != case.id]
        if new:
            await links.attach(principal, conn, new, case.id, now)
            facts = {"run_ids": [r.run_id for r in new]}
            await case_history(principal, conn, case, "link_runs", case.status, facts, now)
            await record(principal, conn, "case.link_runs", "case", case.id, new=facts)
    return case


async def locked_for_unlink(
    principal: Principal, runs: list[Run], conn: BaseDBAsyncClient | None = None
) -> list[Run]:
    """The runs of `runs` this caller may not unlink from their case: SEV0/SEV1 by the policy's
    `operator_resolve_from_sev` (a case holding one needs an approver to resolve it), unless
    the caller is an approver. The rule `unlink_runs` enforces and the case page shows."""
    if not runs or principal.can(Perm.CASE_APPROVE):
        return []
    floor = (await current_policy(principal.org_id, conn)).policy.operator_resolve_from_sev
    return [r for r in runs if links.run_level(r) < floor]


async def unlink_runs(principal: Principal, case_id: str | int, run_ids: Sequence[str]) -> Case:
    """Unlink runs (1 to 100, by run id) from an open or investigating case. A SEV0/SEV1 run
    (by the policy's `operator_resolve_from_sev`) needs an approver."""
    principal.require(Perm.CASE_WORK)
    refs = links.run_refs(run_ids, required=True)
    pk = parse_id("Case", case_id)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        case = await lock_case(principal, conn, pk)
        runs = await links.runs_in_org(principal, conn, refs)
        require_live(case, "unlink runs from")
        require_status(case, WORKING, "unlink runs from")
        stray = [r.run_id for r in runs if r.case_id != case.id]
        if stray:
            verb = "are" if len(stray) > 1 else "is"
            plural = "s" if len(stray) > 1 else ""
            raise Invalid(
                f"Run{plural} {', '.join(stray)} {verb} not linked to case {case.display_number}.",
                field=links.FIELD,
            )
        grave = await locked_for_unlink(principal, runs, conn)
        if grave:
            named = ", ".join(f"{r.run_id} ({r.severity.value if r.severity else '?'})"
                              for r in grave)  # fmt: skip
            raise Forbidden(
                f"Only an approver may unlink run{'s' if len(grave) > 1 else ''} {named} from "
                f"case {case.display_number}: by the policy, a case holding such a run needs an "
                "approver to resolve it.",
                permission=Perm.CASE_APPROVE.value, field=links.FIELD,
            )  # fmt: skip
        await links.attach(principal, conn, runs, None, now)
        facts = {"run_ids": [r.run_id for r in runs]}
        await case_history(principal, conn, case, "unlink_runs", case.status, facts, now)
        await record(principal, conn, "case.unlink_runs", "case", case.id, new=facts)
    return case
