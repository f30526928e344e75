"""Tortoise models of runs and credit monitoring (seed 002): scenarios, versioned policies, the
run ledger with its classification, artifacts, baselines and their change history, rerun
requests, reports and kill switches.

The rules (severity, flags, likelihood, actions, baseline math) live in the pure module
`riskops.server.credit.classification`; these rows store their inputs and results.
Docstrings here must not contain apostrophes or semicolons: Tortoise writes them into SQL
comments unescaped.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from riskops.server.core.approvals import ChangeStatus
from riskops.server.credit.terms import Severity
from riskops.server.identity.models import Organization, User
from riskops.server.triage.models import Case


class BaselineSource(StrEnum):
    CALCULATED = "calculated"
    MANUAL = "manual"


class RerunStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    USED = "used"


class Scenario(Model):
    """An automated job or agent whose runs consume credits, keyed like BINDER_EXPORT_WEEKLY."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="scenarios", on_delete=fields.CASCADE
    )
    key = fields.CharField(max_length=128)
    name = fields.CharField(max_length=200)
    max_items = fields.IntField(null=True)
    data_classification = fields.CharField(max_length=32, default="internal")
    dispatch_target = fields.CharField(max_length=500, null=True)
    created_at = fields.DatetimeField()
    version = fields.IntField(default=1)
    org_id: int

    class Meta:
        table = "scenario"
        unique_together = (("org", "key"),)


class PolicyVersion(Model):
    """One version of the thresholds and weights of an organization, newest is in force."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="policy_versions", on_delete=fields.CASCADE
    )
    number = fields.IntField()
    data: Any = fields.JSONField()
    reason = fields.TextField()
    set_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="policy_versions", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField()
    # Maker-checker: a version is proposed by one approver (set_by) and put in force by another.
    status = fields.CharEnumField(ChangeStatus, max_length=16, default=ChangeStatus.APPROVED)
    decided_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="policy_decisions", null=True, on_delete=fields.SET_NULL
    )
    decided_at = fields.DatetimeField(null=True)
    decision_reason = fields.TextField(null=True)
    org_id: int
    set_by_id: int | None
    decided_by_id: int | None

    class Meta:
        table = "policy_version"
        unique_together = (("org", "number"),)


class Run(Model):
    """One execution of a scenario as recorded in the ledger, with its classification."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="runs", on_delete=fields.CASCADE
    )
    run_id = fields.CharField(max_length=128)
    scenario: fields.ForeignKeyRelation[Scenario] = fields.ForeignKeyField(
        "riskops.Scenario", related_name="runs", on_delete=fields.RESTRICT
    )
    job_type = fields.CharField(max_length=64, null=True)
    started_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)
    recorded_at = fields.DatetimeField()
    # Bumped by every change of the run: recording, quarantine release, its rerun requests and
    # reruns. What `runs(updatedAfter:)` pages on (migration 0024 filled it with recorded_at).
    updated_at = fields.DatetimeField(auto_now_add=True)
    credits_total = fields.FloatField()
    prompt_tokens = fields.BigIntField(null=True)
    completion_tokens = fields.BigIntField(null=True)
    items_processed = fields.BigIntField(null=True)
    retry_count = fields.IntField(default=0)
    has_max_items_config = fields.BooleanField(null=True)
    deployment_ref = fields.CharField(max_length=200, null=True)
    deployed_at = fields.DatetimeField(null=True)
    data_classification = fields.CharField(max_length=32, default="internal")
    producer_flags: Any = fields.JSONField(default=list)
    flags: Any = fields.JSONField(default=list)
    explanations: Any = fields.JSONField(default=list)
    baseline_median = fields.FloatField(null=True)
    multiplier = fields.FloatField(null=True)
    severity = fields.CharEnumField(Severity, max_length=4, null=True)
    misconfig_likelihood = fields.CharField(max_length=8)
    policy_number = fields.IntField()
    quarantined = fields.BooleanField(default=False)
    # a quarantine an approver applied by hand (issue 16): why (the automatic one has none)
    quarantine_reason = fields.TextField(null=True)
    # an approver found the run's PII/regulatory flag a false positive (seed 002 monthly
    # "false positive rate for PII flags")
    declassified_at = fields.DatetimeField(null=True)
    declassified_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="declassified_runs", null=True, on_delete=fields.SET_NULL
    )
    dispatch_blocked = fields.BooleanField(default=False)
    rerun_gate = fields.BooleanField(default=False)
    # As the producer reported them in the ledger (seed 002 Severity, dispatch_blocked), shown
    # beside the computed severity and dispatch_blocked, null when not reported.
    reported_severity = fields.CharEnumField(Severity, max_length=4, null=True)
    reported_dispatch_blocked = fields.BooleanField(null=True)
    case: fields.ForeignKeyNullableRelation[Case] = fields.ForeignKeyField(
        "riskops.Case", related_name="runs", null=True, on_delete=fields.SET_NULL
    )
    rerun_of: fields.ForeignKeyNullableRelation[Run] = fields.ForeignKeyField(
        "riskops.Run", related_name="reruns", null=True, on_delete=fields.SET_NULL
    )
    version = fields.IntField(default=1)
    org_id: int
    scenario_id: int
    case_id: int | None
    rerun_of_id: int | None
    declassified_by_id: int | None

    class Meta:
        table = "run"
        unique_together = (("org", "run_id"),)
        indexes = (
            ("org_id", "started_at"),
            ("org_id", "scenario_id", "started_at"),
            ("case_id",),  # the runs of a case (case page, SEV2 pattern, weekly report)
            ("rerun_of_id",),  # the reruns of a run
            ("org_id", "updated_at", "id"),  # incremental sync (`updatedAfter`)
        )


class RunArtifact(Model):
    """A file a run produced, by reference, with its SHA-256 (re-verified on release)."""

    id = fields.IntField(primary_key=True)
    run: fields.ForeignKeyRelation[Run] = fields.ForeignKeyField(
        "riskops.Run", related_name="artifacts", on_delete=fields.CASCADE
    )
    uri = fields.CharField(max_length=1000)
    sha256 = fields.CharField(max_length=64)
    size = fields.BigIntField(null=True)
    quarantine_path = fields.CharField(max_length=1000, null=True)
    quarantined_at = fields.DatetimeField(null=True)
    released_at = fields.DatetimeField(null=True)
    run_id: int

    class Meta:
        table = "run_artifact"


class Baseline(Model):
    """The baseline in force for a scenario (one row per scenario, history in BaselineChange)."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="baselines", on_delete=fields.CASCADE
    )
    scenario: fields.OneToOneRelation[Scenario] = fields.OneToOneField(
        "riskops.Scenario", related_name="baseline", on_delete=fields.CASCADE
    )
    median = fields.FloatField()
    cv = fields.FloatField(null=True)
    sample_size = fields.IntField()
    window_days = fields.IntField(null=True)
    # The usual shape of a healthy run, from the same runs: linear_scaling and
    # sudden_prompt_growth compare against these (null for a manual baseline).
    credits_per_item = fields.FloatField(null=True)
    prompt_tokens = fields.FloatField(null=True)
    source = fields.CharEnumField(BaselineSource, max_length=16)
    set_at = fields.DatetimeField()
    org_id: int
    scenario_id: int

    class Meta:
        table = "baseline"


class BaselineChange(Model):
    """A proposed or decided baseline change with its numbers and who decided it."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="baseline_changes", on_delete=fields.CASCADE
    )
    scenario: fields.ForeignKeyRelation[Scenario] = fields.ForeignKeyField(
        "riskops.Scenario", related_name="baseline_changes", on_delete=fields.CASCADE
    )
    old_median = fields.FloatField(null=True)
    new_median = fields.FloatField()
    change_pct = fields.FloatField(null=True)
    sample_size = fields.IntField()
    cv = fields.FloatField(null=True)
    source = fields.CharEnumField(BaselineSource, max_length=16)
    # The window it was calculated over and the usual run shape of the same runs (null manual).
    window_days = fields.IntField(null=True)
    credits_per_item = fields.FloatField(null=True)
    prompt_tokens = fields.FloatField(null=True)
    rationale = fields.TextField()
    decision_rationale = fields.TextField(null=True)
    status = fields.CharEnumField(ChangeStatus, max_length=16, default=ChangeStatus.PROPOSED)
    confirmed_large_change = fields.BooleanField(default=False)
    proposed_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="proposed_baselines", null=True, on_delete=fields.SET_NULL
    )
    decided_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="decided_baselines", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    org_id: int
    scenario_id: int
    proposed_by_id: int | None
    decided_by_id: int | None

    class Meta:
        table = "baseline_change"


class RerunRequest(Model):
    """A request to rerun a gated run, approved with a mitigation or denied with a reason."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="rerun_requests", on_delete=fields.CASCADE
    )
    run: fields.ForeignKeyRelation[Run] = fields.ForeignKeyField(
        "riskops.Run", related_name="rerun_requests", on_delete=fields.CASCADE
    )
    reason = fields.TextField()
    status = fields.CharEnumField(RerunStatus, max_length=16, default=RerunStatus.PENDING)
    mitigation = fields.TextField(null=True)
    deny_reason = fields.TextField(null=True)
    requested_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="rerun_requests", null=True, on_delete=fields.SET_NULL
    )
    decided_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="rerun_decisions", null=True, on_delete=fields.SET_NULL
    )
    requested_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)
    org_id: int
    run_id: int
    requested_by_id: int | None
    decided_by_id: int | None

    class Meta:
        table = "rerun_request"


class Report(Model):
    """A generated report (the weekly review) with the SHA-256 of its canonical JSON."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="reports", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=32)
    period_start = fields.DatetimeField()
    period_end = fields.DatetimeField()
    payload: Any = fields.JSONField()
    sha256 = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    created_by = fields.CharField(max_length=64)
    org_id: int

    class Meta:
        table = "report"
        unique_together = (("org", "kind", "period_start"),)


class KillSwitch(Model):
    """An emergency switch (alert suppression, backfill per scenario) with reason and expiry."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="kill_switches", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=32)
    scope = fields.CharField(max_length=128, default="")
    reason = fields.TextField()
    set_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="kill_switches", null=True, on_delete=fields.SET_NULL
    )
    set_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(null=True)
    cleared_at = fields.DatetimeField(null=True)
    clear_reason = fields.TextField(null=True)
    cleared_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="cleared_switches", null=True, on_delete=fields.SET_NULL
    )
    org_id: int
    set_by_id: int | None
    cleared_by_id: int | None

    class Meta:
        table = "kill_switch"
        indexes = (("org_id", "name", "scope"),)
