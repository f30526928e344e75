"""The availability history (issue 15, seed 003 CO-001): per UTC day, the requests the web
processes answered, the 5xx among them and the p95 latency, kept in the database for the
evidence export.

How the numbers get there with several web processes: the request middleware already times
every request for Prometheus; it also hands the status and duration to this process's `TALLY`
(`riskops.server.observability.tally`), which only adds to in-memory counters (a dict update:
no I/O per request). Every minute, and when the process stops, `flush` moves what the tally
holds into the database with additive upserts (`requests = requests + n`), per day, plus one
upsert per latency bucket. Counts of several processes therefore add up, and the p95 is
recomputed from the day's bucket counts after each flush (in the flush's transaction, after the
upserts: the day's row lock orders concurrent flushes, so the last one sees every count).
A process that dies loses at most its last minute. `/health`, `/metrics` and static files
are not counted (probes and scrapes are not users' requests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime

from tortoise import connections
from tortoise.transactions import in_transaction

from riskops.server.observability import LATENCY_BOUNDS_MS, TALLY, DayCounts, Tally
from riskops.server.operations.review_models import AvailabilityBucket, AvailabilityDay

OVERFLOW = -1  # le_ms of the bucket above the last bound


@dataclass(frozen=True)
class Day:
    day: date
    requests: int
    errors: int
    p95_ms: float | None

    @property
    def availability(self) -> float | None:
        """The share of requests not answered with a 5xx, in percent."""
        if not self.requests:
            return None
        return 100.0 * (self.requests - self.errors) / self.requests


def p95_of(buckets: dict[int, int]) -> float | None:
    """The 95th percentile latency in ms from bucket counts (le_ms -> count): the upper bound of
    the bucket holding the 95th percentile request (the overflow bucket reads as the last
    bound: "at least that")."""
    total = sum(buckets.values())
    if not total:
        return None
    rank = math.ceil(0.95 * total)
    seen = 0
    for bound in (*LATENCY_BOUNDS_MS, OVERFLOW):
        seen += buckets.get(bound, 0)
        if seen >= rank:
            return float(LATENCY_BOUNDS_MS[-1] if bound == OVERFLOW else bound)
    return float(LATENCY_BOUNDS_MS[-1])


def _upsert_sql(dialect: str) -> tuple[str, str]:
    def p(n: int) -> str:
        return "?" if dialect == "sqlite" else f"${n}"

    day = (
        f"INSERT INTO availability_day (day, requests, errors) "
        f"VALUES ({p(1)}, {p(2)}, {p(3)}) ON CONFLICT (day) DO UPDATE SET "
        "requests = availability_day.requests + excluded.requests, "
        "errors = availability_day.errors + excluded.errors"
    )
    bucket = (
        f"INSERT INTO availability_bucket (day, le_ms, count) VALUES ({p(1)}, {p(2)}, {p(3)}) "
        "ON CONFLICT (day, le_ms) DO UPDATE SET "
        "count = availability_bucket.count + excluded.count"
    )
    return day, bucket


async def flush(tally: Tally = TALLY) -> int:
    """Add what `tally` counted since its last flush to the database; returns the requests
    added. On a failure the counts go back into the tally for the next flush."""
    taken = tally.take()
    if not taken:
        return 0
    try:
        await _store(taken)
    except BaseException:
        tally.give_back(taken)
        raise
    return sum(c.requests for c in taken.values())


async def _store(taken: dict[date, DayCounts]) -> None:
    dialect = connections.get("default").capabilities.dialect
    day_sql, bucket_sql = _upsert_sql(dialect)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        for day, counts in sorted(taken.items()):
            on = day if dialect != "sqlite" else day.isoformat()
            await conn.execute_query(day_sql, [on, counts.requests, counts.errors])
            rows = [[on, le, n] for le, n in sorted(counts.buckets.items()) if n]
            if rows:
                await conn.execute_many(bucket_sql, rows)
            found = (
                await AvailabilityBucket.filter(day=day)
                .using_db(conn)
                .values_list("le_ms", "count")
            )
            p95 = p95_of({int(le): int(n) for le, n in found})
            await AvailabilityDay.filter(day=day).using_db(conn).update(p95_ms=p95, updated_at=now)


async def days(since: date, until: date) -> list[Day]:
    """The recorded days from `since` to `until` (both included), oldest first. Installation-
    wide: every organization is served by the same web processes."""
    rows = await AvailabilityDay.filter(day__gte=since, day__lte=until).order_by("day")
    return [Day(r.day, int(r.requests), int(r.errors), r.p95_ms) for r in rows]
