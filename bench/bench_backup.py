"""Backup and restore at 1,000,000 alerts and 1,000,000 runs on PostgreSQL (issue 15): the time
of `riskops backup create` against a plain `pg_dump -Fc` of the same database, and of
`riskops backup restore` against a plain `pg_restore` into an empty database. Target: each ratio
at most 1.2 (the archive, its manifest and its checks cost at most a fifth of the dump itself).

The database `riskops_bench_backup` (RISKOPS_BENCH_BACKUP_DB) on the bench server is kept
between runs: the first run migrates it, seeds the demo and copies demo rows with SQL
generate_series up to N alerts and N runs (RISKOPS_BENCH_BACKUP_ROWS, default 1,000,000).
Each timed command runs as a real process, as an operator runs it; the restores go into fresh
empty databases dropped afterwards. Results go into docs/PERFORMANCE.md "Backup and restore".
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
from benchlib import ADMIN, db_url, machine, pg_url

DB_NAME = os.environ.get("RISKOPS_BENCH_BACKUP_DB", "riskops_bench_backup")
N = int(os.environ.get("RISKOPS_BENCH_BACKUP_ROWS", "1000000"))
ROUNDS = int(os.environ.get("RISKOPS_BENCH_BACKUP_ROUNDS", "3"))
SECRET = "bench-backup-secret-key-" + "x" * 32
RISKOPS = [sys.executable, "-m", "riskops.server.cli"]

# The columns a copy changes: ids come from the sequence, the one unique text gets a suffix.
COPIES = {
    "alert": ("external_id", "external_id || '-b' || g"),
    "run": ("run_id", "run_id || '-b' || g"),
}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    return {**env, "RISKOPS_SECRET_KEY": SECRET, "RISKOPS_LOG_LEVEL": "WARNING"}


def _cli(*args: str, var_dir: Path, url: str) -> None:
    cmd = [*RISKOPS, "--database-url", url, "--var-dir", str(var_dir), *args]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


async def _grow(pg: asyncpg.Connection, table: str) -> None:
    have = int(await pg.fetchval(f"SELECT count(*) FROM {table}"))
    if have >= N:
        return
    unique, expr = COPIES[table]
    columns = [
        r["column_name"]
        for r in await pg.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
            "AND table_schema = 'public' AND column_name <> 'id' ORDER BY ordinal_position",
            table,
        )
    ]
    values = [expr if c == unique else f"t.{c}" for c in columns]
    if table == "run":  # copies are no reruns and belong to no case
        values = [
            "NULL" if c in ("rerun_of_id", "case_id") else v
            for c, v in zip(columns, values, strict=True)
        ]
    template = await pg.fetchval(f"SELECT min(id) FROM {table}")
    print(f"  copying {N - have:,} {table} rows (first run only) …", flush=True)
    started = time.perf_counter()
    await pg.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM {table} t, generate_series(1, $1) g "
        "WHERE t.id = $2",
        N - have,
        template,
    )
    print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)


async def _prepare(var_dir: Path) -> dict[str, int]:
    admin = await asyncpg.connect(ADMIN)
    fresh = not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB_NAME)
    if fresh:
        await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    await admin.close()
    _cli("migrate", var_dir=var_dir, url=db_url(DB_NAME))
    pg = await asyncpg.connect(pg_url(DB_NAME))
    try:
        if not await pg.fetchval("SELECT count(*) FROM organization"):
            _cli("seed-demo", var_dir=var_dir, url=db_url(DB_NAME))
        for table in COPIES:
            await _grow(pg, table)
        await pg.execute("VACUUM ANALYZE")
        return {
            t: int(await pg.fetchval(f"SELECT count(*) FROM {t}"))
            for t in ("alert", "run", "audit_event")
        }
    finally:
        await pg.close()


async def _fresh_db(name: str) -> str:
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return name


async def _drop_db(name: str) -> None:
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed:\n{done.stdout}\n{done.stderr}")
    return took


async def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="riskops-bench-backup-"))
    var_dir = work / "var"
    try:
        counts = await _prepare(var_dir)
        print(f"database {DB_NAME}: {counts}", flush=True)
        libpq = pg_url(DB_NAME)
        plain_dump: list[float] = []
        ours_dump: list[float] = []
        plain_restore: list[float] = []
        ours_restore: list[float] = []
        startup: list[float] = []  # the CLI process alone: Python and riskops' imports
        archive = dump = None
        for i in range(ROUNDS):
            # Alternate which goes first, so neither always meets a warm cache.
            out = work / f"out-{i}"
            out.mkdir()
            dump = out / "plain.pgdump"
            plain = ["pg_dump", "--format=custom", f"--file={dump}", libpq]
            ours = [*RISKOPS, "--database-url", db_url(DB_NAME), "--var-dir", str(var_dir),
                    "backup", "create", "--output-dir", str(out), "--keep-days", "0"]  # fmt: skip
            pair = [(plain_dump, plain, None), (ours_dump, ours, _env())]
            for series, cmd, env in pair if i % 2 == 0 else reversed(pair):
                series.append(_timed(cmd, env))
            archive = next(out.glob("riskops-backup-*.tar"))
            startup.append(_timed([*RISKOPS, "--version"], _env()))
            for series, kind in ((plain_restore, "plain"), (ours_restore, "ours"))[
                :: 1 - 2 * (i % 2)
            ]:
                name = await _fresh_db(f"{DB_NAME}_restore_{kind}")
                if kind == "plain":
                    cmd = ["pg_restore", "--no-owner", f"--dbname={pg_url(name)}", str(dump)]
                    series.append(_timed(cmd))
                else:
                    target_var = out / "restored-var"
                    target_var.mkdir()
                    cmd = [*RISKOPS, "backup", "restore", str(archive), "--database-url",
                           db_url(name), "--var-dir", str(target_var)]  # fmt: skip
                    series.append(_timed(cmd, _env()))
                await _drop_db(name)
            sizes = (dump.stat().st_size, archive.stat().st_size)
            shutil.rmtree(out)
            print(
                f"round {i + 1}: dump {plain_dump[-1]:.2f} s vs create {ours_dump[-1]:.2f} s; "
                f"pg_restore {plain_restore[-1]:.2f} s vs restore {ours_restore[-1]:.2f} s; "
                f"sizes {sizes[0] / 1e6:.0f} MB / {sizes[1] / 1e6:.0f} MB; "
                f"CLI start {startup[-1]:.2f} s",
                flush=True,
            )
        d0, d1 = statistics.median(plain_dump), statistics.median(ours_dump)
        r0, r1 = statistics.median(plain_restore), statistics.median(ours_restore)
        s0 = statistics.median(startup)
        print(f"machine: {machine()}")
        print(f"riskops --version (the CLI's start alone): {s0:.2f} s")
        print(f"create minus the start: {d1 - s0:.2f} s, ratio {(d1 - s0) / d0:.2f}")
        print(f"rows: {counts}")
        print(f"backup create {d1:.2f} s vs pg_dump -Fc {d0:.2f} s: ratio {d1 / d0:.2f} (≤ 1.2)")
        print(f"backup restore {r1:.2f} s vs pg_restore {r0:.2f} s: ratio {r1 / r0:.2f} (≤ 1.2)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
