"""GraphQL for scenarios and baselines (issue 4): the scenario list and detail, baselines in force,
weekly candidates, calculating a baseline, the maker-checker update, manual baselines and scenario
configuration. Every resolver calls one service in `server/services/baselines.py` or
`scenarios.py`; expected errors of mutations are data (`errors`)."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime

import strawberry

from riskops.graphql.context import Info, or_none, principal, query
from riskops.graphql.scenario_types import (
    Baseline,
    BaselineCalculation,
    BaselineCalculationPayload,
    BaselineCandidate,
    BaselineChange,
    BaselineChangePayload,
    Scenario,
    ScenarioConfigInput,
    ScenarioDetail,
    ScenarioPayload,
    ScenarioSummary,
)
from riskops.graphql.types import UserError
from riskops.server.core.errors import DomainError, ErrorCode
from riskops.server.core.scoping import scoped
from riskops.server.credit import baselines, candidates, scenarios
from riskops.server.credit import models as rm


@strawberry.type
class BaselinesQuery:
    @strawberry.field(
        description="Every scenario (at most 1000, by key) with its baseline, runs in the last "
        "30 days, last run and open baseline proposal."
    )
    async def scenarios(self, info: Info) -> list[ScenarioSummary]:
        rows = await query(scenarios.list_scenarios(principal(info)))
        return [ScenarioSummary.of(r) for r in rows]

    @strawberry.field(
        description="One scenario by its exact key, with baseline history, open proposal, "
        "candidate status (last 7 days) and credits of the last 90 days; null when unknown."
    )
    async def scenario(self, info: Info, key: str) -> ScenarioDetail | None:
        detail = await or_none(scenarios.get_scenario_detail(principal(info), key))
        return ScenarioDetail.of(detail) if detail is not None else None

    @strawberry.field(description="The baseline in force of every scenario that has one.")
    async def baselines(self, info: Info) -> list[Baseline]:
        rows = await query(baselines.baselines_in_force(principal(info)))
        return [Baseline.of(r.baseline, r.scenario.key) for r in rows]

    @strawberry.field(
        description="Scenarios with runs in [periodStart, periodEnd) (default: the last 7 "
        "days) judged as baseline candidates: ≥ 10 runs, no SEV0/SEV1, CV < 0.3, median < 1.2x "
        "the current baseline (the policy's numbers). Candidates first."
    )
    async def baseline_candidates(
        self,
        info: Info,
        period_start: datetime | None = None,
        period_end: datetime | None = None,
    ) -> list[BaselineCandidate]:
        rows = await query(
            candidates.baseline_candidates(principal(info), period_start, period_end)
        )
        return [BaselineCandidate.of(c) for c in rows]


async def _change_payload(change: Awaitable[rm.BaselineChange]) -> BaselineChangePayload:
    try:
        row = await change
    except DomainError as exc:
        return BaselineChangePayload(errors=[UserError.of(exc)])
    key = await rm.Scenario.filter(id=row.scenario_id).first().values_list("key", flat=True)
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
