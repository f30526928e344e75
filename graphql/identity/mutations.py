"""Identity and administration: me, organization, users, teams, API tokens."""

from __future__ import annotations

from collections.abc import Awaitable

import strawberry

from riskops.graphql.core.context import Info, principal
from riskops.graphql.core.errors import UserError
from riskops.graphql.identity.types import ApiToken, Team, User
from riskops.server.core.errors import DomainError, ErrorCode
from riskops.server.identity import models, teams, tokens, users
from riskops.server.identity.auth import revoke_sessions

MAX_ROLE_LIST = 16
MAX_ID_LIST = 200


async def _as_error(exc: DomainError) -> Exception:
    from graphql import GraphQLError

    return GraphQLError(exc.message, extensions={"code": exc.code.value, "field": exc.field})


@strawberry.type
class UserPayload:
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TeamPayload:
    team: Team | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CreateApiTokenPayload:
    token: ApiToken | None = None
    secret: str | None = strawberry.field(
        default=None, description="The token itself. Shown this once; store it now."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ApiTokenPayload:
    token: ApiToken | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RevokeSessionsPayload:
    revoked: int = 0
    errors: list[UserError] = strawberry.field(default_factory=list)


def _too_many(field: str, values: list[str], limit: int) -> UserError | None:
    if len(values) > limit:
        return UserError(
            code=ErrorCode.INVALID, message=f"{field}: at most {limit} items.", field=field
        )
    return None


async def _user_with_teams(user: models.User) -> User:
    await user.fetch_related("teams")
    return User.of(user)


async def _user_payload(change: Awaitable[models.User]) -> UserPayload:
    """Run a user-changing service call; expected errors become data."""
    try:
        user = await change
    except DomainError as exc:
        return UserPayload(errors=[UserError.of(exc)])
    return UserPayload(user=await _user_with_teams(user))


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(description="Create a user in your organization (admin).")
    async def create_user(
        self,
        info: Info,
        email: str,
        name: str,
        roles: list[str],
        password: str | None = None,
    ) -> UserPayload:
        if err := _too_many("roles", roles, MAX_ROLE_LIST):
            return UserPayload(errors=[err])
        return await _user_payload(
            users.create_user(
                principal(info), email=email, name=name, roles=roles, password=password
            )
        )

    @strawberry.mutation(
        description="Replace a user's roles (admin). With expectedVersion, a concurrent change "
        "is reported as CONFLICT and `user` carries the current state."
    )
    async def update_user_roles(
        self,
        info: Info,
        user_id: strawberry.ID,
        roles: list[str],
        expected_version: int | None = None,
    ) -> UserPayload:
        if err := _too_many("roles", roles, MAX_ROLE_LIST):
            return UserPayload(errors=[err])
        p = principal(info)
        try:
            user = await users.update_user_roles(
                p, user_id, roles, expected_version=expected_version
            )
        except DomainError as exc:
            current = None
            if exc.code.value == "CONFLICT":
                current = await _user_with_teams(await users.get_user(p, user_id))
            return UserPayload(user=current, errors=[UserError.of(exc)])
        return UserPayload(user=await _user_with_teams(user))

    @strawberry.mutation(description="Suspend a user: revokes their sessions and tokens at once.")
    async def suspend_user(self, info: Info, user_id: strawberry.ID, reason: str) -> UserPayload:
        return await _user_payload(users.suspend_user(principal(info), user_id, reason=reason))

    @strawberry.mutation(description="Reactivate a suspended user (admin).")
    async def reactivate_user(self, info: Info, user_id: strawberry.ID) -> UserPayload:
        return await _user_payload(users.reactivate_user(principal(info), user_id))

    @strawberry.mutation(description="Sign a user out everywhere (admin, or yourself).")
    async def revoke_sessions(self, info: Info, user_id: strawberry.ID) -> RevokeSessionsPayload:
        try:
            n = await revoke_sessions(principal(info), user_id)
        except DomainError as exc:
            return RevokeSessionsPayload(errors=[UserError.of(exc)])
        return RevokeSessionsPayload(revoked=n)

    @strawberry.mutation(description="Create a team (admin).")
    async def create_team(
        self, info: Info, name: str, member_ids: list[strawberry.ID] | None = None
    ) -> TeamPayload:
        ids = [str(i) for i in member_ids or []]
        if err := _too_many("memberIds", ids, MAX_ID_LIST):
            return TeamPayload(errors=[err])
        try:
            team = await teams.create_team(principal(info), name=name, member_ids=ids)
        except DomainError as exc:
            return TeamPayload(errors=[UserError.of(exc)])
        await team.fetch_related("members")
        return TeamPayload(team=Team.of(team))

    @strawberry.mutation(description="Create an API token for a user (admin). Shown once.")
    async def create_api_token(
        self,
        info: Info,
        user_id: strawberry.ID,
        name: str,
        roles: list[str],
        expires_in_days: int | None = None,
    ) -> CreateApiTokenPayload:
        if err := _too_many("roles", roles, MAX_ROLE_LIST):
            return CreateApiTokenPayload(errors=[err])
        try:
            issued = await tokens.create_api_token(
                principal(info), user_id=user_id, name=name, roles=roles,
                expires_in_days=expires_in_days,
            )  # fmt: skip
        except DomainError as exc:
            return CreateApiTokenPayload(errors=[UserError.of(exc)])
        return CreateApiTokenPayload(token=ApiToken.of(issued.token), secret=issued.secret)

    @strawberry.mutation(description="Revoke an API token (admin, or its owner).")
    async def revoke_api_token(self, info: Info, token_id: strawberry.ID) -> ApiTokenPayload:
        try:
            token = await tokens.revoke_api_token(principal(info), token_id)
        except DomainError as exc:
            return ApiTokenPayload(errors=[UserError.of(exc)])
        return ApiTokenPayload(token=ApiToken.of(token))
