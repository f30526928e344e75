"""The queue's PostgreSQL text-search indexes (migration 0005) match the SQL the filter sends.

pg_trgm GIN indexes are on `UPPER(CAST(col AS VARCHAR))`, the expression Tortoise's
`__icontains` produces on PostgreSQL; if either side changed, the planner would silently stop
using them (docs/PERFORMANCE.md, "Alert queue").
"""

from __future__ import annotations

import pytest
from tortoise.connection import connections
from tortoise.transactions import in_transaction

from riskops.server.core.principal import Principal
from riskops.server.triage.models import Alert
from riskops.server.triage.queue_filters import AlertFilter
from riskops.server.triage.queue_filters import apply_filter as _apply_filter

pytestmark = [pytest.mark.asyncio, pytest.mark.postgres_only]

COLUMNS = ("title", "customer_ref", "external_id")


async def test_text_filter_sql_is_the_indexed_expression(db) -> None:
    p = Principal(user_id=1, org_id=1, roles=frozenset({"admin"}))
    sql = _apply_filter(Alert.filter(org_id=1), p, AlertFilter(text="abc")).sql()
    for col in COLUMNS:
        assert f'UPPER(CAST("{col}" AS VARCHAR)) LIKE UPPER(' in sql


async def test_trigram_indexes_serve_the_text_filter(db) -> None:
    conn = connections.get("default")
    names = {
        r["indexname"]
        for r in await conn.execute_query_dict(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'alert'"
        )
    }
    assert {f"alert_{c}_trgm" for c in COLUMNS} <= names
    async with in_transaction() as tx:
        await tx.execute_script("SET LOCAL enable_seqscan = off")
        plan = await tx.execute_query_dict(
            'EXPLAIN SELECT id FROM "alert" WHERE ('
            + " OR ".join(
                f"UPPER(CAST(\"{c}\" AS VARCHAR)) LIKE UPPER('%abcd%') ESCAPE '\\'" for c in COLUMNS
            )
            + ")"
        )
    text = "\n".join(r["QUERY PLAN"] for r in plan)
    for col in COLUMNS:
        assert f"alert_{col}_trgm" in text, text


async def test_case_insensitive_rule_filter_uses_its_expression_index(db) -> None:
    """`vel-002` finds VEL-002 (UPPER on both sides) and stays an index lookup (migration
    0015 indexes UPPER(CAST(rule_id AS VARCHAR)), alert_id)."""
    p = Principal(user_id=1, org_id=1, roles=frozenset({"admin"}))
    sql = _apply_filter(Alert.filter(org_id=1), p, AlertFilter(rule_id="vel-002")).sql()
    assert 'UPPER(CAST("rule_id" AS VARCHAR))=UPPER(' in sql.replace(" = ", "=")
    async with in_transaction() as tx:
        await tx.execute_script("SET LOCAL enable_seqscan = off")
        plan = await tx.execute_query_dict(
            "EXPLAIN SELECT alert_id FROM alert_rule_hit "
            "WHERE UPPER(CAST(rule_id AS VARCHAR)) = UPPER('vel-002')"
        )
    text = "\n".join(r["QUERY PLAN"] for r in plan)
    assert "alert_rule_hit_rule_id_upper" in text, text
