"""`riskops create-user`: a user in an organization, audited as the CLI."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Annotated

import typer

from riskops.server.cli.common import CliError, CliPrincipal, _settings, app, database
from riskops.server.settings import (
    Settings,
)


@dataclass(frozen=True)
class NewUser:
    org: str
    email: str
    name: str
    roles: list[str]
    password: str | None
    create_org: bool
    org_name: str | None


def _check_new_user(new: NewUser) -> None:
    """Every input check before anything is written, so a mistake creates nothing."""
    from riskops.server.core import validation

    validation.text(new.org, "org", max_len=64)
    validation.email(new.email)
    validation.text(new.name, "name", max_len=200)
    validation.roles(new.roles, "role")
    if new.password is not None:
        validation.password(new.password)


async def _org_for(new: NewUser) -> tuple[int, str, bool]:
    """(id, slug, created) of the organization the user goes into."""
    from riskops.server.core.errors import Duplicate
    from riskops.server.identity.models import Organization, User
    from riskops.server.identity.orgs import create_organization

    slug = new.org.strip().lower()
    org = await Organization.get_or_none(slug=slug)
    if org is not None:
        return org.id, org.slug, False
    if not new.create_org:
        raise CliError(f"no organization with slug '{slug}'; add --create-org to create it.")
    if await User.filter(email=new.email.strip().lower()).exists():
        raise Duplicate(f"The e-mail address {new.email} is already in use.", field="email")
    org = await create_organization(slug, new.org_name or slug)
    return org.id, org.slug, True


async def _create_user(settings: Settings, new: NewUser) -> None:
    from riskops.server.core.permissions import Role
    from riskops.server.identity import users

    _check_new_user(new)
    async with database(settings):
        org_id, slug, created = await _org_for(new)
        if created:
            typer.echo(f"Created organization {slug} (id {org_id}).")
        admin = CliPrincipal(user_id=0, org_id=org_id, roles=frozenset({Role.ADMIN.value}))
        password = new.password or secrets.token_urlsafe(18)
        user = await users.create_user(
            admin, email=new.email, name=new.name, roles=new.roles, password=password
        )
    typer.echo(
        f"Created user {user.id} <{user.email}> in organization {slug} with roles: "
        f"{', '.join(user.roles)}."
    )
    if new.password is None:
        typer.echo(f"Password (shown only this once): {password}")


@app.command("create-user")
def create_user_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug of the user's organization.")],
    email: Annotated[str, typer.Option(help="Login e-mail address.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role", help="A role; repeat for several (e.g. --role admin --role viewer)."
        ),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(help="Initial password; omit it to get a generated one, printed once."),
    ] = None,
    create_org: Annotated[
        bool, typer.Option("--create-org", help="Create the organization if it does not exist.")
    ] = False,
    org_name: Annotated[
        str | None, typer.Option(help="Name of the organization --create-org creates.")
    ] = None,
) -> None:
    """Create a user in an organization (audited as the CLI)."""
    new = NewUser(org, email, name, list(role or []), password, create_org, org_name)
    asyncio.run(_create_user(_settings(ctx), new))
