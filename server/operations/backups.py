"""Backups and restores (issue 15, seed 003 BR-001, BR-002, IR-003, DP-001, MO-001): one archive
with a SHA-256 manifest, verified, restored into an empty database, kept for `--keep-days`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from riskops.server.operations.models import BackupRecord
from riskops.server.settings import Settings


async def last_verified_backup() -> BackupRecord | None:
    """The newest backup whose last verification passed and that retention has not removed
    (what /health and `riskops status` show the age of)."""
    return (
        await BackupRecord.filter(verified_at__isnull=False, deleted_at=None)
        .order_by("-verified_at")
        .first()
    )


async def backup_state(settings: Settings) -> dict[str, Any]:
    """What /health and `riskops status` say of backups: `ok` while the last verified backup is
    younger than `backup_max_age_hours`, its `age_hours` (None: never), and a `message`.
    (A minimal version written for the status; the backup part owns this function.)"""
    last = await last_verified_backup()
    if last is None or last.verified_at is None:
        return {"ok": False, "age_hours": None,
                "message": "no verified backup yet: run `riskops backup create`"}  # fmt: skip
    age = (datetime.now(UTC) - last.verified_at).total_seconds() / 3600
    limit = settings.backup_max_age_hours
    if age > limit:
        message = (f"last verified backup is {age:.1f} h old (limit {limit} h): run "
                   "`riskops backup create`")  # fmt: skip
        return {"ok": False, "age_hours": age, "message": message}
    return {"ok": True, "age_hours": age,
            "message": f"verified {age:.1f} h ago ({last.path})"}  # fmt: skip
