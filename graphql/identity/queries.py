"""Identity queries: me, organization, users, teams, API tokens."""

from __future__ import annotations

import strawberry

from riskops.graphql.core.context import Info, or_none, principal, query
from riskops.graphql.identity.types import ApiToken, Me, Organization, Team, User
from riskops.server.core.scoping import scoped
from riskops.server.identity import models, teams, tokens, users


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="The caller: user, organization, effective roles.")
    async def me(self, info: Info) -> Me:
        p = principal(info)
        user = await scoped(models.User, p).get(id=p.user_id)
        await user.fetch_related("teams")
        org = await scoped(models.Organization, p).get()
        return Me(
            user=User.of(user),
            organization=Organization.of(org),
            roles=sorted(p.roles),
            permissions=sorted(x.value for x in p.perms),
            via_api_token=p.token_id is not None,
        )

    @strawberry.field
    async def organization(self, info: Info) -> Organization:
        return Organization.of(await scoped(models.Organization, principal(info)).get())

    @strawberry.field(description="Users of your organization.")
    async def users(self, info: Info, include_suspended: bool = True) -> list[User]:
        found = await query(users.list_users(principal(info), include_suspended=include_suspended))
        if found:
            await models.User.fetch_for_list(found, "teams")
        return [User.of(u) for u in found]

    @strawberry.field(description="One user of your organization, or null.")
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        found = await or_none(users.get_user(principal(info), id))
        if found is None:
            return None
        await found.fetch_related("teams")
        return User.of(found)

    @strawberry.field
    async def teams(self, info: Info) -> list[Team]:
        return [Team.of(t) for t in await query(teams.list_teams(principal(info)))]

    @strawberry.field(description="API tokens: all of the organization for admins, else yours.")
    async def api_tokens(self, info: Info) -> list[ApiToken]:
        return [ApiToken.of(t) for t in await query(tokens.list_tokens(principal(info)))]
