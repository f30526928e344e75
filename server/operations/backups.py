"""Backups and restores (issue 15, seed 003 BR-001, BR-002, IR-003, DP-001, MO-001): one archive
with a SHA-256 manifest, verified, restored into an empty database, kept for `--keep-days`."""

from __future__ import annotations

from riskops.server.operations.models import BackupRecord


async def last_verified_backup() -> BackupRecord | None:
    """The newest backup whose last verification passed and that retention has not removed
    (what /health and `riskops status` show the age of)."""
    return (
        await BackupRecord.filter(verified_at__isnull=False, deleted_at=None)
        .order_by("-verified_at")
        .first()
    )
