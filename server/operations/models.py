"""Tortoise models of operations (issue 15, seed 003): the backups taken and verified, the restore
drills, and the maintenance (read-only) periods. Installation-wide: a backup holds every
organization; a maintenance period holds one organization (org set) or all of them (org None,
only from the CLI on the machine).

The GDPR requests (`gdpr_models`), retention and audit archives (`retention_models`) and access
reviews with the availability history (`review_models`) have model modules of their own.

Docstrings here must not contain apostrophes or semicolons: Tortoise writes them into SQL
comments unescaped.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class BackupBackend(StrEnum):
    SQLITE = "sqlite"  # the online backup API
    POSTGRES = "postgres"  # pg_dump in custom format


class BackupRecord(Model):
    """One archive written by riskops backup create, and what its last verification found.
    The archive itself is a file: this row is the history that health, status and the
    evidence export read. Rows of archives removed by retention keep deleted_at."""

    id = fields.IntField(primary_key=True)
    created_at = fields.DatetimeField()
    path = fields.CharField(max_length=1000)  # absolute path of the archive when written
    backend = fields.CharEnumField(BackupBackend, max_length=8)
    schema_version = fields.CharField(max_length=100)  # the last migration applied
    size_bytes = fields.BigIntField(default=0)
    sha256 = fields.CharField(max_length=64)  # of the archive file
    created_by = fields.CharField(max_length=200)  # who ran it, e.g. cli:root@host
    verified_at = fields.DatetimeField(null=True)  # last verification that passed
    verify_error = fields.TextField(null=True)  # what the last failed verification found
    deleted_at = fields.DatetimeField(null=True)  # removed by backup retention

    class Meta:
        table = "backup_record"
        indexes = (("created_at",), ("verified_at",))


class RestoreRecord(Model):
    """One restore of an archive (a drill or a recovery): written into the restored database
    once its audit chains verified and its row counts matched the manifest."""

    id = fields.IntField(primary_key=True)
    backup_sha256 = fields.CharField(max_length=64)
    archive = fields.CharField(max_length=1000)
    started_at = fields.DatetimeField()
    finished_at = fields.DatetimeField()
    ok = fields.BooleanField()
    detail = fields.TextField(default="")  # row counts and chains checked, or what failed
    created_by = fields.CharField(max_length=200)

    class Meta:
        table = "restore_record"


class MaintenancePeriod(Model):
    """A read-only period: writes answer 503 with the reason while ended_at is empty. org None
    is every organization (set on the machine with riskops maintenance on)."""

    id = fields.IntField(primary_key=True)
    org_id = fields.IntField(null=True)
    reason = fields.TextField()
    started_at = fields.DatetimeField()
    started_by = fields.CharField(max_length=200)  # user:<id> or cli:<os user>
    ended_at = fields.DatetimeField(null=True)
    ended_by = fields.CharField(max_length=200, null=True)

    class Meta:
        table = "maintenance_period"
        indexes = (("org_id", "ended_at"),)
