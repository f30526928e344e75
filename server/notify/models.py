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


class ChannelKind(StrEnum):
    SLACK = "slack"  # a Slack-compatible incoming webhook
    WEBHOOK = "webhook"  # a generic JSON webhook, signed with the channel secret
    PAGERDUTY = "pagerduty"  # PagerDuty Events API v2, the secret is the routing key
    EMAIL = "email"  # mail through SMTP to the channel recipients


class NotificationChannel(Model):
    """A notification channel an admin of one organization configured (issue 16). config holds
    what may be shown again (url, body format, recipients, SMTP host), secret_sealed the secret
    sealed with the installation key (webhook secret, routing key, SMTP password), never shown.
    events lists the routed events (critical, alerts, review, escalation, assistant_budget,
    view_promotion). A removed channel keeps its row (archived_at) for the delivery log."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="notification_channels", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    kind = fields.CharEnumField(ChannelKind, max_length=16)
    config: Any = fields.JSONField(default=dict)
    secret_sealed = fields.TextField(null=True)
    events: Any = fields.JSONField(default=list)
    enabled = fields.BooleanField(default=True)
    created_by_id = fields.IntField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    last_test_at = fields.DatetimeField(null=True)
    last_test_outcome = fields.TextField(null=True)
    archived_at = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)
    org_id: int

    class Meta:
        table = "notification_channel"
        unique_together = (("org", "name"),)


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
    # the organization channel it goes to (issue 16); null: the installation default of its
    # channel (RISKOPS_WEBHOOKS, RISKOPS_SMTP_URL)
    destination: fields.ForeignKeyNullableRelation[NotificationChannel] = fields.ForeignKeyField(
        "riskops.NotificationChannel", related_name="messages", null=True,
        on_delete=fields.CASCADE,
    )  # fmt: skip
    # the item it is about (a run or case response clock dedup_key): PagerDuty incident key,
    # and how acknowledge and resolve find the channels their trigger went to
    dedup_key = fields.CharField(max_length=128, null=True)
    org_id: int
    destination_id: int | None

    class Meta:
        table = "outbox_message"
        indexes = (
            ("status", "next_attempt_at"),
            ("destination_id", "created_at"),  # a channel delivery log
            ("dedup_key",),
        )
