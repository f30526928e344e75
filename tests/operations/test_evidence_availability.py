"""The availability history (issue 15): each web process counts requests in memory and flushes
them every minute with additive upserts, so several processes add up; p95 from the buckets."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from riskops.server.observability import TALLY, Tally
from riskops.server.operations import availability
from riskops.server.operations.review_models import AvailabilityBucket

DAY = date(2031, 3, 4)
AT = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)


def test_p95_from_buckets() -> None:
    assert availability.p95_of({}) is None
    assert availability.p95_of({10: 95, 500: 5}) == 10.0
    assert availability.p95_of({10: 94, 500: 6}) == 500.0
    assert availability.p95_of({10: 1, -1: 99}) == 10000.0  # overflow reads as the last bound


def test_the_tally_skips_probes_and_counts_5xx() -> None:
    tally = Tally()
    tally.note("/health", 200, 0.001, AT)
    tally.note("/metrics", 200, 0.001, AT)
    tally.note("/static/app.css", 200, 0.001, AT)
    tally.note("/alerts", 200, 0.004, AT)
    tally.note("/graphql", 503, 0.7, AT)
    tally.note("/graphql", 200, 60.0, AT)
    counts = tally.days[DAY]
    assert (counts.requests, counts.errors) == (3, 1)
    assert counts.buckets == {5: 1, 750: 1, -1: 1}


def test_counts_taken_for_a_failed_flush_go_back() -> None:
    tally = Tally()
    tally.note("/alerts", 500, 0.02, AT)
    taken = tally.take()
    tally.note("/alerts", 200, 0.02, AT)
    tally.give_back(taken)
    counts = tally.days[DAY]
    assert (counts.requests, counts.errors, counts.buckets) == (2, 1, {25: 2})


async def test_two_processes_add_up(db: Any) -> None:
    first, second = Tally(), Tally()
    for _ in range(90):
        first.note("/alerts", 200, 0.02, AT)
    for _ in range(8):
        second.note("/alerts", 200, 0.2, AT)
    second.note("/alerts", 500, 0.2, AT)
    second.note("/alerts", 502, 2.0, AT)
    assert await availability.flush(first) == 90
    assert await availability.flush(second) == 10
    assert await availability.flush(second) == 0  # nothing new
    [day] = await availability.days(DAY, DAY)
    assert (day.requests, day.errors, day.p95_ms) == (100, 2, 200.0)
    assert day.availability == 98.0
    buckets = dict(await AvailabilityBucket.filter(day=DAY).values_list("le_ms", "count"))
    assert buckets == {25: 90, 200: 9, 2000: 1}

    # Another minute of the first process adds to the same day.
    for _ in range(100):
        first.note("/alerts", 200, 0.02, AT)
    await availability.flush(first)
    [day] = await availability.days(DAY, DAY)
    assert (day.requests, day.p95_ms) == (200, 25.0)


async def test_the_web_process_counts_each_request(client: Any) -> None:
    today = datetime.now(UTC).date()
    before = TALLY.days[today].requests if today in TALLY.days else 0
    await client.get("/health")
    await client.get("/login")
    assert TALLY.days[today].requests == before + 1
