"""GraphQL types of scenarios and baselines, built from already-loaded models and service results
(no queries in here)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from riskops.graphql.core.errors import UserError
from riskops.graphql.core.ids import as_id, as_opt_id
from riskops.graphql.credit.run_types import Severity
from riskops.server.core.approvals import ChangeStatus
from riskops.server.credit import baseline_prerequisites, candidates
from riskops.server.credit import baselines as b
from riskops.server.credit import models as rm
from riskops.server.credit import scenarios as s
from riskops.server.credit.models import BaselineSource as _BaselineSource

BaselineSource = strawberry.enum(
    _BaselineSource, name="BaselineSource", description="Calculated from runs, or set by hand."
)
BaselineChangeStatus = strawberry.enum(
    ChangeStatus, name="BaselineChangeStatus", description="Where a baseline change is."
)


@strawberry.type(description="An automated job or agent whose runs consume credits.")
class Scenario:
    id: strawberry.ID
    key: str = strawberry.field(description="Like BINDER_EXPORT_WEEKLY; matched exactly.")
    name: str
    max_items: int | None = strawberry.field(description="Items a run may process; null: none.")
    data_classification: str
    dispatch_target: str | None
    created_at: datetime
    version: int = strawberry.field(description="Pass as expectedVersion to updateScenario.")

    @classmethod
    def of(cls, x: rm.Scenario) -> Scenario:
        return cls(
            id=as_id(x.id), key=x.key, name=x.name, max_items=x.max_items,
            data_classification=x.data_classification, dispatch_target=x.dispatch_target,
            created_at=x.created_at, version=x.version,
        )  # fmt: skip


@strawberry.type(description="The baseline in force for a scenario.")
class Baseline:
    scenario_key: str
    median: float = strawberry.field(description="Median credits_total of healthy runs.")
    cv: float | None = strawberry.field(description="Coefficient of variation (sample).")
    sample_size: int
    window_days: int | None
    credits_per_item: float | None = strawberry.field(
        description="Median credits per item of the same runs (null for a manual baseline)."
    )
    prompt_tokens: float | None = strawberry.field(
        description="Median prompt tokens of the same runs (null for a manual baseline)."
    )
    source: BaselineSource  # type: ignore[valid-type]
    set_at: datetime

    @classmethod
    def of(cls, x: rm.Baseline, key: str) -> Baseline:
        return cls(
            scenario_key=key, median=x.median, cv=x.cv, sample_size=x.sample_size,
            window_days=x.window_days, credits_per_item=x.credits_per_item,
            prompt_tokens=x.prompt_tokens, source=x.source, set_at=x.set_at,
        )  # fmt: skip


@strawberry.type(description="A proposed or decided baseline change: the baseline history.")
class BaselineChange:
    id: strawberry.ID
    scenario_key: str
    old_median: float | None
    new_median: float
    change_pct: float | None
    sample_size: int
    cv: float | None
    source: BaselineSource  # type: ignore[valid-type]
    status: BaselineChangeStatus  # type: ignore[valid-type]
    rationale: str = strawberry.field(description="The proposer's rationale.")
    decision_rationale: str | None = strawberry.field(
        description="The approver's rationale, or the reason of a rejection."
    )
    window_days: int | None
    confirmed_large_change: bool
    proposed_by_id: strawberry.ID | None
    decided_by_id: strawberry.ID | None
    created_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, x: rm.BaselineChange, key: str) -> BaselineChange:
        return cls(
            id=as_id(x.id), scenario_key=key, old_median=x.old_median,
            new_median=x.new_median, change_pct=x.change_pct, sample_size=x.sample_size,
            cv=x.cv, source=x.source, status=x.status, rationale=x.rationale,
            decision_rationale=x.decision_rationale, window_days=x.window_days,
            confirmed_large_change=x.confirmed_large_change,
            proposed_by_id=as_opt_id(x.proposed_by_id), decided_by_id=as_opt_id(x.decided_by_id),
            created_at=x.created_at, decided_at=x.decided_at,
        )  # fmt: skip


@strawberry.type(description="A baseline calculated from healthy runs; nothing was changed.")
class BaselineCalculation:
    scenario_key: str
    days: int
    window_start: datetime
    window_end: datetime
    median: float
    cv: float | None
    sample_size: int = strawberry.field(
        description="Healthy runs used (not SEV0/1, not quarantined)."
    )
    credits_per_item: float | None
    prompt_tokens: float | None
    current_median: float | None = strawberry.field(description="The baseline in force, if any.")
    change_pct: float | None
    needs_confirmation: bool = strawberry.field(
        description="Approving this change would need confirmLargeChange."
    )

    @classmethod
    def of(cls, c: b.Calculation) -> BaselineCalculation:
        return cls(
            scenario_key=c.scenario.key, days=c.days, window_start=c.window_start,
            window_end=c.window_end, median=c.median, cv=c.cv, sample_size=c.sample_size,
            credits_per_item=c.credits_per_item, prompt_tokens=c.prompt_tokens,
            current_median=c.current.median if c.current else None, change_pct=c.change_pct,
            needs_confirmation=c.needs_confirmation,
        )  # fmt: skip


@strawberry.type(description="A scenario with runs in the period, judged as a baseline candidate.")
class BaselineCandidate:
    scenario_key: str
    runs: int
    median: float | None = strawberry.field(
        description="The period's median (only when count, CV and severities pass)."
    )
    cv: float | None
    current_median: float | None
    ratio: float | None = strawberry.field(description="Period median / current baseline.")
    change_pct: float | None
    had_sev0_or_sev1: bool
    reasons: list[str] = strawberry.field(description="Why it is not a candidate; empty if it is.")
    is_candidate: bool

    @classmethod
    def of(cls, c: candidates.Candidate) -> BaselineCandidate:
        return cls(
            scenario_key=c.scenario_key, runs=c.runs, median=c.median, cv=c.cv,
            current_median=c.current_median, ratio=c.ratio, change_pct=c.change_pct,
            had_sev0_or_sev1=c.had_sev0_or_sev1, reasons=list(c.reasons),
            is_candidate=c.is_candidate,
        )  # fmt: skip


@strawberry.type(description="A scenario in the list, with its baseline and recent activity.")
class ScenarioSummary:
    scenario: Scenario
    baseline: Baseline | None
    runs_last_30_days: int
    last_run_at: datetime | None
    open_proposal: BaselineChange | None

    @classmethod
    def of(cls, x: s.ScenarioSummary) -> ScenarioSummary:
        key = x.scenario.key
        return cls(
            scenario=Scenario.of(x.scenario),
            baseline=Baseline.of(x.baseline, key) if x.baseline else None,
            runs_last_30_days=x.runs_recent, last_run_at=x.last_run_at,
            open_proposal=BaselineChange.of(x.open_proposal, key) if x.open_proposal else None,
        )  # fmt: skip


@strawberry.type(description="One run of the credits chart.")
class CreditPoint:
    started_at: datetime
    credits_total: float
    severity: Severity | None  # type: ignore[valid-type]


@strawberry.type(description="A scenario with its baseline, history and last 90 days of credits.")
class ScenarioDetail:
    scenario: Scenario
    baseline: Baseline | None
    history: list[BaselineChange]
    open_proposal: BaselineChange | None
    open_proposal_needs_confirmation: bool = strawberry.field(
        description="Approving the open proposal needs confirmLargeChange: true (a change above "
        "the policy's confirm_change_above_pct)."
    )
    candidate: BaselineCandidate | None = strawberry.field(
        description="Candidate status over the last 7 days; null without runs in them."
    )
    series: list[CreditPoint] = strawberry.field(
        description="Runs of the last 90 days, oldest first, at most the newest 1000."
    )

    @classmethod
    def of(cls, d: s.ScenarioDetail) -> ScenarioDetail:
        key = d.scenario.key
        return cls(
            scenario=Scenario.of(d.scenario),
            baseline=Baseline.of(d.baseline, key) if d.baseline else None,
            history=[BaselineChange.of(h, key) for h in d.history],
            open_proposal=BaselineChange.of(d.open_proposal, key) if d.open_proposal else None,
            open_proposal_needs_confirmation=d.proposal_needs_confirmation,
            candidate=BaselineCandidate.of(d.candidate) if d.candidate else None,
            series=[
                CreditPoint(started_at=p.started_at, credits_total=p.credits_total,
                            severity=p.severity)
                for p in d.series
            ],
        )  # fmt: skip


@strawberry.type(description="One prerequisite of a baseline update (seed 002).")
class BaselinePrerequisite:
    name: str = strawberry.field(description="quiet, data_days or cv.")
    met: bool
    label: str = strawberry.field(description="The condition, with the policy's number.")
    detail: str = strawberry.field(description="What the scenario's runs show.")
    message: str | None = strawberry.field(
        description="Why a proposal is refused while it is not met (null when met)."
    )


@strawberry.type(
    description="Whether a baseline update of a scenario may be proposed now (seed 002 "
    '"Prerequisites"): no SEV0/SEV1 run in the policy\'s baseline_quiet_days, healthy runs '
    "spanning baseline_min_data_days, CV below candidate_max_cv. A manual baseline is held to "
    "the first alone. Checked again at proposal and at approval."
)
class BaselinePrerequisites:
    scenario_key: str
    met: bool
    manual: bool = strawberry.field(description="Judged for a manual baseline (setManualBaseline).")
    days: int = strawberry.field(description="The window the CV is taken over (0 for manual).")
    conditions: list[BaselinePrerequisite]

    @classmethod
    def of(cls, p: baseline_prerequisites.Prerequisites) -> BaselinePrerequisites:
        return cls(
            scenario_key=p.scenario.key, met=p.met, manual=p.manual, days=p.days,
            conditions=[
                BaselinePrerequisite(name=c.name, met=c.met, label=c.label, detail=c.detail,
                                     message=c.message or None)
                for c in p.conditions
            ],
        )  # fmt: skip


@strawberry.type
class BaselineCalculationPayload:
    calculation: BaselineCalculation | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class BaselineChangePayload:
    change: BaselineChange | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ScenarioPayload:
    scenario: Scenario | None = strawberry.field(
        default=None, description="The changed scenario; on CONFLICT, its current state."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(
    description="A scenario's whole configuration (runbook: fix max_items); a field left out "
    "is set to null."
)
class ScenarioConfigInput:
    name: str
    data_classification: str = strawberry.field(
        description="public, internal, confidential, pii or regulatory."
    )
    max_items: int | None = strawberry.field(default=None, description="Null: no limit.")
    dispatch_target: str | None = None
