"""Tortoise models of notifications: the outbox, written with the change that caused a message
and delivered by a job after commit.

Docstrings here must not contain apostrophes or semicolons: Tortoise writes them into SQL
comments unescaped."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from riskops.server.identity.models import Organization


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class OutboxMessage(Model):
    """A notification written with the change that caused it, delivered by a job after commit."""

    id = fields.BigIntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="outbox", on_delete=fields.CASCADE
    )
    channel = fields.CharField(max_length=32)
    kind = fields.CharField(max_length=64)
    payload: Any = fields.JSONField()
    status = fields.CharEnumField(OutboxStatus, max_length=16, default=OutboxStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    last_error = fields.TextField(null=True)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    org_id: int

    class Meta:
        table = "outbox_message"
        indexes = (("status", "next_attempt_at"),)
