"""The escalation pass (issue 16): 10,000 open, unacknowledged Sev0/Sev1 cases past their target,
escalated by `riskops.server.response.escalation.escalate_due` on SQLite and on PostgreSQL.

Target: ≤ 1 s for a pass over 10,000 items: the one that takes them to level 1 (a Slack digest,
one case history row and one audit event each) and the one that takes them to level 2 (10,000
PagerDuty triggers besides), and nothing sent twice: two passes started at once over the same
items name each item once per channel and level (checked). The organization has two
notification channels routed for `escalation`, a Slack webhook and a PagerDuty service, so the
pass routes as in production: level 1 goes to Slack only (no dedup_key), level 2 to both; Slack,
a channel people read, gets one digest per level and pass naming every item (more than
`escalation.DIGEST_AT` at once), PagerDuty one trigger per item. The audit chain is verified
afterwards.

Each pass is timed on RISKOPS_BENCH_ESC_ROUNDS fresh organizations (5; level 2 on the first
four, the last one's level 2 being the two passes at once), each with its own 10,000 items, and
the median is the figure (this machine is shared and noisy: one pass can swing by a fifth). A
fresh database every run: PostgreSQL `riskops_bench_escalation` (RISKOPS_BENCH_ESC_DB) and a
SQLite file in a temporary directory; RISKOPS_BENCH_ESC_BACKENDS picks them (postgres,sqlite).
RISKOPS_BENCH_ESC_ITEMS sets the count (10,000).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from benchlib import ADMIN, db_url, machine

DB_NAME = os.environ.get("RISKOPS_BENCH_ESC_DB", "riskops_bench_escalation")
N = int(os.environ.get("RISKOPS_BENCH_ESC_ITEMS", "10000"))
ROUNDS = int(os.environ.get("RISKOPS_BENCH_ESC_ROUNDS", "5"))
BACKENDS = os.environ.get("RISKOPS_BENCH_ESC_BACKENDS", "postgres,sqlite").split(",")
SECRET = "e" * 48
TARGET = 1.0
# The pass ends by queueing the outbox delivery: on a Redis queue of the bench's own that no
# worker reads (as in production, where a worker elsewhere delivers), so that no delivery runs
# in this process while the passes are timed. Emptied afterwards.
REDIS = os.environ.get("RISKOPS_BENCH_REDIS", "redis://127.0.0.1:6379/0")
QUEUE = "riskops-bench-escalation"


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


async def _channels(org_id: int, now: datetime) -> None:
    """A Slack webhook and a PagerDuty service, both routed for escalation (nothing is sent:
    the bench never runs the outbox delivery)."""
    from riskops.server.notify.channels import sealed
    from riskops.server.notify.models import ChannelKind, NotificationChannel

    for name, kind, config in (
        ("Slack #risk-escalation", ChannelKind.SLACK, {"url": "http://127.0.0.1:9/slack"}),
        ("PagerDuty risk", ChannelKind.PAGERDUTY, {"events_url": "http://127.0.0.1:9/v2/enqueue"}),
    ):
        await NotificationChannel.create(
            org_id=org_id, name=name, kind=kind, config=config,
            secret_sealed=sealed("r" * 32) if kind == ChannelKind.PAGERDUTY else None,
            events=["escalation"], created_at=now, updated_at=now,
        )  # fmt: skip


async def _one(url: str, label: str) -> str:
    from riskops.audit.verify import verify_org
    from riskops.server.core import process
    from riskops.server.db import close_db, init_db, migrate
    from riskops.server.identity.orgs import create_organization
    from riskops.server.notify.models import OutboxMessage
    from riskops.server.response import escalation as _esc

    escalate_due = _esc.escalate_due
    from riskops.server.response.models import ResponseClock
    from riskops.server.settings import load_settings, use_settings

    settings = use_settings(
        load_settings(
            database_url=url, secret_key=SECRET, log_level="WARNING", redis_url=REDIS,
            job_queue=QUEUE,
            var_dir=Path(tempfile.mkdtemp(prefix="riskops-bench-esc-var-")),
        )
    )  # fmt: skip
    await migrate(settings)
    await init_db(settings)
    try:
        # warm-up on an organization of its own (imports, plans)
        warm = await create_organization("bench-warm", "Warm")
        now = datetime.now(UTC)
        await _channels(warm.id, now)
        await _seed(warm.id, warm.slug, 1, now)
        await escalate_due(now)
        await ResponseClock.filter(org_id=warm.id).update(next_escalation_at=None)

        level1s: list[float] = []
        level2s: list[float] = []
        later = now + timedelta(minutes=16)  # one step after level 1
        process.settle()  # as the worker does once started (jobs.worker.startup)
        for r in range(ROUNDS):  # a fresh organization per round, each pass timed alone
            org = await create_organization(f"bench-{r}", f"Bench {r}")
            await _channels(org.id, now)
            await _seed(org.id, org.slug, 1, now)
            t0, c0 = time.perf_counter(), time.process_time()
            first = await escalate_due(now)
            level1s.append(time.perf_counter() - t0)
            cpu1 = time.process_time() - c0
            assert first["level1"] == N, first
            if r < ROUNDS - 1:  # level 2 (10,000 PagerDuty triggers), one pass
                t0 = time.perf_counter()
                second = await escalate_due(later)
                level2s.append(time.perf_counter() - t0)
                assert second["level2"] == N, second
        level1 = statistics.median(level1s)
        level2 = statistics.median(level2s) if level2s else float("nan")
        # The last round's items: two passes at once, one step later, in this one process
        # (production runs them in two): each item gets its PagerDuty trigger once.
        t0 = time.perf_counter()
        a, b = await asyncio.gather(escalate_due(later), escalate_due(later))
        both = time.perf_counter() - t0
        assert a["level2"] + b["level2"] == N, (a, b)
        again = await escalate_due(later + timedelta(hours=1))
        assert again["level1"] == again["level2"] == 0, again
        msgs = await OutboxMessage.filter(org_id=org.id).values_list("destination_id", "payload")
        keys = [
            (d, subject_id, p["level"])
            for d, p in msgs
            for _, subject_id in (
                p["subjects"] if p["subject"] == "digest" else [[0, p["subject_id"]]]
            )
        ]  # fmt: skip
        # level 1 to Slack, level 2 to Slack and PagerDuty: each item 3 times, none twice
        # (Slack in one digest per level and pass, PagerDuty one trigger per item)
        assert len(keys) == 3 * N and len(set(keys)) == 3 * N, "something was sent twice"
        digests = sum(1 for _, p in msgs if p["subject"] == "digest")
        check = await verify_org(org.id, settings.key)
        assert check.ok, check.describe()
    finally:
        from riskops.jobs.runner import arq_pool, close_pool

        pool = await arq_pool()
        await pool.delete(QUEUE)
        await close_pool()
        await close_db()

    def said(label: str, times: list[float], median: float) -> str:
        ok = "within" if median <= TARGET else "OVER"
        rounds = " / ".join(f"{x * 1000:.0f}" for x in times)
        return (
            f"{label} {median * 1000:.0f} ms, median of {len(times)} ({rounds}; {ok} "
            f"{TARGET:.0f} s)"
        )

    return (
        f"   {label}: {said('level 1 (Slack)', level1s, level1)}, {cpu1 * 1000:.0f} ms CPU of "
        f"this process (last round); {said('level 2 (PagerDuty)', level2s, level2)}; two "
        f"passes at once in one process {both * 1000:.0f} ms; load average "
        f"{os.getloadavg()[0]:.1f}; {N:,} PagerDuty triggers and {digests} Slack digests "
        f"naming {2 * N:,} escalations, none twice; chain verified"
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
    if "postgres" in BACKENDS:
        lines.append(await _one(db_url(DB_NAME), "PostgreSQL"))
    if "sqlite" in BACKENDS:
        folder = Path(tempfile.mkdtemp(prefix="riskops-bench-esc-"))
        lines.append(await _one(f"sqlite://{folder / 'bench.sqlite3'}", "SQLite"))
    print("\n".join(lines))
