"""Concurrent appenders never fork or gap a chain: 50 writers in two processes (PostgreSQL), or
50 tasks in one process (SQLite)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import asyncpg
import pytest
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.models import AuditHead
from riskops.audit.verify import verify_org
from tests.audit._util import HERE, PYTHON, actor, entry, rows

WRITERS_PER_PROC = 25
PROCS = 2


async def _waiting_on_locks(monitor: asyncpg.Connection) -> int:
    return await monitor.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )


@pytest.mark.postgres_only
@pytest.mark.slow
async def test_50_writers_in_2_processes_never_fork_or_gap(db, tenant, tmp_path) -> None:
    org = tenant.org_id
    base = len(await rows(org))
    url = db.settings.db_url
    total = PROCS * WRITERS_PER_PROC
    procs = [
        await asyncio.create_subprocess_exec(
            PYTHON,
            str(HERE / "_pg_writer.py"),
            url,
            str(org),
            str(p),
            str(WRITERS_PER_PROC),
            str(tmp_path / f"spool-{p}"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=tmp_path,
        )
        for p in range(PROCS)
    ]
    holder = await asyncpg.connect(url)
    monitor = await asyncpg.connect(url)
    try:
        for p in procs:
            assert p.stdout is not None
            ready = await asyncio.wait_for(p.stdout.readline(), 30)
            assert ready == b"ready\n", (ready, await p.stderr.read() if p.stderr else b"")

        # Hold the head row's lock while both processes start, so that all 50 writers are
        # queued on it at the same moment; then let them race.
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT seq FROM audit_head WHERE org_id = $1 FOR UPDATE", org)
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(b"go\n")
            await p.stdin.drain()
        deadline = time.monotonic() + 20
        waiting = 0
        while time.monotonic() < deadline:
            waiting = await _waiting_on_locks(monitor)
            if waiting >= total:
                break
            await asyncio.sleep(0.02)
        await tx.commit()
        assert waiting == total, f"only {waiting} writers queued on the head lock"

        outs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 60)
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
        await holder.close()
        await monitor.close()

    appended: list[int] = []
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()
        report = json.loads(out.decode().strip().splitlines()[-1])
        assert report["errors"] == []
        assert report["spool_depth"] == 0  # no emit fell back to the spool
        assert len(report["appended"]) == (WRITERS_PER_PROC + 1) // 2
        appended += report["appended"]

    stored = await rows(org)
    assert [r["seq"] for r in stored] == list(range(1, base + total + 1))  # contiguous, no fork
    new = [r for r in stored if r["action"] == "test.concurrent"]
    assert len(new) == total
    got = {(json.loads(r["new_values"])["proc"], json.loads(r["new_values"])["i"]) for r in new}
    assert got == {(p, i) for p in range(PROCS) for i in range(WRITERS_PER_PROC)}
    assert len(set(appended)) == len(appended)
    assert set(appended) <= {r["seq"] for r in new}
    for prev, cur in itertools.pairwise(stored):
        assert cur["prev_hash"] == prev["hash"]
    head = await AuditHead.get(org_id=org)
    assert (head.seq, head.hash) == (base + total, stored[-1]["hash"])
    v = await verify_org(org, db.settings.key)
    assert v.ok, v.describe()
    assert v.events_checked == base + total


@pytest.mark.sqlite_only
async def test_50_concurrent_tasks_never_fork_or_gap(db, tenant) -> None:
    org = tenant.org_id
    base = len(await rows(org))

    async def one(i: int) -> None:
        if i % 2:
            await store.emit(actor(org), entry("test.concurrent", i))
            return
        async with in_transaction() as conn:
            await store.append(actor(org), entry("test.concurrent", i), conn)

    await asyncio.gather(*(one(i) for i in range(50)))
    stored = await rows(org)
    assert [r["seq"] for r in stored] == list(range(1, base + 51))
    new = [json.loads(r["new_values"])["i"] for r in stored if r["action"] == "test.concurrent"]
    assert sorted(new) == list(range(50))
    v = await verify_org(org, db.settings.key)
    assert v.ok, v.describe()
    assert v.events_checked == base + 50
