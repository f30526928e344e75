"""Retention over GraphQL (issue 15, docs/RETENTION.md): the organization's periods, setting
them, enforcing them now and what the recent enforcements removed; retention.manage (admins).
Every resolver calls `riskops.server.operations.retention`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from riskops.graphql.core.context import Info, principal, query
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.core.ids import as_id
from riskops.server.operations import retention
from riskops.server.operations import retention_models as rm


@strawberry.type
class RetentionPolicy:
    alerts_days: int | None = strawberry.field(
        description="Closed alerts are removed this many days after closing; null: kept forever."
    )
    runs_days: int | None = strawberry.field(description="Runs, from their start; null: forever.")
    assistant_days: int | None = strawberry.field(
        description="Finished assistant answers, from their request; null: forever."
    )
    sessions_days: int | None = strawberry.field(
        description="Ended (expired or revoked) sessions; null: forever."
    )
    updated_at: datetime | None
    version: int

    @classmethod
    def of(cls, row: rm.RetentionPolicy | None) -> RetentionPolicy:
        periods = retention.periods_of(row)
        return cls(
            alerts_days=periods.alerts_days,
            runs_days=periods.runs_days,
            assistant_days=periods.assistant_days,
            sessions_days=periods.sessions_days,
            updated_at=row.updated_at if row else None,
            version=row.version if row else 0,
        )


@strawberry.type
class RetentionRun:
    id: strawberry.ID
    started_at: datetime
    finished_at: datetime | None = strawberry.field(description="Null: interrupted.")
    trigger: str = strawberry.field(description="job, cli, page or api.")
    removed: JSON = strawberry.field(description="Rows removed per kind.")
    kept: JSON = strawberry.field(description="Rows past their period kept as open work.")

    @classmethod
    def of(cls, row: rm.RetentionRun) -> RetentionRun:
        removed: Any = row.removed
        kept: Any = row.kept
        return cls(
            id=as_id(row.id), started_at=row.started_at, finished_at=row.finished_at,
            trigger=row.trigger, removed=removed, kept=kept,
        )  # fmt: skip


@strawberry.type
class RetentionPolicyPayload:
    retention_policy: RetentionPolicy | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RetentionRunPayload:
    retention_run: RetentionRun | None = strawberry.field(
        default=None, description="Null when the organization keeps everything."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RetentionQuery:
    @strawberry.field(description="The organization's retention periods; retention.manage.")
    async def retention_policy(self, info: Info) -> RetentionPolicy:
        return RetentionPolicy.of(await query(retention.get_policy(principal(info))))

    @strawberry.field(description="The latest enforcements, newest first; retention.manage.")
    async def retention_runs(self, info: Info, first: int = 20) -> list[RetentionRun]:
        rows = await query(retention.list_runs(principal(info), first))
        return [RetentionRun.of(r) for r in rows]


@strawberry.type
class RetentionMutation:
    @strawberry.mutation(
        description="Set retention periods in days (1 to 36500); null keeps that kind forever, "
        "an argument left out keeps its current value. Audited (retention.policy_set)."
    )
    async def set_retention_policy(
        self,
        info: Info,
        alerts_days: int | None = strawberry.UNSET,
        runs_days: int | None = strawberry.UNSET,
        assistant_days: int | None = strawberry.UNSET,
        sessions_days: int | None = strawberry.UNSET,
    ) -> RetentionPolicyPayload:
        given: dict[str, Any] = {
            name: value
            for name, value in (
                ("alerts_days", alerts_days),
                ("runs_days", runs_days),
                ("assistant_days", assistant_days),
                ("sessions_days", sessions_days),
            )
            if value is not strawberry.UNSET
        }
        return await as_payload(
            RetentionPolicyPayload,
            retention.set_policy(principal(info), **given),
            lambda row: RetentionPolicyPayload(retention_policy=RetentionPolicy.of(row)),
        )

    @strawberry.mutation(
        description="Enforce the organization's retention policy now (the daily job does the "
        "same); the run reports what it removed."
    )
    async def run_retention(self, info: Info) -> RetentionRunPayload:
        return await as_payload(
            RetentionRunPayload,
            retention.enforce(principal(info), trigger="api"),
            lambda row: RetentionRunPayload(
                retention_run=RetentionRun.of(row) if row is not None else None
            ),
        )
