"""`riskops create-user`: a user in an organization (and with `--create-org` the organization
too, in one transaction), through the identity services, audited as the CLI."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Annotated

import typer

from riskops.server.cli.common import (
    CliError,
    _settings,
    app,
    cli_admin,
    database,
    find_org,
    no_such_org,
)
from riskops.server.core.errors import Invalid
from riskops.server.core.validation import label
from riskops.server.identity import orgs, users
from riskops.server.settings import Settings


@dataclass(frozen=True)
class NewUser:
    org: str
    email: str
    name: str
    roles: list[str]
    password: str | None
    create_org: bool
    org_name: str | None


# The service names the fields as the API does; an operator typed these flags.
FLAGS = {"roles": "--role", "email": "--email", "name": "--name", "password": "--password"}


async def _create_user(settings: Settings, new: NewUser) -> None:
    try:
        await _create(settings, new)
    except Invalid as exc:
        flag = FLAGS.get(exc.field or "")
        # The message names the field by its label (as the pages do); here, by the flag typed.
        named = label(exc.field or "")
        if flag is None or not exc.message.startswith(named):
            raise
        raise CliError(flag + exc.message[len(named) :]) from None


async def _create(settings: Settings, new: NewUser) -> None:
    password = new.password or secrets.token_urlsafe(18)
    async with database(settings):
        org = await find_org(new.org)
        if org is not None:
            user = await users.create_user(
                cli_admin(org.id), email=new.email, name=new.name, roles=new.roles,
                password=password,
            )  # fmt: skip
        elif not new.create_org:
            raise CliError(f"{no_such_org(new.org)}; add --create-org to create it.")
        else:
            # One transaction: a mistake in the user's input creates nothing, not even the
            # organization.
            slug = new.org.strip().lower()
            org, user = await orgs.create_organization_with_user(
                slug, new.org_name or slug, cli_admin, email=new.email, user_name=new.name,
                roles=new.roles, password=password,
            )  # fmt: skip
            typer.echo(f"Created organization {org.slug} (id {org.id}).")
    typer.echo(
        f"Created user {user.id} <{user.email}> in organization {org.slug} with roles: "
        f"{', '.join(user.roles)}."
    )
    if new.password is None:
        typer.echo(f"Password (shown only this once): {password}")


@app.command("create-user")
def create_user_cmd(
    ctx: typer.Context,
    org: Annotated[
        str,
        typer.Option(
            "--org", help="Slug or id of the user's organization (a slug with --create-org)."
        ),
    ],
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
