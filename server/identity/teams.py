"""Teams group users inside one organization."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from riskops.server.core import validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Duplicate
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, scoped
from riskops.server.identity.models import Team, User

MAX_MEMBERS_PER_CALL = 200


async def list_teams(
    principal: Principal, *, managing: bool = False, members: bool = True
) -> list[Team]:
    """Teams (user.read); `managing=True` is the admin screen and needs team.manage.
    `members=False` leaves the members unloaded (pickers and names need none)."""
    principal.require(Perm.TEAM_MANAGE if managing else Perm.USER_READ)
    teams = scoped(Team, principal).order_by("name")
    return await (teams.prefetch_related("members") if members else teams)


async def create_team(
    principal: Principal, *, name: str, member_ids: list[str] | None = None
) -> Team:
    principal.require(Perm.TEAM_MANAGE)
    name = validation.text(name, "name", max_len=120)
    ids = member_ids or []
    if len(ids) > MAX_MEMBERS_PER_CALL:
        raise validation.Invalid(
            f"memberIds: at most {MAX_MEMBERS_PER_CALL} per call.", field="memberIds"
        )
    async with in_transaction() as conn:
        if await scoped(Team, principal).filter(name=name).using_db(conn).exists():
            raise Duplicate(f"A team named '{name}' exists already.", field="name")
        members = [await get_scoped(User, principal, i, "User") for i in ids]
        team = await Team.create(org_id=principal.org_id, name=name, using_db=conn)
        if members:
            await team.members.add(*members, using_db=conn)
        await record(
            principal, conn, "team.create", "team", team.id,
            new={"name": name, "member_ids": sorted(m.id for m in members)},
        )  # fmt: skip
    return team


async def set_team_members(principal: Principal, team_id: str | int, member_ids: list[str]) -> Team:
    principal.require(Perm.TEAM_MANAGE)
    if len(member_ids) > MAX_MEMBERS_PER_CALL:
        raise validation.Invalid(
            f"memberIds: at most {MAX_MEMBERS_PER_CALL} per call.", field="memberIds"
        )
    async with in_transaction() as conn:
        team = await get_scoped(Team, principal, team_id, "Team")
        members = [await get_scoped(User, principal, i, "User") for i in member_ids]
        old = sorted(await team.members.all().using_db(conn).values_list("id", flat=True))
        new = sorted({m.id for m in members})
        if old != new:
            await team.members.clear(using_db=conn)
            if members:
                await team.members.add(*members, using_db=conn)
            await record(
                principal, conn, "team.members_change", "team", team.id,
                old={"member_ids": old}, new={"member_ids": new},
            )  # fmt: skip
    return team
