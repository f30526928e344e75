"""Alert queue indexes (docs/PERFORMANCE.md, "Alert queue"): org-first composites for each sort
and the common filters, `alert_id` on rule hits and signals (the page's nested data), and on
PostgreSQL pg_trgm GIN indexes for the case-insensitive substring search on title, customer
and external id. The trigram indexes are on the exact expression Tortoise's `__icontains`
produces on PostgreSQL, `UPPER(CAST(col AS VARCHAR)) LIKE UPPER(pattern)`, or the planner would
not use them. SQLite gets no text index (a leading-wildcard LIKE cannot use a b-tree).
"""

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

TRGM_COLUMNS = ("title", "customer_ref", "external_id")


def _trgm_sql(dialect: str, forward: bool) -> list[str]:
    if dialect != "postgres":
        return []
    if not forward:
        return [f"DROP INDEX IF EXISTS alert_{c}_trgm" for c in TRGM_COLUMNS]
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
    return ["CREATE EXTENSION IF NOT EXISTS pg_trgm"] + [
        f"CREATE INDEX IF NOT EXISTS alert_{c}_trgm ON alert "
        f"USING gin ((UPPER(CAST({c} AS VARCHAR))) gin_trgm_ops)"
        for c in TRGM_COLUMNS
    ]


async def forward(apps, schema_editor) -> None:
    for sql in _trgm_sql(schema_editor.client.capabilities.dialect, True):
        await schema_editor.client.execute_script(sql)


async def backward(apps, schema_editor) -> None:
    for sql in _trgm_sql(schema_editor.client.capabilities.dialect, False):
        await schema_editor.client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [("riskops", "0004_case_events")]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name="Alert",
            name=None,
            fields=["org_id", "status", "score"],
        ),
        ops.RemoveIndex(
            model_name="Alert",
            name=None,
            fields=["org_id", "created_at"],
        ),
        ops.RemoveIndex(
            model_name="Alert",
            name=None,
            fields=["org_id", "due_at"],
        ),
        ops.RemoveIndex(
            model_name="Alert",
            name=None,
            fields=["org_id", "assignee_id"],
        ),
        ops.RemoveIndex(
            model_name="Alert",
            name=None,
            fields=["org_id", "priority"],
        ),
        ops.AddIndex(
            model_name="Alert",
            index=Index(fields=["org_id", "score", "id"]),
        ),
        ops.AddIndex(
            model_name="Alert",
            index=Index(fields=["org_id", "created_at", "id"]),
        ),
        ops.AddIndex(
            model_name="Alert",
            index=Index(fields=["org_id", "due_at", "id"]),
        ),
        ops.AddIndex(
            model_name="Alert",
            index=Index(fields=["org_id", "amount", "id"]),
        ),
        ops.AddIndex(
            model_name="Alert",
            index=Index(fields=["org_id", "status", "score", "id"]),
        ),
        ops.AddIndex(
            model_name="Alert",
            index=Index(fields=["org_id", "priority", "score", "id"]),
        ),
        ops.AddIndex(
            model_name="Alert",
            index=Index(fields=["org_id", "assignee_id", "score", "id"]),
        ),
        ops.AddIndex(
            model_name="Alert",
            index=Index(fields=["org_id", "team_id", "score", "id"]),
        ),
        ops.AddIndex(
            model_name="RuleHit",
            index=Index(fields=["alert_id"]),
        ),
        ops.AddIndex(
            model_name="SignalContribution",
            index=Index(fields=["alert_id"]),
        ),
        ops.RunPython(forward, backward),
    ]
