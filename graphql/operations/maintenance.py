"""Maintenance (read-only) mode and the platform status over GraphQL (issue 15). Each resolver
calls one service of `server.operations.maintenance` or `server.operations.status`; expected
errors are data. While a period is on, every other mutation answers 503 with code UNAVAILABLE
and the reason (`graphql/app.py` `MaintenanceGuard`)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from riskops.graphql.core.context import Info, principal, query
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.core.ids import as_id
from riskops.server.operations import maintenance, status
from riskops.server.operations.models import MaintenancePeriod


@strawberry.type(description="A read-only (maintenance) period: writes answer 503 with its reason.")
class Maintenance:
    id: strawberry.ID
    reason: str
    started_at: datetime
    started_by: str
    ended_at: datetime | None = None
    ended_by: str | None = None
    everywhere: bool = strawberry.field(
        default=False,
        description="It covers every organization (started on the server; ends there only).",
    )

    @classmethod
    def of(cls, m: maintenance.Maintenance) -> Maintenance:
        return cls(id=as_id(m.id), reason=m.reason, started_at=m.started_at,
                   started_by=m.started_by, everywhere=m.everywhere)  # fmt: skip

    @classmethod
    def of_row(cls, p: MaintenancePeriod) -> Maintenance:
        return cls(id=as_id(p.id), reason=p.reason, started_at=p.started_at,
                   started_by=p.started_by, ended_at=p.ended_at, ended_by=p.ended_by,
                   everywhere=p.org_id is None)  # fmt: skip


@strawberry.type
class MaintenancePayload:
    maintenance: Maintenance | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="One check of the platform status: ok, warn, fail or info.")
class StatusCheck:
    name: str
    state: str
    detail: str


@strawberry.type(description="An audit chain's head and its newest signed checkpoint.")
class StatusChain:
    org_id: int
    slug: str
    head_seq: int
    checkpoint_seq: int | None
    checkpoint_at: str | None
    events_since_checkpoint: int


@strawberry.type(description="The platform's health, as `riskops status` prints it.")
class PlatformStatus:
    degraded: bool = strawberry.field(description="A check failed.")
    generated_at: datetime
    checks: list[StatusCheck]
    chains: list[StatusChain]

    @classmethod
    def of(cls, r: status.StatusReport) -> PlatformStatus:
        return cls(
            degraded=r.degraded,
            generated_at=r.generated_at,
            checks=[StatusCheck(name=c.name, state=c.state, detail=c.detail) for c in r.checks],
            chains=[
                StatusChain(
                    org_id=c.org_id,
                    slug=c.slug,
                    head_seq=c.head_seq,
                    checkpoint_seq=c.checkpoint_seq,
                    checkpoint_at=c.checkpoint_at,
                    events_since_checkpoint=c.behind,
                )
                for c in r.chains
            ],
        )


@strawberry.type
class MaintenanceQuery:
    @strawberry.field(
        description="The maintenance period your organization is under now, or null (writes "
        "work). Any signed-in person: the banner shows it to everyone."
    )
    async def maintenance(self, info: Info) -> Maintenance | None:
        period = await query(maintenance.status(principal(info)))
        return Maintenance.of(period) if period else None

    @strawberry.field(description="Your organization's maintenance periods, newest first.")
    async def maintenance_history(self, info: Info) -> list[Maintenance]:
        rows = await query(maintenance.history(principal(info)))
        return [Maintenance.of_row(p) for p in rows]

    @strawberry.field(
        description="The platform status (admin): database, migrations, queue, spool, backups, "
        "audit checkpoints, open SEV0/SEV1 runs, kill switches, maintenance, versions."
    )
    async def platform_status(self, info: Info) -> PlatformStatus:
        report = await query(status.platform_status(principal(info), info.context.settings))
        return PlatformStatus.of(report)


@strawberry.type
class MaintenanceMutation:
    @strawberry.mutation(
        description="Make your organization read-only (admin, audited): every other mutation, "
        "form and job that writes answers 503 with the reason (required, at most 500 "
        "characters) until endMaintenance. Reading and signing in keep working."
    )
    async def start_maintenance(self, info: Info, reason: str) -> MaintenancePayload:
        return await as_payload(
            MaintenancePayload,
            maintenance.start(principal(info), reason),
            lambda m: MaintenancePayload(maintenance=Maintenance.of(m)),
        )

    @strawberry.mutation(description="End your organization's read-only period (admin, audited).")
    async def end_maintenance(self, info: Info) -> MaintenancePayload:
        return await as_payload(
            MaintenancePayload,
            maintenance.end(principal(info)),
            lambda p: MaintenancePayload(maintenance=Maintenance.of_row(p)),
        )
