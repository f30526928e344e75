from tortoise import migrations
from tortoise.migrations import operations as ops
from riskops.server.operations.models import BackupBackend
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("riskops", "0019_identity_access")]

    initial = False

    operations = [
        ops.CreateModel(
            name="BackupRecord",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("path", fields.CharField(max_length=1000)),
                (
                    "backend",
                    fields.CharEnumField(
                        description="SQLITE: sqlite\nPOSTGRES: postgres",
                        enum_type=BackupBackend,
                        max_length=8,
                    ),
                ),
                ("schema_version", fields.CharField(max_length=100)),
                ("size_bytes", fields.BigIntField(default=0)),
                ("sha256", fields.CharField(max_length=64)),
                ("created_by", fields.CharField(max_length=200)),
                (
                    "verified_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("verify_error", fields.TextField(null=True, unique=False)),
                ("deleted_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "backup_record",
                "app": "riskops",
                "indexes": [Index(fields=["created_at"]), Index(fields=["verified_at"])],
                "pk_attr": "id",
                "table_description": "One archive written by riskops backup create, and what its last verification found.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MaintenancePeriod",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("org_id", fields.IntField(null=True)),
                ("reason", fields.TextField(unique=False)),
                ("started_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("started_by", fields.CharField(max_length=200)),
                ("ended_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("ended_by", fields.CharField(null=True, max_length=200)),
            ],
            options={
                "table": "maintenance_period",
                "app": "riskops",
                "indexes": [Index(fields=["org_id", "ended_at"])],
                "pk_attr": "id",
                "table_description": "A read-only period: writes answer 503 with the reason while ended_at is empty. org None",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RestoreRecord",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("backup_sha256", fields.CharField(max_length=64)),
                ("archive", fields.CharField(max_length=1000)),
                ("started_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("finished_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("ok", fields.BooleanField()),
                ("detail", fields.TextField(default="", unique=False)),
                ("created_by", fields.CharField(max_length=200)),
            ],
            options={
                "table": "restore_record",
                "app": "riskops",
                "pk_attr": "id",
                "table_description": "One restore of an archive (a drill or a recovery): written into the restored database",
            },
            bases=["Model"],
        ),
    ]
