"""GraphQL types of the weekly report, built from a stored Report row (no queries in here).

The payload's sections are typed fields; `json` is the stored canonical JSON itself (its
SHA-256 is `sha256`), for clients that archive or verify the exact document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from riskops.graphql.core.errors import UserError
from riskops.graphql.core.ids import as_id, as_opt_id
from riskops.graphql.core.pagination import PageInfo
from riskops.server.credit import models as rm
from riskops.server.credit import pii_rate
from riskops.server.credit import reports as svc


@strawberry.type(description="Runs per severity in the week; `none` is below SEV3.")
class ReportSeverityCounts:
    sev0: int
    sev1: int
    sev2: int
    sev3: int
    none: int
    no_baseline: int = strawberry.field(description="Runs of scenarios without a baseline.")

    @classmethod
    def of(cls, c: dict[str, Any]) -> ReportSeverityCounts:
        return cls(
            sev0=c.get("SEV0", 0), sev1=c.get("SEV1", 0), sev2=c.get("SEV2", 0),
            sev3=c.get("SEV3", 0), none=c.get("none", 0), no_baseline=c.get("no_baseline", 0),
        )  # fmt: skip


@strawberry.type(description="A scenario among the week's top spenders.")
class ReportScenarioTotal:
    scenario: str
    runs: int
    total: float
    avg: float
    baseline_median: float | None
    variance_multiplier: float | None = strawberry.field(
        description="total / (runs x baseline median); null without a baseline."
    )


@strawberry.type(description="One of the week's runs with the highest multiplier.")
class ReportSpikeRun:
    id: strawberry.ID = strawberry.field(description="The run's id in riskops (see `run`).")
    run_id: str
    scenario: str
    credits: float
    multiplier: float
    severity: str | None
    case_number: str | None


@strawberry.type(
    description="A policy violation: kind is sev0_sev1_without_case (run fields set), "
    "stale_case or resolved_without_root_cause (case fields set)."
)
class ReportViolation:
    kind: str
    run_pk: strawberry.ID | None = None
    run_id: str | None = None
    scenario: str | None = None
    severity: str | None = None
    multiplier: float | None = None
    case_id: strawberry.ID | None = None
    case_number: str | None = None
    status: str | None = None
    last_activity_at: str | None = None
    days_inactive: int | None = None

    @classmethod
    def of(cls, v: dict[str, Any]) -> ReportViolation:
        run = v["kind"] == "sev0_sev1_without_case"
        ident = v.get("id") if run else v.get("case_id")
        return cls(
            kind=v["kind"],
            run_pk=as_opt_id(ident) if run else None,
            run_id=v.get("run_id"), scenario=v.get("scenario"), severity=v.get("severity"),
            multiplier=v.get("multiplier"),
            case_id=None if run else as_opt_id(ident),
            case_number=v.get("case_number"), status=v.get("status"),
            last_activity_at=v.get("last_activity_at"), days_inactive=v.get("days_inactive"),
        )  # fmt: skip


@strawberry.type(description="A scenario eligible for a baseline update on the week's runs.")
class ReportBaselineCandidate:
    scenario: str
    runs: int
    median: float | None
    cv: float | None
    current_median: float | None
    change_pct: float | None


@strawberry.type(
    description="The PII false-positive rate (seed 002 monthly check): of the runs started in "
    "the period flagged pii_exposure or regulatory_data, how many an approver declassified as "
    "a false positive."
)
class PiiFalsePositiveRate:
    period_start: datetime
    period_end: datetime
    flagged: int = strawberry.field(description="Runs flagged pii_exposure or regulatory_data.")
    declassified: int = strawberry.field(description="Of those, declassified by an approver.")
    rate: float | None = strawberry.field(
        description="declassified / flagged, from 0 to 1; null when no run was flagged."
    )

    @classmethod
    def of(cls, r: pii_rate.FalsePositiveRate) -> PiiFalsePositiveRate:
        return cls(
            period_start=r.period_start, period_end=r.period_end, flagged=r.flagged,
            declassified=r.declassified, rate=r.rate,
        )  # fmt: skip

    @classmethod
    def of_payload(cls, p: dict[str, Any]) -> PiiFalsePositiveRate:
        return cls(
            period_start=datetime.fromisoformat(p["period_start"]),
            period_end=datetime.fromisoformat(p["period_end"]),
            flagged=p["flagged"], declassified=p["declassified"], rate=p["rate"],
        )  # fmt: skip


@strawberry.type(description="The PII false-positive rate of a report, as of its generation.")
class ReportPiiFalsePositives:
    week: PiiFalsePositiveRate = strawberry.field(description="The runs of the report's week.")
    last_30_days: PiiFalsePositiveRate = strawberry.field(
        description="The runs of the 30 days up to the report's period end (the monthly check)."
    )


@strawberry.type(description="A stored weekly credit review with the SHA-256 of its JSON.")
class Report:
    id: strawberry.ID
    kind: str
    period_start: datetime
    period_end: datetime
    created_at: datetime
    created_by: str = strawberry.field(
        description="Who generated it, as people read it: a person's name, \"<name> (API "
        'token)", "deleted user" or "system" (the Monday job, the CLI).'
    )
    sha256: str
    json: str = strawberry.field(description="The canonical JSON whose SHA-256 is `sha256`.")
    severity_counts: ReportSeverityCounts
    top_scenarios_by_total: list[ReportScenarioTotal]
    top_spike_runs: list[ReportSpikeRun]
    policy_violations: list[ReportViolation]
    baseline_candidates: list[ReportBaselineCandidate]
    pii_false_positives: ReportPiiFalsePositives | None = strawberry.field(
        description="Null in reports generated before the figure was added."
    )

    @classmethod
    def of(cls, r: rm.Report, creators: dict[str, str]) -> Report:
        p = r.payload
        return cls(
            id=as_id(r.id),
            kind=r.kind,
            period_start=r.period_start,
            period_end=r.period_end,
            created_at=r.created_at,
            created_by=creators.get(r.created_by, "system"),
            sha256=r.sha256,
            json=svc.canonical(p).decode("utf-8"),
            severity_counts=ReportSeverityCounts.of(p.get("severity_counts", {})),
            top_scenarios_by_total=[
                ReportScenarioTotal(**t) for t in p.get("top_scenarios_by_total", [])
            ],
            top_spike_runs=[
                ReportSpikeRun(
                    id=as_id(s["id"]),
                    run_id=s["run_id"],
                    scenario=s["scenario"],
                    credits=s["credits"],
                    multiplier=s["multiplier"],
                    severity=s["severity"],
                    case_number=s["case_number"],
                )
                for s in p.get("top_spike_runs", [])
            ],
            policy_violations=[ReportViolation.of(v) for v in p.get("policy_violations", [])],
            baseline_candidates=[
                ReportBaselineCandidate(**c) for c in p.get("baseline_candidates", [])
            ],
            pii_false_positives=_false_positives(p.get("pii_false_positives")),
        )


def _false_positives(p: dict[str, Any] | None) -> ReportPiiFalsePositives | None:
    if not p:
        return None
    return ReportPiiFalsePositives(
        week=PiiFalsePositiveRate.of_payload(p["week"]),
        last_30_days=PiiFalsePositiveRate.of_payload(p["last_30_days"]),
    )


@strawberry.type
class ReportEdge:
    cursor: str
    node: Report


@strawberry.type
class ReportConnection:
    edges: list[ReportEdge]
    page_info: PageInfo


@strawberry.type
class ReportPayload:
    report: Report | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
