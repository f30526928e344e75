"""Audit rows. `AuditEvent` is append-only: triggers (see migrations) refuse UPDATE and DELETE."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class AuditEvent(Model):
    id = fields.BigIntField(primary_key=True)
    # org 0 is the platform chain: events with no organization (e.g. a failed login for an
    # unknown e-mail address).
    org_id = fields.IntField()
    seq = fields.BigIntField()
    ts = fields.CharField(max_length=32)  # RFC 3339 UTC, microseconds, trailing Z: hashed as is
    actor = fields.CharField(max_length=120)
    actor_type = fields.CharField(max_length=16)
    action = fields.CharField(max_length=80)
    entity_type = fields.CharField(max_length=60)
    entity_id = fields.CharField(max_length=120)
    ip = fields.CharField(max_length=64, null=True)
    user_agent = fields.CharField(max_length=300, null=True)
    risk_level = fields.CharField(max_length=16)
    old_values = fields.TextField()  # canonical JSON text, so hashing never depends on the DB
    new_values = fields.TextField()
    request_id = fields.CharField(max_length=64, null=True)
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64)
    # Not part of the hashed event: lets a spool flush that was cut short be replayed safely.
    event_uid = fields.CharField(max_length=36, unique=True)

    class Meta:
        table = "audit_event"
        unique_together = (("org_id", "seq"),)
        indexes = (
            ("org_id", "ts"),
            ("org_id", "action"),
            ("org_id", "actor"),
            ("org_id", "entity_type", "entity_id"),
        )


class AuditHead(Model):
    """The head of the chain of one organization: the row lock on it serialises appends."""

    org_id = fields.IntField(primary_key=True)
    seq = fields.BigIntField(default=0)
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_head"


class AuditCheckpoint(Model):
    """A signed (HMAC-SHA256) statement: at `ts` the chain of `org_id` ended at `seq`/`head_hash`."""  # noqa: E501

    id = fields.BigIntField(primary_key=True)
    org_id = fields.IntField()
    seq = fields.BigIntField()
    head_hash = fields.CharField(max_length=64)
    ts = fields.CharField(max_length=32)
    signature = fields.CharField(max_length=64)

    class Meta:
        table = "audit_checkpoint"
        indexes = (("org_id", "seq"),)


class AuditRefusal(Model):
    """Permission refusals counted per organization, actor, operation and minute.

    Kept outside the chain (it is append-only): the first refusal of a minute is an audit event
    at once (`permission.denied`), the total of the minute reaches the chain as a
    `permission.denied_summary` event once the minute is over (`riskops.audit.refusals`)."""

    id = fields.BigIntField(primary_key=True)
    org_id = fields.IntField()
    actor = fields.CharField(max_length=120)
    actor_type = fields.CharField(max_length=16)
    operation = fields.CharField(max_length=120)
    minute = fields.CharField(max_length=17)  # "2026-12-05T19:51Z", UTC
    permission = fields.CharField(max_length=80, null=True)
    attempts = fields.IntField(default=1)
    # How many of `attempts` the chain already holds; below `attempts`: a summary is due.
    reported = fields.IntField(default=0)
    # The seq of the bucket's `permission.denied` event, named by its summary.
    first_seq = fields.BigIntField(null=True)

    class Meta:
        table = "audit_refusal"
        unique_together = (("org_id", "actor", "operation", "minute"),)
        indexes = (("minute",),)


class AuditArchive(Model):
    """A segment of one chain (seq first_seq to last_seq) moved to an archive file and removed
    from `audit_event` (`riskops.audit.archive`). The row is the signed checkpoint verification
    starts from afterwards: `last_hash` is the hash of event `last_seq`, signed with the chain key
    (`signature` over org, last_seq, last_hash, checkpoint_ts, like an `AuditCheckpoint`).

    Append-only like the chain (triggers in migration 0022). The triggers on `audit_event` let a
    DELETE through only for an event inside the segment of an archive row (written first, in the
    same transaction as the removal)."""

    id = fields.BigIntField(primary_key=True)
    org_id = fields.IntField()
    first_seq = fields.BigIntField()
    last_seq = fields.BigIntField()
    first_prev_hash = fields.CharField(max_length=64)  # prev_hash of event first_seq
    last_hash = fields.CharField(max_length=64)  # hash of event last_seq
    first_ts = fields.CharField(max_length=32)
    last_ts = fields.CharField(max_length=32)
    before = fields.CharField(max_length=32)  # the --before the segment was cut at
    events = fields.BigIntField()
    file_name = fields.CharField(max_length=300)
    file_sha256 = fields.CharField(max_length=64)
    checkpoint_ts = fields.CharField(max_length=32)
    signature = fields.CharField(max_length=64)
    created_at = fields.CharField(max_length=32)
    created_by = fields.CharField(max_length=120)

    class Meta:
        table = "audit_archive"
        unique_together = (("org_id", "first_seq"),)
        indexes = (("org_id", "last_seq"),)
