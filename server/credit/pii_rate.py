"""The PII false-positive rate (seed 002's monthly check, issue 16): of the runs started in a
period flagged pii_exposure or regulatory_data, how many an approver declassified as a false
positive. One aggregate over the period's runs; the weekly report (`reports`) shows it for its
week and the last 30 days, GraphQL's `piiFalsePositiveRate` and the page `/reports/checks` for any
period up to 366 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Q
from tortoise.functions import Count

from riskops.server.core import validation
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit import runs
from riskops.server.credit.models import Run
from riskops.server.credit.quarantine import SENSITIVE

# The flags that classify a run as PII are the ones a declassification answers
# (`quarantine.SENSITIVE`). The window the figure covers when asked without a period (and the
# weekly report's longer one):
FALSE_POSITIVE_DAYS = 30
# How the rate's period is named in messages: as the API's periodStart and periodEnd say, and as
# the fields of `/reports/checks` are labelled (the weekly report shows its own fixed periods).
PERIOD_NAMES = ("Period start", "Period end")


@dataclass(frozen=True)
class FalsePositiveRate:
    """Of the runs started in [period_start, period_end) flagged pii_exposure or
    regulatory_data, how many an approver declassified as a false positive (at any time)."""

    period_start: datetime
    period_end: datetime
    flagged: int
    declassified: int

    @property
    def rate(self) -> float | None:
        return self.declassified / self.flagged if self.flagged else None


async def false_positive_counts(org_id: int, start: datetime, end: datetime) -> FalsePositiveRate:
    """One aggregate over the period's runs (the (org_id, started_at) index)."""
    period = scoped(Run, org_id=org_id).filter(started_at__gte=start, started_at__lt=end)
    q = runs.with_flag(period, *SENSITIVE)
    rows = (
        await q.annotate(
            n=Count("id"), declassified=Count("id", _filter=Q(declassified_at__isnull=False))
        )
        .group_by("org_id")
        .values_list("n", "declassified")
    )
    n, d = rows[0] if rows else (0, 0)
    return FalsePositiveRate(start, end, int(n), int(d))


async def pii_false_positive_rate(
    principal: Principal, period_start: Any = None, period_end: Any = None
) -> FalsePositiveRate:
    """The PII false-positive rate of the runs started in the period (default: the last 30
    days up to now), seed 002's monthly figure. At most 366 days."""
    principal.require(Perm.REPORT_READ)
    start, end = validation.period(period_start, period_end, named=PERIOD_NAMES,
                                   last_days=FALSE_POSITIVE_DAYS)  # fmt: skip
    return await false_positive_counts(principal.org_id, start, end)
