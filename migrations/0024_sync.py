"""Incremental sync (issue 15, docs/INTEGRATORS.md): `alerts`, `cases` and `runs` take
`updatedAfter` and page on (updated_at, id). Alerts had updated_at already; runs and cases get
it here, NOT NULL, filled for the rows that exist (a run: when it was recorded; a case: its
latest history entry, else when it was opened). Then one (org_id, updated_at, id) index each.

A NOT NULL column cannot be added to a filled table without a value, so the column is added by
SQL of each dialect (PostgreSQL: nullable, filled, then NOT NULL with DEFAULT now() for rows
inserted by plain SQL, as the benchmarks do; SQLite: with a constant default, then filled), while
the migration state records the field the models declare (`auto_now_add`: a row created without
one gets the time of its creation).
"""

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

_EPOCH = "1970-01-01 00:00:00+00:00"
_FILL = {
    "run": 'UPDATE "run" SET "updated_at" = "recorded_at"',
    "risk_case": (
        'UPDATE "risk_case" SET "updated_at" = COALESCE((SELECT MAX(e."at") FROM "case_event" e '
        'WHERE e."case_id" = "risk_case"."id"), "opened_at")'
    ),
}


class AddFilledField(ops.AddField):
    """AddField for a NOT NULL datetime on a table that may hold rows: `fill` gives them their
    value. The state change is AddField's own."""

    def __init__(self, model_name: str, name: str, field: fields.Field, table: str) -> None:
        super().__init__(model_name, name, field)
        self.table = table

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        if not state_editor:
            return
        client = state_editor.client
        table, column = self.table, self.name
        if client.capabilities.dialect == "postgres":
            steps = [
                f'ALTER TABLE "{table}" ADD COLUMN "{column}" TIMESTAMPTZ',
                _FILL[table],
                f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET NOT NULL',
                f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET DEFAULT now()',
            ]
        else:
            steps = [
                f'ALTER TABLE "{table}" ADD COLUMN "{column}" TIMESTAMP NOT NULL '
                f"DEFAULT '{_EPOCH}'",
                _FILL[table],
            ]
        for sql in steps:
            await client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [("riskops", "0023_access_review")]

    initial = False

    operations = [
        AddFilledField(
            model_name="Run",
            name="updated_at",
            field=fields.DatetimeField(auto_now_add=True),
            table="run",
        ),
        AddFilledField(
            model_name="Case",
            name="updated_at",
            field=fields.DatetimeField(auto_now_add=True),
            table="risk_case",
        ),
        ops.AddIndex(model_name="Alert", index=Index(fields=["org_id", "updated_at", "id"])),
        ops.AddIndex(model_name="Run", index=Index(fields=["org_id", "updated_at", "id"])),
        ops.AddIndex(model_name="Case", index=Index(fields=["org_id", "updated_at", "id"])),
    ]
