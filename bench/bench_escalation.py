"""The escalation pass (issue 16): 10,000 open, unacknowledged Sev0/Sev1 cases past their target,
escalated by `riskops.server.response.escalation.escalate_due` on SQLite and on PostgreSQL.

Target: ≤ 1 s for the pass that takes all 10,000 to level 1 (one escalation message, one case
history row and one audit event each), and nothing sent twice: two passes started at once over
the same items write exactly one message per item and level (checked), and the level-2 pass
(10,000 PagerDuty triggers) is timed too. The audit chain is verified afterwards.

A fresh database every run: PostgreSQL `riskops_bench_escalation` (RISKOPS_BENCH_ESC_DB) and a
SQLite file in a temporary directory. RISKOPS_BENCH_ESC_ITEMS sets the count (10,000).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from benchlib import ADMIN, db_url, machine

DB_NAME = os.environ.get("RISKOPS_BENCH_ESC_DB", "riskops_bench_escalation")
N = int(os.environ.get("RISKOPS_BENCH_ESC_ITEMS", "10000"))
SECRET = "e" * 48
TARGET = 1.0


async def _seed(org_id: int, slug: str, start: int, now: datetime) -> None:
    """N Sev0/Sev1 cases opened an hour ago, each with its clock overdue and unacknowledged."""
    from riskops.server.response.clocks import dedup_key
    from riskops.server.response.models import ResponseClock, SubjectKind
    from riskops.server.triage.models import Case, CaseSeverity, CaseStatus

    opened = now - timedelta(hours=1)
    cases = [
        Case(
            org_id=org_id,
            number=start + i,
            title=f"SEV0: BENCH run {i}",
            status=CaseStatus.OPEN,
            severity=CaseSeverity.CRITICAL if i % 3 else CaseSeverity.HIGH,
            opened_at=opened,
            updated_at=opened,
            version=1,
        )
        for i in range(N)
    ]
    await Case.bulk_create(cases, batch_size=1000)
    rows = await Case.filter(org_id=org_id, number__gte=start).values_list("id", "number")
    due = opened + timedelta(minutes=15)
    await ResponseClock.bulk_create(
        [
            ResponseClock(
                org_id=org_id,
                subject_kind=SubjectKind.CASE,
                subject_id=cid,
                severity="SEV0",
                needs_ack=True,
                started_at=opened,
                due_at=due,
                level=0,
                next_escalation_at=due,
                dedup_key=dedup_key(slug, SubjectKind.CASE, number),
                version=1,
            )
            for cid, number in rows
        ],
        batch_size=1000,
    )


async def _one(url: str, label: str) -> str:
    from riskops.audit.verify import verify_org
    from riskops.server.db import close_db, init_db, migrate
    from riskops.server.identity.orgs import create_organization
    from riskops.server.notify.models import OutboxMessage
    from riskops.server.response.escalation import escalate_due
    from riskops.server.response.models import ResponseClock
    from riskops.server.settings import load_settings, use_settings

    settings = use_settings(
        load_settings(
            database_url=url, secret_key=SECRET, log_level="WARNING", redis_url=None,
            var_dir=Path(tempfile.mkdtemp(prefix="riskops-bench-esc-var-")),
        )
    )  # fmt: skip
    await migrate(settings)
    await init_db(settings)
    try:
        # warm-up on an organization of its own (imports, plans)
        warm = await create_organization("bench-warm", "Warm")
        now = datetime.now(UTC)
        await _seed(warm.id, warm.slug, 1, now)
        await escalate_due(now)
        await ResponseClock.filter(org_id=warm.id).update(next_escalation_at=None)

        org = await create_organization("bench", "Bench")
        await _seed(org.id, org.slug, 1, now)
        t0, c0 = time.perf_counter(), time.process_time()
        first = await escalate_due(now)
        level1, cpu1 = time.perf_counter() - t0, time.process_time() - c0
        assert first["level1"] == N, first
        # two passes at once, one step later: each item gets its PagerDuty trigger once
        later = now + timedelta(minutes=16)
        t0 = time.perf_counter()
        a, b = await asyncio.gather(escalate_due(later), escalate_due(later))
        level2 = time.perf_counter() - t0
        assert a["level2"] + b["level2"] == N, (a, b)
        again = await escalate_due(later + timedelta(hours=1))
        assert again["level1"] == again["level2"] == 0, again
        msgs = await OutboxMessage.filter(org_id=org.id).values_list("dedup_key", "payload")
        keys = [(k, p["level"]) for k, p in msgs]
        assert len(keys) == 2 * N and len(set(keys)) == 2 * N, "something was sent twice"
        check = await verify_org(org.id, settings.key)
        assert check.ok, check.describe()
    finally:
        await close_db()
    ok = "within" if level1 <= TARGET else "OVER"
    return (
        f"   {label}: level 1 of {N:,} items {level1 * 1000:.0f} ms wall ({ok} the {TARGET:.0f} s "
        f"target), {cpu1 * 1000:.0f} ms CPU of this process, load average "
        f"{os.getloadavg()[0]:.1f}; level 2 ({N:,} PagerDuty triggers, two passes at once) "
        f"{level2 * 1000:.0f} ms; {2 * N:,} messages, none twice; chain verified"
    )


async def main() -> None:
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    version = (await admin.fetchval("SHOW server_version")).split()[0]
    await admin.close()
    import sqlite3

    lines = [
        f"escalation pass over {N:,} overdue unacknowledged cases; {machine()}, "
        f"PostgreSQL {version}, SQLite {sqlite3.sqlite_version}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    ]
    lines.append(await _one(db_url(DB_NAME), "PostgreSQL"))
    folder = Path(tempfile.mkdtemp(prefix="riskops-bench-esc-"))
    lines.append(await _one(f"sqlite://{folder / 'bench.sqlite3'}", "SQLite"))
    print("\n".join(lines))
