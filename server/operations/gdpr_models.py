"""Tortoise model of the GDPR requests (issue 15, seed 001 SOP4, seed 003 CO-002): each export or
erasure asked for, who asked, its legal-review flag, its deadline, who approved an erasure and
what was exported or erased (counts).

Docstrings here must not contain apostrophes or semicolons: Tortoise writes them into SQL
comments unescaped.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from riskops.server.identity.models import Organization


class GdprKind(StrEnum):
    EXPORT = "export"  # everything held about the subject, as one JSON document
    ERASE = "erase"  # pseudonymize the subject everywhere (maker-checker)


class SubjectKind(StrEnum):
    USER = "user"  # a person with an account, named by e-mail address
    CUSTOMER = "customer"  # a customer of the organization, named by the ref on its alerts


class GdprStatus(StrEnum):
    REQUESTED = "requested"  # an erasure waiting for a second person
    APPROVED = "approved"  # approved, the erasure under way (in the approving transaction)
    COMPLETED = "completed"  # exported, or erased
    REJECTED = "rejected"  # an erasure refused, with the reason


OPEN_STATUSES = (GdprStatus.REQUESTED, GdprStatus.APPROVED)


class GdprRequest(Model):
    """One GDPR request: an export or an erasure of a user or a customer, with its deadline.
    The subject is personal data itself: once an erasure completes, every request about that
    subject keeps only the pseudonym and the keyed digest of the subject (subject_digest),
    which lets a later request about the same person be matched."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="gdpr_requests", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(GdprKind, max_length=8)
    subject_kind = fields.CharEnumField(SubjectKind, max_length=8)
    subject = fields.CharField(max_length=254)  # the e-mail or customer ref, until erased
    subject_digest = fields.CharField(max_length=64)  # HMAC-SHA256 of the subject
    pseudonym = fields.CharField(max_length=40, null=True)  # what an erasure wrote instead
    status = fields.CharEnumField(GdprStatus, max_length=12)
    requested_by_id = fields.IntField(null=True)  # the user who asked, None for the CLI
    requested_at = fields.DatetimeField()
    received_at = fields.DatetimeField()  # when the organization received the request
    due_at = fields.DatetimeField()  # 30 days after it was received
    legal_review = fields.BooleanField(default=False)
    legal_note = fields.TextField(default="")
    approved_by_id = fields.IntField(null=True)
    decided_at = fields.DatetimeField(null=True)
    reject_reason = fields.TextField(null=True)
    completed_at = fields.DatetimeField(null=True)
    summary: dict = fields.JSONField(default=dict)  # counts of what was exported or erased
    org_id: int

    class Meta:
        table = "gdpr_request"
        indexes = (("org_id", "status", "due_at"), ("org_id", "subject_digest"))
