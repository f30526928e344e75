"""Identity and administration mutations: users, teams, API tokens. Every resolver calls one
service; expected errors are data (`as_payload`)."""

from __future__ import annotations

import strawberry

from riskops.graphql.core.context import Info, principal
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.identity.passwords import IssuedLink, origin
from riskops.graphql.identity.types import ApiToken, Team, User
from riskops.server.core.errors import ErrorCode
from riskops.server.identity import links, models, teams, tokens, users
from riskops.server.identity.auth import revoke_sessions

MAX_ROLE_LIST = 16
MAX_ID_LIST = 200


@strawberry.type
class UserPayload:
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CreateUserPayload:
    user: User | None = None
    invitation: IssuedLink | None = strawberry.field(
        default=None, description="The invitation, when no password was given (shown once)."
    )
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


async def _user_payload(user: models.User) -> UserPayload:
    return UserPayload(user=await _user_with_teams(user))


async def _created_payload(created: links.CreatedUser) -> CreateUserPayload:
    invitation = IssuedLink.of(created.invitation) if created.invitation else None
    return CreateUserPayload(user=await _user_with_teams(created.user), invitation=invitation)


async def _team_payload(team: models.Team) -> TeamPayload:
    await team.fetch_related("members")
    return TeamPayload(team=Team.of(team))


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(
        description="Create a user in your organization (admin). Without a password they are "
        "invited: `invitation` holds their one-time link, shown this once."
    )
    async def create_user(
        self,
        info: Info,
        email: str,
        name: str,
        roles: list[str],
        password: str | None = None,
    ) -> CreateUserPayload:
        if err := _too_many("roles", roles, MAX_ROLE_LIST):
            return CreateUserPayload(errors=[err])
        return await as_payload(
            CreateUserPayload,
            links.create_user(
                principal(info), email=email, name=name, roles=roles, password=password,
                origin=origin(info),
            ),
            _created_payload,
        )  # fmt: skip

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

        async def current(errors: list[UserError]) -> UserPayload:
            user = await _user_with_teams(await users.get_user(p, user_id))
            return UserPayload(user=user, errors=errors)

        return await as_payload(
            UserPayload,
            users.update_user_roles(p, user_id, roles, expected_version=expected_version),
            _user_payload,
            conflict=current,
        )

    @strawberry.mutation(description="Suspend a user: revokes their sessions and tokens at once.")
    async def suspend_user(self, info: Info, user_id: strawberry.ID, reason: str) -> UserPayload:
        return await as_payload(
            UserPayload,
            users.suspend_user(principal(info), user_id, reason=reason),
            _user_payload,
        )

    @strawberry.mutation(description="Reactivate a suspended user (admin).")
    async def reactivate_user(self, info: Info, user_id: strawberry.ID) -> UserPayload:
        return await as_payload(
            UserPayload, users.reactivate_user(principal(info), user_id), _user_payload
        )

    @strawberry.mutation(description="Sign a user out everywhere (admin, or yourself).")
    async def revoke_sessions(self, info: Info, user_id: strawberry.ID) -> RevokeSessionsPayload:
        return await as_payload(
            RevokeSessionsPayload,
            revoke_sessions(principal(info), user_id),
            lambda n: RevokeSessionsPayload(revoked=n),
        )

    @strawberry.mutation(description="Create a team (admin).")
    async def create_team(
        self, info: Info, name: str, member_ids: list[strawberry.ID] | None = None
    ) -> TeamPayload:
        ids = [str(i) for i in member_ids or []]
        if err := _too_many("memberIds", ids, MAX_ID_LIST):
            return TeamPayload(errors=[err])
        return await as_payload(
            TeamPayload,
            teams.create_team(principal(info), name=name, member_ids=ids),
            _team_payload,
        )

    @strawberry.mutation(
        description="Create a service account (admin): a user for automation that cannot sign "
        "in; mint its tokens with createApiToken(userId: …)."
    )
    async def create_service_account(self, info: Info, name: str, roles: list[str]) -> UserPayload:
        if err := _too_many("roles", roles, MAX_ROLE_LIST):
            return UserPayload(errors=[err])
        return await as_payload(
            UserPayload,
            users.create_service_account(principal(info), name=name, roles=roles),
            _user_payload,
        )

    @strawberry.mutation(
        description="Create an API token. Shown once. Without userId it is your own (at most the "
        "roles you act with); with userId it is a service account's (admin). A person's token "
        "is created by that person only."
    )
    async def create_api_token(
        self,
        info: Info,
        name: str,
        roles: list[str],
        user_id: strawberry.ID | None = None,
        expires_in_days: int | None = None,
    ) -> CreateApiTokenPayload:
        if err := _too_many("roles", roles, MAX_ROLE_LIST):
            return CreateApiTokenPayload(errors=[err])
        return await as_payload(
            CreateApiTokenPayload,
            tokens.create_api_token(
                principal(info), user_id=user_id, name=name, roles=roles,
                expires_in_days=expires_in_days,
            ),
            lambda issued: CreateApiTokenPayload(
                token=ApiToken.of(issued.token), secret=issued.secret
            ),
        )  # fmt: skip

    @strawberry.mutation(description="Revoke an API token (admin, or its owner).")
    async def revoke_api_token(self, info: Info, token_id: strawberry.ID) -> ApiTokenPayload:
        return await as_payload(
            ApiTokenPayload,
            tokens.revoke_api_token(principal(info), token_id),
            lambda token: ApiTokenPayload(token=ApiToken.of(token)),
        )
