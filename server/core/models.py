"""Tortoise models of the shared kernel: the client keys that make mutations idempotent."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class IdempotencyKey(Model):
    """A client key of a mutation: the same key again replays, never repeats, the action."""

    id = fields.BigIntField(primary_key=True)
    org_id = fields.IntField()
    key = fields.CharField(max_length=100)
    action = fields.CharField(max_length=64)
    entity_id = fields.CharField(max_length=64)
    # What the key was used on, as the user knows it ("alert EXT-17", "case CASE-000004").
    entity = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "idempotency_key"
        unique_together = (("org_id", "key"),)
