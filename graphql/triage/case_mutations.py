"""Case mutations: open a case, link and unlink its alerts and runs, notes, fields and status,
the resolution (alone where the policy allows it, or maker-checker) and archiving. Every resolver
calls one service; expected errors are data (`as_payload`), and a stale expectedVersion answers
CONFLICT with the case as it is now. The alert mutations are `graphql/triage/mutations.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime

import strawberry

from riskops.graphql.core.context import Info, principal
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.core.inputs import value_of
from riskops.graphql.triage.types import Case, CaseNote, CaseSeverity, CaseStatus, RootCause
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import parse_id, scoped
from riskops.server.triage import (
    case_alerts,
    case_archive,
    case_create,
    case_resolution,
    case_run_links,
    case_runs,
    cases,
)
from riskops.server.triage import models as m
from riskops.server.triage.cases import CaseResult

MAX_CASE_ALERTS = case_alerts.MAX_ALERTS
MAX_CASE_RUNS = case_run_links.MAX_RUNS
MAX_ARCHIVE = case_archive.MAX_BULK


# --- payloads ----------------------------------------------------------------------------------


@strawberry.type
class CasePayload:
    case: Case | None = strawberry.field(
        default=None, description="The changed case; on CONFLICT, its current state."
    )
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ArchiveCasesPayload:
    older_than_days: int | None = strawberry.field(
        default=None,
        description="The age used: the policy's archive_resolved_after_days "
        "unless you asked for more.",
    )
    cutoff: datetime | None = strawberry.field(
        default=None, description="Cases resolved before this were taken."
    )
    count: int = strawberry.field(
        default=0, description="Cases archived (with dryRun: that would be)."
    )
    case_numbers: list[str] = strawberry.field(
        default_factory=list, description="Their numbers, oldest resolution first."
    )
    remaining: int = strawberry.field(
        default=0, description=f"Eligible cases left beyond the {MAX_ARCHIVE} of one call."
    )
    dry_run: bool = False
    policy_number: int | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _archived(r: case_archive.ArchiveRun) -> ArchiveCasesPayload:
    return ArchiveCasesPayload(
        older_than_days=r.older_than_days, cutoff=r.cutoff, count=r.count,
        case_numbers=r.case_numbers, remaining=r.remaining, dry_run=r.dry_run,
        policy_number=r.policy_number,
    )  # fmt: skip


@strawberry.type
class CaseNotePayload:
    note: CaseNote | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _case_done(result: CaseResult | m.Case) -> CasePayload:
    if isinstance(result, m.Case):
        return CasePayload(case=Case.of(result))
    return CasePayload(case=Case.of(result.case), replayed=result.replayed)


async def _case_payload(
    p: Principal, case_id: strawberry.ID, change: Awaitable[CaseResult | m.Case]
) -> CasePayload:
    """The payload of a change of an existing case; on CONFLICT it carries the case as it is."""

    async def current(errors: list[UserError]) -> CasePayload:
        row = await scoped(m.Case, p).get_or_none(id=parse_id("Case", str(case_id)))
        return CasePayload(case=Case.of(row) if row is not None else None, errors=errors)

    return await as_payload(CasePayload, change, _case_done, conflict=current)


# --- mutations ---------------------------------------------------------------------------------


@strawberry.type
class CasesMutation:
    @strawberry.mutation(
        description=f"Open a case from up to {MAX_CASE_ALERTS} alerts, given by id (alertIds), "
        "by the external id the queue shows (alertExternalIds), or both, and up to "
        f"{MAX_CASE_RUNS} runs by run id (runIds, the RUN-… ids the pages show); or from "
        "neither (a pattern you spotted). Every alert or run not found is named in one "
        "NOT_FOUND error; a run already in another case is CONFLICT naming that case."
    )
    async def create_case(
        self,
        info: Info,
        title: str,
        alert_ids: list[strawberry.ID] | None = None,
        severity: CaseSeverity = CaseSeverity.MEDIUM,
        idempotency_key: str | None = None,
        alert_external_ids: list[str] | None = None,
        run_ids: list[str] | None = None,
    ) -> CasePayload:
        ids = [str(a) for a in alert_ids or []]
        return await as_payload(
            CasePayload,
            case_create.create_case(
                principal(info), title=title, alert_ids=ids,
                alert_external_ids=alert_external_ids, severity=severity.value,
                idempotency_key=idempotency_key, run_ids=run_ids,
            ),
            _case_done,
        )  # fmt: skip

    @strawberry.mutation(
        description=f"Link 1 to {MAX_CASE_RUNS} runs (by run id, RUN-…) to an open or "
        "investigating case; runs linked already are left as they are. Another organization's "
        "run reads as NOT_FOUND; a run in another case is CONFLICT naming that case (unlink it "
        "there first)."
    )
    async def link_runs_to_case(
        self, info: Info, case_id: strawberry.ID, run_ids: list[str]
    ) -> CasePayload:
        p = principal(info)
        return await _case_payload(p, case_id, case_runs.link_runs(p, str(case_id), run_ids))

    @strawberry.mutation(
        description=f"Unlink 1 to {MAX_CASE_RUNS} runs (by run id) from an open or "
        "investigating case. A run whose severity keeps operators from resolving the case "
        "alone (SEV0/SEV1 by default) is unlinked by an approver only."
    )
    async def unlink_runs_from_case(
        self, info: Info, case_id: strawberry.ID, run_ids: list[str]
    ) -> CasePayload:
        p = principal(info)
        return await _case_payload(p, case_id, case_runs.unlink_runs(p, str(case_id), run_ids))

    @strawberry.mutation(
        description="Resolve an open or investigating case without an approver, with a root "
        "cause and a note (seed 002 Escalation Level 1), where the versioned policy allows it "
        "(operator_resolve_from_sev: by default cases of SEV2/SEV3 and without SEV0/SEV1 runs "
        "or critical/high severity; see caseDetail.resolveAlone). Otherwise CONFLICT saying "
        "why: use requestCaseResolution."
    )
    async def resolve_case(
        self,
        info: Info,
        case_id: strawberry.ID,
        expected_version: int,
        root_cause: RootCause,
        note: str,
        idempotency_key: str | None = None,
    ) -> CasePayload:
        p = principal(info)
        return await _case_payload(
            p, case_id,
            case_resolution.resolve_case(
                p, str(case_id), expected_version=expected_version, root_cause=root_cause.value,
                note=note, idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(
        description="Archive a resolved or closed case: hidden from the default lists, "
        "readable by id and with cases(archived: true), read-only until unarchived."
    )
    async def archive_case(
        self, info: Info, case_id: strawberry.ID, expected_version: int
    ) -> CasePayload:
        p = principal(info)
        return await _case_payload(
            p, case_id,
            case_archive.archive_case(p, str(case_id), expected_version=expected_version),
        )  # fmt: skip

    @strawberry.mutation(description="Bring an archived case back to the default lists.")
    async def unarchive_case(
        self, info: Info, case_id: strawberry.ID, expected_version: int
    ) -> CasePayload:
        p = principal(info)
        return await _case_payload(
            p, case_id,
            case_archive.unarchive_case(p, str(case_id), expected_version=expected_version),
        )  # fmt: skip

    @strawberry.mutation(
        description="Archive the resolved and closed cases resolved more than olderThanDays "
        "ago (default and minimum: the policy's archive_resolved_after_days, 30), oldest "
        f"first, at most {MAX_ARCHIVE} per call (remaining says how many are left). dryRun "
        "counts them and changes nothing. One history row and audit event per case."
    )
    async def archive_resolved_cases(
        self, info: Info, older_than_days: int | None = None, dry_run: bool = False
    ) -> ArchiveCasesPayload:
        return await as_payload(
            ArchiveCasesPayload,
            case_archive.archive_resolved_cases(
                principal(info), older_than_days=older_than_days, dry_run=dry_run
            ),
            _archived,
        )

    @strawberry.mutation(description="Add a note to a case.")
    async def add_case_note(self, info: Info, case_id: strawberry.ID, body: str) -> CaseNotePayload:
        return await as_payload(
            CaseNotePayload,
            cases.add_case_note(principal(info), str(case_id), body),
            lambda note: CaseNotePayload(note=CaseNote.of(note)),
        )

    @strawberry.mutation(
        description="Link alerts to an open or investigating case, given by id (alertIds), by "
        "the external id the queue shows (alertExternalIds), or both. Every one not found is "
        "named in one NOT_FOUND error (another organization's reads the same)."
    )
    async def link_alerts_to_case(
        self,
        info: Info,
        case_id: strawberry.ID,
        alert_ids: list[strawberry.ID] | None = None,
        alert_external_ids: list[str] | None = None,
    ) -> CasePayload:
        ids = [str(a) for a in alert_ids or []]
        p = principal(info)
        return await _case_payload(
            p, case_id,
            cases.link_alerts(p, str(case_id), ids, alert_external_ids=alert_external_ids),
        )  # fmt: skip

    @strawberry.mutation(
        description="Unlink alerts (by id or external id) from an open or investigating case "
        "(it keeps at least one)."
    )
    async def unlink_alerts_from_case(
        self,
        info: Info,
        case_id: strawberry.ID,
        alert_ids: list[strawberry.ID] | None = None,
        alert_external_ids: list[str] | None = None,
    ) -> CasePayload:
        ids = [str(a) for a in alert_ids or []]
        p = principal(info)
        return await _case_payload(
            p, case_id,
            cases.unlink_alerts(p, str(case_id), ids, alert_external_ids=alert_external_ids),
        )  # fmt: skip

    @strawberry.mutation(
        description="Set the status (open ⇄ investigating, resolved → closed), root cause, "
        "assignee or severity. A stale expectedVersion is CONFLICT with the current case."
    )
    async def update_case(
        self,
        info: Info,
        case_id: strawberry.ID,
        expected_version: int,
        status: CaseStatus | None = None,
        root_cause: RootCause | None = None,
        assignee_id: strawberry.ID | None = None,
        severity: CaseSeverity | None = None,
    ) -> CasePayload:
        p = principal(info)
        return await _case_payload(
            p, case_id,
            cases.update_case(
                p, str(case_id), expected_version=expected_version, status=value_of(status),
                root_cause=value_of(root_cause), assignee_id=assignee_id,
                severity=value_of(severity),
            ),
        )  # fmt: skip

    @strawberry.mutation(description="Ask an approver to resolve the case.")
    async def request_case_resolution(
        self,
        info: Info,
        case_id: strawberry.ID,
        expected_version: int,
        summary: str,
        root_cause: RootCause,
        idempotency_key: str | None = None,
    ) -> CasePayload:
        p = principal(info)
        return await _case_payload(
            p, case_id,
            case_resolution.request_case_resolution(
                p, str(case_id), expected_version=expected_version, summary=summary,
                root_cause=root_cause.value, idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(
        description="Approve a requested resolution (approver, not the requester)."
    )
    async def approve_case_resolution(
        self,
        info: Info,
        case_id: strawberry.ID,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> CasePayload:
        p = principal(info)
        return await _case_payload(
            p, case_id,
            case_resolution.approve_case_resolution(
                p, str(case_id), expected_version=expected_version,
                idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(
        description="Send a requested resolution back to investigating, with a reason "
        "(approver, not the requester)."
    )
    async def reject_case_resolution(
        self,
        info: Info,
        case_id: strawberry.ID,
        expected_version: int,
        reason: str,
        idempotency_key: str | None = None,
    ) -> CasePayload:
        p = principal(info)
        return await _case_payload(
            p, case_id,
            case_resolution.reject_case_resolution(
                p, str(case_id), expected_version=expected_version, reason=reason,
                idempotency_key=idempotency_key,
            ),
        )  # fmt: skip
