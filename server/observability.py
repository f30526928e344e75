"""Structured JSON logs carrying the request id, and Prometheus RED metrics."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "riskops_request_id", default=None
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        for key in ("method", "path", "route", "status", "duration_ms", "actor"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("tortoise", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


REGISTRY = CollectorRegistry()
HTTP_REQUESTS = Counter(
    "riskops_http_requests_total",
    "HTTP requests by route template, method and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_ERRORS = Counter(
    "riskops_http_errors_total",
    "HTTP responses with status >= 500 by route template",
    ["method", "route"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "riskops_http_request_duration_seconds",
    "HTTP request duration by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
# Both are read at scrape time and are the same for every process: with several web processes
# (multiprocess mode) the most recent reading of any process is reported.
SPOOL_DEPTH = Gauge(
    "riskops_audit_spool_depth",
    "Audit events waiting in the durable spool",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
JOB_QUEUE_DEPTH = Gauge(
    "riskops_job_queue_depth",
    "Jobs queued or running (Job table)",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)


def exposition() -> bytes:
    """The metrics in Prometheus text format: this process's, or, when `riskops serve` runs
    several web processes (PROMETHEUS_MULTIPROC_DIR set), all of theirs added up."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


# The assistant (server/assistant): counted once per finished response, by the job that wins
# the response's finishing update (a retried job never counts twice).
ASSISTANT_TOKENS = Counter(
    "riskops_assistant_tokens_total",
    "Tokens the assistant's model read (direction=input) and wrote (direction=output)",
    ["model", "kind", "direction"],
    registry=REGISTRY,
)
ASSISTANT_COST = Counter(
    "riskops_assistant_cost_total",
    "Money spent on the assistant's model calls (litellm's prices, USD)",
    ["model", "kind"],
    registry=REGISTRY,
)
ASSISTANT_ERRORS = Counter(
    "riskops_assistant_errors_total",
    "Assistant responses that ended failed or unavailable, by outcome",
    ["model", "kind", "outcome"],
    registry=REGISTRY,
)
ASSISTANT_LATENCY = Histogram(
    "riskops_assistant_latency_seconds",
    "Time the assistant's model took to answer (all retries and fallbacks)",
    ["model", "kind"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
    registry=REGISTRY,
)


# --------------------------------------------------------------------------- availability
# The daily availability history (issue 15, `riskops.server.operations.availability`): each web
# process adds every answered request to this in-memory tally (no I/O per request); a background
# task flushes it to the database every minute with additive upserts.

# Upper bounds (ms) of the latency buckets the p95 is computed from; slower is the overflow.
LATENCY_BOUNDS_MS: tuple[int, ...] = (
    5, 10, 25, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000,
)  # fmt: skip
# Paths that are not users' requests: probes, scrapes and static files.
UNCOUNTED_PREFIXES = ("/health", "/metrics", "/static/")


@dataclass
class DayCounts:
    requests: int = 0
    errors: int = 0
    buckets: dict[int, int] = field(default_factory=dict)  # le_ms (-1: overflow) -> count

    def add(self, other: DayCounts) -> None:
        self.requests += other.requests
        self.errors += other.errors
        for le, n in other.buckets.items():
            self.buckets[le] = self.buckets.get(le, 0) + n


class Tally:
    """Requests, 5xx and latency buckets per UTC day, counted in this process since its last
    flush. `note` runs on the event loop only, so it needs no lock."""

    def __init__(self) -> None:
        self.days: dict[date, DayCounts] = {}

    def note(self, path: str, status: int, seconds: float, now: datetime | None = None) -> None:
        if path.startswith(UNCOUNTED_PREFIXES):
            return
        day = (now or datetime.now(UTC)).date()
        counts = self.days.get(day)
        if counts is None:
            counts = self.days[day] = DayCounts()
        counts.requests += 1
        if status >= 500:
            counts.errors += 1
        le = _bucket(seconds * 1000.0)
        counts.buckets[le] = counts.buckets.get(le, 0) + 1

    def take(self) -> dict[date, DayCounts]:
        taken, self.days = self.days, {}
        return taken

    def give_back(self, taken: dict[date, DayCounts]) -> None:
        for day, counts in taken.items():
            self.days.setdefault(day, DayCounts()).add(counts)


def _bucket(ms: float) -> int:
    i = bisect_left(LATENCY_BOUNDS_MS, ms)
    return LATENCY_BOUNDS_MS[i] if i < len(LATENCY_BOUNDS_MS) else -1


TALLY = Tally()
