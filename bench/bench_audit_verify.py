"""`audit verify` of one chain of 1,000,000 events on PostgreSQL (issue 15's figure: ≤ 10 s,
streamed in bounded memory).

The chain is generated fast into a dedicated bench database (`riskops_bench_audit`, kept between
runs and reused when it already holds the chain): the events are built and hashed in Python
exactly as `riskops.audit.store.append` would (the same canonical JSON, the same SHA-256 chain)
and loaded with COPY. The head row and a signed checkpoint are set like the real job would.

Then `riskops.audit.verify.verify_org` runs in a child process of its own (so its peak RSS is
verification's alone, not the generator's), three times; the bench prints the wall time, the
events per second and the child's peak RSS (VmHWM), and, for scale, the peak RSS of the same
child verifying a chain ten times shorter: bounded memory means both are about the same. A
chain of 200,000+ events is checked in seq ranges by one child process per core
(`verify.PARALLEL_MIN`); one run with that switched off gives the one-process figure.

Environment: RISKOPS_BENCH_PG (server), RISKOPS_BENCH_AUDIT_EVENTS (default 1,000,000).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid

import asyncpg
from benchlib import ADMIN, db_url, machine, pg_url

N = int(os.environ.get("RISKOPS_BENCH_AUDIT_EVENTS", "1000000"))
DBNAME = "riskops_bench_audit"
ORG_BIG, ORG_SMALL = 1, 2
KEY = "bench-audit-verify-key-" + "k" * 24
COLUMNS = (
    "org_id", "seq", "ts", "actor", "actor_type", "action", "entity_type", "entity_id", "ip",
    "user_agent", "risk_level", "old_values", "new_values", "request_id", "prev_hash", "hash",
    "event_uid",
)  # fmt: skip
ACTIONS = ("alert.assign", "alert.close", "case.note", "auth.login", "run.record")


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_rows(org: int, n: int) -> list[tuple[object, ...]]:
    """`n` events of a realistic shape, hashed as the store does."""
    rows: list[tuple[object, ...]] = []
    prev = "0" * 64
    for seq in range(1, n + 1):
        second = seq // 10
        ts = f"2026-{1 + second // 2_592_000 % 12:02d}-01T00:00:00.{seq % 1_000_000:06d}Z"
        new_values = {"i": seq, "status": "closed", "note": "réglé après vérification"}
        event = {
            "org": org, "seq": seq, "ts": ts, "actor": f"user:{seq % 40 + 1}",
            "actor_type": "user", "action": ACTIONS[seq % len(ACTIONS)], "entity_type": "alert",
            "entity_id": str(seq % 50_000), "ip": "203.0.113.7",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) bench", "risk_level": "low",
            "old_values": {"status": "assigned"}, "new_values": new_values,
            "request_id": uuid.UUID(int=seq).hex, "prev_hash": prev,
        }  # fmt: skip
        digest = hashlib.sha256(_canonical(event)).hexdigest()
        rows.append(
            (org, seq, ts, event["actor"], "user", event["action"], "alert", event["entity_id"],
             event["ip"], event["user_agent"], "low", _canonical(event["old_values"]).decode(),
             _canonical(new_values).decode(), event["request_id"], prev, digest,
             str(uuid.UUID(int=(org << 64) + seq)))
        )  # fmt: skip
        prev = digest
    return rows


async def _load(conn: asyncpg.Connection, org: int, n: int) -> None:
    from riskops.audit.chain import format_ts
    from riskops.audit.verify import sign_checkpoint

    have = await conn.fetchval("SELECT seq FROM audit_head WHERE org_id = $1", org)
    if have == n:
        return
    started = time.perf_counter()
    rows = chain_rows(org, n)
    built = time.perf_counter() - started
    await conn.copy_records_to_table("audit_event", records=rows, columns=COLUMNS)
    last = rows[-1][15]
    await conn.execute(
        "INSERT INTO audit_head (org_id, seq, hash) VALUES ($1, $2, $3)", org, n, last
    )
    ts = format_ts()
    await conn.execute(
        "INSERT INTO audit_checkpoint (org_id, seq, head_hash, ts, signature) "
        "VALUES ($1, $2, $3, $4, $5)",
        org, n, last, ts, sign_checkpoint(KEY.encode(), org, n, str(last), ts),
    )  # fmt: skip
    await conn.execute("ANALYZE audit_event")
    print(
        f"generated org {org}: {n:,} events (hashing {built:.1f} s, all with COPY "
        f"{time.perf_counter() - started:.1f} s)"
    )


CHILD = """
import asyncio, json, resource, sys, time
from riskops.audit import verify
from riskops.audit.verify import verify_org
from riskops.server.db import close_db, init_db
from riskops.server.settings import load_settings, use_settings

async def main():
    settings = use_settings(load_settings(database_url=sys.argv[1], secret_key=sys.argv[2]))
    await init_db(settings)
    if len(sys.argv) > 4:
        verify.PARALLEL_MIN = int(sys.argv[4])
    started = time.perf_counter()
    v = await verify_org(int(sys.argv[3]), settings.key)
    elapsed = time.perf_counter() - started
    await close_db()
    # VmHWM: this process's own peak (ru_maxrss would count the forking parent's pages)
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
    rss = int(hwm.split()[1])
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"ok": v.ok, "events": v.events_checked, "seconds": elapsed,
                      "rss_kib": rss, "children_rss_kib": children,
                      "describe": v.describe()}))

asyncio.run(main())
"""


def verify_in_child(org: int, parallel_min: int | None = None) -> dict[str, object]:
    extra = [] if parallel_min is None else [str(parallel_min)]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, db_url(DBNAME), KEY, str(org), *extra],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def main() -> None:
    from riskops.server.db import migrate
    from riskops.server.settings import load_settings

    admin = await asyncpg.connect(ADMIN)
    exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DBNAME)
    if exists:  # kept from an earlier run: reused only when it holds a chain of this length
        conn = await asyncpg.connect(pg_url(DBNAME))
        try:
            have = await conn.fetchval("SELECT seq FROM audit_head WHERE org_id = $1", ORG_BIG)
        except asyncpg.UndefinedTableError:
            have = None
        await conn.close()
        if have != N:
            await admin.execute(f'DROP DATABASE "{DBNAME}" WITH (FORCE)')
            exists = None
    if not exists:
        await admin.execute(f'CREATE DATABASE "{DBNAME}"')
    await admin.close()
    await migrate(load_settings(database_url=db_url(DBNAME), secret_key=KEY))
    conn = await asyncpg.connect(pg_url(DBNAME))
    try:
        await _load(conn, ORG_BIG, N)
        await _load(conn, ORG_SMALL, max(1, N // 10))
    finally:
        await conn.close()
    print(machine())
    small = verify_in_child(ORG_SMALL)
    print(
        f"verify {small['events']:,} events: {small['seconds']:.2f} s, "
        f"peak RSS {int(small['rss_kib']) / 1024:.0f} MiB"  # type: ignore[call-overload]
    )
    serial = verify_in_child(ORG_BIG, parallel_min=10**12)
    print(
        f"verify {serial['events']:,} events in one process: "
        f"{float(serial['seconds']):.2f} s, "  # type: ignore[arg-type]
        f"peak RSS {int(serial['rss_kib']) / 1024:.0f} MiB"  # type: ignore[call-overload]
    )
    for _ in range(3):
        big = verify_in_child(ORG_BIG)
        assert big["ok"], big["describe"]
        seconds = float(big["seconds"])  # type: ignore[arg-type]
        print(
            f"verify {big['events']:,} events: {seconds:.2f} s "
            f"({int(big['events']) / seconds:,.0f} events/s), "  # type: ignore[call-overload]
            f"peak RSS {int(big['rss_kib']) / 1024:.0f} MiB"  # type: ignore[call-overload]
            f" (each range process ≤ {int(big['children_rss_kib']) / 1024:.0f} MiB)"  # type: ignore[call-overload]
            f" — target ≤ 10 s: {'PASS' if seconds <= 10 else 'FAIL'}"
        )
