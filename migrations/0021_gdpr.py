from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from riskops.server.operations.gdpr_models import GdprKind, GdprStatus, SubjectKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    # Issue 15: GDPR requests (exports and erasures). The erasure of a customer reads its alerts
    # through alert (org_id, customer_ref, id), its audit events through audit_event (org_id,
    # entity_type, entity_id) and the assistant records through assistant_response (org_id,
    # target_type, target_id, created_at): all there already, so this adds none.
    dependencies = [("riskops", "0020_operations")]

    initial = False

    operations = [
        ops.CreateModel(
            name="GdprRequest",
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
                        related_name="gdpr_requests",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="EXPORT: export\nERASE: erase", enum_type=GdprKind, max_length=8
                    ),
                ),
                (
                    "subject_kind",
                    fields.CharEnumField(
                        description="USER: user\nCUSTOMER: customer",
                        enum_type=SubjectKind,
                        max_length=8,
                    ),
                ),
                ("subject", fields.CharField(max_length=254)),
                ("subject_digest", fields.CharField(max_length=64)),
                ("pseudonym", fields.CharField(null=True, max_length=40)),
                (
                    "status",
                    fields.CharEnumField(
                        description="REQUESTED: requested\nAPPROVED: approved\nCOMPLETED: completed\nREJECTED: rejected",
                        enum_type=GdprStatus,
                        max_length=12,
                    ),
                ),
                ("requested_by_id", fields.IntField(null=True)),
                ("requested_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("received_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("due_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("legal_review", fields.BooleanField(default=False)),
                ("legal_note", fields.TextField(default="", unique=False)),
                ("approved_by_id", fields.IntField(null=True)),
                ("decided_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("reject_reason", fields.TextField(null=True, unique=False)),
                (
                    "completed_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "summary",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
            ],
            options={
                "table": "gdpr_request",
                "app": "riskops",
                "indexes": [
                    Index(fields=["org_id", "status", "due_at"]),
                    Index(fields=["org_id", "subject_digest"]),
                ],
                "pk_attr": "id",
                "table_description": "One GDPR request: an export or an erasure of a user or a customer, with its deadline.",
            },
            bases=["Model"],
        ),
    ]
