"""The `Job` table: what was asked of the workers, and how it went (either runner)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Job(Model):
    id = fields.UUIDField(primary_key=True)
    kind = fields.CharField(max_length=80)
    org_id = fields.IntField(null=True)
    payload: dict = fields.JSONField(default=dict)
    status = fields.CharEnumField(JobStatus, max_length=16, default=JobStatus.QUEUED)
    attempts = fields.IntField(default=0)
    error = fields.TextField(null=True)
    result: dict | None = fields.JSONField(null=True)
    dedupe_key = fields.CharField(max_length=200, null=True, unique=True)
    enqueued_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "job"
        indexes = (("status", "enqueued_at"), ("kind", "enqueued_at"))
