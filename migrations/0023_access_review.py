from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    # Issue 15, access review and evidence: recorded access reviews and the daily availability
    # history (requests, 5xx, latency buckets) of the web processes.
    dependencies = [("riskops", "0022_retention")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AccessReview",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("org_id", fields.IntField()),
                ("reviewed_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("reviewer_id", fields.IntField(null=True)),
                ("reviewer", fields.CharField(max_length=200)),
                ("inactive_days", fields.IntField()),
                (
                    "findings",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "decisions",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("kept", fields.IntField(default=0)),
                ("suspended", fields.IntField(default=0)),
                ("note", fields.TextField(default="", unique=False)),
            ],
            options={
                "table": "access_review",
                "app": "riskops",
                "indexes": [Index(fields=["org_id", "reviewed_at"])],
                "pk_attr": "id",
                "table_description": "One recorded access review of an organization, with its findings snapshot and decisions.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AvailabilityBucket",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("day", fields.DateField()),
                ("le_ms", fields.IntField()),
                ("count", fields.BigIntField(default=0)),
            ],
            options={
                "table": "availability_bucket",
                "app": "riskops",
                "unique_together": (("day", "le_ms"),),
                "pk_attr": "id",
                "table_description": "How many requests of one UTC day took at most le_ms milliseconds (and more than the",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AvailabilityDay",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("day", fields.DateField(unique=True)),
                ("requests", fields.BigIntField(default=0)),
                ("errors", fields.BigIntField(default=0)),
                ("p95_ms", fields.FloatField(null=True)),
                ("updated_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "availability_day",
                "app": "riskops",
                "pk_attr": "id",
                "table_description": "The requests answered on one UTC day by every web process, the 5xx among them, and the",
            },
            bases=["Model"],
        ),
    ]
