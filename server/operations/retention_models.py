"""Tortoise models of retention (issue 15): how long each organization keeps its alerts, runs,
assistant answers and sessions, and what each enforcement removed. The audit archives are in
`riskops.audit.models` (`AuditArchive`): the chain reads them when it verifies.

Docstrings here must not contain apostrophes or semicolons: Tortoise writes them into SQL
comments unescaped.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from riskops.server.identity.models import Organization


class RetentionPolicy(Model):
    """The retention periods of one organization, in days. None keeps that kind forever."""

    id = fields.IntField(primary_key=True)
    org: fields.OneToOneRelation[Organization] = fields.OneToOneField(
        "riskops.Organization", related_name="retention_policy", on_delete=fields.CASCADE
    )
    alerts_days = fields.IntField(null=True)  # closed alerts, counted from closed_at
    runs_days = fields.IntField(null=True)  # runs, counted from started_at
    assistant_days = fields.IntField(null=True)  # finished assistant answers, from created_at
    sessions_days = fields.IntField(null=True)  # ended sessions, from expiry or revocation
    updated_at = fields.DatetimeField()
    updated_by = fields.CharField(max_length=120)
    version = fields.IntField(default=1)
    org_id: int

    class Meta:
        table = "retention_policy"


class RetentionRun(Model):
    """One enforcement of an organization policy: how many rows of each kind it removed, and
    how many it kept because they are still open work."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="retention_runs", on_delete=fields.CASCADE
    )
    started_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)  # None: still running, or interrupted
    trigger = fields.CharField(max_length=16)  # job | cli | page | api
    removed: dict = fields.JSONField(default=dict)  # kind -> rows removed
    kept: dict = fields.JSONField(default=dict)  # kind -> old rows kept (open work)
    cutoffs: dict = fields.JSONField(default=dict)  # kind -> ISO cutoff used
    org_id: int

    class Meta:
        table = "retention_run"
        indexes = (("org_id", "started_at"),)
