"""The terms of credit monitoring (PRODUCT.md, seed 002): severities, risk flags, misconfig
likelihood, automatic actions, data classifications, and the versioned `Policy` of thresholds
and weights with their ranges. Pure, no database."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from enum import StrEnum
from typing import Any

from riskops.server.core.errors import Invalid


class Severity(StrEnum):
    SEV0 = "SEV0"
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"


def severity_of(raw: Any) -> Severity | None:
    """A stored severity (the enum, its text, or none) as the enum."""
    if raw is None or raw == "":
        return None
    return raw if isinstance(raw, Severity) else Severity(str(raw))


class RiskFlag(StrEnum):
    RETRY_LOOP = "retry_loop"
    UNBOUNDED_ITERATOR = "unbounded_iterator"
    BATCH_JOB = "batch_job"
    LINEAR_SCALING = "linear_scaling"
    SUDDEN_PROMPT_GROWTH = "sudden_prompt_growth"
    DEPLOYMENT_CORRELATION = "deployment_correlation"
    PII_EXPOSURE = "pii_exposure"
    REGULATORY_DATA = "regulatory_data"
    NO_BASELINE = "no_baseline"
    BACKFILL = "backfill"  # the scenario is in backfill mode: a legit signal, SEV1 relaxed


class Likelihood(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class AutoAction(StrEnum):
    QUARANTINE = "quarantine"  # move the artifacts aside, SHA-256 re-verified on release
    BLOCK_DISPATCH = "block_dispatch"
    OPEN_CASE = "open_case"
    NOTIFY_CRITICAL = "notify_critical"
    NOTIFY_ALERTS = "notify_alerts"
    ARM_RERUN_GATE = "arm_rerun_gate"  # a rerun needs an approved request
    WEEKLY_REVIEW = "weekly_review"  # listed for the weekly review (SEV2)


class DataClassification(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    PII = "pii"
    REGULATORY = "regulatory"


MISCONFIG_FLAGS: tuple[RiskFlag, ...] = (
    RiskFlag.RETRY_LOOP,
    RiskFlag.UNBOUNDED_ITERATOR,
    RiskFlag.SUDDEN_PROMPT_GROWTH,
    RiskFlag.DEPLOYMENT_CORRELATION,
)


LEGIT_FLAGS: tuple[RiskFlag, ...] = (RiskFlag.BATCH_JOB, RiskFlag.LINEAR_SCALING, RiskFlag.BACKFILL)


@dataclass(frozen=True)
class Policy:
    """Every threshold and weight of the classification. Versioned; only approvers change it."""

    sev0_multiplier: float = 10.0
    sev1_multiplier: float = 5.0
    sev2_multiplier: float = 2.0
    sev3_multiplier: float = 1.5
    backfill_relax: float = 2.0
    retry_limit: int = 3
    unbounded_items_limit: int = 1000
    linear_scaling_tolerance: float = 0.25
    prompt_growth_factor: float = 2.0
    deployment_window_minutes: int = 120
    weight_retry_loop: float = 3.0
    weight_unbounded_iterator: float = 3.0
    weight_sudden_prompt_growth: float = 2.0
    weight_deployment_correlation: float = 2.0
    weight_batch_job: float = 2.0
    weight_linear_scaling: float = 2.0
    weight_backfill: float = 3.0
    likelihood_high: float = 4.0
    likelihood_medium: float = 2.0
    sev2_pattern_count: int = 3
    sev2_pattern_days: int = 7
    baseline_window_days: int = 30
    candidate_min_runs: int = 10
    candidate_max_cv: float = 0.3
    candidate_max_variance: float = 1.2
    confirm_change_above_pct: float = 50.0
    # the response loop (issue 16, seed 002 "Operator Response", seed 001 severity matrix)
    ack_sev0_minutes: int = 15  # a SEV0 run is acknowledged within this
    ack_sev1_minutes: int = 60  # a SEV1 run
    case_sev0_minutes: int = 0  # a case of severity Sev0 (critical): immediately
    case_sev1_minutes: int = 30  # Sev1 (high)
    case_sev2_minutes: int = 120  # Sev2 (medium)
    case_sev3_business_days: int = 1  # Sev3 (low): business days (Monday to Friday)
    escalation_step_minutes: int = 15  # between one escalation level and the next
    postmortem_due_hours: int = 48  # the post-incident report of a Sev0/Sev1 case
    operator_resolve_from_sev: int = 2  # operators resolve cases of SEVn runs, n >= this, alone
    archive_resolved_after_days: int = 30  # resolved cases older than this may be archived
    baseline_quiet_days: int = 14  # no SEV0/SEV1 of the scenario this long before a baseline
    baseline_min_data_days: int = 30  # days of runs a baseline update needs

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            # f.type is the annotation's text (postponed annotations): "int" or "float".
            if f.type == "int":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise Invalid(f"{f.name} must be a whole number, not {value!r}.", field=f.name)
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise Invalid(f"{f.name} must be a number, not {value!r}.", field=f.name)
            elif not math.isfinite(value):
                raise Invalid(f"{f.name} must be a finite number, not {value!r}.", field=f.name)
            else:
                object.__setattr__(self, f.name, float(value))
        for name, (lo, inclusive, hi) in _RANGES.items():
            _check_range(name, getattr(self, name), lo, inclusive, hi)
        self._check_order()

    def _check_order(self) -> None:
        if not self.sev0_multiplier >= self.sev1_multiplier > self.sev2_multiplier:
            raise Invalid(
                "Severity multipliers must satisfy sev0 ≥ sev1 > sev2 > sev3 > 1; got "
                f"sev0 {self.sev0_multiplier:g}, sev1 {self.sev1_multiplier:g}, "
                f"sev2 {self.sev2_multiplier:g}.",
                field="sev1_multiplier"
                if self.sev1_multiplier > self.sev0_multiplier
                else "sev2_multiplier",
            )
        if not self.sev2_multiplier > self.sev3_multiplier:
            raise Invalid(
                "Severity multipliers must satisfy sev0 ≥ sev1 > sev2 > sev3 > 1; got "
                f"sev2 {self.sev2_multiplier:g}, sev3 {self.sev3_multiplier:g}.",
                field="sev3_multiplier",
            )
        if not self.likelihood_high > self.likelihood_medium:
            raise Invalid(
                f"likelihood_high ({self.likelihood_high:g}) must be greater than "
                f"likelihood_medium ({self.likelihood_medium:g}).",
                field="likelihood_high",
            )

    def weight(self, flag: RiskFlag) -> float:
        """The weight of a misconfig or legit flag (0 for the others)."""
        if flag in MISCONFIG_FLAGS or flag in LEGIT_FLAGS:
            return float(getattr(self, f"weight_{flag.value}"))
        return 0.0

    @property
    def deployment_window(self) -> timedelta:
        return timedelta(minutes=self.deployment_window_minutes)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """A policy from stored or edited values. Missing keys take the defaults (so a version
        stored before a field existed still loads); unknown keys are refused."""
        if not isinstance(data, Mapping):
            raise Invalid("A policy must be an object of named thresholds.", field="policy")
        known = [f.name for f in fields(cls)]
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise Invalid(
                f"Unknown policy field(s) {', '.join(unknown)}; the fields are: "
                f"{', '.join(known)}.",
                field=unknown[0],
            )
        return cls(**dict(data))


# name -> (lower bound, lower bound allowed?, upper bound). Every field has an upper bound
# (docs/CREDIT_MONITORING.md "Ranges"): windows stay dates, products stay finite numbers.
_RANGES: dict[str, tuple[float, bool, float]] = {
    "sev0_multiplier": (1, False, 1000),
    "sev1_multiplier": (1, False, 1000),
    "sev2_multiplier": (1, False, 1000),
    "sev3_multiplier": (1, False, 1000),
    "backfill_relax": (1, True, 100),
    "retry_limit": (0, True, 1_000_000),
    "unbounded_items_limit": (0, True, 1_000_000_000),
    "linear_scaling_tolerance": (0, False, 1),
    "prompt_growth_factor": (1, False, 1000),
    "deployment_window_minutes": (1, True, 10080),
    **{f"weight_{f.value}": (0, True, 100) for f in (*MISCONFIG_FLAGS, *LEGIT_FLAGS)},
    "likelihood_high": (0, False, 1000),
    "likelihood_medium": (0, False, 1000),
    "sev2_pattern_count": (1, True, 1000),
    "sev2_pattern_days": (1, True, 366),
    "baseline_window_days": (1, True, 366),
    "candidate_min_runs": (2, True, 100_000),
    "candidate_max_cv": (0, False, 100),
    "candidate_max_variance": (1, False, 1000),
    "confirm_change_above_pct": (0, False, 100_000),
    "ack_sev0_minutes": (0, True, 10080),
    "ack_sev1_minutes": (0, True, 10080),
    "case_sev0_minutes": (0, True, 10080),
    "case_sev1_minutes": (0, True, 10080),
    "case_sev2_minutes": (0, True, 10080),
    "case_sev3_business_days": (0, True, 30),
    "escalation_step_minutes": (1, True, 10080),
    "postmortem_due_hours": (1, True, 24 * 30),
    "operator_resolve_from_sev": (0, True, 4),
    "archive_resolved_after_days": (1, True, 3660),
    "baseline_quiet_days": (0, True, 366),
    "baseline_min_data_days": (0, True, 366),
}


def _check_range(name: str, value: float, lo: float, inclusive: bool, hi: float) -> None:
    too_low = value < lo if inclusive else value <= lo
    if too_low or value > hi:
        bound = f"at least {lo:g}" if inclusive else f"greater than {lo:g}"
        bound += f" and at most {hi:,g}"
        raise Invalid(f"{name} is {value:g}; it must be {bound}.", field=name)


def policy_range(name: str) -> tuple[float, bool, float]:
    """The range of a policy field: (lower bound, lower bound allowed?, upper bound)."""
    return _RANGES[name]
