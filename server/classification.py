"""Classification of a run's credit spend: multiplier, severity, risk flags, misconfig likelihood,
the automatic actions they call for, the rerun gate, and the baseline math. Pure, no database,
no clock: every time is passed in. The rules are PRODUCT.md "Runs and credit monitoring" (seed 002)
and every threshold lives in the versioned `Policy`.

    m = credits_total / baseline median   (rounded to 6 decimals, so 0.3 / 0.1 counts as 3x)

    SEV0  m ≥ sev0 (10)  and the run touched PII or regulatory data
    SEV1  m ≥ sev1 (5)   x backfill_relax (2) when the scenario is in backfill mode
    SEV2  m ≥ sev2 (2)
    SEV3  m ≥ sev3 (1.5)
    none  below that, or no baseline at all (then the run gets `no_baseline`, never a severity)

Misconfig likelihood: score = Σ weights of the misconfig flags present - Σ weights of the legit
flags present; High at ≥ likelihood_high, Medium at ≥ likelihood_medium, Low below.

Our defaults (the docs give no number for these; all are Policy fields an approver may change):
- retry_limit = 3: `retry_loop` when retry_count > 3.
- unbounded_items_limit = 1000 (the seed's example max_items): `unbounded_iterator` when the run
  has no max_items configured and processed more than 1000 items. An unknown
  has_max_items_config (None) never raises the flag.
- linear_scaling_tolerance = 0.25: `linear_scaling` when credits per item is within ±25% of the
  scenario's median credits per item.
- prompt_growth_factor = 2.0: `sudden_prompt_growth` when prompt tokens ≥ 2x the scenario's median.
- deployment_window_minutes = 120: `deployment_correlation` when a deploy happened at most two
  hours before the run started (a deploy after the start does not count).
- weights: retry_loop 3, unbounded_iterator 3, sudden_prompt_growth 2, deployment_correlation 2;
  legit: batch_job 2, linear_scaling 2, backfill 3 (the seed: backfill runs get a legit bonus).
- likelihood_high = 4, likelihood_medium = 2: two strong misconfig signals are High, one is Medium,
  one offset by a legit signal is Low.
- BATCH_JOB_TYPES = {"batch"}: `batch_job` when job_type is "batch" (any case).
- data_classification "pii" raises `pii_exposure`, "regulatory" raises `regulatory_data`.
- The rerun gate after SEV2 ("flagged misconfig") means misconfig likelihood High or Medium.
- Baseline CV uses the sample standard deviation (n - 1) over the mean; undefined (None) below two
  runs or with a zero mean.
- "variance < 1.2x the current baseline" (candidates) is read as the seed's "variance multiplier":
  the period's median divided by the current baseline median must be < 1.2. A scenario without a
  current baseline passes that rule.
- A change "above 50%" is |change| > 50% in either direction; exactly 50% needs no confirmation.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from riskops.server.errors import Invalid


class Severity(StrEnum):
    SEV0 = "SEV0"
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"


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
SENSITIVE_FLAGS = frozenset({RiskFlag.PII_EXPOSURE, RiskFlag.REGULATORY_DATA})
# Flags that state our own knowledge (do we have a baseline, is the scenario in backfill mode):
# a producer's copy of them is ignored and they are recomputed.
DERIVED_ONLY_FLAGS = frozenset({RiskFlag.NO_BASELINE, RiskFlag.BACKFILL})
BATCH_JOB_TYPES = frozenset({"batch"})
_FLAG_NAMES = frozenset(f.value for f in RiskFlag)
MULTIPLIER_DECIMALS = 6


# --- policy ---------------------------------------------------------------------------------


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


# name -> (lower bound, lower bound allowed?, upper bound or None)
_RANGES: dict[str, tuple[float, bool, float | None]] = {
    "sev0_multiplier": (1, False, None),
    "sev1_multiplier": (1, False, None),
    "sev2_multiplier": (1, False, None),
    "sev3_multiplier": (1, False, None),
    "backfill_relax": (1, True, None),
    "retry_limit": (0, True, None),
    "unbounded_items_limit": (0, True, None),
    "linear_scaling_tolerance": (0, False, 1),
    "prompt_growth_factor": (1, False, None),
    "deployment_window_minutes": (1, True, None),
    **{f"weight_{f.value}": (0, True, None) for f in (*MISCONFIG_FLAGS, *LEGIT_FLAGS)},
    "likelihood_high": (0, False, None),
    "likelihood_medium": (0, False, None),
    "sev2_pattern_count": (1, True, None),
    "sev2_pattern_days": (1, True, None),
    "baseline_window_days": (1, True, None),
    "candidate_min_runs": (2, True, None),
    "candidate_max_cv": (0, False, None),
    "candidate_max_variance": (1, False, None),
    "confirm_change_above_pct": (0, False, None),
}


def _check_range(name: str, value: float, lo: float, inclusive: bool, hi: float | None) -> None:
    too_low = value < lo if inclusive else value <= lo
    too_high = hi is not None and value > hi
    if too_low or too_high:
        bound = f"at least {lo:g}" if inclusive else f"greater than {lo:g}"
        if hi is not None:
            bound += f" and at most {hi:g}"
        raise Invalid(f"{name} is {value:g}; it must be {bound}.", field=name)


# --- classification -------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFacts:
    """What a run reports about itself. Times must all be timezone-aware (or all naive)."""

    credits_total: float
    items_processed: int | None = None
    retry_count: int = 0
    has_max_items_config: bool | None = None  # None: not reported
    job_type: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    data_classification: str | None = None
    producer_flags: frozenset[str] = frozenset()
    deployed_at: datetime | None = None
    started_at: datetime | None = None
    scenario_backfill: bool = False


@dataclass(frozen=True)
class ScenarioStats:
    """What we know of the scenario's usual runs. baseline_median None: no baseline yet."""

    baseline_median: float | None = None
    median_credits_per_item: float | None = None
    median_prompt_tokens: float | None = None


@dataclass(frozen=True)
class Classification:
    """The verdict on one run. flags are sorted; flag_reasons has one sentence per flag."""

    multiplier: float | None
    severity: Severity | None
    flags: tuple[RiskFlag, ...]
    misconfig_score: float
    misconfig_likelihood: Likelihood
    severity_reason: str
    flag_reasons: dict[RiskFlag, str] = field(default_factory=dict)

    @property
    def explanations(self) -> list[str]:
        """The severity sentence, then one sentence per flag (in flag order): what pages show."""
        return [self.severity_reason, *(self.flag_reasons[f] for f in self.flags)]


def parse_flags(values: Iterable[str], name: str = "risk_flags") -> frozenset[RiskFlag]:
    """Producer flags as RiskFlags; an unknown name is refused with the list of known ones."""
    if isinstance(values, str):
        raise Invalid(f"{name} must be a list of flag names.", field=name)
    out: set[RiskFlag] = set()
    unknown: list[str] = []
    for v in values:
        flag = v.strip().lower() if isinstance(v, str) else None
        if flag is not None and flag in _FLAG_NAMES:
            out.add(RiskFlag(flag))
        else:
            unknown.append(repr(v))
    if unknown:
        raise Invalid(
            f"{name}: unknown flag(s) {', '.join(unknown)}; the known flags are: "
            f"{', '.join(f.value for f in RiskFlag)}.",
            field=name,
        )
    return frozenset(out)


def multiplier(credits_total: float, baseline_median: float | None) -> float | None:
    if baseline_median is None or baseline_median <= 0:
        return None
    return round(credits_total / baseline_median, MULTIPLIER_DECIMALS)


# Each rule: the sentence that explains its flag when the run raises it, else None.
Rule = Callable[[RunFacts, ScenarioStats, Policy], str | None]


def _retry_loop(facts: RunFacts, stats: ScenarioStats, policy: Policy) -> str | None:
    if facts.retry_count <= policy.retry_limit:
        return None
    return f"retried {facts.retry_count} times (the limit is {policy.retry_limit})"


def _unbounded_iterator(facts: RunFacts, stats: ScenarioStats, policy: Policy) -> str | None:
    items = facts.items_processed
    # Only an explicit "no max_items": an unreported config is not evidence of misconfig.
    if facts.has_max_items_config is not False or items is None:
        return None
    if items <= policy.unbounded_items_limit:
        return None
    return (
        f"no max_items configured and {items} items processed "
        f"(more than {policy.unbounded_items_limit})"
    )


def _batch_job(facts: RunFacts, stats: ScenarioStats, policy: Policy) -> str | None:
    job_type = (facts.job_type or "").strip()
    return f"job type is {job_type}" if job_type.lower() in BATCH_JOB_TYPES else None


def _linear_scaling(facts: RunFacts, stats: ScenarioStats, policy: Policy) -> str | None:
    items, usual = facts.items_processed, stats.median_credits_per_item
    if not items or usual is None or usual <= 0:
        return None
    actual = facts.credits_total / items
    if abs(actual - usual) > policy.linear_scaling_tolerance * usual:
        return None
    return (
        f"{actual:.4g} credits per item, within ±{policy.linear_scaling_tolerance:.0%} "
        f"of the scenario's usual {usual:.4g}: spend grew with volume"
    )


def _sudden_prompt_growth(facts: RunFacts, stats: ScenarioStats, policy: Policy) -> str | None:
    prompt, usual = facts.prompt_tokens, stats.median_prompt_tokens
    if prompt is None or usual is None or usual <= 0:
        return None
    if prompt < policy.prompt_growth_factor * usual:
        return None
    return (
        f"{prompt} prompt tokens, {prompt / usual:.1f}x the scenario's median of "
        f"{_num(usual)} (flagged at ≥ {policy.prompt_growth_factor:g}x)"
    )


def _deployment_correlation(facts: RunFacts, stats: ScenarioStats, policy: Policy) -> str | None:
    if facts.deployed_at is None or facts.started_at is None:
        return None
    try:
        gap = facts.started_at - facts.deployed_at
    except TypeError:
        raise Invalid(
            "deployed_at and started_at must both carry a timezone.", field="deployed_at"
        ) from None
    if not timedelta(0) <= gap <= policy.deployment_window:
        return None
    return (
        f"deployed {gap.total_seconds() / 60:.0f} min before the run started "
        f"(within {policy.deployment_window_minutes} min)"
    )


def _touched(kind: DataClassification) -> Rule:
    def rule(facts: RunFacts, stats: ScenarioStats, policy: Policy) -> str | None:
        touched = (facts.data_classification or "").strip().lower()
        return f"touched data classified {kind.value}" if touched == kind.value else None

    return rule


def _backfill(facts: RunFacts, stats: ScenarioStats, policy: Policy) -> str | None:
    if not facts.scenario_backfill:
        return None
    return f"scenario is in backfill mode (SEV1 threshold relaxed {policy.backfill_relax:g}x)"


# no_baseline is not here: it depends on the baseline alone (see classify).
FLAG_RULES: dict[RiskFlag, Rule] = {
    RiskFlag.RETRY_LOOP: _retry_loop,
    RiskFlag.UNBOUNDED_ITERATOR: _unbounded_iterator,
    RiskFlag.BATCH_JOB: _batch_job,
    RiskFlag.LINEAR_SCALING: _linear_scaling,
    RiskFlag.SUDDEN_PROMPT_GROWTH: _sudden_prompt_growth,
    RiskFlag.DEPLOYMENT_CORRELATION: _deployment_correlation,
    RiskFlag.PII_EXPOSURE: _touched(DataClassification.PII),
    RiskFlag.REGULATORY_DATA: _touched(DataClassification.REGULATORY),
    RiskFlag.BACKFILL: _backfill,
}


def derive_flags(facts: RunFacts, stats: ScenarioStats, policy: Policy) -> dict[RiskFlag, str]:
    """The flags the run's facts raise, each with the sentence that explains it."""
    out: dict[RiskFlag, str] = {}
    for flag, rule in FLAG_RULES.items():
        reason = rule(facts, stats, policy)
        if reason is not None:
            out[flag] = reason
    return out


def _severity(
    m: float | None, flags: frozenset[RiskFlag], backfill: bool, policy: Policy
) -> Severity | None:
    if m is None:
        return None
    if m >= policy.sev0_multiplier and flags & SENSITIVE_FLAGS:
        return Severity.SEV0
    sev1 = policy.sev1_multiplier * (policy.backfill_relax if backfill else 1.0)
    if m >= sev1:
        return Severity.SEV1
    if m >= policy.sev2_multiplier:
        return Severity.SEV2
    if m >= policy.sev3_multiplier:
        return Severity.SEV3
    return None


def _severity_reason(
    m: float | None,
    severity: Severity | None,
    baseline_median: float | None,
    sensitive: bool,
    backfill: bool,
    policy: Policy,
) -> str:
    if m is None:
        return "no baseline for this scenario yet: no severity until one is calculated or set"
    head = f"credits {_num(m)}x the baseline median of {_num(baseline_median or 0)}"
    sev1 = policy.sev1_multiplier * (policy.backfill_relax if backfill else 1.0)
    sev1_rule = f"≥ {sev1:g}x" + (
        f" ({policy.sev1_multiplier:g}x relaxed {policy.backfill_relax:g}x for backfill)"
        if backfill
        else ""
    )
    if severity is Severity.SEV0:
        return f"{head} (SEV0 needs ≥ {policy.sev0_multiplier:g}x and PII or regulatory data)"
    if severity is Severity.SEV1:
        why = "" if m < policy.sev0_multiplier or sensitive else "; no PII or regulatory data"
        return f"{head} (SEV1 needs {sev1_rule}{why})"
    if severity is Severity.SEV2:
        return f"{head} (SEV2 needs ≥ {policy.sev2_multiplier:g}x; SEV1 {sev1_rule})"
    if severity is Severity.SEV3:
        return f"{head} (SEV3 needs ≥ {policy.sev3_multiplier:g}x)"
    return f"{head}: below SEV3 (≥ {policy.sev3_multiplier:g}x), no severity"


def _num(x: float) -> str:
    """For people: at most two decimals, no exponent (12.3, 1000, 1250.5)."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _likelihood(score: float, policy: Policy) -> Likelihood:
    if score >= policy.likelihood_high:
        return Likelihood.HIGH
    if score >= policy.likelihood_medium:
        return Likelihood.MEDIUM
    return Likelihood.LOW


_PRODUCER_REASON = "reported by the producer"


def classify(facts: RunFacts, stats: ScenarioStats, policy: Policy | None = None) -> Classification:
    """Multiplier, severity, flags (derived plus producer's), misconfig likelihood, explanations."""
    policy = policy or Policy()
    if not math.isfinite(facts.credits_total) or facts.credits_total < 0:
        raise Invalid(
            f"credits_total must be a number ≥ 0, not {facts.credits_total!r}.",
            field="credits_total",
        )
    reasons = derive_flags(facts, stats, policy)
    for flag in sorted(parse_flags(facts.producer_flags) - DERIVED_ONLY_FLAGS):
        reasons.setdefault(flag, _PRODUCER_REASON)
    m = multiplier(facts.credits_total, stats.baseline_median)
    if m is None:
        reasons[RiskFlag.NO_BASELINE] = "the scenario has no baseline yet"
    flags = frozenset(reasons)
    severity = _severity(m, flags, facts.scenario_backfill, policy)
    score = sum(policy.weight(f) for f in flags if f in MISCONFIG_FLAGS) - sum(
        policy.weight(f) for f in flags if f in LEGIT_FLAGS
    )
    ordered = tuple(sorted(flags))
    return Classification(
        multiplier=m,
        severity=severity,
        flags=ordered,
        misconfig_score=score,
        misconfig_likelihood=_likelihood(score, policy),
        severity_reason=_severity_reason(
            m,
            severity,
            stats.baseline_median,
            bool(flags & SENSITIVE_FLAGS),
            facts.scenario_backfill,
            policy,
        ),
        flag_reasons={f: reasons[f] for f in ordered},
    )


# --- automatic actions and the rerun gate ---------------------------------------------------

SEVERITY_ACTIONS: dict[Severity, tuple[AutoAction, ...]] = {
    Severity.SEV0: (
        AutoAction.QUARANTINE,
        AutoAction.BLOCK_DISPATCH,
        AutoAction.OPEN_CASE,
        AutoAction.NOTIFY_CRITICAL,
        AutoAction.ARM_RERUN_GATE,
    ),
    Severity.SEV1: (AutoAction.OPEN_CASE, AutoAction.NOTIFY_ALERTS, AutoAction.ARM_RERUN_GATE),
    Severity.SEV2: (AutoAction.WEEKLY_REVIEW,),
    Severity.SEV3: (),
}
# "SEV2 flagged misconfig" (seed 002, rerun approval gates): our reading.
MISCONFIG_LIKELIHOODS = frozenset({Likelihood.HIGH, Likelihood.MEDIUM})


def is_persistent_sev2(prior_sev2_runs: int, policy: Policy | None = None) -> bool:
    """This SEV2 run plus `prior_sev2_runs` of the same scenario within the last
    `sev2_pattern_days` days reach the persistent pattern (default 3 in 7 days)."""
    policy = policy or Policy()
    return prior_sev2_runs + 1 >= policy.sev2_pattern_count


def rerun_requires_approval(classification: Classification) -> bool:
    """After SEV0/SEV1 always; after SEV2 when misconfig is likely (High or Medium)."""
    sev = classification.severity
    if sev in (Severity.SEV0, Severity.SEV1):
        return True
    return sev is Severity.SEV2 and classification.misconfig_likelihood in MISCONFIG_LIKELIHOODS


def actions(
    classification: Classification, *, prior_sev2_runs: int = 0, policy: Policy | None = None
) -> tuple[AutoAction, ...]:
    """The automatic actions for a classified run, in the order to apply them.

    prior_sev2_runs: SEV2 runs of the same scenario in the last sev2_pattern_days days, not
    counting this one (the caller counts them before recording this run)."""
    if prior_sev2_runs < 0:
        raise Invalid("prior_sev2_runs cannot be negative.", field="prior_sev2_runs")
    sev = classification.severity
    if sev is None:
        return ()
    out = list(SEVERITY_ACTIONS[sev])
    if sev is Severity.SEV2:
        if is_persistent_sev2(prior_sev2_runs, policy):
            out.append(AutoAction.OPEN_CASE)
        if rerun_requires_approval(classification):
            out.append(AutoAction.ARM_RERUN_GATE)
    return tuple(out)


# --- baselines ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaselineStats:
    median: float | None
    cv: float | None  # sample std / mean; None below two runs or with a zero mean
    sample_size: int


def is_healthy(severity: Severity | None, quarantined: bool) -> bool:
    """Whether a run counts towards its scenario's baseline: not SEV0/SEV1, not quarantined."""
    return not quarantined and severity not in (Severity.SEV0, Severity.SEV1)


def baseline(credits: Sequence[float]) -> BaselineStats:
    """Median, coefficient of variation and sample size of healthy runs' credits."""
    for c in credits:
        if isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c) or c < 0:
            raise Invalid(f"credits must be numbers ≥ 0, not {c!r}.", field="credits")
    n = len(credits)
    if n == 0:
        return BaselineStats(None, None, 0)
    median = float(statistics.median(credits))
    mean = statistics.fmean(credits)
    cv = statistics.stdev(credits) / mean if n >= 2 and mean > 0 else None
    return BaselineStats(median, cv, n)


def baseline_candidate_reasons(
    stats: BaselineStats,
    *,
    current_median: float | None,
    had_sev0_or_sev1: bool,
    policy: Policy | None = None,
) -> list[str]:
    """Why the scenario is not a baseline candidate for the period; empty when it is one."""
    policy = policy or Policy()
    why: list[str] = []
    if stats.sample_size < policy.candidate_min_runs:
        why.append(f"{stats.sample_size} runs in the period; needs ≥ {policy.candidate_min_runs}")
    if had_sev0_or_sev1:
        why.append("had SEV0/SEV1 runs in the period")
    if stats.cv is None or stats.cv >= policy.candidate_max_cv:
        cv = "unknown" if stats.cv is None else f"{stats.cv:.2f}"
        why.append(f"CV {cv}; needs < {policy.candidate_max_cv:g}")
    if current_median and current_median > 0 and stats.median is not None:
        ratio = stats.median / current_median
        if ratio >= policy.candidate_max_variance:
            why.append(
                f"median is {ratio:.2f}x the current baseline; needs < "
                f"{policy.candidate_max_variance:g}x"
            )
    return why


def is_baseline_candidate(
    stats: BaselineStats,
    *,
    current_median: float | None,
    had_sev0_or_sev1: bool,
    policy: Policy | None = None,
) -> bool:
    return not baseline_candidate_reasons(
        stats, current_median=current_median, had_sev0_or_sev1=had_sev0_or_sev1, policy=policy
    )


def change_pct(old: float, new: float) -> float:
    """Change from the old baseline to the new one, in percent (+14.0 for 1250.50 → 1425.75)."""
    if old <= 0:
        raise Invalid(f"The old baseline must be greater than 0, not {old!r}.", field="old")
    return (new - old) / old * 100


def needs_confirmation(old: float | None, new: float, policy: Policy | None = None) -> bool:
    """A baseline change above confirm_change_above_pct (50%) either way needs explicit
    confirmation; a first baseline (no old one) does not."""
    policy = policy or Policy()
    if old is None or old <= 0:
        return False
    return abs(change_pct(old, new)) > policy.confirm_change_above_pct
