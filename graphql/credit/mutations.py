"""GraphQL for the run ledger: record runs, read the ledger and a run's detail, the rerun gate and
quarantine release. Every resolver calls one service in `server/services/runs.py`; expected
errors are data (`errors`, `itemErrors`)."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from riskops.graphql.core.context import Info, principal
from riskops.graphql.core.errors import UserError
from riskops.graphql.credit.policy_types import (
    KillSwitch,
    KillSwitchName,
    KillSwitchPayload,
    Policy,
    PolicyPayload,
)
from riskops.graphql.credit.queries import _people, _policy_in_force, run_nodes
from riskops.graphql.credit.report_types import Report, ReportPayload
from riskops.graphql.credit.run_types import (
    ArtifactCheck,
    RecordedRun,
    RecordRunsPayload,
    ReleasePayload,
    RerunRequest,
    RerunRequestPayload,
    RunInput,
    RunItemError,
    run_input_dict,
)
from riskops.graphql.credit.scenario_types import (
    BaselineCalculation,
    BaselineCalculationPayload,
    BaselineChange,
    BaselineChangePayload,
    Scenario,
    ScenarioConfigInput,
    ScenarioPayload,
)
from riskops.server.core.approvals import ChangeStatus
from riskops.server.core.errors import DomainError, ErrorCode
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit import (
    baselines,
    kill_switches,
    quarantine,
    reports,
    reruns,
    scenarios,
)
from riskops.server.credit import models as rm
from riskops.server.credit import policy as controls
from riskops.server.credit import recording as runs
from riskops.server.credit.models import PolicyVersion
from riskops.server.identity import users

MAX_RECORD = runs.MAX_BATCH


async def _rerun_payload(change: Awaitable[rm.RerunRequest]) -> RerunRequestPayload:
    try:
        req = await change
    except DomainError as exc:
        return RerunRequestPayload(errors=[UserError.of(exc)])
    return RerunRequestPayload(rerun_request=RerunRequest.of(req))


@strawberry.type
class RunsMutation:
    @strawberry.mutation(
        description=f"Record up to {MAX_RECORD} runs, idempotent on runId, each classified with "
        "its automatic actions (SEV0 quarantine and case, SEV1 case, notifications). Invalid "
        "or refused items are reported in itemErrors by index; the valid ones are recorded."
    )
    async def record_runs(self, info: Info, input: list[RunInput]) -> RecordRunsPayload:
        try:
            result = await runs.record_runs(principal(info), [run_input_dict(i) for i in input])
        except DomainError as exc:
            return RecordRunsPayload(errors=[UserError.of(exc)])

        def item(r: runs.RecordedRun) -> RecordedRun:
            return RecordedRun(
                index=r.index,
                run_id=r.run_id,
                id=strawberry.ID(str(r.pk)),
                severity=r.severity,
                actions=list(r.actions),
                case_number=r.case_number,
            )

        return RecordRunsPayload(
            batch_id=result.batch_id,
            recorded=[item(r) for r in result.recorded],
            unchanged=[item(r) for r in result.unchanged],
            item_errors=[
                RunItemError(index=e.index, field=e.field, code=e.code.value, message=e.message)
                for e in result.errors
            ],
        )

    @strawberry.mutation(description="Ask for a rerun of a gated run (operators, approvers).")
    async def request_rerun(
        self, info: Info, run_id: strawberry.ID, reason: str
    ) -> RerunRequestPayload:
        return await _rerun_payload(reruns.request_rerun(principal(info), str(run_id), reason))

    @strawberry.mutation(
        description="Approve a rerun request with the mitigation applied (an approver who did "
        "not request it). The next rerun of the run is then recorded."
    )
    async def approve_rerun(
        self, info: Info, request_id: strawberry.ID, mitigation: str, expected_version: int
    ) -> RerunRequestPayload:
        return await _rerun_payload(
            reruns.approve_rerun(
                principal(info), str(request_id), mitigation, expected_version=expected_version
            )
        )

    @strawberry.mutation(description="Deny a rerun request with the reason.")
    async def deny_rerun(
        self, info: Info, request_id: strawberry.ID, reason: str, expected_version: int
    ) -> RerunRequestPayload:
        return await _rerun_payload(
            reruns.deny_rerun(
                principal(info), str(request_id), reason, expected_version=expected_version
            )
        )

    @strawberry.mutation(
        description="Release a quarantined run (approvers): its case must be resolved and every "
        "artifact riskops holds must still match its SHA-256. Unblocks dispatch."
    )
    async def release_quarantine(
        self, info: Info, run_id: strawberry.ID, reason: str, expected_version: int
    ) -> ReleasePayload:
        try:
            released = await quarantine.release_quarantine(
                principal(info), str(run_id), reason, expected_version=expected_version
            )
        except DomainError as exc:
            return ReleasePayload(errors=[UserError.of(exc)])
        (node,) = await run_nodes(info, [released.run])
        return ReleasePayload(
            run=node,
            checks=[
                ArtifactCheck(uri=c.uri, held=c.held, ok=c.ok, detail=c.detail)
                for c in released.checks
            ],
        )


async def _change_payload(change: Awaitable[rm.BaselineChange]) -> BaselineChangePayload:
    try:
        row = await change
    except DomainError as exc:
        return BaselineChangePayload(errors=[UserError.of(exc)])
    key = (
        await scoped(rm.Scenario, org_id=row.org_id)
        .filter(id=row.scenario_id)
        .first()
        .values_list("key", flat=True)
    )
    return BaselineChangePayload(change=BaselineChange.of(row, str(key)))


@strawberry.type
class BaselinesMutation:
    @strawberry.mutation(
        description="Calculate the baseline of a scenario from its healthy runs of the last "
        "`days` days (default: the policy's window). Returns the numbers; changes nothing."
    )
    async def calculate_baseline(
        self, info: Info, scenario: str, days: int | None = None
    ) -> BaselineCalculationPayload:
        try:
            calc = await baselines.calculate_baseline(principal(info), scenario, days)
        except DomainError as exc:
            return BaselineCalculationPayload(errors=[UserError.of(exc)])
        return BaselineCalculationPayload(calculation=BaselineCalculation.of(calc))

    @strawberry.mutation(
        description="Propose the calculated baseline for an approver to decide (operators and "
        "approvers). One open proposal per scenario."
    )
    async def propose_baseline_update(
        self, info: Info, scenario: str, rationale: str, days: int | None = None
    ) -> BaselineChangePayload:
        return await _change_payload(
            baselines.propose_baseline_update(principal(info), scenario, days, rationale)
        )

    @strawberry.mutation(
        description="Approve a proposed baseline (approvers; not the proposer). A change above "
        "50% needs confirmLargeChange: true."
    )
    async def approve_baseline_update(
        self,
        info: Info,
        change_id: strawberry.ID,
        rationale: str,
        confirm_large_change: bool = False,
    ) -> BaselineChangePayload:
        return await _change_payload(
            baselines.approve_baseline_update(
                principal(info), str(change_id), rationale, confirm_large_change
            )
        )

    @strawberry.mutation(description="Reject a proposed baseline with a reason (approvers).")
    async def reject_baseline_update(
        self, info: Info, change_id: strawberry.ID, reason: str
    ) -> BaselineChangePayload:
        return await _change_payload(
            baselines.reject_baseline_update(principal(info), str(change_id), reason)
        )

    @strawberry.mutation(
        description="Set a scenario's baseline by hand (approvers), e.g. when it has too few "
        "runs to calculate one. A scenario without a baseline gets it at once; replacing a "
        "baseline in force is proposed (status PROPOSED) for another approver to approve. A "
        "change above 50% needs confirmLargeChange: true."
    )
    async def set_manual_baseline(
        self,
        info: Info,
        scenario: str,
        median: float,
        rationale: str,
        confirm_large_change: bool = False,
    ) -> BaselineChangePayload:
        return await _change_payload(
            baselines.set_manual_baseline(
                principal(info), scenario, median, rationale, confirm_large_change
            )
        )

    @strawberry.mutation(
        description="Set a scenario's configuration (operators and approvers), e.g. max_items "
        "after a misconfig. Pass the version you loaded as expectedVersion."
    )
    async def update_scenario(
        self, info: Info, key: str, config: ScenarioConfigInput, expected_version: int
    ) -> ScenarioPayload:
        p = principal(info)
        try:
            row = await scenarios.update_scenario(
                p, key,
                name=config.name, max_items=config.max_items,
                data_classification=config.data_classification,
                dispatch_target=config.dispatch_target, expected_version=expected_version,
            )  # fmt: skip
        except DomainError as exc:
            current = None
            if exc.code is ErrorCode.CONFLICT:
                found = await scoped(rm.Scenario, p).filter(key=key.strip()).first()
                current = Scenario.of(found) if found else None
            return ScenarioPayload(scenario=current, errors=[UserError.of(exc)])
        return ScenarioPayload(scenario=Scenario.of(row))


async def _version(p: Principal, row: PolicyVersion) -> Policy:
    """A version with what it changes (a proposal: relative to the version in force)."""
    if row.status is ChangeStatus.PROPOSED:
        current = await controls.current_policy(p.org_id)
        changes = controls.changed_fields(current.policy, controls.Policy.from_dict(row.data))
    else:
        versions = await controls.list_policy_versions(p)
        changes = controls.version_changes(versions).get(row.id, {})
    return Policy.of_row(row, await users.names_of(p, _people([row])), changes)


async def _decision(p: Principal, exc: DomainError) -> PolicyPayload:
    current = await _policy_in_force(p) if exc.code is ErrorCode.CONFLICT else None
    return PolicyPayload(policy=current, errors=[UserError.of(exc)])


@strawberry.type
class ControlsMutation:
    @strawberry.mutation(
        description="Propose a new policy version: `values` (an object of the fields to "
        'change, e.g. {"sev1_multiplier": 6}) merged over the version in force. Needs a reason '
        "and the number in force you loaded (a stale one is CONFLICT, and `policy` is the "
        "version in force). The version is PROPOSED: it is in force once another approver "
        "approves it (approvePolicyChange). One open proposal per organization."
    )
    async def change_policy(
        self, info: Info, values: JSON, reason: str, expected_number: int
    ) -> PolicyPayload:
        p = principal(info)
        raw: Any = values
        try:
            row = await controls.change_policy(p, raw, reason, expected_number)
        except DomainError as exc:
            return await _decision(p, exc)
        return PolicyPayload(policy=await _version(p, row))

    @strawberry.mutation(
        description="Put a proposed policy version in force, with a reason. Not by its "
        "proposer (FORBIDDEN, maker-checker); CONFLICT when another version came in force "
        "since it was proposed."
    )
    async def approve_policy_change(self, info: Info, number: int, reason: str) -> PolicyPayload:
        p = principal(info)
        try:
            row = await controls.approve_policy_change(p, number, reason)
        except DomainError as exc:
            return await _decision(p, exc)
        return PolicyPayload(policy=await _version(p, row))

    @strawberry.mutation(
        description="Reject a proposed policy version, with a reason (its proposer may reject "
        "it to withdraw it). The version in force does not change."
    )
    async def reject_policy_change(self, info: Info, number: int, reason: str) -> PolicyPayload:
        p = principal(info)
        try:
            row = await controls.reject_policy_change(p, number, reason)
        except DomainError as exc:
            return await _decision(p, exc)
        return PolicyPayload(policy=await _version(p, row))

    @strawberry.mutation(
        description="Turn a kill switch on, with a reason and optionally an expiry (at most 90 "
        "days ahead). BACKFILL needs the scenario key as scope."
    )
    async def set_kill_switch(
        self,
        info: Info,
        name: KillSwitchName,  # type: ignore[valid-type]
        reason: str,
        scope: str = "",
        expires_at: datetime | None = None,
    ) -> KillSwitchPayload:
        p = principal(info)
        try:
            value = name.value  # type: ignore[attr-defined]
            row = await kill_switches.set_kill_switch(p, value, scope, reason, expires_at)
        except DomainError as exc:
            return KillSwitchPayload(errors=[UserError.of(exc)])
        return KillSwitchPayload(
            kill_switch=KillSwitch.of(row, await users.names_of(p, [row.set_by_id]))
        )

    @strawberry.mutation(description="Turn a kill switch off before it expires, with a reason.")
    async def clear_kill_switch(
        self, info: Info, id: strawberry.ID, reason: str
    ) -> KillSwitchPayload:
        p = principal(info)
        try:
            row = await kill_switches.clear_kill_switch(p, str(id), reason)
        except DomainError as exc:
            return KillSwitchPayload(errors=[UserError.of(exc)])
        names = await users.names_of(p, [row.set_by_id, row.cleared_by_id])
        return KillSwitchPayload(kill_switch=KillSwitch.of(row, names))


@strawberry.type
class ReportsMutation:
    @strawberry.mutation(
        description="Generate the weekly report of the 7 days from periodStart 00:00 UTC "
        "(default: the last complete Monday-to-Monday week). The week must have ended. "
        "Generating a week again returns the stored report."
    )
    async def generate_weekly_report(
        self, info: Info, period_start: date | None = None
    ) -> ReportPayload:
        try:
            row = await reports.generate_weekly_report(
                principal(info), period_start or reports.last_complete_week()
            )
        except DomainError as exc:
            return ReportPayload(errors=[UserError.of(exc)])
        return ReportPayload(report=Report.of(row))
