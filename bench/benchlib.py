"""What every benchmark shares: the PostgreSQL server, a bench database's URLs, the machine line
for docs/PERFORMANCE.md, and timing helpers. `bench/run.py` puts this folder on sys.path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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


# --------------------------------------------------------------------------- load (wrk)

WRK_SCRIPT = Path(__file__).resolve().parent / "load.lua"
_ERROR_KINDS = ("connect", "read", "write", "timeout", "not_200", "errors_in_body")


@dataclass(frozen=True)
class Load:
    """What `wrk` measured: latencies of every request in seconds' percentiles, and the rate."""

    p50: float
    p95: float
    p99: float
    requests: int
    rate: float  # requests per second
    errors: int  # socket errors, answers other than 200, 200s whose body carries "errors"
    error_kinds: dict[str, int]

    def line(self) -> str:
        return (
            f"p50 {ms(self.p50)}, p95 {ms(self.p95)}, p99 {ms(self.p99)}, "
            f"{self.rate:.0f} req/s, {self.requests:,} requests, {self.errors} errors"
            + (f" {self.error_kinds}" if self.error_kinds else "")
        )


def wrk(
    url: str,
    *,
    clients: int,
    seconds: int,
    think: float = 0.0,
    method: str = "GET",
    body: str = "",
    headers: dict[str, str] | None = None,
) -> Load:
    """`clients` connections, each a client that sends a request, waits for the whole answer,
    then pauses a random time of mean `think` seconds (exponential; 0: back to back) before
    the next, for `seconds`. wrk is C: the load generator takes little of the CPU the server
    needs, unlike a Python client. Latency runs from sending a request to its last byte."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: `make bench` installs Debian's wrk package")
    env = dict(
        os.environ,
        BENCH_METHOD=method,
        BENCH_BODY=body,
        BENCH_HEADERS=json.dumps(headers or {}),
        BENCH_THINK_MS=str(think * 1000),
    )
    threads = min(2, clients)
    done = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds}s", "--timeout", "30s",
         "-s", str(WRK_SCRIPT), url],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH "))
    r = json.loads(line.removeprefix("BENCH "))
    return Load(
        p50=r["p50"] / 1e6,
        p95=r["p95"] / 1e6,
        p99=r["p99"] / 1e6,
        requests=r["requests"],
        rate=r["requests"] / (r["duration_us"] / 1e6),
        errors=sum(r[k] for k in _ERROR_KINDS),
        error_kinds={k: r[k] for k in _ERROR_KINDS if r[k]},
    )
