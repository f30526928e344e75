"""Recording runs (issue 4): `record_runs` in batches of 500 on PostgreSQL, including parsing,
classification, automatic actions, audit events and outbox rows, against the floor of a raw
asyncpg insert of the same rows in the same batches (one transaction per batch).

Target: ≥ 2,000 runs/s. The data is realistic: 200 scenarios with baselines, a mix of job types,
flags and severities (about 1 in 300 runs SEV1 and 1 in 2,000 SEV0, each opening a case), a few
artifacts, recorded into a ledger that already holds 200,000 runs (steady state: the planner's
statistics are current). A fresh database (RISKOPS_BENCH_RUNS_DB, default `riskops_bench_runs`)
every run.
"""

from __future__ import annotations

import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from benchlib import ADMIN, db_url, machine, pg_url

DB_NAME = os.environ.get("RISKOPS_BENCH_RUNS_DB", "riskops_bench_runs")
TOTAL = int(os.environ.get("RISKOPS_BENCH_RUNS", "20000"))
BATCH = 500
SCENARIOS = 200
SECRET = "r" * 48
TARGET = 2000.0
HISTORY = int(os.environ.get("RISKOPS_BENCH_RUNS_HISTORY", "200000"))


def make_runs(n: int, seed: int, start: datetime) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        s = rng.randrange(SCENARIOS)
        base = 100.0 + 10 * s
        r = rng.random()
        if r < 0.0005:
            m, cls = rng.uniform(10, 20), "pii"
        elif r < 0.0035:
            m, cls = rng.uniform(5, 9), "internal"
        elif r < 0.02:
            m, cls = rng.uniform(2, 4.9), "internal"
        elif r < 0.07:
            m, cls = rng.uniform(1.5, 1.99), "internal"
        else:
            m, cls = rng.lognormvariate(0, 0.15), rng.choice(("internal", "confidential"))
        items = rng.randrange(50, 2000)
        run: dict[str, Any] = {
            "run_id": f"RUN-{seed}-{i:07d}",
            "scenario": f"SCENARIO_{s:03d}",
            "job_type": rng.choice(("batch", "agent", "agent", "export")),
            "started_at": (start + timedelta(seconds=7 * i)).isoformat(),
            "credits_total": round(base * m, 2),
            "prompt_tokens": rng.randrange(1000, 90000),
            "completion_tokens": rng.randrange(100, 9000),
            "items_processed": items,
            "retry_count": rng.choice((0, 0, 0, 1, 2, 5)),
            "has_max_items_config": rng.random() < 0.8,
            "data_classification": cls,
        }
        if rng.random() < 0.1:
            run["artifacts"] = [
                {"uri": f"s3://bench/{run['run_id']}/out.json", "sha256": uuid.uuid4().hex * 2}
            ]
        out.append(run)
    return out


async def _prepare() -> tuple[Any, int]:
    from riskops.server.core.principal import Principal
    from riskops.server.credit.models import Baseline, BaselineSource, Scenario
    from riskops.server.db import init_db, migrate
    from riskops.server.identity.orgs import create_organization
    from riskops.server.settings import load_settings, use_settings

    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    await admin.close()
    settings = use_settings(
        load_settings(database_url=db_url(DB_NAME), secret_key=SECRET, log_level="WARNING")
    )
    await migrate(settings)
    await init_db(settings)
    org = await create_organization("bench", "Bench")
    now = datetime.now(UTC)
    for s in range(SCENARIOS):
        scenario = await Scenario.create(
            org_id=org.id, key=f"SCENARIO_{s:03d}", name=f"Scenario {s}", created_at=now
        )
        await Baseline.create(
            org_id=org.id, scenario_id=scenario.id, median=100.0 + 10 * s, cv=0.15,
            sample_size=30, source=BaselineSource.CALCULATED, set_at=now,
            credits_per_item=(100.0 + 10 * s) / 1000, prompt_tokens=40000.0,
        )  # fmt: skip
    # A ledger with history (steady state, planner statistics current): HISTORY older runs.
    pg = await asyncpg.connect(pg_url(DB_NAME))
    await pg.execute(
        """
        INSERT INTO run (org_id, run_id, scenario_id, job_type, started_at, recorded_at,
                         credits_total, retry_count, data_classification, producer_flags, flags,
                         explanations, baseline_median, multiplier, severity,
                         misconfig_likelihood, policy_number, quarantined, dispatch_blocked,
                         rerun_gate, version)
        SELECT $1, 'HIST-' || g, s.id, 'agent', now() - (g || ' seconds')::interval * 10, now(),
               b.median * (0.8 + (g % 40) / 100.0), 0, 'internal', '[]', '[]', '[]',
               b.median, 0.8 + (g % 40) / 100.0, NULL, 'low', 0, false, false, false, 1
        FROM generate_series(1, $2) g
        JOIN scenario s ON s.org_id = $1 AND s.key = 'SCENARIO_' || lpad((g % $3)::text, 3, '0')
        JOIN baseline b ON b.scenario_id = s.id
        """,
        org.id,
        HISTORY,
        SCENARIOS,
    )
    await pg.execute("VACUUM ANALYZE run")
    await pg.close()
    return Principal(user_id=0, org_id=org.id, roles=frozenset({"admin"})), org.id


_FLOOR_COLUMNS = (
    "org_id", "run_id", "scenario_id", "job_type", "started_at", "recorded_at", "credits_total",
    "prompt_tokens", "completion_tokens", "items_processed", "retry_count",
    "has_max_items_config", "data_classification", "producer_flags", "flags", "explanations",
    "multiplier", "severity", "misconfig_likelihood", "policy_number", "quarantined",
    "dispatch_blocked", "rerun_gate", "version",
)  # fmt: skip


async def _floor(pg: asyncpg.Connection, org: int, runs: list[dict[str, Any]]) -> float:
    """The same rows inserted with raw asyncpg, batch by batch, one transaction each."""
    await pg.execute("DROP TABLE IF EXISTS run_floor")
    await pg.execute("CREATE TABLE run_floor (LIKE run INCLUDING DEFAULTS INCLUDING INDEXES)")
    ids = dict(await pg.fetch("SELECT key, id FROM scenario WHERE org_id = $1", org))
    cols = ", ".join(_FLOOR_COLUMNS)
    marks = ", ".join(f"${i + 1}" for i in range(len(_FLOOR_COLUMNS)))
    sql = f"INSERT INTO run_floor ({cols}) VALUES ({marks})"
    now = datetime.now(UTC)
    rows = [
        (
            org, r["run_id"], ids[r["scenario"]], r["job_type"],
            datetime.fromisoformat(r["started_at"]), now, r["credits_total"], r["prompt_tokens"],
            r["completion_tokens"], r["items_processed"], r["retry_count"],
            r["has_max_items_config"], r["data_classification"], "[]", "[]", "[]", 1.0, None,
            "low", 0, False, False, False, 1,
        )
        for r in runs
    ]  # fmt: skip
    started = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        async with pg.transaction():
            await pg.executemany(sql, rows[i : i + BATCH])
    return len(rows) / (time.perf_counter() - started)


async def main() -> None:
    from riskops.server.credit.recording import record_runs
    from riskops.server.db import close_db

    principal, org = await _prepare()
    start = datetime.now(UTC) - timedelta(days=3)
    runs = make_runs(TOTAL, 1, start)
    warm = make_runs(BATCH, 2, start - timedelta(days=1))
    await record_runs(principal, warm)  # warm-up: imports, plans, caches
    per_batch: list[float] = []
    started = time.perf_counter()
    severities: dict[str, int] = {}
    for i in range(0, len(runs), BATCH):
        t0 = time.perf_counter()
        result = await record_runs(principal, runs[i : i + BATCH])
        per_batch.append(time.perf_counter() - t0)
        assert not result.errors, result.errors[:3]
        for r in result.recorded:
            key = r.severity.value if r.severity else "none"
            severities[key] = severities.get(key, 0) + 1
    elapsed = time.perf_counter() - started
    ours = len(runs) / elapsed
    pg = await asyncpg.connect(pg_url(DB_NAME))
    version = (await pg.fetchval("SHOW server_version")).split()[0]
    floor = await _floor(pg, org, runs)
    cases = await pg.fetchval("SELECT count(*) FROM risk_case WHERE org_id = $1", org)
    events = await pg.fetchval("SELECT count(*) FROM audit_event WHERE org_id = $1", org)
    await pg.close()
    await close_db()
    print(
        f"{DB_NAME}: {len(runs):,} runs in batches of {BATCH} over {SCENARIOS} scenarios, "
        f"on a ledger of {HISTORY:,} earlier runs; "
        f"{machine()}, PostgreSQL {version}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(
        f"   severities {dict(sorted(severities.items()))}; {cases} cases opened, "
        f"{events} audit events"
    )
    print(
        f"1. record_runs: {ours:,.0f} runs/s (batch p50 "
        f"{statistics.median(per_batch) * 1000:.0f} ms, max {max(per_batch) * 1000:.0f} ms); "
        f"raw asyncpg insert of the same rows {floor:,.0f} runs/s; ratio {floor / ours:.2f}x; "
        f"target ≥ {TARGET:,.0f} runs/s {'PASS' if ours >= TARGET else 'FAIL'}",
        flush=True,
    )
