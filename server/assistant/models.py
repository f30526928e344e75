"""Tortoise models of the assistant (seed 000 section 1, seed 001 section 5): every response the
assistant was asked for, with the redacted prompt that left the process, the answer, its
citations, tokens, cost, latency and the requester feedback, and the budget warnings sent.

Docstrings here must not contain apostrophes or semicolons: Tortoise writes them into SQL
comments unescaped.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from riskops.server.identity.models import Organization, User


class ResponseKind(StrEnum):
    EXPLAIN_ALERT = "explain_alert"  # why the alert fired, from its rule hits and signals
    SIMILAR_CASES = "similar_cases"  # what happened to the most similar closed alerts and cases
    ESCALATION_DRAFT = "escalation_draft"  # a draft escalation note for an alert or a case
    EXPLAIN_RUN = "explain_run"  # why a SEV0 to SEV2 run spiked


class TargetType(StrEnum):
    ALERT = "alert"
    CASE = "case"
    RUN = "run"


class ResponseStatus(StrEnum):
    PENDING = "pending"  # queued or running: the panel polls until it is one of the others
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the provider answered with something unusable, or the job broke
    UNAVAILABLE = "unavailable"  # off (kill switch, safe mode, no model, budget) or unreachable


FINISHED = frozenset({ResponseStatus.SUCCEEDED, ResponseStatus.FAILED, ResponseStatus.UNAVAILABLE})


class AssistantResponse(Model):
    """One answer of the assistant about one alert, case or run, from request to feedback.
    Cost and tokens are written once, in the transaction that finishes it."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="assistant_responses", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(ResponseKind, max_length=24)
    target_type = fields.CharEnumField(TargetType, max_length=8)
    target_id = fields.IntField()
    requested_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="assistant_requests", null=True, on_delete=fields.SET_NULL
    )
    job_id = fields.UUIDField(null=True)
    status = fields.CharEnumField(ResponseStatus, max_length=16, default=ResponseStatus.PENDING)
    # why it is unavailable or failed, in one line the panel shows
    reason = fields.TextField(null=True)
    model = fields.CharField(max_length=200, null=True)  # the model that answered
    template_version = fields.CharField(max_length=32, default="")
    prompt_hash = fields.CharField(max_length=64, default="")  # sha256 of the redacted prompt
    prompt_redacted: list = fields.JSONField(default=list)  # the messages as they were sent
    output = fields.TextField(null=True)  # the answer, placeholders restored, bad cites dropped
    citations: list = fields.JSONField(default=list)  # [{"kind": "rule", "ref": "R-101"}, ...]
    dropped_citations = fields.IntField(default=0)
    tokens_in = fields.IntField(default=0)
    tokens_out = fields.IntField(default=0)
    cost = fields.DecimalField(max_digits=14, decimal_places=6, default=0)
    latency_ms = fields.IntField(null=True)
    attempts = fields.IntField(default=0)  # job attempts that reached the provider
    error = fields.TextField(null=True)  # the technical error, for operators
    helpful = fields.BooleanField(null=True)
    feedback_comment = fields.TextField(null=True)
    feedback_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="assistant_feedback", null=True, on_delete=fields.SET_NULL
    )
    feedback_at = fields.DatetimeField(null=True)
    idempotency_key = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)
    org_id: int
    requested_by_id: int | None
    feedback_by_id: int | None

    class Meta:
        table = "assistant_response"
        indexes = (
            ("org_id", "target_type", "target_id", "created_at"),
            ("org_id", "created_at"),
            ("org_id", "status"),
        )
        unique_together = (("org_id", "idempotency_key"),)


class BudgetNotice(Model):
    """A budget warning sent for one organization, day and threshold (80 or 95 percent): the
    unique row makes each warning go out once per day."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="assistant_budget_notices", on_delete=fields.CASCADE
    )
    day = fields.DateField()
    threshold = fields.IntField()  # percent of the daily budget
    spent = fields.DecimalField(max_digits=14, decimal_places=6)
    budget = fields.DecimalField(max_digits=14, decimal_places=6)
    created_at = fields.DatetimeField()
    org_id: int

    class Meta:
        table = "assistant_budget_notice"
        unique_together = (("org_id", "day", "threshold"),)
