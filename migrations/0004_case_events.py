from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("riskops", "0003_alerts_and_cases")]

    initial = False

    operations = [
        ops.CreateModel(
            name="CaseEvent",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "case",
                    fields.ForeignKeyField(
                        "riskops.Case",
                        source_field="case_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="events",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("org_id", fields.IntField()),
                ("action", fields.CharField(max_length=32)),
                ("actor", fields.CharField(max_length=64)),
                ("from_status", fields.CharField(null=True, max_length=20)),
                ("to_status", fields.CharField(null=True, max_length=20)),
                (
                    "data",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "case_event",
                "app": "riskops",
                "indexes": [Index(fields=["case_id", "at"])],
                "pk_attr": "id",
                "table_description": "The history of a case: one row per change, written with the change.",
            },
            bases=["Model"],
        ),
    ]
