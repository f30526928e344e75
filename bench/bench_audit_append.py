"""Audit append cost on PostgreSQL: one event per transaction through `riskops.audit.store.append`
versus the raw-asyncpg floor (the same INSERT plus the same head-row UPDATE), at 1 and at 8
concurrent writers of one organization. The chain serialises writers of one organization by
design, so the figure that matters is the ratio to the floor, not parallel speed-up.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import asyncpg

ADMIN = os.environ.get("RISKOPS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
N = int(os.environ.get("RISKOPS_BENCH_EVENTS", "2000"))


async def _ours(url: str, writers: int) -> float:
    from tortoise.transactions import in_transaction

    from riskops.audit import store
    from riskops.audit.types import Actor, Entry
    from riskops.server.db import close_db, init_db
    from riskops.server.identity.orgs import create_organization
    from riskops.server.settings import load_settings, use_settings

    settings = use_settings(load_settings(database_url=url, secret_key="b" * 40))
    await init_db(settings)
    org = await create_organization(f"bench-{uuid.uuid4().hex[:8]}", "Bench")
    actor = Actor(org.id, "user:1", "user", "127.0.0.1", "bench", None)

    async def writer(count: int) -> None:
        for i in range(count):
            async with in_transaction() as conn:
                await store.append(actor, Entry("bench.event", "x", i, {}, {"i": i}), conn)

    started = time.perf_counter()
    await asyncio.gather(*(writer(N // writers) for _ in range(writers)))
    elapsed = time.perf_counter() - started
    await close_db()
    return elapsed


async def _floor(url: str, writers: int) -> float:
    pool = await asyncpg.create_pool(
        url.replace("postgres://", "postgresql://"), min_size=1, max_size=writers
    )
    org = 900_000_000 + int(time.time()) % 1_000_000
    await pool.execute(
        "INSERT INTO audit_head (org_id, seq, hash) VALUES ($1, 0, $2)", org, "0" * 64
    )

    async def writer(count: int) -> None:
        async with pool.acquire() as conn:
            for i in range(count):
                async with conn.transaction():
                    seq, prev = await conn.fetchrow(
                        "UPDATE audit_head SET seq = seq + 1 WHERE org_id = $1 RETURNING seq, hash",
                        org,
                    )
                    await conn.execute(
                        "INSERT INTO audit_event (org_id, seq, ts, actor, actor_type, action, "
                        "entity_type, entity_id, ip, user_agent, risk_level, old_values, "
                        "new_values, request_id, prev_hash, hash, event_uid) VALUES "
                        "($1,$2,'2026-01-01T00:00:00.000000Z','user:1','user','bench.event','x',"
                        "$3,'127.0.0.1','bench','low','{}',$4,NULL,$5,$6,$7)",
                        org, seq, str(i), f'{{"i":{i}}}', prev, "f" * 64, str(uuid.uuid4()),
                    )  # fmt: skip
                    await conn.execute(
                        "UPDATE audit_head SET hash = $2 WHERE org_id = $1", org, "f" * 64
                    )

    started = time.perf_counter()
    await asyncio.gather(*(writer(N // writers) for _ in range(writers)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return elapsed


async def main() -> None:
    from riskops.server.db import migrate
    from riskops.server.settings import load_settings

    dbname = f"riskops_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{dbname}"')
    url = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgres://") + "/" + dbname
    try:
        await migrate(load_settings(database_url=url, secret_key="b" * 40))
        for writers in (1, 8):
            floor = await _floor(url, writers)
            ours = await _ours(url, writers)
            print(
                f"audit append, {N} events, {writers} writer(s): riskops {N / ours:,.0f}/s, "
                f"raw asyncpg floor {N / floor:,.0f}/s, ratio {ours / floor:.2f}x"
            )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        await admin.close()
