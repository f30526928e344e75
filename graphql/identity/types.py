"""GraphQL object types, built from the Tortoise models (never exposing hashes or secrets)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.dataloader import DataLoader

from riskops.graphql.core.context import Info, principal
from riskops.graphql.core.ids import as_id
from riskops.server.core.principal import Principal
from riskops.server.identity import models, users


@strawberry.enum
class UserStatus(Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


@strawberry.enum(
    description="PERSON signs in; SERVICE is a service account for automation: "
    "it never signs in, and an admin mints its tokens."
)
class UserKind(Enum):
    PERSON = "person"
    SERVICE = "service"


@strawberry.type
class Organization:
    id: strawberry.ID
    slug: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, o: models.Organization) -> Organization:
        return cls(id=as_id(o.id), slug=o.slug, name=o.name, created_at=o.created_at)


@strawberry.type
class TeamRef:
    id: strawberry.ID
    name: str


_REASONS = "_suspension_reason_loader"


def _reasons(info: Info, who: Principal) -> DataLoader[int, str | None]:
    """The request's loader of suspension reasons: one query for every suspended user a list
    shows (`users.suspension_reasons`), not one per user."""
    loader = getattr(info.context, _REASONS, None)
    if loader is None:

        async def load(ids: list[int]) -> list[str | None]:
            found = await users.suspension_reasons(who, ids)
            return [found.get(i) for i in ids]

        loader = DataLoader(load_fn=load)
        setattr(info.context, _REASONS, loader)
    return loader


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    name: str
    roles: list[str]
    status: UserStatus
    kind: UserKind
    mfa_enabled: bool
    last_login_at: datetime | None
    created_at: datetime
    version: int = strawberry.field(description="Pass as expectedVersion to detect lost updates.")
    teams: list[TeamRef]

    @strawberry.field(
        description="Why the user was suspended (the latest suspension, from the user's "
        "history): null when active, or unless you hold user.manage."
    )
    async def suspension_reason(self, info: Info) -> str | None:
        who = principal(info)
        if self.status != UserStatus.SUSPENDED:
            return None
        return await _reasons(info, who).load(int(self.id))

    @classmethod
    def of(cls, u: models.User) -> User:
        teams = u.teams.related_objects if u.teams._fetched else []  # prefetched by the resolver
        return cls(
            id=as_id(u.id),
            email=u.email,
            name=u.name,
            roles=sorted(u.roles),
            status=UserStatus(u.status.value if hasattr(u.status, "value") else u.status),
            kind=UserKind(u.kind.value if hasattr(u.kind, "value") else u.kind),
            mfa_enabled=u.mfa_enabled,
            last_login_at=u.last_login_at,
            created_at=u.created_at,
            version=u.version,
            teams=[TeamRef(id=as_id(t.id), name=t.name) for t in teams],
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
            id=as_id(t.id),
            name=t.name,
            created_at=t.created_at,
            members=[UserRef(id=as_id(u.id), name=u.name) for u in members],
        )


@strawberry.type
class ApiToken:
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(description="First characters of the secret, to recognise it.")
    owner_id: strawberry.ID
    minted_by_id: strawberry.ID | None = strawberry.field(
        description="Who created the token: its owner, or (for a service account) an admin."
    )
    roles: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    last_ip: str | None = strawberry.field(default=None, description="Where it was last used.")
    last_user_agent: str | None = strawberry.field(
        default=None, description="The client that last used it."
    )

    @classmethod
    def of(cls, t: models.ApiToken) -> ApiToken:
        return cls(
            id=as_id(t.id),
            name=t.name,
            prefix=t.prefix,
            owner_id=as_id(t.user_id),
            minted_by_id=as_id(t.created_by_id) if t.created_by_id else None,
            roles=sorted(t.roles),
            created_at=t.created_at,
            expires_at=t.expires_at,
            revoked_at=t.revoked_at,
            last_used_at=t.last_used_at,
            last_ip=t.last_ip,
            last_user_agent=t.last_user_agent,
        )


@strawberry.type
class Me:
    user: User
    organization: Organization
    roles: list[str] = strawberry.field(description="Effective roles (a token may carry fewer).")
    permissions: list[str]
    via_api_token: bool
