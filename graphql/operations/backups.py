"""Backups and restore drills over GraphQL (issue 15, seed 003 BR-001, BR-002): the archives the
operator took with `riskops backup create`, their verification, and the restores recorded in this
database; read-only (backups are taken on the machine), with ops.read."""

from __future__ import annotations

from datetime import datetime

import strawberry

from riskops.graphql.core.context import Info, principal, query
from riskops.server.operations import backups
from riskops.server.operations.models import BackupRecord, RestoreRecord


@strawberry.type
class Backup:
    id: strawberry.ID
    created_at: datetime
    archive: str = strawberry.field(description="The archive's path on the machine.")
    backend: str = strawberry.field(description="sqlite or postgres.")
    schema_version: str = strawberry.field(description="The last migration the archive holds.")
    size_bytes: int
    sha256: str
    created_by: str = strawberry.field(description="Who ran it: cli:<user>@<host>.")
    verified_at: datetime | None = strawberry.field(
        description="When its last verification passed (null: never, or the last one failed)."
    )
    verify_error: str | None = strawberry.field(description="What the last failed check found.")
    deleted_at: datetime | None = strawberry.field(
        description="When retention (--keep-days) removed the archive."
    )

    @classmethod
    def of(cls, r: BackupRecord) -> Backup:
        return cls(
            id=strawberry.ID(str(r.id)), created_at=r.created_at, archive=r.path,
            backend=r.backend.value, schema_version=r.schema_version, size_bytes=r.size_bytes,
            sha256=r.sha256, created_by=r.created_by, verified_at=r.verified_at,
            verify_error=r.verify_error, deleted_at=r.deleted_at,
        )  # fmt: skip


@strawberry.type
class RestoreDrill:
    id: strawberry.ID
    backup_sha256: str
    archive: str
    started_at: datetime
    finished_at: datetime
    ok: bool = strawberry.field(description="Chains verified and row counts matched.")
    detail: str
    created_by: str

    @classmethod
    def of(cls, r: RestoreRecord) -> RestoreDrill:
        return cls(
            id=strawberry.ID(str(r.id)), backup_sha256=r.backup_sha256, archive=r.archive,
            started_at=r.started_at, finished_at=r.finished_at, ok=r.ok, detail=r.detail,
            created_by=r.created_by,
        )  # fmt: skip


@strawberry.type
class BackupsQuery:
    @strawberry.field(description="The backups taken, newest first (at most 200); ops.read.")
    async def backups(self, info: Info, first: int = 50) -> list[Backup]:
        rows = await query(backups.list_backups(principal(info), first))
        return [Backup.of(r) for r in rows]

    @strawberry.field(
        description="The restores recorded in this database (a recovery, or a drill's copy), "
        "newest first; ops.read."
    )
    async def restore_drills(self, info: Info, first: int = 20) -> list[RestoreDrill]:
        rows = await query(backups.list_restore_drills(principal(info), first))
        return [RestoreDrill.of(r) for r in rows]
