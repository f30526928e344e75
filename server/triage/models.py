"""Tortoise models of triage: alerts with their rule hits, signal contributions, history and
information requests, and cases with their history, notes and linked alerts.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from riskops.server.core.formatting import case_ref
from riskops.server.identity.models import Organization, Team, User

# --- alerts and cases (issue 3) ----------------------------------------------------------------


class AlertPriority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class AlertStatus(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    ESCALATED = "escalated"
    PENDING_INFO = "pending_info"
    CLOSED = "closed"


class AlertDisposition(StrEnum):
    TRUE_POSITIVE = "true_positive"
    FALSE_POSITIVE = "false_positive"
    BENIGN = "benign"
    DUPLICATE = "duplicate"
    INSUFFICIENT_INFORMATION = "insufficient_information"


class SignalDirection(StrEnum):
    UP = "up"
    DOWN = "down"


class CaseStatus(StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    PENDING_APPROVAL = "pending_approval"
    RESOLVED = "resolved"
    CLOSED = "closed"


class CaseSeverity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class RootCause(StrEnum):
    MISCONFIG = "misconfig"
    LEGIT_LOAD = "legit_load"
    EXTERNAL_DEPENDENCY = "external_dependency"
    FRAUD_CONFIRMED = "fraud_confirmed"
    FALSE_POSITIVE = "false_positive"
    UNKNOWN = "unknown"


class Alert(Model):
    """A risk alert pushed in by a detection system, external_id unique per organization."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="alerts", on_delete=fields.CASCADE
    )
    external_id = fields.CharField(max_length=100)
    source = fields.CharField(max_length=64)
    title = fields.CharField(max_length=300)
    score = fields.FloatField()  # 0 to 100
    priority = fields.CharEnumField(AlertPriority, max_length=16)
    status = fields.CharEnumField(AlertStatus, max_length=16, default=AlertStatus.NEW)
    assignee: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="assigned_alerts", null=True, on_delete=fields.SET_NULL
    )
    team: fields.ForeignKeyNullableRelation[Team] = fields.ForeignKeyField(
        "riskops.Team", related_name="alerts", null=True, on_delete=fields.SET_NULL
    )
    customer_ref = fields.CharField(max_length=100, null=True)
    account_ref = fields.CharField(max_length=100, null=True)
    amount = fields.DecimalField(max_digits=20, decimal_places=4, null=True)
    currency = fields.CharField(max_length=3, null=True)
    transaction: dict = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    due_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)
    disposition = fields.CharEnumField(AlertDisposition, max_length=32, null=True)
    version = fields.IntField(default=1)

    rule_hits: fields.ReverseRelation[RuleHit]
    signals: fields.ReverseRelation[SignalContribution]
    org_id: int
    assignee_id: int | None
    team_id: int | None

    class Meta:
        table = "alert"
        unique_together = (("org", "external_id"),)
        # The queue (riskops.server.triage.queue): org first, then the sort key and id for keyset
        # pages of each sort, and (org, filter column, score, id) for the filters most often
        # combined with the default score sort. Text search (pg_trgm) is in migration 0005.
        indexes = (
            ("org_id", "score", "id"),
            ("org_id", "created_at", "id"),
            ("org_id", "due_at", "id"),
            ("org_id", "amount", "id"),
            ("org_id", "status", "score", "id"),
            ("org_id", "priority", "score", "id"),
            ("org_id", "assignee_id", "score", "id"),
            ("org_id", "team_id", "score", "id"),
            ("org_id", "customer_ref", "id"),  # similar alerts: the same customer, newest first
            ("org_id", "account_ref", "id"),  # similar alerts: the same account, newest first
            ("org_id", "updated_at", "id"),  # incremental sync (`updatedAfter`), migration 0024
        )


class RuleHit(Model):
    """One detection rule that fired for an alert, with its share of the score."""

    id = fields.IntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "riskops.Alert", related_name="rule_hits", on_delete=fields.CASCADE
    )
    rule_id = fields.CharField(max_length=100)
    name = fields.CharField(max_length=200)
    version = fields.CharField(max_length=32)
    score_contribution = fields.FloatField()
    matched_values: dict = fields.JSONField(default=dict)
    alert_id: int

    class Meta:
        table = "alert_rule_hit"
        indexes = (("rule_id", "alert_id"), ("alert_id",))


class AnyJSONField(fields.JSONField):
    """A JSON value of any kind, text included. Tortoise's JSONField passes a Python str to the
    database as if it were JSON already encoded, so "abc" fails and "12" comes back a number;
    this one always encodes. What the database returns is always encoded JSON, decoded here. A
    text value must be set on the instance, not passed to the constructor (Tortoise sends
    constructor values through `to_python_value`, which cannot tell them from database text):
    use `SignalContribution.of`."""

    def to_db_value(self, value: Any, instance: Any) -> str | None:
        self.validate(value)
        return None if value is None else self.encoder(value)


class SignalContribution(Model):
    """One model signal of an alert: its value and how much it pushed the score up or down."""

    id = fields.IntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "riskops.Alert", related_name="signals", on_delete=fields.CASCADE
    )
    signal = fields.CharField(max_length=100)
    value: Any = AnyJSONField(null=True)
    contribution = fields.FloatField()
    direction = fields.CharEnumField(SignalDirection, max_length=8)
    alert_id: int

    @classmethod
    def of(cls, *, value: Any = None, **kwargs: Any) -> SignalContribution:
        """A new signal row whose value may be text (see `AnyJSONField`)."""
        row = cls(**kwargs)
        row.value = value
        return row

    class Meta:
        table = "alert_signal"
        indexes = (("alert_id",),)


class AlertEvent(Model):
    """The history of an alert: one row per workflow action, written with the change."""

    id = fields.BigIntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "riskops.Alert", related_name="events", on_delete=fields.CASCADE
    )
    org_id = fields.IntField()
    action = fields.CharField(max_length=32)
    actor = fields.CharField(max_length=64)
    from_status = fields.CharField(max_length=16, null=True)
    to_status = fields.CharField(max_length=16, null=True)
    data: dict = fields.JSONField(default=dict)
    at = fields.DatetimeField()
    alert_id: int

    class Meta:
        table = "alert_event"
        indexes = (("alert_id", "at"),)


class InfoRequest(Model):
    """A question about an alert and the person who must answer it."""

    id = fields.IntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "riskops.Alert", related_name="info_requests", on_delete=fields.CASCADE
    )
    question = fields.TextField()
    asked_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="info_requests_asked", null=True, on_delete=fields.SET_NULL
    )
    answerer: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="info_requests_to_answer", null=True, on_delete=fields.SET_NULL
    )
    answer = fields.TextField(null=True)
    asked_at = fields.DatetimeField()
    answered_at = fields.DatetimeField(null=True)
    alert_id: int
    asked_by_id: int | None
    answerer_id: int | None

    class Meta:
        table = "alert_info_request"
        indexes = (("alert_id", "answered_at"),)


class Case(Model):
    """An investigation grouping alerts and runs, its number shown as CASE-000123."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="cases", on_delete=fields.CASCADE
    )
    number = fields.IntField()
    title = fields.CharField(max_length=300)
    status = fields.CharEnumField(CaseStatus, max_length=20, default=CaseStatus.OPEN)
    severity = fields.CharEnumField(CaseSeverity, max_length=16, default=CaseSeverity.MEDIUM)
    root_cause = fields.CharEnumField(RootCause, max_length=32, null=True)
    assignee: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="assigned_cases", null=True, on_delete=fields.SET_NULL
    )
    opened_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="opened_cases", null=True, on_delete=fields.SET_NULL
    )
    opened_at = fields.DatetimeField()
    resolved_at = fields.DatetimeField(null=True)
    resolution_summary = fields.TextField(null=True)
    # Bumped by every change written to the case's history (status, fields, notes, alert links):
    # what `cases(updatedAfter:)` pages on (migration 0024 filled it for older cases).
    updated_at = fields.DatetimeField(auto_now_add=True)
    requested_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="requested_cases", null=True, on_delete=fields.SET_NULL
    )
    approved_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="approved_cases", null=True, on_delete=fields.SET_NULL
    )
    # the incident record of a Sev0/Sev1 case (issue 16, seed 001 SOP1): who commands it, and
    # its post-incident report, due postmortem_due_hours after resolution
    incident_commander: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="commanded_cases", null=True, on_delete=fields.SET_NULL
    )
    postmortem_due_at = fields.DatetimeField(null=True)
    postmortem = fields.TextField(null=True)
    postmortem_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="postmortems", null=True, on_delete=fields.SET_NULL
    )
    postmortem_at = fields.DatetimeField(null=True)
    # archived: hidden from the default lists, still readable (seed 002 weekly checks)
    archived_at = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)
    org_id: int
    assignee_id: int | None
    opened_by_id: int | None
    requested_by_id: int | None
    approved_by_id: int | None
    incident_commander_id: int | None
    postmortem_by_id: int | None

    @property
    def display_number(self) -> str:
        return case_ref(self.number)

    class Meta:
        table = "risk_case"
        unique_together = (("org", "number"),)
        indexes = (
            ("org_id", "status", "opened_at"),
            ("org_id", "updated_at", "id"),  # incremental sync (`updatedAfter`)
        )


class CaseEvent(Model):
    """The history of a case: one row per change, written with the change."""

    id = fields.BigIntField(primary_key=True)
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "riskops.Case", related_name="events", on_delete=fields.CASCADE
    )
    org_id = fields.IntField()
    action = fields.CharField(max_length=32)
    actor = fields.CharField(max_length=64)
    from_status = fields.CharField(max_length=20, null=True)
    to_status = fields.CharField(max_length=20, null=True)
    data: dict = fields.JSONField(default=dict)
    at = fields.DatetimeField()
    case_id: int

    class Meta:
        table = "case_event"
        indexes = (("case_id", "at"),)


class CaseNote(Model):
    """A note on a case."""

    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "riskops.Case", related_name="notes", on_delete=fields.CASCADE
    )
    author: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="case_notes", null=True, on_delete=fields.SET_NULL
    )
    body = fields.TextField()
    created_at = fields.DatetimeField()
    # the assistant response whose draft this note began as (an id, not a key: triage does not
    # depend on the assistant)
    from_response_id = fields.IntField(null=True)
    case_id: int
    author_id: int | None

    class Meta:
        table = "case_note"
        indexes = (("case_id", "created_at"),)


class CaseAlert(Model):
    """The link between a case and one of its alerts."""

    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "riskops.Case", related_name="alert_links", on_delete=fields.CASCADE
    )
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "riskops.Alert", related_name="case_links", on_delete=fields.CASCADE
    )
    linked_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="case_alert_links", null=True, on_delete=fields.SET_NULL
    )
    linked_at = fields.DatetimeField()
    case_id: int
    alert_id: int

    class Meta:
        table = "case_alert"
        unique_together = (("case", "alert"),)
        indexes = (("alert_id",),)
