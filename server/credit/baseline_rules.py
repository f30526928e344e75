"""The baseline math of PRODUCT.md: a baseline from healthy runs (median, sample size, CV), whether
a scenario is a candidate for an update, and the change that needs explicit confirmation.
Pure, no database."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from riskops.server.core.errors import Invalid
from riskops.server.core.formatting import multiplier
from riskops.server.credit.terms import Policy, Severity


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
                f"median is {multiplier(ratio)} the current baseline; needs < "
                f"{multiplier(policy.candidate_max_variance)}"
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
