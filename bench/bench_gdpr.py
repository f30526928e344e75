"""GDPR export and erasure of one customer (issue 15) on PostgreSQL, among 1,000,000 alerts.

Figures of docs/PERFORMANCE.md "GDPR export and erasure", in one run:

1. `gdpr.export_subject` of a customer with 1,000 alerts (each with a rule hit and a history
   row; 5 of them in a case with a note and an assistant answer): p50 and max of EXPORTS calls,
   each a different customer. Target ≤ 2 s.
2. `gdpr.approve_erasure` of such a customer (the request made by another person first, not
   timed): p50 and max of ERASURES calls, each a different customer (an erasure cannot be
   repeated). Target ≤ 2 s. The audit chain is verified afterwards.

The data lives in a dedicated database (RISKOPS_BENCH_GDPR_DB, default `riskops_bench_gdpr`)
kept between runs: the first run creates and migrates it and inserts 1,000 customers with 1,000
alerts each through INSERT ... SELECT FROM generate_series (a minute or two); a rerun picks
customers not erased yet.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime

import asyncpg
from benchlib import ADMIN, db_url, machine, pg_url

DB_NAME = os.environ.get("RISKOPS_BENCH_GDPR_DB", "riskops_bench_gdpr")
CUSTOMERS = 1000
PER_CUSTOMER = 1000  # alerts per customer: 1,000,000 alerts in all
EXPORTS = int(os.environ.get("RISKOPS_BENCH_GDPR_EXPORTS", "5"))
ERASURES = int(os.environ.get("RISKOPS_BENCH_GDPR_ERASURES", "5"))
CASED = 200  # customers 1..CASED have 5 alerts in a case with a note and an assistant answer
SECRET = "g" * 48
SLUG = "bench-gdpr"
TARGET = 2.0


async def _seed(pg: asyncpg.Connection, org_id: int, user_id: int) -> None:
    now = datetime.now(UTC)
    await pg.execute(
        """
        INSERT INTO alert (org_id, external_id, source, title, score, priority, status,
                           customer_ref, account_ref, amount, currency, transaction, created_at,
                           updated_at, due_at, version)
        SELECT $1, 'ext-' || n, 'card-rules', 'Card testing burst at Merchant ' || (n % 97),
               (n % 100), (ARRAY['critical','high','medium','low'])[1 + n % 4], 'new',
               'CUST-' || lpad((n % $2)::text, 6, '0'),
               'ACC-' || lpad((n % $2)::text, 6, '0') || '-1',
               (n % 5000) + 0.5, 'EUR',
               jsonb_build_object('id', 'txn-' || n, 'channel', 'card',
                 'customer', jsonb_build_object('name', 'Customer ' || (n % $2),
                                                'email', 'c' || (n % $2) || '@mail.test'),
                 'merchant', jsonb_build_object('name', 'Merchant ' || (n % 97), 'mcc', '5999')),
               $3::timestamptz - (n || ' seconds')::interval,
               $3::timestamptz - (n || ' seconds')::interval,
               $3::timestamptz + interval '1 day', 1
        FROM generate_series(1, $4) n
        """,
        org_id, CUSTOMERS, now, CUSTOMERS * PER_CUSTOMER,
    )  # fmt: skip
    await pg.execute(
        """
        INSERT INTO alert_rule_hit (alert_id, rule_id, name, version, score_contribution,
                                    matched_values)
        SELECT id, 'R-101', 'Card testing', '1', 40, jsonb_build_object('card_bin', '411111')
        FROM alert WHERE org_id = $1
        """,
        org_id,
    )  # fmt: skip
    await pg.execute(
        """
        INSERT INTO alert_event (alert_id, org_id, action, actor, from_status, to_status, data, at)
        SELECT id, org_id, 'ingest', 'user:' || $2::text, NULL, 'new', '{}', created_at
        FROM alert WHERE org_id = $1
        """,
        org_id, str(user_id),
    )  # fmt: skip
    await pg.execute(
        """
        INSERT INTO risk_case (org_id, number, title, status, severity, opened_at, version)
        SELECT $1, c, 'Customer ' || c || ' card testing', 'open', 'high', $2, 1
        FROM generate_series(1, $3) c
        """,
        org_id, now, CASED,
    )  # fmt: skip
    await pg.execute(
        """
        INSERT INTO case_alert (case_id, alert_id, linked_at)
        SELECT rc.id, a.id, $2 FROM risk_case rc
        JOIN LATERAL (SELECT id FROM alert WHERE org_id = $1
                      AND customer_ref = 'CUST-' || lpad(rc.number::text, 6, '0')
                      ORDER BY id LIMIT 5) a ON true
        WHERE rc.org_id = $1
        """,
        org_id, now,
    )  # fmt: skip
    await pg.execute(
        """
        INSERT INTO case_note (case_id, author_id, body, created_at)
        SELECT id, $2, 'Called Customer ' || number || ' about CUST-' || lpad(number::text, 6, '0'),
               $3
        FROM risk_case WHERE org_id = $1
        """,
        org_id, user_id, now,
    )  # fmt: skip
    await pg.execute(
        """
        INSERT INTO assistant_response (org_id, kind, target_type, target_id, status, reason,
               template_version, prompt_hash, prompt_redacted, output, citations,
               dropped_citations, tokens_in, tokens_out, cost, attempts, created_at)
        SELECT org_id, 'explain_alert', 'case', id, 'succeeded', NULL, '1', '', '[]',
               'CUST-' || lpad(number::text, 6, '0') || ' tested cards.', '[]', 0, 0, 0, 0, 1, $2
        FROM risk_case WHERE org_id = $1
        """,
        org_id, now,
    )  # fmt: skip


async def _prepare() -> tuple[int, int, int]:
    from riskops.server.db import init_db, migrate
    from riskops.server.identity.models import Organization, User
    from riskops.server.identity.orgs import create_organization
    from riskops.server.settings import load_settings, use_settings

    admin = await asyncpg.connect(ADMIN)
    if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB_NAME):
        await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    await admin.close()
    settings = use_settings(
        load_settings(
            database_url=db_url(DB_NAME), secret_key=SECRET, log_level="WARNING", redis_url=None
        )
    )
    await migrate(settings)
    await init_db(settings)
    org = await Organization.get_or_none(slug=SLUG)
    if org is None:
        org = await create_organization(SLUG, "Bench GDPR")
        await User.create(
            org_id=org.id, email="officer@bench.test", name="Officer", roles=["compliance_reviewer"]
        )
        await User.create(org_id=org.id, email="admin@bench.test", name="Boss", roles=["admin"])
    officer = await User.get(org_id=org.id, email="officer@bench.test")
    pg = await asyncpg.connect(pg_url(DB_NAME))
    try:
        if not await pg.fetchval("SELECT 1 FROM alert WHERE org_id = $1 LIMIT 1", org.id):
            print(f"   seeding {CUSTOMERS * PER_CUSTOMER:,} alerts into {DB_NAME} (once) ...")
            t0 = time.perf_counter()
            async with pg.transaction():
                await _seed(pg, org.id, officer.id)
            for table in ("alert", "alert_rule_hit", "alert_event", "risk_case", "case_alert",
                          "case_note", "assistant_response"):  # fmt: skip
                await pg.execute(f"VACUUM ANALYZE {table}")
            print(f"   seeded in {time.perf_counter() - t0:.0f} s")
    finally:
        await pg.close()
    officer = await User.get(org_id=org.id, email="officer@bench.test")
    boss = await User.get(org_id=org.id, email="admin@bench.test")
    return org.id, officer.id, boss.id


async def main() -> None:
    from riskops.audit.verify import verify_org
    from riskops.server.core.principal import Principal
    from riskops.server.db import close_db
    from riskops.server.operations import gdpr
    from riskops.server.settings import get_settings
    from riskops.server.triage.models import Alert

    org_id, officer_id, boss_id = await _prepare()
    officer = Principal(user_id=officer_id, org_id=org_id, roles=frozenset({"compliance_reviewer"}))
    boss = Principal(user_id=boss_id, org_id=org_id, roles=frozenset({"admin"}))
    total = await Alert.filter(org_id=org_id).count()

    # Customers still held (a rerun skips those erased before), cased ones first.
    refs = [f"CUST-{n:06d}" for n in range(1, CASED + 1)]
    left = set(
        await Alert.filter(org_id=org_id, customer_ref__in=refs).distinct()
        .values_list("customer_ref", flat=True)
    )  # fmt: skip
    todo = [r for r in refs if r in left]
    if len(todo) < EXPORTS + ERASURES:
        raise SystemExit(f"only {len(todo)} cased customers left: drop {DB_NAME} to reseed")
    exported, erased = todo[:EXPORTS], todo[EXPORTS : EXPORTS + ERASURES]

    export_s: list[float] = []
    sizes: list[int] = []
    for ref in exported:
        t0 = time.perf_counter()
        out = await gdpr.export_subject(officer, ref)
        export_s.append(time.perf_counter() - t0)
        sizes.append(len(out.document["alerts"]))
    erase_s: list[float] = []
    counts: dict[str, int] = {}
    for ref in erased:
        req = await gdpr.request_erasure(officer, ref)
        t0 = time.perf_counter()
        done = await gdpr.approve_erasure(boss, req.id)
        erase_s.append(time.perf_counter() - t0)
        counts = done.summary
    t0 = time.perf_counter()
    verified = await verify_org(org_id, get_settings().key)
    verify_s = time.perf_counter() - t0
    pg = await asyncpg.connect(pg_url(DB_NAME))
    version = (await pg.fetchval("SHOW server_version")).split()[0]
    await pg.close()
    await close_db()

    def line(name: str, values: list[float]) -> str:
        p50, worst = statistics.median(values), max(values)
        verdict = "OK" if worst <= TARGET else "OVER TARGET"
        return (
            f"{name}: p50 {p50:.3f} s, max {worst:.3f} s over {len(values)} customers ({verdict})"
        )

    print(f"   machine: {machine()}, PostgreSQL {version}")
    print(f"   {total:,} alerts in the organization, {PER_CUSTOMER:,} per customer")
    print(f"   export alerts per document: {sizes}")
    print("   " + line("gdpr export", export_s))
    print("   " + line("gdpr erase (approve_erasure)", erase_s))
    print(f"   last erasure: {counts}")
    print(f"   audit chain verifies after the erasures: {verified.ok} ({verify_s:.2f} s)")
