"""What every benchmark shares: the PostgreSQL server, a bench database's URLs, the machine line
for docs/PERFORMANCE.md, and timing helpers. `bench/run.py` puts this folder on sys.path."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ADMIN = os.environ.get("RISKOPS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def db_url(name: str) -> str:
    """Tortoise's URL of the bench database `name` on the bench server."""
    return ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgres://") + "/" + name


def pg_url(name: str) -> str:
    """asyncpg's URL of the same database."""
    return db_url(name).replace("postgres://", "postgresql://", 1)


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"nproc {os.cpu_count()}, {cpu}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def timed(fn: Callable[[], Awaitable[Any]], runs: int, warmup: int = 3) -> list[float]:
    """Seconds of each of `runs` calls, after `warmup` calls."""
    for _ in range(warmup):
        await fn()
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - started)
    return out
