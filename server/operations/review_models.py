"""Tortoise models of the access review and the availability history (issue 15, seed 003 DO-002
and CO-001).

An AccessReview is one recorded review of an organization: who reviewed, when, the findings as
they were shown (a snapshot), and the decision taken about each person (keep or suspend, with a
note). It is what the evidence export shows as the access reviews of a period.

AvailabilityDay and AvailabilityBucket are installation-wide: the requests the web processes
answered on one UTC day, the 5xx among them, and a latency histogram (bucket counts) from which
the p95 is computed. Each web process adds its counts every minute (additive upserts), so the
numbers of several processes add up.

Docstrings here must not contain apostrophes or semicolons: Tortoise writes them into SQL
comments unescaped.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class AccessReview(Model):
    """One recorded access review of an organization, with its findings snapshot and decisions."""

    id = fields.IntField(primary_key=True)
    org_id = fields.IntField()
    reviewed_at = fields.DatetimeField()
    reviewer_id = fields.IntField(null=True)  # the person, null for the command line
    reviewer = fields.CharField(max_length=200)  # the name as it was, or cli
    inactive_days = fields.IntField()
    findings: Any = fields.JSONField(default=dict)  # the review as shown when recorded
    decisions: Any = fields.JSONField(default=list)  # user_id, name, decision, note per person
    kept = fields.IntField(default=0)
    suspended = fields.IntField(default=0)
    note = fields.TextField(default="")

    class Meta:
        table = "access_review"
        indexes = (("org_id", "reviewed_at"),)


class AvailabilityDay(Model):
    """The requests answered on one UTC day by every web process, the 5xx among them, and the
    p95 latency computed from the buckets of that day at the last flush."""

    id = fields.IntField(primary_key=True)
    day = fields.DateField(unique=True)
    requests = fields.BigIntField(default=0)
    errors = fields.BigIntField(default=0)
    p95_ms = fields.FloatField(null=True)
    updated_at = fields.DatetimeField(null=True)  # the last flush that added to it

    class Meta:
        table = "availability_day"


class AvailabilityBucket(Model):
    """How many requests of one UTC day took at most le_ms milliseconds (and more than the
    bound below), le_ms -1 being the overflow bucket."""

    id = fields.IntField(primary_key=True)
    day = fields.DateField()
    le_ms = fields.IntField()
    count = fields.BigIntField(default=0)

    class Meta:
        table = "availability_bucket"
        unique_together = (("day", "le_ms"),)
