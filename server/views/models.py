"""Tortoise models of saved views and their governance (seed 000 section 3): a view is a saved
queue definition (filters, columns, sort) of the alert queue or the runs ledger, personal, shared
with a team, or standard for the whole organization. A standard view changes only through a
promotion request that a compliance reviewer and a product reviewer both approve. Each published
standard version is kept.

Docstrings here must not contain apostrophes or semicolons: Tortoise writes them into SQL
comments unescaped.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from riskops.server.identity.models import Organization, Team, User


class ViewQueue(StrEnum):
    ALERTS = "alerts"  # the alert queue
    RUNS = "runs"  # the runs ledger


class ViewScope(StrEnum):
    PERSONAL = "personal"  # the owner only
    TEAM = "team"  # the members of the team it is shared with (one of the owner teams)
    STANDARD = "standard"  # everyone of the organization who may read its queue


class ViewStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class PromotionStatus(StrEnum):
    VALIDATING = "validating"  # the validation job has not finished yet
    INVALID = "invalid"  # the validation found problems, the requester sees them
    PENDING_REVIEW = "pending_review"  # validated, waiting for both reviews
    APPROVED = "approved"  # both approvals are in, the publish job has not finished yet
    PUBLISHED = "published"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


OPEN_PROMOTION = frozenset(
    {
        PromotionStatus.VALIDATING,
        PromotionStatus.INVALID,
        PromotionStatus.PENDING_REVIEW,
        PromotionStatus.APPROVED,
    }
)


class ReviewRole(StrEnum):
    COMPLIANCE = "compliance_reviewer"
    PRODUCT = "product_reviewer"


class ReviewDecision(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"


class SavedView(Model):
    """A saved queue definition. For a standard view, definition is the version in force and
    draft holds an edit that waits for review (the version in force stays until it is published)."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="views", on_delete=fields.CASCADE
    )
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="views", on_delete=fields.RESTRICT
    )
    queue = fields.CharEnumField(ViewQueue, max_length=16)
    scope = fields.CharEnumField(ViewScope, max_length=16, default=ViewScope.PERSONAL)
    team: fields.ForeignKeyNullableRelation[Team] = fields.ForeignKeyField(
        "riskops.Team", related_name="views", null=True, on_delete=fields.SET_NULL
    )
    name = fields.CharField(max_length=120)
    description = fields.TextField(default="")
    definition: Any = fields.JSONField()
    status = fields.CharEnumField(ViewStatus, max_length=16, default=ViewStatus.ACTIVE)
    version = fields.IntField(default=1)
    # The number of the standard version in force (ViewVersion.number), null until published.
    published_number = fields.IntField(null=True)
    # An edit of a standard view, waiting for review: name, description and definition.
    draft: Any = fields.JSONField(null=True)
    draft_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="view_drafts", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    org_id: int
    owner_id: int
    team_id: int | None
    draft_by_id: int | None

    class Meta:
        table = "saved_view"
        indexes = (("org_id", "queue", "scope", "status"), ("org_id", "owner_id"))


class ViewVersion(Model):
    """One published standard version of a view, kept for its history page."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="view_versions", on_delete=fields.CASCADE
    )
    view: fields.ForeignKeyRelation[SavedView] = fields.ForeignKeyField(
        "riskops.SavedView", related_name="versions", on_delete=fields.CASCADE
    )
    number = fields.IntField()
    name = fields.CharField(max_length=120)
    description = fields.TextField(default="")
    definition: Any = fields.JSONField()
    request: fields.ForeignKeyNullableRelation[ViewPromotionRequest] = fields.ForeignKeyField(
        "riskops.ViewPromotionRequest", related_name="published", null=True,
        on_delete=fields.SET_NULL,
    )  # fmt: skip
    requested_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="view_versions_requested", null=True,
        on_delete=fields.SET_NULL,
    )  # fmt: skip
    # Who approved what: [{"reviewer_id", "reviewer", "role", "note", "at"}]
    approvals: Any = fields.JSONField(default=list)
    published_at = fields.DatetimeField()
    org_id: int
    view_id: int

    class Meta:
        table = "saved_view_version"
        unique_together = (("view", "number"),)


class ViewPromotionRequest(Model):
    """A request to publish a snapshot of a view definition as its standard version."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="view_promotions", on_delete=fields.CASCADE
    )
    view: fields.ForeignKeyRelation[SavedView] = fields.ForeignKeyField(
        "riskops.SavedView", related_name="promotions", on_delete=fields.CASCADE
    )
    requested_by: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="view_promotions", on_delete=fields.RESTRICT
    )
    rationale = fields.TextField()
    # The snapshot under review: {"name", "description", "definition"}
    snapshot: Any = fields.JSONField()
    # The standard version in force when the request was made (null: a first promotion).
    base_number = fields.IntField(null=True)
    status = fields.CharEnumField(
        PromotionStatus, max_length=16, default=PromotionStatus.VALIDATING
    )
    version = fields.IntField(default=1)
    # What the validation job found: rows selected, how long it took, problems in words.
    rows_selected = fields.IntField(null=True)
    took_ms = fields.IntField(null=True)
    problems: Any = fields.JSONField(default=list)
    validated_at = fields.DatetimeField(null=True)
    # The last failure of a promotion job (validate or publish), shown on the request.
    job_error = fields.TextField(null=True)
    job_attempts = fields.IntField(default=0)
    decline_reason = fields.TextField(null=True)
    decided_at = fields.DatetimeField(null=True)
    published_number = fields.IntField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    org_id: int
    view_id: int
    requested_by_id: int

    class Meta:
        table = "saved_view_promotion"
        indexes = (("org_id", "status"), ("org_id", "requested_by_id"))


class ViewReview(Model):
    """One reviewer decision on a promotion request, in one reviewer role."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="view_reviews", on_delete=fields.CASCADE
    )
    request: fields.ForeignKeyRelation[ViewPromotionRequest] = fields.ForeignKeyField(
        "riskops.ViewPromotionRequest", related_name="reviews", on_delete=fields.CASCADE
    )
    reviewer: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="view_reviews", on_delete=fields.RESTRICT
    )
    role = fields.CharEnumField(ReviewRole, max_length=32)
    decision = fields.CharEnumField(ReviewDecision, max_length=16)
    note = fields.TextField(default="")
    at = fields.DatetimeField()
    org_id: int
    request_id: int
    reviewer_id: int

    class Meta:
        table = "saved_view_review"
        unique_together = (("request", "role"), ("request", "reviewer"))


class ViewPreference(Model):
    """A person and one view: their default view of its queue, and whether it is pinned to their
    home page."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="view_preferences", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="view_preferences", on_delete=fields.CASCADE
    )
    view: fields.ForeignKeyRelation[SavedView] = fields.ForeignKeyField(
        "riskops.SavedView", related_name="preferences", on_delete=fields.CASCADE
    )
    queue = fields.CharEnumField(ViewQueue, max_length=16)
    is_default = fields.BooleanField(default=False)
    pinned = fields.BooleanField(default=False)
    org_id: int
    user_id: int
    view_id: int

    class Meta:
        table = "saved_view_preference"
        unique_together = (("user", "view"),)


class ViewCount(Model):
    """The cached row count of a view for one person (user 0: the same for everyone, when the
    definition does not depend on who looks), so that the picker and the home page show counts
    without counting on every request. Refreshed by the job view.count."""

    id = fields.IntField(primary_key=True)
    org_id = fields.IntField()
    view: fields.ForeignKeyRelation[SavedView] = fields.ForeignKeyField(
        "riskops.SavedView", related_name="counts", on_delete=fields.CASCADE
    )
    user_id = fields.IntField(default=0)
    view_version = fields.IntField()
    count = fields.IntField()
    exact = fields.BooleanField(default=True)
    counted_at = fields.DatetimeField()
    view_id: int

    class Meta:
        table = "saved_view_count"
        unique_together = (("view", "user_id"),)
