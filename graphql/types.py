"""GraphQL object types, built from the Tortoise models (never exposing hashes or secrets)."""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from riskops.audit.models import AuditEvent as AuditEventModel
from riskops.audit.verify import Verification
from riskops.server.core.errors import DomainError
from riskops.server.core.errors import ErrorCode as _ErrorCode
from riskops.server.identity import models

ErrorCode = strawberry.enum(_ErrorCode, name="ErrorCode", description="Why a mutation failed.")


@strawberry.enum
class UserStatus(Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


@strawberry.type(description="An expected error: data, not an exception. `field` names the input.")
class UserError:
    code: ErrorCode  # type: ignore[valid-type]
    message: str
    field: str | None = None

    @classmethod
    def of(cls, exc: DomainError) -> UserError:
        return cls(code=exc.code, message=exc.message, field=exc.field)


@strawberry.type
class Organization:
    id: strawberry.ID
    slug: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, o: models.Organization) -> Organization:
        return cls(id=strawberry.ID(str(o.id)), slug=o.slug, name=o.name, created_at=o.created_at)


@strawberry.type
class TeamRef:
    id: strawberry.ID
    name: str


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    name: str
    roles: list[str]
    status: UserStatus
    mfa_enabled: bool
    last_login_at: datetime | None
    created_at: datetime
    version: int = strawberry.field(description="Pass as expectedVersion to detect lost updates.")
    teams: list[TeamRef]

    @classmethod
    def of(cls, u: models.User) -> User:
        teams = u.teams.related_objects if u.teams._fetched else []  # prefetched by the resolver
        return cls(
            id=strawberry.ID(str(u.id)),
            email=u.email,
            name=u.name,
            roles=sorted(u.roles),
            status=UserStatus(u.status.value if hasattr(u.status, "value") else u.status),
            mfa_enabled=u.mfa_enabled,
            last_login_at=u.last_login_at,
            created_at=u.created_at,
            version=u.version,
            teams=[TeamRef(id=strawberry.ID(str(t.id)), name=t.name) for t in teams],
        )


@strawberry.type
class UserRef:
    id: strawberry.ID
    name: str


@strawberry.type
class Team:
    id: strawberry.ID
    name: str
    created_at: datetime
    members: list[UserRef]

    @classmethod
    def of(cls, t: models.Team) -> Team:
        members = t.members.related_objects if t.members._fetched else []
        return cls(
            id=strawberry.ID(str(t.id)),
            name=t.name,
            created_at=t.created_at,
            members=[UserRef(id=strawberry.ID(str(u.id)), name=u.name) for u in members],
        )


@strawberry.type
class ApiToken:
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(description="First characters of the secret, to recognise it.")
    owner_id: strawberry.ID
    roles: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, t: models.ApiToken) -> ApiToken:
        return cls(
            id=strawberry.ID(str(t.id)),
            name=t.name,
            prefix=t.prefix,
            owner_id=strawberry.ID(str(t.user_id)),
            roles=sorted(t.roles),
            created_at=t.created_at,
            expires_at=t.expires_at,
            revoked_at=t.revoked_at,
            last_used_at=t.last_used_at,
        )


@strawberry.type
class Me:
    user: User
    organization: Organization
    roles: list[str] = strawberry.field(description="Effective roles (a token may carry fewer).")
    permissions: list[str]
    via_api_token: bool


@strawberry.type
class AuditEvent:
    seq: int
    ts: str = strawberry.field(description="RFC 3339 UTC with microseconds, as hashed.")
    actor: str
    actor_type: str
    action: str
    entity_type: str
    entity_id: str
    ip: str | None
    user_agent: str | None
    risk_level: str
    old_values: JSON
    new_values: JSON
    request_id: str | None
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, e: AuditEventModel) -> AuditEvent:
        old: Any = json.loads(e.old_values)
        new: Any = json.loads(e.new_values)
        return cls(
            seq=e.seq, ts=e.ts, actor=e.actor, actor_type=e.actor_type, action=e.action,
            entity_type=e.entity_type, entity_id=e.entity_id, ip=e.ip, user_agent=e.user_agent,
            risk_level=e.risk_level, old_values=old, new_values=new, request_id=e.request_id,
            prev_hash=e.prev_hash, hash=e.hash,
        )  # fmt: skip


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class AuditEventEdge:
    cursor: str
    node: AuditEvent


@strawberry.type
class AuditEventConnection:
    edges: list[AuditEventEdge]
    page_info: PageInfo


@strawberry.input
class AuditEventFilter:
    actor: str | None = strawberry.UNSET
    action: str | None = strawberry.UNSET
    entity_type: str | None = strawberry.UNSET
    entity_id: str | None = strawberry.UNSET
    since: datetime | None = strawberry.UNSET
    until: datetime | None = strawberry.UNSET


@strawberry.type
class AuditVerification:
    ok: bool
    events_checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    reason: str | None
    checkpoint_seq: int | None
    summary: str

    @classmethod
    def of(cls, v: Verification) -> AuditVerification:
        return cls(
            ok=v.ok, events_checked=v.events_checked, head_seq=v.head_seq, head_hash=v.head_hash,
            first_bad_seq=v.first_bad_seq, reason=v.reason, checkpoint_seq=v.checkpoint_seq,
            summary=v.describe(),
        )  # fmt: skip
