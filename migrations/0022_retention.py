"""Issue 15, retention: the retention policy and runs of each organization, the audit archives,
and the one hole in the chain's append-only guard (an archived segment, in the transaction that
archives it: `riskops.audit.archive`)."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

# The guard of the chain (migration 0002) keeps refusing every UPDATE, and every DELETE but one:
# an event inside a segment that `riskops.audit.archive._remove_segment` lifted, i.e. named by a
# row of `audit_archive_lift` that joins the `audit_archive` row of the same segment. Both are
# written in the removing transaction and the lift row is deleted again before it commits, so
# outside that one transaction nothing can delete an audit event. `audit_archive` is
# append-only like the chain.
_LIFTED = (
    "EXISTS (SELECT 1 FROM audit_archive_lift l JOIN audit_archive a ON a.id = l.archive_id "
    "WHERE l.org_id = OLD.org_id AND OLD.seq BETWEEN l.first_seq AND l.last_seq "
    "AND a.org_id = OLD.org_id AND OLD.seq BETWEEN a.first_seq AND a.last_seq)"
)

_LIFT_TABLE = {
    "postgres": (
        "CREATE TABLE IF NOT EXISTS audit_archive_lift (org_id INT NOT NULL, "
        "first_seq BIGINT NOT NULL, last_seq BIGINT NOT NULL, archive_id BIGINT NOT NULL)"
    ),
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS audit_archive_lift (org_id INT NOT NULL, "
        "first_seq BIGINT NOT NULL, last_seq BIGINT NOT NULL, archive_id BIGINT NOT NULL)"
    ),
}

_PG_GUARD = f"""
CREATE OR REPLACE FUNCTION riskops_audit_event_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND {_LIFTED} THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'riskops: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def _guard_sql(dialect: str, forward: bool) -> list[str]:
    if dialect == "postgres":
        if not forward:
            return [
                "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
                "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
                "FOR EACH ROW EXECUTE FUNCTION riskops_audit_append_only()",
                "DROP FUNCTION IF EXISTS riskops_audit_event_guard()",
                "DROP TRIGGER IF EXISTS audit_archive_append_only ON audit_archive",
                "DROP TRIGGER IF EXISTS audit_archive_no_truncate ON audit_archive",
                "DROP TABLE IF EXISTS audit_archive_lift",
            ]
        return [
            _LIFT_TABLE["postgres"],
            _PG_GUARD,
            "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION riskops_audit_event_guard()",
            "CREATE TRIGGER audit_archive_append_only BEFORE UPDATE OR DELETE ON audit_archive "
            "FOR EACH ROW EXECUTE FUNCTION riskops_audit_append_only()",
            "CREATE TRIGGER audit_archive_no_truncate BEFORE TRUNCATE ON audit_archive "
            "FOR EACH STATEMENT EXECUTE FUNCTION riskops_audit_append_only()",
        ]
    refuse = "SELECT RAISE(ABORT, 'riskops: {t} is append-only ({op} refused)')"
    if not forward:
        return [
            "DROP TRIGGER IF EXISTS audit_event_no_delete",
            "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event BEGIN "
            + refuse.format(t="audit_event", op="DELETE")
            + "; END",
            "DROP TRIGGER IF EXISTS audit_archive_no_update",
            "DROP TRIGGER IF EXISTS audit_archive_no_delete",
            "DROP TABLE IF EXISTS audit_archive_lift",
        ]
    return [
        _LIFT_TABLE["sqlite"],
        "DROP TRIGGER IF EXISTS audit_event_no_delete",
        f"CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event WHEN NOT {_LIFTED} "
        "BEGIN " + refuse.format(t="audit_event", op="DELETE") + "; END",
        "CREATE TRIGGER audit_archive_no_update BEFORE UPDATE ON audit_archive BEGIN "
        + refuse.format(t="audit_archive", op="UPDATE")
        + "; END",
        "CREATE TRIGGER audit_archive_no_delete BEFORE DELETE ON audit_archive BEGIN "
        + refuse.format(t="audit_archive", op="DELETE")
        + "; END",
    ]


async def _guard_forward(apps, schema_editor) -> None:
    for sql in _guard_sql(schema_editor.client.capabilities.dialect, True):
        await schema_editor.client.execute_script(sql)


async def _guard_backward(apps, schema_editor) -> None:
    for sql in _guard_sql(schema_editor.client.capabilities.dialect, False):
        await schema_editor.client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [("riskops", "0021_gdpr")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AuditArchive",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("org_id", fields.IntField()),
                ("first_seq", fields.BigIntField()),
                ("last_seq", fields.BigIntField()),
                ("first_prev_hash", fields.CharField(max_length=64)),
                ("last_hash", fields.CharField(max_length=64)),
                ("first_ts", fields.CharField(max_length=32)),
                ("last_ts", fields.CharField(max_length=32)),
                ("before", fields.CharField(max_length=32)),
                ("events", fields.BigIntField()),
                ("file_name", fields.CharField(max_length=300)),
                ("file_sha256", fields.CharField(max_length=64)),
                ("checkpoint_ts", fields.CharField(max_length=32)),
                ("signature", fields.CharField(max_length=64)),
                ("created_at", fields.CharField(max_length=32)),
                ("created_by", fields.CharField(max_length=120)),
            ],
            options={
                "table": "audit_archive",
                "app": "riskops",
                "unique_together": (("org_id", "first_seq"),),
                "indexes": [Index(fields=["org_id", "last_seq"])],
                "pk_attr": "id",
                "table_description": "A segment of one chain (seq first_seq to last_seq) moved to an archive file and removed",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RetentionPolicy",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "org",
                    fields.OneToOneField(
                        "riskops.Organization",
                        source_field="org_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="retention_policy",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("alerts_days", fields.IntField(null=True)),
                ("runs_days", fields.IntField(null=True)),
                ("assistant_days", fields.IntField(null=True)),
                ("sessions_days", fields.IntField(null=True)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_by", fields.CharField(max_length=120)),
                ("version", fields.IntField(default=1)),
            ],
            options={
                "table": "retention_policy",
                "app": "riskops",
                "pk_attr": "id",
                "table_description": "The retention periods of one organization, in days. None keeps that kind forever.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RetentionRun",
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
                        related_name="retention_runs",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("started_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("finished_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("trigger", fields.CharField(max_length=16)),
                (
                    "removed",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "kept",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "cutoffs",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
            ],
            options={
                "table": "retention_run",
                "app": "riskops",
                "indexes": [Index(fields=["org_id", "started_at"])],
                "pk_attr": "id",
                "table_description": "One enforcement of an organization policy: how many rows of each kind it removed, and",
            },
            bases=["Model"],
        ),
        ops.RunPython(_guard_forward, _guard_backward),
    ]
