"""Credit monitoring mutations: record runs, the rerun gate and quarantine release, baselines and
scenarios, the policy and kill switches, weekly reports. Every resolver calls one service in
`server/credit/`; expected errors are data (`as_payload`; `itemErrors` for batches)."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from riskops.graphql.core.context import Info, principal
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.core.ids import as_id
from riskops.graphql.core.inputs import input_dict
from riskops.graphql.credit.policy_types import (
    KillSwitch,
    KillSwitchName,
    KillSwitchPayload,
    Policy,
    PolicyPayload,
)
from riskops.graphql.credit.queries import people_of, policy_of, run_nodes
from riskops.graphql.credit.report_types import Report, ReportPayload
from riskops.graphql.credit.run_types import (
    ArtifactCheck,
    DeclassifyPayload,
    QuarantinePayload,
    RecordedRun,
    RecordRunsPayload,
    ReleasePayload,
    RerunRequest,
    RerunRequestPayload,
    RunInput,
    RunItemError,
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


def _rerun_done(req: rm.RerunRequest) -> RerunRequestPayload:
    return RerunRequestPayload(rerun_request=RerunRequest.of(req))


def _recorded(result: runs.RecordResult) -> RecordRunsPayload:
    def item(r: runs.RecordedRun) -> RecordedRun:
        return RecordedRun(
            index=r.index,
            run_id=r.run_id,
            id=as_id(r.pk),
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


@strawberry.type
class RunsMutation:
    @strawberry.mutation(
        description=f"Record up to {MAX_RECORD} runs, idempotent on runId, each classified with "
        "its automatic actions (SEV0 quarantine and case, SEV1 case, notifications). Invalid "
        "or refused items are reported in itemErrors by index; the valid ones are recorded."
    )
    async def record_runs(self, info: Info, input: list[RunInput]) -> RecordRunsPayload:
        return await as_payload(
            RecordRunsPayload,
            runs.record_runs(principal(info), [input_dict(i) for i in input]),
            _recorded,
        )

    @strawberry.mutation(description="Ask for a rerun of a gated run (operators, approvers).")
    async def request_rerun(
        self, info: Info, run_id: strawberry.ID, reason: str
    ) -> RerunRequestPayload:
        return await as_payload(
            RerunRequestPayload,
            reruns.request_rerun(principal(info), str(run_id), reason),
            _rerun_done,
        )

    @strawberry.mutation(
        description="Approve a rerun request with the mitigation applied (an approver who did "
        "not request it). The next rerun of the run is then recorded."
    )
    async def approve_rerun(
        self, info: Info, request_id: strawberry.ID, mitigation: str, expected_version: int
    ) -> RerunRequestPayload:
        return await as_payload(
            RerunRequestPayload,
            reruns.approve_rerun(
                principal(info), str(request_id), mitigation, expected_version=expected_version
            ),
            _rerun_done,
        )

    @strawberry.mutation(description="Deny a rerun request with the reason.")
    async def deny_rerun(
        self, info: Info, request_id: strawberry.ID, reason: str, expected_version: int
    ) -> RerunRequestPayload:
        return await as_payload(
            RerunRequestPayload,
            reruns.deny_rerun(
                principal(info), str(request_id), reason, expected_version=expected_version
            ),
            _rerun_done,
        )

    @strawberry.mutation(
        description="Release a quarantined run (approvers): its case must be resolved and every "
        "artifact riskops holds must still match its SHA-256. Unblocks dispatch."
    )
    async def release_quarantine(
        self, info: Info, run_id: strawberry.ID, reason: str, expected_version: int
    ) -> ReleasePayload:

        async def done(released: quarantine.Release) -> ReleasePayload:
            (node,) = await run_nodes(info, [released.run])
            return ReleasePayload(
                run=node,
                checks=[
                    ArtifactCheck(uri=c.uri, held=c.held, ok=c.ok, detail=c.detail)
                    for c in released.checks
                ],
            )

        return await as_payload(
            ReleasePayload,
            quarantine.release_quarantine(
                principal(info), str(run_id), reason, expected_version=expected_version
            ),
            done,
        )

    @strawberry.mutation(
        description="Quarantine a run's artifacts by hand (approvers), with the reason: the "
        "files riskops holds move to the quarantine as for a SEV0, dispatch is blocked. "
        "Refused (CONFLICT) for a run already quarantined. Release with releaseQuarantine."
    )
    async def quarantine_run(
        self, info: Info, run_id: strawberry.ID, reason: str, expected_version: int
    ) -> QuarantinePayload:

        async def done(run: rm.Run) -> QuarantinePayload:
            (node,) = await run_nodes(info, [run])
            return QuarantinePayload(run=node)

        return await as_payload(
            QuarantinePayload,
            quarantine.quarantine_run(
                principal(info), str(run_id), reason, expected_version=expected_version
            ),
            done,
        )

    @strawberry.mutation(
        description="Declassify a run's pii_exposure / regulatory_data flag as a false positive "
        '(approvers; seed 002 "False positive PII flag"), with a note that goes on the run\'s '
        "case. With release: true the quarantine is released in the same step (its case must "
        "be resolved); if the release is refused, nothing is declassified."
    )
    async def declassify_run(
        self,
        info: Info,
        run_id: strawberry.ID,
        note: str,
        expected_version: int,
        release: bool = False,
    ) -> DeclassifyPayload:

        async def done(d: quarantine.Declassification) -> DeclassifyPayload:
            (node,) = await run_nodes(info, [d.run])
            checks = d.release.checks if d.release else []
            return DeclassifyPayload(
                run=node,
                released=d.release is not None,
                checks=[
                    ArtifactCheck(uri=c.uri, held=c.held, ok=c.ok, detail=c.detail) for c in checks
                ],
            )

        return await as_payload(
            DeclassifyPayload,
            quarantine.declassify_run(
                principal(info), str(run_id), note, expected_version=expected_version,
                release=release,
            ),
            done,
        )  # fmt: skip


async def _change_done(p: Principal, row: rm.BaselineChange) -> BaselineChangePayload:
    scenario = scoped(rm.Scenario, p).filter(id=row.scenario_id)
    key = await scenario.first().values_list("key", flat=True)
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
        return await as_payload(
            BaselineCalculationPayload,
            baselines.calculate_baseline(principal(info), scenario, days),
            lambda calc: BaselineCalculationPayload(calculation=BaselineCalculation.of(calc)),
        )

    @strawberry.mutation(
        description="Propose the calculated baseline for an approver to decide (operators and "
        "approvers). One open proposal per scenario."
    )
    async def propose_baseline_update(
        self, info: Info, scenario: str, rationale: str, days: int | None = None
    ) -> BaselineChangePayload:
        p = principal(info)
        return await as_payload(
            BaselineChangePayload,
            baselines.propose_baseline_update(p, scenario, days, rationale),
            lambda row: _change_done(p, row),
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
        p = principal(info)
        return await as_payload(
            BaselineChangePayload,
            baselines.approve_baseline_update(p, str(change_id), rationale, confirm_large_change),
            lambda row: _change_done(p, row),
        )

    @strawberry.mutation(description="Reject a proposed baseline with a reason (approvers).")
    async def reject_baseline_update(
        self, info: Info, change_id: strawberry.ID, reason: str
    ) -> BaselineChangePayload:
        p = principal(info)
        return await as_payload(
            BaselineChangePayload,
            baselines.reject_baseline_update(p, str(change_id), reason),
            lambda row: _change_done(p, row),
        )

    @strawberry.mutation(
        description="Set a scenario's baseline by hand (approvers), e.g. when it has too few "
        "runs to calculate one. Like every baseline change it is proposed (status PROPOSED), "
        "also for a scenario without a baseline, and another approver approves it "
        "(approveBaselineUpdate). A change above 50% needs confirmLargeChange: true."
    )
    async def set_manual_baseline(
        self,
        info: Info,
        scenario: str,
        median: float,
        rationale: str,
        confirm_large_change: bool = False,
    ) -> BaselineChangePayload:
        p = principal(info)
        return await as_payload(
            BaselineChangePayload,
            baselines.set_manual_baseline(p, scenario, median, rationale, confirm_large_change),
            lambda row: _change_done(p, row),
        )

    @strawberry.mutation(
        description="Set a scenario's configuration (operators and approvers), e.g. max_items "
        "after a misconfig. Pass the version you loaded as expectedVersion."
    )
    async def update_scenario(
        self, info: Info, key: str, config: ScenarioConfigInput, expected_version: int
    ) -> ScenarioPayload:
        p = principal(info)

        async def current(errors: list[UserError]) -> ScenarioPayload:
            found = await scoped(rm.Scenario, p).filter(key=key.strip()).first()
            return ScenarioPayload(scenario=Scenario.of(found) if found else None, errors=errors)

        return await as_payload(
            ScenarioPayload,
            scenarios.update_scenario(
                p, key,
                name=config.name, max_items=config.max_items,
                data_classification=config.data_classification,
                dispatch_target=config.dispatch_target, expected_version=expected_version,
            ),
            lambda row: ScenarioPayload(scenario=Scenario.of(row)),
            conflict=current,
        )  # fmt: skip


async def _version(p: Principal, row: PolicyVersion) -> Policy:
    """A version with what it changes (`changes_of`)."""
    changes = await controls.changes_of(p, row)
    return Policy.of_row(row, await users.names_of(p, people_of([row])), changes)


async def _policy_payload(p: Principal, decision: Awaitable[PolicyVersion]) -> PolicyPayload:
    """The payload of a policy decision: the version it made or decided; on CONFLICT, the
    version in force (another version came in force meanwhile)."""

    async def in_force(errors: list[UserError]) -> PolicyPayload:
        return PolicyPayload(policy=await policy_of(p), errors=errors)

    async def done(row: PolicyVersion) -> PolicyPayload:
        return PolicyPayload(policy=await _version(p, row))

    return await as_payload(PolicyPayload, decision, done, conflict=in_force)


async def _kill_switch_done(p: Principal, row: rm.KillSwitch) -> KillSwitchPayload:
    names = await users.names_of(p, [row.set_by_id, row.cleared_by_id])
    return KillSwitchPayload(kill_switch=KillSwitch.of(row, names))


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
        return await _policy_payload(p, controls.change_policy(p, raw, reason, expected_number))

    @strawberry.mutation(
        description="Put a proposed policy version in force, with a reason. Not by its "
        "proposer (FORBIDDEN, maker-checker); CONFLICT when another version came in force "
        "since it was proposed."
    )
    async def approve_policy_change(self, info: Info, number: int, reason: str) -> PolicyPayload:
        p = principal(info)
        return await _policy_payload(p, controls.approve_policy_change(p, number, reason))

    @strawberry.mutation(
        description="Reject a proposed policy version, with a reason (its proposer may reject "
        "it to withdraw it). The version in force does not change."
    )
    async def reject_policy_change(self, info: Info, number: int, reason: str) -> PolicyPayload:
        p = principal(info)
        return await _policy_payload(p, controls.reject_policy_change(p, number, reason))

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
        value = name.value  # type: ignore[attr-defined]
        return await as_payload(
            KillSwitchPayload,
            kill_switches.set_kill_switch(p, value, scope, reason, expires_at),
            lambda row: _kill_switch_done(p, row),
        )

    @strawberry.mutation(description="Turn a kill switch off before it expires, with a reason.")
    async def clear_kill_switch(
        self, info: Info, id: strawberry.ID, reason: str
    ) -> KillSwitchPayload:
        p = principal(info)
        return await as_payload(
            KillSwitchPayload,
            kill_switches.clear_kill_switch(p, str(id), reason),
            lambda row: _kill_switch_done(p, row),
        )


@strawberry.type
class ReportsMutation:
    @strawberry.mutation(
        description="Generate the weekly report of the 7 days from periodStart 00:00 UTC "
        "(default: the last complete Monday-to-Monday week). periodStart is a Monday; the week "
        "must have ended. "
        "Generating a week again returns the stored report."
    )
    async def generate_weekly_report(
        self, info: Info, period_start: date | None = None
    ) -> ReportPayload:
        p = principal(info)

        async def done(row: rm.Report) -> ReportPayload:
            return ReportPayload(report=Report.of(row, await reports.creators(p, [row])))

        return await as_payload(
            ReportPayload,
            reports.generate_weekly_report(p, period_start or reports.last_complete_week()),
            done,
        )
