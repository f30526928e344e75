"""The queue's rule filter is case-insensitive ("vel-002" finds VEL-002): it compares
`UPPER(CAST(rule_id AS VARCHAR))`, the expression Tortoise's `__iexact` produces on both
backends. An index on that exact expression (with alert_id, for the semi join) keeps the filter
an index lookup, as the plain (rule_id, alert_id) index was (docs/PERFORMANCE.md, "Alert
queue"). Both SQLite and PostgreSQL index expressions; no model field changes.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

INDEX = "alert_rule_hit_rule_id_upper"


def _sql(forward: bool) -> list[str]:
    if not forward:
        return [f"DROP INDEX IF EXISTS {INDEX}"]
    return [
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON alert_rule_hit "
        "((UPPER(CAST(rule_id AS VARCHAR))), alert_id)"
    ]


async def forward(apps, schema_editor) -> None:
    for sql in _sql(True):
        await schema_editor.client.execute_script(sql)


async def backward(apps, schema_editor) -> None:
    for sql in _sql(False):
        await schema_editor.client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [("riskops", "0014_triage_signal_value_and_account_index")]

    initial = False

    operations = [
        ops.RunPython(forward, backward),
    ]
