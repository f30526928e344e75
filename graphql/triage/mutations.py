"""Alert and case mutations: ingest, the alert workflow (single and bulk) and cases with
maker-checker approval. Every resolver calls one service; expected errors are data
(`as_payload`), and a stale expectedVersion answers CONFLICT with the current state.

The alerts of a payload are built like the queue's (`alert_nodes`): their nested fields come
from the per-request loaders (`graphql/triage/loaders.py`), one query per relation.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime

import strawberry

from riskops.graphql.core.context import Info, principal
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.core.ids import as_id
from riskops.graphql.core.inputs import input_dict, value_of
from riskops.graphql.triage.queries import alert_nodes
from riskops.graphql.triage.types import (
    Alert,
    AlertDisposition,
    AlertInput,
    BulkAlertItem,
    BulkAlertsPayload,
    BulkItemError,
    Case,
    CaseNote,
    CaseSeverity,
    CaseStatus,
    IngestAlertsPayload,
    IngestItemError,
    RootCause,
)
from riskops.server.core.errors import DomainError, ErrorCode
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import parse_id, scoped
from riskops.server.triage import (
    alerts,
    bulk,
    case_alerts,
    case_archive,
    case_create,
    case_resolution,
    case_run_links,
    case_runs,
    cases,
    ingest,
)
from riskops.server.triage import models as m
from riskops.server.triage.alerts import AlertActionResult
from riskops.server.triage.cases import CaseResult

MAX_INGEST = alerts.MAX_BATCH
MAX_BULK = alerts.MAX_BULK
MAX_CASE_ALERTS = case_alerts.MAX_ALERTS
MAX_CASE_RUNS = case_run_links.MAX_RUNS
MAX_ARCHIVE = case_archive.MAX_BULK


# --- building nodes ----------------------------------------------------------------------------


async def _current_alert(info: Info, alert_id: str) -> Alert | None:
    row = await scoped(m.Alert, principal(info)).get_or_none(id=parse_id("Alert", alert_id))
    return (await alert_nodes(info, [row]))[0] if row is not None else None


# --- payloads ----------------------------------------------------------------------------------


@strawberry.type
class AlertPayload:
    alert: Alert | None = strawberry.field(
        default=None, description="The changed alert; on CONFLICT, its current state."
    )
    replayed: bool = strawberry.field(
        default=False, description="True when the idempotency key repeated an earlier request."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


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


async def _alert_payload(
    info: Info, alert_id: strawberry.ID, change: Awaitable[AlertActionResult]
) -> AlertPayload:
    """The payload of an alert action; on CONFLICT it carries the alert as it is now."""

    async def done(result: AlertActionResult) -> AlertPayload:
        (node,) = await alert_nodes(info, [result.alert])
        return AlertPayload(alert=node, replayed=result.replayed)

    async def current(errors: list[UserError]) -> AlertPayload:
        return AlertPayload(alert=await _current_alert(info, str(alert_id)), errors=errors)

    return await as_payload(AlertPayload, change, done, conflict=current)


def _bulk_items(items: list[BulkAlertItem]) -> list[bulk.BulkItem]:
    return [bulk.BulkItem(str(i.alert_id), i.expected_version) for i in items]


async def _bulk_payload(
    info: Info, items: list[BulkAlertItem], change: Awaitable[bulk.BulkResult]
) -> BulkAlertsPayload:
    # Not `as_payload`: a failed bulk action reports its items' errors by index as well.
    try:
        result = await change
    except bulk.BulkFailed as exc:
        return BulkAlertsPayload(
            item_errors=[
                BulkItemError(
                    index=e.index,
                    field=e.field,
                    code=e.code,
                    message=e.message,
                    alert_id=items[e.index].alert_id if e.index < len(items) else None,
                    external_id=exc.external_ids.get(e.index),
                )
                for e in exc.errors
            ],
            errors=[UserError.of(exc)],
        )
    except DomainError as exc:
        return BulkAlertsPayload(errors=[UserError.of(exc)])
    nodes = await alert_nodes(info, result.alerts)
    return BulkAlertsPayload(alerts=nodes, replayed=result.replayed)


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


def _ingested(result: ingest.IngestResult) -> IngestAlertsPayload:
    return IngestAlertsPayload(
        batch_id=result.batch_id,
        created=len(result.created),
        unchanged=len(result.unchanged),
        invalid=len(result.errors),
        created_ids=[as_id(c.alert_id) for c in result.created],
        item_errors=[
            IngestItemError(
                index=e.index, field=e.field, code=ErrorCode.INVALID.value, message=e.message
            )
            for e in result.errors
        ],
    )


# --- mutations ---------------------------------------------------------------------------------

_ACTION_HELP = (
    " Needs expectedVersion (a stale one is CONFLICT, and `alert` carries the current state); "
    "an idempotencyKey makes a retry replay the first result."
)


@strawberry.type
class AlertsMutation:
    @strawberry.mutation(
        description=f"Ingest up to {MAX_INGEST} alerts, idempotent on externalId. Invalid items "
        "are reported in itemErrors by index; the valid ones are stored."
    )
    async def ingest_alerts(self, info: Info, input: list[AlertInput]) -> IngestAlertsPayload:
        return await as_payload(
            IngestAlertsPayload,
            ingest.ingest_alerts(principal(info), [input_dict(i) for i in input]),
            _ingested,
        )

    @strawberry.mutation(description="Assign an alert." + _ACTION_HELP)
    async def assign_alert(
        self,
        info: Info,
        alert_id: strawberry.ID,
        assignee_id: strawberry.ID,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> AlertPayload:
        p = principal(info)
        return await _alert_payload(
            info, alert_id,
            alerts.assign_alert(
                p, str(alert_id), assignee_id=str(assignee_id),
                expected_version=expected_version, idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(
        description="Escalate an alert to a team or an approver, with a reason." + _ACTION_HELP
    )
    async def escalate_alert(
        self,
        info: Info,
        alert_id: strawberry.ID,
        reason: str,
        expected_version: int,
        team_id: strawberry.ID | None = None,
        approver_id: strawberry.ID | None = None,
        idempotency_key: str | None = None,
    ) -> AlertPayload:
        p = principal(info)
        return await _alert_payload(
            info, alert_id,
            alerts.escalate_alert(
                p, str(alert_id), reason=reason, team_id=team_id, approver_id=approver_id,
                expected_version=expected_version, idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(description="Ask someone a question about an alert." + _ACTION_HELP)
    async def request_alert_info(
        self,
        info: Info,
        alert_id: strawberry.ID,
        question: str,
        answerer_id: strawberry.ID,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> AlertPayload:
        p = principal(info)
        return await _alert_payload(
            info, alert_id,
            alerts.request_alert_info(
                p, str(alert_id), question=question, answerer_id=str(answerer_id),
                expected_version=expected_version, idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(
        description="Answer the open question on an alert (the person asked)." + _ACTION_HELP
    )
    async def answer_alert_info(
        self,
        info: Info,
        alert_id: strawberry.ID,
        answer: str,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> AlertPayload:
        p = principal(info)
        return await _alert_payload(
            info, alert_id,
            alerts.answer_alert_info(
                p, str(alert_id), answer=answer,
                expected_version=expected_version, idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(
        description="Close an alert with a disposition and a comment." + _ACTION_HELP
    )
    async def close_alert(
        self,
        info: Info,
        alert_id: strawberry.ID,
        disposition: AlertDisposition,
        comment: str,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> AlertPayload:
        p = principal(info)
        return await _alert_payload(
            info, alert_id,
            alerts.close_alert(
                p, str(alert_id), disposition=disposition.value, comment=comment,
                expected_version=expected_version, idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(description="Reopen a closed alert (approver)." + _ACTION_HELP)
    async def reopen_alert(
        self,
        info: Info,
        alert_id: strawberry.ID,
        reason: str,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> AlertPayload:
        p = principal(info)
        return await _alert_payload(
            info, alert_id,
            alerts.reopen_alert(
                p, str(alert_id), reason=reason,
                expected_version=expected_version, idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(
        description=f"Assign up to {MAX_BULK} alerts to one person: all of them or, when any "
        "item fails (itemErrors by index), none." + _ACTION_HELP
    )
    async def bulk_assign_alerts(
        self,
        info: Info,
        items: list[BulkAlertItem],
        assignee_id: strawberry.ID,
        idempotency_key: str | None = None,
    ) -> BulkAlertsPayload:
        p = principal(info)
        return await _bulk_payload(
            info, items,
            bulk.bulk_assign_alerts(
                p, _bulk_items(items), assignee_id=str(assignee_id),
                idempotency_key=idempotency_key,
            )
        )  # fmt: skip

    @strawberry.mutation(
        description=f"Close up to {MAX_BULK} alerts with one disposition and comment: all of "
        "them or, when any item fails (itemErrors by index), none." + _ACTION_HELP
    )
    async def bulk_close_alerts(
        self,
        info: Info,
        items: list[BulkAlertItem],
        disposition: AlertDisposition,
        comment: str,
        idempotency_key: str | None = None,
    ) -> BulkAlertsPayload:
        p = principal(info)
        return await _bulk_payload(
            info, items,
            bulk.bulk_close_alerts(
                p, _bulk_items(items), disposition=disposition.value, comment=comment,
                idempotency_key=idempotency_key,
            )
        )  # fmt: skip

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
