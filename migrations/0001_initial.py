from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from riskops.jobs.models import JobStatus
from riskops.server.identity.models import UserStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="AuditCheckpoint",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("org_id", fields.IntField()),
                ("seq", fields.BigIntField()),
                ("head_hash", fields.CharField(max_length=64)),
                ("ts", fields.CharField(max_length=32)),
                ("signature", fields.CharField(max_length=64)),
            ],
            options={
                "table": "audit_checkpoint",
                "app": "riskops",
                "indexes": [Index(fields=["org_id", "seq"])],
                "pk_attr": "id",
                "table_description": "A signed (HMAC-SHA256) statement: at `ts` the chain of `org_id` ended at `seq`/`head_hash`.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AuditEvent",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("org_id", fields.IntField()),
                ("seq", fields.BigIntField()),
                ("ts", fields.CharField(max_length=32)),
                ("actor", fields.CharField(max_length=120)),
                ("actor_type", fields.CharField(max_length=16)),
                ("action", fields.CharField(max_length=80)),
                ("entity_type", fields.CharField(max_length=60)),
                ("entity_id", fields.CharField(max_length=120)),
                ("ip", fields.CharField(null=True, max_length=64)),
                ("user_agent", fields.CharField(null=True, max_length=300)),
                ("risk_level", fields.CharField(max_length=16)),
                ("old_values", fields.TextField(unique=False)),
                ("new_values", fields.TextField(unique=False)),
                ("request_id", fields.CharField(null=True, max_length=64)),
                ("prev_hash", fields.CharField(max_length=64)),
                ("hash", fields.CharField(max_length=64)),
                ("event_uid", fields.CharField(unique=True, max_length=36)),
            ],
            options={
                "table": "audit_event",
                "app": "riskops",
                "unique_together": (("org_id", "seq"),),
                "indexes": [
                    Index(fields=["org_id", "ts"]),
                    Index(fields=["org_id", "action"]),
                    Index(fields=["org_id", "actor"]),
                    Index(fields=["org_id", "entity_type", "entity_id"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AuditHead",
            fields=[
                (
                    "org_id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("seq", fields.BigIntField(default=0)),
                ("hash", fields.CharField(max_length=64)),
            ],
            options={
                "table": "audit_head",
                "app": "riskops",
                "pk_attr": "org_id",
                "table_description": "The head of the chain of one organization: the row lock on it serialises appends.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Job",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                ("kind", fields.CharField(max_length=80)),
                ("org_id", fields.IntField(null=True)),
                (
                    "payload",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=JobStatus.QUEUED,
                        description="QUEUED: queued\nRUNNING: running\nSUCCEEDED: succeeded\nFAILED: failed",
                        enum_type=JobStatus,
                        max_length=16,
                    ),
                ),
                ("attempts", fields.IntField(default=0)),
                ("error", fields.TextField(null=True, unique=False)),
                (
                    "result",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("dedupe_key", fields.CharField(null=True, unique=True, max_length=200)),
                ("enqueued_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("started_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "job",
                "app": "riskops",
                "indexes": [
                    Index(fields=["status", "enqueued_at"]),
                    Index(fields=["kind", "enqueued_at"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="LoginFailure",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("account", fields.CharField(max_length=254)),
                ("ip", fields.CharField(max_length=64)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "login_failure",
                "app": "riskops",
                "indexes": [Index(fields=["account", "at"]), Index(fields=["ip", "at"])],
                "pk_attr": "id",
                "table_description": "One failed login, counted per account and per IP for rate limiting.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Organization",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("slug", fields.CharField(unique=True, max_length=64)),
                ("name", fields.CharField(max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "organization", "app": "riskops", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="User",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "org",
                    fields.ForeignKeyField(
                        "riskops.Organization",
                        source_field="org_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="users",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("email", fields.CharField(unique=True, max_length=254)),
                ("name", fields.CharField(max_length=200)),
                (
                    "roles",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=UserStatus.ACTIVE,
                        description="ACTIVE: active\nSUSPENDED: suspended",
                        enum_type=UserStatus,
                        max_length=16,
                    ),
                ),
                ("password_hash", fields.CharField(null=True, max_length=255)),
                ("mfa_enabled", fields.BooleanField(default=False)),
                (
                    "last_login_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("deleted_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("version", fields.IntField(default=1)),
            ],
            options={"table": "app_user", "app": "riskops", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ApiToken",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "org",
                    fields.ForeignKeyField(
                        "riskops.Organization",
                        source_field="org_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="api_tokens",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="api_tokens",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=120)),
                ("prefix", fields.CharField(max_length=16)),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                (
                    "roles",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("created_by_id", fields.IntField(null=True)),
                ("expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "last_used_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "api_token",
                "app": "riskops",
                "pk_attr": "id",
                "table_description": "A bearer token for integrators and automation. Only its SHA-256 is stored.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Session",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="sessions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("org_id", fields.IntField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "last_seen_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("ip", fields.CharField(null=True, max_length=64)),
                ("user_agent", fields.CharField(null=True, max_length=300)),
            ],
            options={
                "table": "user_session",
                "app": "riskops",
                "indexes": [Index(fields=["user_id", "revoked_at"])],
                "pk_attr": "id",
                "table_description": "A server-side login session. `id` is the SHA-256 of the cookie value, never the value.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Team",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "org",
                    fields.ForeignKeyField(
                        "riskops.Organization",
                        source_field="org_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="teams",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=120)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "members",
                    fields.ManyToManyField(
                        "riskops.User",
                        unique=True,
                        db_constraint=True,
                        through="team_member",
                        forward_key="user_id",
                        backward_key="team_id",
                        related_name="teams",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
            ],
            options={
                "table": "team",
                "app": "riskops",
                "unique_together": (("org", "name"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
