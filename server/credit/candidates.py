"""Baseline candidates of the weekly review: scenarios whose baseline could be updated, aggregated
in SQL (variance, run count, no SEV0/SEV1, CV)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from tortoise.expressions import RawSQL
from tortoise.functions import Count

from riskops.server.core import validation
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit import baseline_rules
from riskops.server.credit.baseline_prerequisites import SEV0_SEV1
from riskops.server.credit.baseline_rules import BaselineStats
from riskops.server.credit.models import Baseline, Run, Scenario
from riskops.server.credit.policy import current_policy
from riskops.server.credit.terms import Policy

CANDIDATE_DAYS = 7  # the weekly review's period
# How the candidates' period is named in messages: as the API's periodStart and periodEnd say,
# and as the fields of `/reports/checks` are labelled (a weekly report's cover its week).
PERIOD_NAMES = ("Period start", "Period end")


@dataclass(frozen=True)
class Candidate:
    """One scenario with runs in the period, judged as a baseline candidate (seed 002)."""

    scenario_id: int
    scenario_key: str
    runs: int
    median: float | None  # only for scenarios passing the count/CV/no-SEV0/1 pre-filter
    cv: float | None
    current_median: float | None
    ratio: float | None  # period median / current baseline median
    change_pct: float | None
    had_sev0_or_sev1: bool
    reasons: list[str]  # why it is not a candidate; empty when it is one
    is_candidate: bool


def credit_sum(column: str = "credits_total", *, squared: bool = False) -> RawSQL:
    """SUM of a credit column that cannot overflow: PostgreSQL sums it as NUMERIC (exact, no
    "value out of range"); SQLite's TOTAL is a float that never raises, and the ledger's range
    (credits at most 10^12) keeps it finite. Read the result with `as_decimal`."""
    expr = f'"{column}" * "{column}"' if squared else f'"{column}"'
    if Run._meta.db.capabilities.dialect == "postgres":
        return RawSQL(f"SUM(CAST({expr} AS NUMERIC))")
    return RawSQL(f"TOTAL({expr})")


def as_decimal(value: object) -> Decimal:
    """An aggregate as a Decimal (via its text, so a float keeps its shortest form)."""
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _cv(n: int, total: Decimal, squares: Decimal) -> float | None:
    """Sample CV from count, sum and sum of squares (what the SQL aggregate gives), in Decimal:
    no overflow and no cancellation in squares - total²/n."""
    if n < 2 or total <= 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        mean = total / n
        variance = max(Decimal(0), (squares - total * total / n) / (n - 1))
        return float(variance.sqrt() / mean)


def _passes_prefilter(n: int, cv: float | None, bad: bool, policy: Policy) -> bool:
    return (
        n >= policy.candidate_min_runs
        and not bad
        and cv is not None
        and (cv < policy.candidate_max_cv)
    )


async def _period_medians(
    org_id: int, scenario_ids: list[int], start: datetime, end: datetime
) -> dict[int, float]:
    if not scenario_ids:
        return {}
    q = scoped(Run, org_id=org_id).filter(
        scenario_id__in=scenario_ids, started_at__gte=start, started_at__lt=end
    )
    if Run._meta.db.capabilities.dialect == "postgres":
        rows = (
            await q.annotate(
                median=RawSQL('percentile_cont(0.5) WITHIN GROUP (ORDER BY "credits_total")')
            )
            .group_by("scenario_id")
            .values_list("scenario_id", "median")
        )
        return {int(s): float(m) for s, m in rows}
    credits: dict[int, list[float]] = {}
    for sid, c in await q.values_list("scenario_id", "credits_total"):
        credits.setdefault(int(sid), []).append(float(c))
    return {sid: float(statistics.median(v)) for sid, v in credits.items()}


async def candidates_in_period(
    org_id: int,
    start: datetime,
    end: datetime,
    policy: Policy,
    scenario_ids: Sequence[int] | None = None,
) -> list[Candidate]:
    """Every scenario of the organization (or of `scenario_ids`) with runs started in
    [start, end), judged as a baseline candidate on the period's runs (seed 002:
    ≥ candidate_min_runs runs, no SEV0/SEV1, CV < candidate_max_cv, period median <
    candidate_max_variance x the current baseline). Candidates first, then by key. No
    permission check and no audit: the weekly report calls it.

    One GROUP BY gives count, sum, sum of squares and SEV0/SEV1 presence per scenario; only the
    scenarios that pass count, CV and severity need their median (PostgreSQL computes it with
    percentile_cont, SQLite loads their credits)."""
    start, end = validation.period(start, end, named=PERIOD_NAMES)
    sev_list = ", ".join(f"'{s}'" for s in SEV0_SEV1)
    runs = scoped(Run, org_id=org_id).filter(started_at__gte=start, started_at__lt=end)
    if scenario_ids is not None:
        runs = runs.filter(scenario_id__in=list(scenario_ids))
    agg = (
        await runs.annotate(
            n=Count("id"),
            total=credit_sum(),
            squares=credit_sum(squared=True),
            bad=RawSQL(f'MAX(CASE WHEN "severity" IN ({sev_list}) THEN 1 ELSE 0 END)'),
        )
        .group_by("scenario_id")
        .values_list("scenario_id", "n", "total", "squares", "bad")
    )
    if not agg:
        return []
    facts = {
        int(sid): (int(n), as_decimal(total), as_decimal(squares), bool(bad))
        for sid, n, total, squares, bad in agg
    }
    cvs = {sid: _cv(n, total, sq) for sid, (n, total, sq, _) in facts.items()}
    wanted = sorted(
        sid for sid, (n, _, _, bad) in facts.items() if _passes_prefilter(n, cvs[sid], bad, policy)
    )
    medians = await _period_medians(org_id, wanted, start, end)
    ids = sorted(facts)
    keys = dict(await scoped(Scenario, org_id=org_id).filter(id__in=ids).values_list("id", "key"))
    current = dict(
        await scoped(Baseline, org_id=org_id)
        .filter(scenario_id__in=ids)
        .values_list("scenario_id", "median")
    )
    out = [
        _candidate(sid, str(keys.get(sid, sid)), facts[sid], cvs[sid], medians.get(sid),
                   current.get(sid), policy)
        for sid in ids
    ]  # fmt: skip
    return sorted(out, key=lambda c: (not c.is_candidate, c.scenario_key))


def _candidate(
    sid: int,
    key: str,
    fact: tuple[int, Decimal, Decimal, bool],
    cv: float | None,
    median: float | None,
    current: float | None,
    policy: Policy,
) -> Candidate:
    n, _, _, bad = fact
    stats = BaselineStats(median, cv, n)
    reasons = baseline_rules.baseline_candidate_reasons(
        stats, current_median=current, had_sev0_or_sev1=bad, policy=policy
    )
    if median is None and not reasons:  # cannot happen (no median only when pre-filtered out)
        reasons = ["no median for the period"]
    ok = current is not None and current > 0 and median is not None
    return Candidate(
        scenario_id=sid,
        scenario_key=key,
        runs=n,
        median=median,
        cv=cv,
        current_median=current,
        ratio=median / current if ok and median is not None and current else None,
        change_pct=baseline_rules.change_pct(current, median)
        if ok and current and median
        else None,
        had_sev0_or_sev1=bad,
        reasons=reasons,
        is_candidate=not reasons,
    )


def candidate_period(period_start: Any = None, period_end: Any = None) -> tuple[datetime, datetime]:
    """The period `baseline_candidates` judges, as it settles it from what it was given (a
    missing end is now, a missing start CANDIDATE_DAYS before the end)."""
    return validation.period(period_start, period_end, named=PERIOD_NAMES,
                             last_days=CANDIDATE_DAYS)  # fmt: skip


async def baseline_candidates(
    principal: Principal, period_start: Any = None, period_end: Any = None
) -> list[Candidate]:
    """The baseline candidates of a period (default: the last 7 days up to now). The period's
    ends as given (a datetime, or the text a page received): `validation.period` checks them."""
    principal.require(Perm.RUN_READ)
    start, end = candidate_period(period_start, period_end)
    policy = (await current_policy(principal.org_id)).policy
    return await candidates_in_period(principal.org_id, start, end, policy)
