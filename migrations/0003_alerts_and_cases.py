from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from riskops.server.triage.models import AlertDisposition, AlertPriority, AlertStatus, CaseSeverity, CaseStatus, RootCause, SignalDirection
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("riskops", "0002_audit_append_only")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Alert",
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
                        related_name="alerts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("external_id", fields.CharField(max_length=100)),
                ("source", fields.CharField(max_length=64)),
                ("title", fields.CharField(max_length=300)),
                ("score", fields.FloatField()),
                (
                    "priority",
                    fields.CharEnumField(
                        description="CRITICAL: critical\nHIGH: high\nMEDIUM: medium\nLOW: low",
                        enum_type=AlertPriority,
                        max_length=16,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=AlertStatus.NEW,
                        description="NEW: new\nASSIGNED: assigned\nESCALATED: escalated\nPENDING_INFO: pending_info\nCLOSED: closed",
                        enum_type=AlertStatus,
                        max_length=16,
                    ),
                ),
                (
                    "assignee",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="assignee_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="assigned_alerts",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "team",
                    fields.ForeignKeyField(
                        "riskops.Team",
                        source_field="team_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="alerts",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("customer_ref", fields.CharField(null=True, max_length=100)),
                ("account_ref", fields.CharField(null=True, max_length=100)),
                ("amount", fields.DecimalField(null=True, max_digits=20, decimal_places=4)),
                ("currency", fields.CharField(null=True, max_length=3)),
                (
                    "transaction",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("due_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("closed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "disposition",
                    fields.CharEnumField(
                        null=True,
                        description="TRUE_POSITIVE: true_positive\nFALSE_POSITIVE: false_positive\nBENIGN: benign\nDUPLICATE: duplicate\nINSUFFICIENT_INFORMATION: insufficient_information",
                        enum_type=AlertDisposition,
                        max_length=32,
                    ),
                ),
                ("version", fields.IntField(default=1)),
            ],
            options={
                "table": "alert",
                "app": "riskops",
                "unique_together": (("org", "external_id"),),
                "indexes": [
                    Index(fields=["org_id", "status", "score"]),
                    Index(fields=["org_id", "created_at"]),
                    Index(fields=["org_id", "due_at"]),
                    Index(fields=["org_id", "assignee_id"]),
                    Index(fields=["org_id", "priority"]),
                ],
                "pk_attr": "id",
                "table_description": "A risk alert pushed in by a detection system, external_id unique per organization.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AlertEvent",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "alert",
                    fields.ForeignKeyField(
                        "riskops.Alert",
                        source_field="alert_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="events",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("org_id", fields.IntField()),
                ("action", fields.CharField(max_length=32)),
                ("actor", fields.CharField(max_length=64)),
                ("from_status", fields.CharField(null=True, max_length=16)),
                ("to_status", fields.CharField(null=True, max_length=16)),
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
                "table": "alert_event",
                "app": "riskops",
                "indexes": [Index(fields=["alert_id", "at"])],
                "pk_attr": "id",
                "table_description": "The history of an alert: one row per workflow action, written with the change.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Case",
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
                        related_name="cases",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("number", fields.IntField()),
                ("title", fields.CharField(max_length=300)),
                (
                    "status",
                    fields.CharEnumField(
                        default=CaseStatus.OPEN,
                        description="OPEN: open\nINVESTIGATING: investigating\nPENDING_APPROVAL: pending_approval\nRESOLVED: resolved\nCLOSED: closed",
                        enum_type=CaseStatus,
                        max_length=20,
                    ),
                ),
                (
                    "severity",
                    fields.CharEnumField(
                        default=CaseSeverity.MEDIUM,
                        description="CRITICAL: critical\nHIGH: high\nMEDIUM: medium\nLOW: low",
                        enum_type=CaseSeverity,
                        max_length=16,
                    ),
                ),
                (
                    "root_cause",
                    fields.CharEnumField(
                        null=True,
                        description="MISCONFIG: misconfig\nLEGIT_LOAD: legit_load\nEXTERNAL_DEPENDENCY: external_dependency\nFRAUD_CONFIRMED: fraud_confirmed\nFALSE_POSITIVE: false_positive\nUNKNOWN: unknown",
                        enum_type=RootCause,
                        max_length=32,
                    ),
                ),
                (
                    "assignee",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="assignee_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="assigned_cases",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "opened_by",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="opened_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="opened_cases",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("opened_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "resolved_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("resolution_summary", fields.TextField(null=True, unique=False)),
                (
                    "requested_by",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="requested_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="requested_cases",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "approved_by",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="approved_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="approved_cases",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("version", fields.IntField(default=1)),
            ],
            options={
                "table": "risk_case",
                "app": "riskops",
                "unique_together": (("org", "number"),),
                "indexes": [Index(fields=["org_id", "status", "opened_at"])],
                "pk_attr": "id",
                "table_description": "An investigation grouping alerts and runs, its number shown as CASE-000123.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CaseAlert",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "case",
                    fields.ForeignKeyField(
                        "riskops.Case",
                        source_field="case_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="alert_links",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "alert",
                    fields.ForeignKeyField(
                        "riskops.Alert",
                        source_field="alert_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="case_links",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "linked_by",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="linked_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="case_alert_links",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("linked_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "case_alert",
                "app": "riskops",
                "unique_together": (("case", "alert"),),
                "indexes": [Index(fields=["alert_id"])],
                "pk_attr": "id",
                "table_description": "The link between a case and one of its alerts.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CaseNote",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "case",
                    fields.ForeignKeyField(
                        "riskops.Case",
                        source_field="case_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="notes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "author",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="author_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="case_notes",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("body", fields.TextField(unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "case_note",
                "app": "riskops",
                "indexes": [Index(fields=["case_id", "created_at"])],
                "pk_attr": "id",
                "table_description": "A note on a case.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="IdempotencyKey",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("org_id", fields.IntField()),
                ("key", fields.CharField(max_length=100)),
                ("action", fields.CharField(max_length=64)),
                ("entity_id", fields.CharField(max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "idempotency_key",
                "app": "riskops",
                "unique_together": (("org_id", "key"),),
                "pk_attr": "id",
                "table_description": "A client key of a mutation: the same key again replays, never repeats, the action.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="InfoRequest",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "alert",
                    fields.ForeignKeyField(
                        "riskops.Alert",
                        source_field="alert_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="info_requests",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("question", fields.TextField(unique=False)),
                (
                    "asked_by",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="asked_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="info_requests_asked",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "answerer",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="answerer_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="info_requests_to_answer",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("answer", fields.TextField(null=True, unique=False)),
                ("asked_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "answered_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "alert_info_request",
                "app": "riskops",
                "indexes": [Index(fields=["alert_id", "answered_at"])],
                "pk_attr": "id",
                "table_description": "A question about an alert and the person who must answer it.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RuleHit",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "alert",
                    fields.ForeignKeyField(
                        "riskops.Alert",
                        source_field="alert_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="rule_hits",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("rule_id", fields.CharField(max_length=100)),
                ("name", fields.CharField(max_length=200)),
                ("version", fields.CharField(max_length=32)),
                ("score_contribution", fields.FloatField()),
                (
                    "matched_values",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
            ],
            options={
                "table": "alert_rule_hit",
                "app": "riskops",
                "indexes": [Index(fields=["rule_id", "alert_id"])],
                "pk_attr": "id",
                "table_description": "One detection rule that fired for an alert, with its share of the score.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SignalContribution",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "alert",
                    fields.ForeignKeyField(
                        "riskops.Alert",
                        source_field="alert_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="signals",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("signal", fields.CharField(max_length=100)),
                (
                    "value",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("contribution", fields.FloatField()),
                (
                    "direction",
                    fields.CharEnumField(
                        description="UP: up\nDOWN: down", enum_type=SignalDirection, max_length=8
                    ),
                ),
            ],
            options={
                "table": "alert_signal",
                "app": "riskops",
                "pk_attr": "id",
                "table_description": "One model signal of an alert: its value and how much it pushed the score up or down.",
            },
            bases=["Model"],
        ),
    ]
