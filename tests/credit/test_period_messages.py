"""The periods of the two report figures asked for any period (baseline candidates, the PII
false-positive rate), on SQLite and PostgreSQL: each refusal names the field as that figure's
face names it ("Period start", "Period end": the API's periodStart and periodEnd; neither figure
is a weekly one, so never "Week starting"), through the service and in GraphQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from riskops.server.core.errors import Invalid
from riskops.server.credit import candidates, pii_rate

END = datetime(2026, 3, 2, tzinfo=UTC)
BAD = [
    (datetime(2026, 3, 1), END, "period_start",
     "Period start must be a date and time with a time zone."),
    (END - timedelta(days=1), datetime(2026, 3, 2), "period_end",
     "Period end must be a date and time with a time zone."),
    (END, END - timedelta(days=1), "period_start",
     "Period start (2026-03-02 00:00) must be before period end (2026-03-01 00:00)."),
    (END - timedelta(days=400), END, "period_start",
     "The period is 400 days long; the limit is 366 days."),
    (None, datetime(1, 1, 1, tzinfo=UTC), "period_end",
     "Period end is too early: the period would start before the year 1."),
    (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), END, "period_start",
     "Period start is out of range."),
]  # fmt: skip
CANDIDATES = """query($s: DateTime, $e: DateTime) {
  baselineCandidates(periodStart: $s, periodEnd: $e) { scenarioKey } }"""
RATE = """query($s: DateTime, $e: DateTime) {
  piiFalsePositiveRate(periodStart: $s, periodEnd: $e) { flagged } }"""


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat()  # a naive one stays naive: the API refuses it as the service does


@pytest.mark.parametrize(("start", "end", "field", "says"), BAD)
async def test_each_figure_names_its_period_fields(api, tenant, start, end, field, says) -> None:
    user, viewer = await tenant.user("viewer")
    figures: list[tuple[Any, str, str]] = [
        (candidates.baseline_candidates, CANDIDATES, "baselineCandidates"),
        (pii_rate.pii_false_positive_rate, RATE, "piiFalsePositiveRate"),
    ]
    token = str(await api.token(tenant, user))
    for service, query, name in figures:
        with pytest.raises(Invalid) as refused:
            await service(viewer, start, end)
        assert (refused.value.field, refused.value.message) == (field, says), name
        body = await api.gql(token, query, {"s": iso(start), "e": iso(end)})
        [error] = body["errors"]
        assert (error["extensions"]["code"], error["message"]) == ("INVALID", says), name
