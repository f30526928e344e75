"""Classification of a run's credit spend: multiplier, severity, risk flags, misconfig likelihood,
the automatic actions they call for and the rerun gate. Pure, no database, no clock: every time
is passed in. The rules are PRODUCT.md "Runs and credit monitoring" (seed 002) and every
threshold lives in the versioned `Policy` (`riskops.server.credit.terms`, with the terms); the
baseline math is `riskops.server.credit.baseline_rules`.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from riskops.server.core import formatting as fmt
from riskops.server.core.errors import Invalid
from riskops.server.credit.terms import (
    LEGIT_FLAGS,
    MISCONFIG_FLAGS,
    AutoAction,
    DataClassification,
    Likelihood,
    Policy,
    RiskFlag,
    Severity,
)

SENSITIVE_FLAGS = frozenset({RiskFlag.PII_EXPOSURE, RiskFlag.REGULATORY_DATA})
# Flags that state our own knowledge (do we have a baseline, is the scenario in backfill mode):
# a producer's copy of them is ignored and they are recomputed.
DERIVED_ONLY_FLAGS = frozenset({RiskFlag.NO_BASELINE, RiskFlag.BACKFILL})
BATCH_JOB_TYPES = frozenset({"batch"})
_FLAG_NAMES = frozenset(f.value for f in RiskFlag)
MULTIPLIER_DECIMALS = 6


# --- policy ---------------------------------------------------------------------------------


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


# A multiplier stays a finite number even over a minute baseline (credits up to 10^12 over a
# median of 10^-300 would be infinite): it is capped here, far above every severity threshold.
MAX_MULTIPLIER = 1e15


def multiplier(credits_total: float, baseline_median: float | None) -> float | None:
    if baseline_median is None or baseline_median <= 0:
        return None
    ratio = credits_total / baseline_median
    return round(min(ratio, MAX_MULTIPLIER), MULTIPLIER_DECIMALS)


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
        f"{fmt.count(prompt)} prompt tokens, {fmt.multiplier(prompt / usual)} the scenario's "
        f"median of {fmt.count(usual)} (flagged at ≥ {fmt.multiplier(policy.prompt_growth_factor)})"
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
    relax = fmt.multiplier(policy.backfill_relax)
    return f"scenario is in backfill mode (SEV1 threshold relaxed {relax})"


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
    x = fmt.multiplier
    head = f"credits {x(m)} the baseline median of {fmt.credits(baseline_median or 0)}"
    sev1 = policy.sev1_multiplier * (policy.backfill_relax if backfill else 1.0)
    sev1_rule = f"≥ {x(sev1)}" + (
        f" ({x(policy.sev1_multiplier)} relaxed {x(policy.backfill_relax)} for backfill)"
        if backfill
        else ""
    )
    if severity is Severity.SEV0:
        return f"{head} (SEV0 needs ≥ {x(policy.sev0_multiplier)} and PII or regulatory data)"
    if severity is Severity.SEV1:
        why = "" if m < policy.sev0_multiplier or sensitive else "; no PII or regulatory data"
        return f"{head} (SEV1 needs {sev1_rule}{why})"
    if severity is Severity.SEV2:
        return f"{head} (SEV2 needs ≥ {x(policy.sev2_multiplier)}; SEV1 {sev1_rule})"
    if severity is Severity.SEV3:
        return f"{head} (SEV3 needs ≥ {x(policy.sev3_multiplier)})"
    return f"{head}: below SEV3 (≥ {x(policy.sev3_multiplier)}), no severity"


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
