"""GraphQL types of the run ledger: runs with their classification, artifacts, rerun requests,
and the input of `recordRuns` (the ledger's fields, camelCased)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from riskops.graphql.core.context import Info
from riskops.graphql.core.errors import UserError
from riskops.graphql.core.ids import as_id, as_opt_id
from riskops.graphql.core.pagination import PageInfo
from riskops.graphql.credit.loaders import RunLoaders
from riskops.graphql.credit.policy_types import PolicyValue, policy_values
from riskops.graphql.response.types import ResponseClock, clock_of
from riskops.server.credit import artifacts as artifacts_view
from riskops.server.credit import models as rm
from riskops.server.credit import runs as run_svc
from riskops.server.credit.models import RerunStatus as _RerunStatus
from riskops.server.credit.runs import ClassifiedUnder as ClassifiedUnderModel
from riskops.server.credit.terms import DataClassification as _DataClassification
from riskops.server.credit.terms import Likelihood as _Likelihood
from riskops.server.credit.terms import RiskFlag as _RiskFlag
from riskops.server.credit.terms import Severity as _Severity

Severity = strawberry.enum(_Severity, name="Severity", description="SEV0 (critical) to SEV3.")
RiskFlag = strawberry.enum(_RiskFlag, name="RiskFlag")
Likelihood = strawberry.enum(_Likelihood, name="MisconfigLikelihood")
DataClassification = strawberry.enum(_DataClassification, name="DataClassification")
RerunStatus = strawberry.enum(_RerunStatus, name="RerunStatus")


@strawberry.type(description="A file a run produced, with its SHA-256.")
class RunArtifact:
    id: strawberry.ID
    uri: str
    sha256: str | None
    managed: bool = strawberry.field(description="True when riskops holds the file itself.")
    quarantine_path: str | None
    quarantined_at: datetime | None
    released_at: datetime | None

    @classmethod
    def of(cls, a: rm.RunArtifact) -> RunArtifact:
        return cls(
            id=as_id(a.id),
            uri=a.uri,
            sha256=a.sha256 or None,
            managed=artifacts_view.is_managed(a.uri),
            quarantine_path=a.quarantine_path,
            quarantined_at=a.quarantined_at,
            released_at=a.released_at,
        )


@strawberry.type(description="A request to rerun a gated run; approval needs a mitigation.")
class RerunRequest:
    id: strawberry.ID
    run_id: strawberry.ID
    status: RerunStatus  # type: ignore[valid-type]
    reason: str
    mitigation: str | None
    deny_reason: str | None
    requested_by_id: strawberry.ID | None
    decided_by_id: strawberry.ID | None
    requested_at: datetime
    decided_at: datetime | None
    version: int

    @classmethod
    def of(cls, r: rm.RerunRequest) -> RerunRequest:
        return cls(
            id=as_id(r.id),
            run_id=as_id(r.run_id),
            status=r.status,
            reason=r.reason,
            mitigation=r.mitigation,
            deny_reason=r.deny_reason,
            requested_by_id=as_opt_id(r.requested_by_id),
            decided_by_id=as_opt_id(r.decided_by_id),
            requested_at=r.requested_at,
            decided_at=r.decided_at,
            version=r.version,
        )


@strawberry.type(description="One run of a scenario, as recorded, with our classification.")
class Run:
    id: strawberry.ID
    run_id: str = strawberry.field(description="The producer's run id (unique per organization).")
    scenario: str = strawberry.field(description="The scenario key.")
    job_type: str | None
    started_at: datetime
    finished_at: datetime | None
    recorded_at: datetime
    updated_at: datetime = strawberry.field(
        description="When the run last changed (recorded, released from quarantine, a rerun "
        "request or a rerun): what `runs(updatedAfter:)` compares."
    )
    credits_total: float
    prompt_tokens: int | None
    completion_tokens: int | None
    items_processed: int | None
    retry_count: int
    has_max_items_config: bool | None
    deployment_ref: str | None
    deployed_at: datetime | None
    data_classification: str
    producer_flags: list[str]
    flags: list[str] = strawberry.field(description="Derived and producer flags (RiskFlag names).")
    explanations: list[str] = strawberry.field(
        description="Why: the severity sentence, then one sentence per flag in `flags` order."
    )
    baseline_median: float | None
    multiplier: float | None = strawberry.field(description="credits_total / baseline median.")
    severity: Severity | None  # type: ignore[valid-type]
    misconfig_likelihood: Likelihood  # type: ignore[valid-type]
    policy_number: int = strawberry.field(description="The policy version that classified it.")
    quarantined: bool
    quarantine_reason: str | None = strawberry.field(
        description="Why an approver quarantined the run by hand (null: never by hand; the "
        "automatic SEV0 quarantine has no reason). Kept after a release."
    )
    declassified_at: datetime | None = strawberry.field(
        description="When an approver declassified its pii_exposure / regulatory_data flag as "
        "a false positive (declassifyRun); null: not declassified."
    )
    declassified_by_id: strawberry.ID | None
    dispatch_blocked: bool
    reported_severity: Severity | None = strawberry.field(  # type: ignore[valid-type]
        description="The Severity the producer reported in the ledger (null: not reported or "
        "none); riskops computes `severity` itself."
    )
    reported_dispatch_blocked: bool | None = strawberry.field(
        description="The dispatch_blocked the producer reported (null: not reported)."
    )
    severity_disagrees: bool = strawberry.field(
        description="The reported severity differs from the computed one."
    )
    dispatch_blocked_disagrees: bool = strawberry.field(
        description="The reported dispatch_blocked differs from the computed one."
    )
    rerun_gate: bool = strawberry.field(description="A rerun needs an approved rerun request.")
    case_id: strawberry.ID | None
    case_number: str | None
    rerun_of_id: strawberry.ID | None
    version: int

    @strawberry.field(
        description="The response target of a SEV0/SEV1 run and its acknowledgement (null for "
        "other runs); batch-loaded for every run of the request."
    )
    async def response_clock(self, info: Info) -> ResponseClock | None:
        return await clock_of(info, "run", self.id)

    @classmethod
    def of(cls, r: rm.Run, loaded: RunLoaders) -> Run:
        """The node, its scenario key and case number taken from what the resolver batch-loaded
        for all of its runs (`RunLoaders.load_for`)."""
        return cls(
            id=as_id(r.id),
            run_id=r.run_id,
            scenario=loaded.scenario_key(r),
            job_type=r.job_type,
            started_at=r.started_at,
            finished_at=r.finished_at,
            recorded_at=r.recorded_at,
            updated_at=r.updated_at,
            credits_total=r.credits_total,
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens,
            items_processed=r.items_processed,
            retry_count=r.retry_count,
            has_max_items_config=r.has_max_items_config,
            deployment_ref=r.deployment_ref,
            deployed_at=r.deployed_at,
            data_classification=r.data_classification,
            producer_flags=list(r.producer_flags or []),
            flags=list(r.flags or []),
            explanations=list(r.explanations or []),
            baseline_median=r.baseline_median,
            multiplier=r.multiplier,
            severity=r.severity,
            misconfig_likelihood=_Likelihood(r.misconfig_likelihood),
            policy_number=r.policy_number,
            quarantined=r.quarantined,
            quarantine_reason=r.quarantine_reason,
            declassified_at=r.declassified_at,
            declassified_by_id=as_opt_id(r.declassified_by_id),
            dispatch_blocked=r.dispatch_blocked,
            reported_severity=r.reported_severity,
            reported_dispatch_blocked=r.reported_dispatch_blocked,
            severity_disagrees=run_svc.severity_disagrees(r),
            dispatch_blocked_disagrees=run_svc.dispatch_disagrees(r),
            rerun_gate=r.rerun_gate,
            case_id=as_opt_id(r.case_id),
            case_number=loaded.case_number(r),
            rerun_of_id=as_opt_id(r.rerun_of_id),
            version=r.version,
        )


@strawberry.type(
    description="The thresholds a run was classified with: the policy version stored on the run "
    "(0: the built-in defaults) and its values, and the version in force now (they differ once "
    "the policy changed since the run was recorded)."
)
class ClassifiedUnder:
    policy_number: int
    policy_in_force: int
    values: list[PolicyValue]

    @classmethod
    def of(cls, c: ClassifiedUnderModel) -> ClassifiedUnder:
        return cls(
            policy_number=c.number, policy_in_force=c.in_force, values=policy_values(c.policy)
        )


@strawberry.type(description="A run with everything its detail page shows.")
class RunDetail:
    run: Run
    artifacts: list[RunArtifact]
    rerun_requests: list[RerunRequest]
    open_rerun_request: RerunRequest | None = strawberry.field(
        description="The pending or approved-but-unused rerun request (at most one): while it "
        "exists no other can be made."
    )
    reruns: list[Run]
    rerun_of: Run | None
    classified_under: ClassifiedUnder


@strawberry.type
class RunEdge:
    cursor: str
    node: Run


@strawberry.type
class RunConnection:
    edges: list[RunEdge]
    page_info: PageInfo


@strawberry.input(description="Filters of the run ledger; all optional, combined with AND.")
class RunFilterInput:
    severity: list[str] | None = strawberry.field(
        default=None, description='SEV0, SEV1, SEV2, SEV3 and/or "none" (no severity).'
    )
    scenario: str | None = None
    flag: RiskFlag | None = None  # type: ignore[valid-type]
    since: datetime | None = None
    until: datetime | None = None
    quarantined: bool | None = None


@strawberry.input(description="A file a run produced: a URI and its SHA-256 (64 hex digits).")
class ArtifactInput:
    uri: str
    sha256: str | None = None


@strawberry.input(description="One run to record; (organization, runId) is its identity.")
class RunInput:
    run_id: str
    scenario: str
    credits_total: float
    job_type: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    items_processed: int | None = None
    retry_count: int | None = None
    has_max_items_config: bool | None = None
    deployment_ref: str | None = None
    deployed_at: datetime | None = None
    data_classification: DataClassification | None = None  # type: ignore[valid-type]
    risk_flags: list[RiskFlag] | None = None  # type: ignore[valid-type]
    artifacts: list[ArtifactInput] | None = None
    rerun_of: str | None = strawberry.field(
        default=None, description="The runId this run reruns (a gated run needs approval)."
    )


@strawberry.type(
    description="An invalid or refused item of recordRuns; the valid ones were recorded."
)
class RunItemError:
    index: int
    field: str
    code: str = strawberry.field(description="INVALID, DUPLICATE, NOT_FOUND or FORBIDDEN.")
    message: str


@strawberry.type(description="One recorded run and the automatic actions taken for it.")
class RecordedRun:
    index: int
    run_id: str
    id: strawberry.ID
    severity: Severity | None  # type: ignore[valid-type]
    actions: list[str]
    case_number: str | None


@strawberry.type
class RecordRunsPayload:
    batch_id: str | None = None
    recorded: list[RecordedRun] = strawberry.field(default_factory=list)
    unchanged: list[RecordedRun] = strawberry.field(
        default_factory=list, description="Runs recorded before (idempotent on runId)."
    )
    item_errors: list[RunItemError] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RerunRequestPayload:
    rerun_request: RerunRequest | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The check of one artifact before a quarantine release.")
class ArtifactCheck:
    uri: str
    held: bool = strawberry.field(description="riskops holds the file (else external reference).")
    ok: bool
    detail: str


@strawberry.type
class ReleasePayload:
    run: Run | None = None
    checks: list[ArtifactCheck] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class QuarantinePayload:
    run: Run | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeclassifyPayload:
    run: Run | None = None
    released: bool = strawberry.field(
        default=False, description="The quarantine was released in the same step."
    )
    checks: list[ArtifactCheck] = strawberry.field(
        default_factory=list, description="The release's artifact checks (empty without one)."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)
