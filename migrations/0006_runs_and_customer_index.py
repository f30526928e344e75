from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from riskops.server.credit.terms import Severity
from riskops.server.credit.models import BaselineSource, RerunStatus
from riskops.server.core.approvals import ChangeStatus
from riskops.server.notify.models import OutboxStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("riskops", "0005_alert_queue_indexes")]

    initial = False

    operations = [
        ops.CreateModel(
            name="KillSwitch",
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
                        related_name="kill_switches",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=32)),
                ("scope", fields.CharField(default="", max_length=128)),
                ("reason", fields.TextField(unique=False)),
                (
                    "set_by",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="set_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="kill_switches",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("set_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("cleared_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "cleared_by",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="cleared_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="cleared_switches",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
            ],
            options={
                "table": "kill_switch",
                "app": "riskops",
                "indexes": [Index(fields=["org_id", "name", "scope"])],
                "pk_attr": "id",
                "table_description": "An emergency switch (alert suppression, backfill per scenario) with reason and expiry.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="OutboxMessage",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "org",
                    fields.ForeignKeyField(
                        "riskops.Organization",
                        source_field="org_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="outbox",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("channel", fields.CharField(max_length=32)),
                ("kind", fields.CharField(max_length=64)),
                (
                    "payload",
                    fields.JSONField(
                        encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=OutboxStatus.PENDING,
                        description="PENDING: pending\nSENT: sent\nFAILED: failed\nSUPPRESSED: suppressed",
                        enum_type=OutboxStatus,
                        max_length=16,
                    ),
                ),
                ("attempts", fields.IntField(default=0)),
                ("next_attempt_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("last_error", fields.TextField(null=True, unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "outbox_message",
                "app": "riskops",
                "indexes": [Index(fields=["status", "next_attempt_at"])],
                "pk_attr": "id",
                "table_description": "A notification written with the change that caused it, delivered by a job after commit.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PolicyVersion",
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
                        related_name="policy_versions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("number", fields.IntField()),
                (
                    "data",
                    fields.JSONField(
                        encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("reason", fields.TextField(unique=False)),
                (
                    "set_by",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="set_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="policy_versions",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "policy_version",
                "app": "riskops",
                "unique_together": (("org", "number"),),
                "pk_attr": "id",
                "table_description": "One version of the thresholds and weights of an organization, newest is in force.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Report",
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
                        related_name="reports",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("kind", fields.CharField(max_length=32)),
                ("period_start", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("period_end", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "payload",
                    fields.JSONField(
                        encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("sha256", fields.CharField(max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("created_by", fields.CharField(max_length=64)),
            ],
            options={
                "table": "report",
                "app": "riskops",
                "unique_together": (("org", "kind", "period_start"),),
                "pk_attr": "id",
                "table_description": "A generated report (the weekly review) with the SHA-256 of its canonical JSON.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Scenario",
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
                        related_name="scenarios",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("key", fields.CharField(max_length=128)),
                ("name", fields.CharField(max_length=200)),
                ("max_items", fields.IntField(null=True)),
                ("data_classification", fields.CharField(default="internal", max_length=32)),
                ("dispatch_target", fields.CharField(null=True, max_length=500)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("version", fields.IntField(default=1)),
            ],
            options={
                "table": "scenario",
                "app": "riskops",
                "unique_together": (("org", "key"),),
                "pk_attr": "id",
                "table_description": "An automated job or agent whose runs consume credits, keyed like BINDER_EXPORT_WEEKLY.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Baseline",
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
                        related_name="baselines",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "scenario",
                    fields.OneToOneField(
                        "riskops.Scenario",
                        source_field="scenario_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="baseline",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("median", fields.FloatField()),
                ("cv", fields.FloatField(null=True)),
                ("sample_size", fields.IntField()),
                ("window_days", fields.IntField(null=True)),
                (
                    "source",
                    fields.CharEnumField(
                        description="CALCULATED: calculated\nMANUAL: manual",
                        enum_type=BaselineSource,
                        max_length=16,
                    ),
                ),
                ("set_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "baseline",
                "app": "riskops",
                "pk_attr": "id",
                "table_description": "The baseline in force for a scenario (one row per scenario, history in BaselineChange).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="BaselineChange",
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
                        related_name="baseline_changes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "scenario",
                    fields.ForeignKeyField(
                        "riskops.Scenario",
                        source_field="scenario_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="baseline_changes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("old_median", fields.FloatField(null=True)),
                ("new_median", fields.FloatField()),
                ("change_pct", fields.FloatField(null=True)),
                ("sample_size", fields.IntField()),
                ("cv", fields.FloatField(null=True)),
                (
                    "source",
                    fields.CharEnumField(
                        description="CALCULATED: calculated\nMANUAL: manual",
                        enum_type=BaselineSource,
                        max_length=16,
                    ),
                ),
                ("rationale", fields.TextField(unique=False)),
                (
                    "status",
                    fields.CharEnumField(
                        default=ChangeStatus.PROPOSED,
                        description="PROPOSED: proposed\nAPPROVED: approved\nREJECTED: rejected",
                        enum_type=ChangeStatus,
                        max_length=16,
                    ),
                ),
                ("confirmed_large_change", fields.BooleanField(default=False)),
                (
                    "proposed_by",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="proposed_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="proposed_baselines",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "decided_by",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="decided_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="decided_baselines",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("decided_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "baseline_change",
                "app": "riskops",
                "pk_attr": "id",
                "table_description": "A proposed or decided baseline change with its numbers and who decided it.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Run",
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
                        related_name="runs",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("run_id", fields.CharField(max_length=128)),
                (
                    "scenario",
                    fields.ForeignKeyField(
                        "riskops.Scenario",
                        source_field="scenario_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="runs",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("job_type", fields.CharField(null=True, max_length=64)),
                ("started_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("recorded_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("credits_total", fields.FloatField()),
                ("prompt_tokens", fields.BigIntField(null=True)),
                ("completion_tokens", fields.BigIntField(null=True)),
                ("items_processed", fields.BigIntField(null=True)),
                ("retry_count", fields.IntField(default=0)),
                ("has_max_items_config", fields.BooleanField(null=True)),
                ("deployment_ref", fields.CharField(null=True, max_length=200)),
                (
                    "deployed_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("data_classification", fields.CharField(default="internal", max_length=32)),
                (
                    "producer_flags",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "flags",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "explanations",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("baseline_median", fields.FloatField(null=True)),
                ("multiplier", fields.FloatField(null=True)),
                (
                    "severity",
                    fields.CharEnumField(
                        null=True,
                        description="SEV0: SEV0\nSEV1: SEV1\nSEV2: SEV2\nSEV3: SEV3",
                        enum_type=Severity,
                        max_length=4,
                    ),
                ),
                ("misconfig_likelihood", fields.CharField(max_length=8)),
                ("policy_number", fields.IntField()),
                ("quarantined", fields.BooleanField(default=False)),
                ("dispatch_blocked", fields.BooleanField(default=False)),
                ("rerun_gate", fields.BooleanField(default=False)),
                (
                    "case",
                    fields.ForeignKeyField(
                        "riskops.Case",
                        source_field="case_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="runs",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "rerun_of",
                    fields.ForeignKeyField(
                        "riskops.Run",
                        source_field="rerun_of_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="reruns",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("version", fields.IntField(default=1)),
            ],
            options={
                "table": "run",
                "app": "riskops",
                "unique_together": (("org", "run_id"),),
                "indexes": [
                    Index(fields=["org_id", "started_at"]),
                    Index(fields=["org_id", "scenario_id", "started_at"]),
                ],
                "pk_attr": "id",
                "table_description": "One execution of a scenario as recorded in the ledger, with its classification.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RerunRequest",
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
                        related_name="rerun_requests",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "run",
                    fields.ForeignKeyField(
                        "riskops.Run",
                        source_field="run_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="rerun_requests",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("reason", fields.TextField(unique=False)),
                (
                    "status",
                    fields.CharEnumField(
                        default=RerunStatus.PENDING,
                        description="PENDING: pending\nAPPROVED: approved\nDENIED: denied\nUSED: used",
                        enum_type=RerunStatus,
                        max_length=16,
                    ),
                ),
                ("mitigation", fields.TextField(null=True, unique=False)),
                ("deny_reason", fields.TextField(null=True, unique=False)),
                (
                    "requested_by",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="requested_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="rerun_requests",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "decided_by",
                    fields.ForeignKeyField(
                        "riskops.User",
                        source_field="decided_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="rerun_decisions",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("requested_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("decided_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("version", fields.IntField(default=1)),
            ],
            options={
                "table": "rerun_request",
                "app": "riskops",
                "pk_attr": "id",
                "table_description": "A request to rerun a gated run, approved with a mitigation or denied with a reason.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RunArtifact",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "run",
                    fields.ForeignKeyField(
                        "riskops.Run",
                        source_field="run_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="artifacts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("uri", fields.CharField(max_length=1000)),
                ("sha256", fields.CharField(max_length=64)),
                ("size", fields.BigIntField(null=True)),
                ("quarantine_path", fields.CharField(null=True, max_length=1000)),
                (
                    "quarantined_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "released_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "run_artifact",
                "app": "riskops",
                "pk_attr": "id",
                "table_description": "A file a run produced, by reference, with its SHA-256 (re-verified on release).",
            },
            bases=["Model"],
        ),
        ops.AddIndex(
            model_name="Alert",
            index=Index(fields=["org_id", "customer_ref", "id"]),
        ),
    ]
