"""The baseline math of PRODUCT.md: a baseline from healthy runs (median, sample size, CV), whether
a scenario is a candidate for an update, and the change that needs explicit confirmation.
Pure, no database."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

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


# --- the prerequisites of a baseline update (seed 002 "Baseline Update Procedure") -----------


@dataclass(frozen=True)
class SevereRun:
    """The newest SEV0/SEV1 run of a scenario in the quiet period, and how many there were."""

    run_id: str
    severity: Severity
    started_at: datetime
    count: int


@dataclass(frozen=True)
class Prerequisite:
    """One condition of a baseline update: `label` says what it asks, `detail` the numbers,
    `message` (when it is not met) the refusal, naming the policy field that sets it."""

    name: str  # quiet | data_days | cv
    met: bool
    label: str
    detail: str
    message: str = ""


def _quiet(key: str, severe: SevereRun | None, policy: Policy) -> Prerequisite:
    days = policy.baseline_quiet_days
    label = f"No SEV0/SEV1 run in the last {days} days"
    if severe is None:
        return Prerequisite("quiet", True, label, f"none in the last {days} days")
    more = f", and {severe.count - 1} more" if severe.count > 1 else ""
    when = f"{severe.started_at:%Y-%m-%d}"
    ready = (severe.started_at + timedelta(days=days)).astimezone(UTC)
    return Prerequisite(
        "quiet", False, label,
        f"{severe.severity.value} run {severe.run_id} on {when}{more}",
        f"Scenario {key} had a {severe.severity.value} run on {when} ({severe.run_id}{more}); a "
        f"baseline update needs {days} days without SEV0/SEV1 (policy baseline_quiet_days): "
        f"possible from {ready:%Y-%m-%d %H:%M} UTC.",
    )  # fmt: skip


def data_span_days(first: date | None, last: date | None) -> int:
    """Calendar days from the first to the last healthy run, both counted (0: no runs)."""
    if first is None or last is None:
        return 0
    return (last - first).days + 1


def _data_days(key: str, first: date | None, last: date | None, policy: Policy) -> Prerequisite:
    need = policy.baseline_min_data_days
    label = f"Healthy runs spanning at least {need} days"
    span = data_span_days(first, last)
    if first is None or last is None:
        detail = "no healthy runs yet"
        message = (
            f"Scenario {key} has no healthy runs (not SEV0/SEV1, not quarantined) yet; a "
            f"baseline update needs healthy runs spanning at least {need} days (policy "
            "baseline_min_data_days)."
        )
    else:
        days = "1 day" if span == 1 else f"{span} days"
        detail = f"{days} ({first:%Y-%m-%d} to {last:%Y-%m-%d})"
        message = (
            f"The healthy runs of {key} span {detail}; a baseline update needs at least {need} "
            "days of them (policy baseline_min_data_days)."
        )
    if span >= need:
        return Prerequisite("data_days", True, label, detail)
    return Prerequisite("data_days", False, label, detail, message)


def _cv(key: str, cv: float | None, basis: str, policy: Policy) -> Prerequisite:
    limit = policy.candidate_max_cv
    label = f"Coefficient of variation below {limit:g}"
    if cv is not None and cv < limit:
        return Prerequisite("cv", True, label, f"CV {cv:.2f} ({basis})")
    if cv is None:
        detail = f"CV unknown ({basis})"
        message = (
            f"The CV of {key} cannot be calculated from {basis} (it needs at least two healthy "
            f"runs with credits); a baseline update needs a CV below {limit:g} (policy "
            "candidate_max_cv)."
        )
    else:
        detail = f"CV {cv:.2f} ({basis})"
        message = (
            f"The CV of {key} is {cv:.2f} ({basis}); a baseline update needs a CV below "
            f"{limit:g} (policy candidate_max_cv)."
        )
    return Prerequisite("cv", False, label, detail, message)


def baseline_prerequisites(
    key: str,
    *,
    severe: SevereRun | None,
    first_healthy: date | None,
    last_healthy: date | None,
    cv: float | None,
    cv_basis: str,
    policy: Policy,
    manual: bool = False,
) -> list[Prerequisite]:
    """The conditions of seed 002's "Prerequisites" for a baseline update of scenario `key`: no
    SEV0/SEV1 in baseline_quiet_days, healthy runs spanning baseline_min_data_days, CV below
    candidate_max_cv. A manual baseline (runbook "Baseline not found for scenario": too few
    runs to calculate one) is held to the first alone: the other two describe the runs a
    calculated median comes from, which a median set by hand does not."""
    out = [_quiet(key, severe, policy)]
    if not manual:
        out.append(_data_days(key, first_healthy, last_healthy, policy))
        out.append(_cv(key, cv, cv_basis, policy))
    return out
