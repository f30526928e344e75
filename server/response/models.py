"""Tortoise models of the response loop (issue 16): the response clock of a run or a case.

Docstrings here must not contain apostrophes or semicolons: Tortoise writes them into SQL
comments unescaped."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from riskops.server.identity.models import Organization, User


class SubjectKind(StrEnum):
    RUN = "run"
    CASE = "case"


class ResponseClock(Model):
    """The response clock of one run or case: its target, its acknowledgement and how far it
    escalated. The escalation job reads the rows whose next_escalation_at has passed."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="response_clocks", on_delete=fields.CASCADE
    )
    subject_kind = fields.CharEnumField(SubjectKind, max_length=8)
    subject_id = fields.IntField()
    severity = fields.CharField(max_length=4)  # SEV0 to SEV3 (a case: Sev0 critical ... Sev3 low)
    needs_ack = fields.BooleanField()  # SEV0 and SEV1: acknowledged by a named person, escalated
    started_at = fields.DatetimeField()
    due_at = fields.DatetimeField()  # the response target
    acknowledged_at = fields.DatetimeField(null=True)
    acknowledged_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="acknowledged_clocks", null=True, on_delete=fields.SET_NULL
    )
    level = fields.IntField(default=0)  # escalation levels reached (0: none)
    escalated_at = fields.DatetimeField(null=True)  # the latest escalation
    # when the escalation job next looks at it: null once acknowledged, closed or at the last level
    next_escalation_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)  # the run or case was resolved
    dedup_key = fields.CharField(max_length=128)  # PagerDuty incident key of the item
    version = fields.IntField(default=1)
    org_id: int
    acknowledged_by_id: int | None

    class Meta:
        table = "response_clock"
        unique_together = (("subject_kind", "subject_id"),)
        indexes = (("next_escalation_at",), ("org_id", "closed_at", "due_at"))
