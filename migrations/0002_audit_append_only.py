"""The database itself refuses UPDATE and DELETE (and TRUNCATE) on audit rows."""

from tortoise import migrations
from tortoise.migrations import operations as ops

TABLES = ("audit_event", "audit_checkpoint")

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION riskops_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'riskops: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def _sql(dialect: str, forward: bool) -> list[str]:
    out: list[str] = []
    if dialect == "postgres":
        if forward:
            out.append(PG_FUNCTION)
        for t in TABLES:
            if forward:
                out.append(
                    f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                    "FOR EACH ROW EXECUTE FUNCTION riskops_audit_append_only()"
                )
                out.append(
                    f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION riskops_audit_append_only()"
                )
            else:
                out.append(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
                out.append(f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}")
        if not forward:
            out.append("DROP FUNCTION IF EXISTS riskops_audit_append_only()")
    else:
        for t in TABLES:
            for op in ("UPDATE", "DELETE"):
                name = f"{t}_no_{op.lower()}"
                if forward:
                    out.append(
                        f"CREATE TRIGGER {name} BEFORE {op} ON {t} BEGIN "
                        f"SELECT RAISE(ABORT, 'riskops: {t} is append-only ({op} refused)'); END"
                    )
                else:
                    out.append(f"DROP TRIGGER IF EXISTS {name}")
    return out


async def forward(apps, schema_editor) -> None:
    for sql in _sql(schema_editor.client.capabilities.dialect, True):
        await schema_editor.client.execute_script(sql)


async def backward(apps, schema_editor) -> None:
    for sql in _sql(schema_editor.client.capabilities.dialect, False):
        await schema_editor.client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [("riskops", "0001_initial")]

    operations = [ops.RunPython(forward, backward)]
