"""Sessions and access over GraphQL (issue 14): a user's live sessions, API tokens and MFA
status, and revoking one session. Token revocation is `revokeApiToken`."""

from __future__ import annotations

from datetime import datetime

import strawberry

from riskops.graphql.core.context import Info, or_none, principal
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.identity.types import ApiToken, User
from riskops.server.identity import access


@strawberry.type
class UserSession:
    id: strawberry.ID = strawberry.field(
        description="The session's short id (never its cookie): what revokeSession takes."
    )
    created_at: datetime
    last_seen_at: datetime | None
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool = strawberry.field(description="The session you are using now.")

    @classmethod
    def of(cls, s: access.SessionRow) -> UserSession:
        return cls(
            id=strawberry.ID(s.id),
            created_at=s.created_at,
            last_seen_at=s.last_seen_at,
            expires_at=s.expires_at,
            ip=s.ip,
            user_agent=s.user_agent,
            current=s.current,
        )


@strawberry.type
class UserAccess:
    user: User
    mfa_enabled: bool
    sessions: list[UserSession]
    api_tokens: list[ApiToken] = strawberry.field(
        description="Live tokens: not revoked or expired."
    )


@strawberry.type
class RevokeSessionPayload:
    session: UserSession | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AccessQuery:
    @strawberry.field(
        description="A user's active sessions, live API tokens and MFA status (admin, or "
        "yourself); null when there is no such user in your organization."
    )
    async def user_access(self, info: Info, user_id: strawberry.ID) -> UserAccess | None:
        found = await or_none(access.user_access(principal(info), user_id))
        if found is None:
            return None
        await found.user.fetch_related("teams")
        return UserAccess(
            user=User.of(found.user),
            mfa_enabled=found.mfa_enabled,
            sessions=[UserSession.of(s) for s in found.sessions],
            api_tokens=[ApiToken.of(t) for t in found.tokens],
        )


@strawberry.type
class AccessMutation:
    @strawberry.mutation(description="End one session, by its short id (admin, or your own).")
    async def revoke_session(self, info: Info, session_id: strawberry.ID) -> RevokeSessionPayload:
        return await as_payload(
            RevokeSessionPayload,
            access.revoke_session(principal(info), session_id),
            lambda s: RevokeSessionPayload(session=UserSession.of(s)),
        )
