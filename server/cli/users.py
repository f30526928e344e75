"""`riskops create-user`: a user in an organization (and with `--create-org` the organization
too, in one transaction), through the identity services, audited as the CLI.
`riskops create-service-account` and `riskops create-service-token`: automation's accounts and
their tokens. The CLI never mints a person's token (a person creates their own, on the API tokens
page or with `createApiToken`); a service account's token is minted by a named admin (`--as`),
so that maker-checker counts its acts as that admin's too.
`riskops user invite` and `riskops user reset-password` print a one-time link (issue 14)."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.table import Table

from riskops.server.cli.common import (
    CliError,
    _settings,
    app,
    cli_admin,
    database,
    find_org,
    no_such_org,
    out,
    resolve_org,
    user_principal,
)
from riskops.server.core.errors import Invalid
from riskops.server.core.scoping import scoped
from riskops.server.core.validation import label
from riskops.server.identity import access, links, mfa, orgs, tokens, users
from riskops.server.identity.models import User
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


async def _create_service_account(
    settings: Settings, org: str, name: str, roles: list[str]
) -> None:
    async with database(settings):
        found = await resolve_org(org)
        account = await users.create_service_account(cli_admin(found.id), name=name, roles=roles)
    typer.echo(
        f"Created service account {account.id} ({account.name}) in organization {found.slug} "
        f"with roles: {', '.join(account.roles)}. It cannot sign in; mint its token with "
        f"`riskops create-service-token --org {found.slug} --account {account.id} --as <admin>`."
    )


@app.command("create-service-account")
def create_service_account_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    name: Annotated[str, typer.Option(help="Display name (e.g. 'Ledger importer').")],
    role: Annotated[
        list[str] | None, typer.Option("--role", help="A role; repeat for several.")
    ] = None,
) -> None:
    """Create a service account: a user for automation that cannot sign in (audited as the
    CLI)."""
    asyncio.run(_create_service_account(_settings(ctx), org, name, list(role or [])))


async def _create_service_token(
    settings: Settings, org: str, email: str, account: str, name: str, roles: list[str],
    days: int | None,
) -> None:  # fmt: skip
    async with database(settings):
        admin = await user_principal(org, email)
        issued = await tokens.create_api_token(
            admin, user_id=account, name=name, roles=roles, expires_in_days=days
        )
    typer.echo(
        f"Minted token {issued.token.id} ({issued.token.name}) for service account "
        f"{issued.token.user_id}, by {admin.email}; expires {issued.token.expires_at:%Y-%m-%d}."
    )
    typer.echo(f"Token (shown only this once): {issued.secret}")


@app.command("create-service-token")
def create_service_token_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    email: Annotated[
        str, typer.Option("--as", help="E-mail of the admin minting the token (token.manage).")
    ],
    account: Annotated[str, typer.Option("--account", help="Id of the service account.")],
    name: Annotated[str, typer.Option(help="What the token is for (e.g. 'nightly import').")],
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="A role of the account the token carries; repeat."),
    ] = None,
    days: Annotated[
        int | None, typer.Option("--days", help="Days until it expires (1-365, default 90).")
    ] = None,
) -> None:
    """Mint an API token for a service account, as the admin named by --as (a person's token is
    created by that person only, never here)."""
    asyncio.run(
        _create_service_token(_settings(ctx), org, email, account, name, list(role or []), days)
    )


# --------------------------------------------------------------------------- riskops user …
# The `user` command group (issue 14): one-time links here; other subcommands join the group.

user_app = typer.Typer(
    name="user",
    help="The people of an organization: list, invite, suspend, reactivate, reset a password "
    "or MFA.",
    no_args_is_help=True,
)
app.add_typer(user_app)


def _origin(settings: Settings) -> str:
    """Where printed links point: RISKOPS_BASE_URL, else the address `riskops serve` binds."""
    return settings.base_url or f"http://{settings.host}:{settings.port}"


def _print_link(issued: links.IssuedLink, what: str) -> None:
    sent = {
        "email": "e-mailed to them",
        "webhook": "posted to the #ops-review channel",
        "none": "not sent (no mail server configured): pass it on to that person only",
    }[issued.delivered_by]
    typer.echo(f"{what}: {sent}; it works once, until {issued.expires_at:%Y-%m-%d %H:%M} UTC.")
    typer.echo(f"Link (shown only this once): {issued.url}")


async def _person_of(org_id: int, email: str) -> User | None:
    return await scoped(User, org_id=org_id).get_or_none(
        email=email.strip().lower(), deleted_at=None
    )


async def _invite(settings: Settings, org: str, email: str, name: str | None,
                  roles: list[str]) -> None:  # fmt: skip
    async with database(settings):
        found = await resolve_org(org)
        admin = cli_admin(found.id)
        user = await _person_of(found.id, email)
        if user is not None:
            issued = await links.invite(admin, user.id, origin=_origin(settings))
            _print_link(issued, f"Invitation sent again to {user.name} <{user.email}>")
            return
        if not name or not roles:
            raise CliError(
                f"no user '{email}' in organization '{found.slug}': give --name and --role to "
                "create and invite them."
            )
        created = await links.create_user(
            admin, email=email, name=name, roles=roles, origin=_origin(settings)
        )
    if created.invitation is None:  # the organization signs in through SSO only
        typer.echo(f"Created user {created.user.id} <{created.user.email}>: they sign in "
                   "through single sign-on; no invitation is needed.")  # fmt: skip
        return
    typer.echo(
        f"Created user {created.user.id} <{created.user.email}> in organization {found.slug} "
        f"with roles: {', '.join(created.user.roles)}."
    )
    _print_link(created.invitation, "Invitation")


@user_app.command("invite")
def invite_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    email: Annotated[str, typer.Option(help="E-mail address of the person.")],
    name: Annotated[
        str | None, typer.Option(help="Display name (to create the user; not if they exist).")
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="A role of a user to create; repeat for several."),
    ] = None,
) -> None:
    """Invite a person: create the user (with --name and --role) or send an existing user who
    has not set a password a new invitation; prints the one-time link (audited as the CLI)."""
    asyncio.run(_invite(_settings(ctx), org, email, name, list(role or [])))


async def _reset_password(settings: Settings, org: str, email: str) -> None:
    async with database(settings):
        found = await resolve_org(org)
        user = await _person_of(found.id, email)
        if user is None:
            raise CliError(f"no user '{email}' in organization '{found.slug}' (check --email).")
        issued = await links.force_reset(cli_admin(found.id), user.id, origin=_origin(settings))
    typer.echo(
        f"The password of {user.name} <{user.email}> no longer works and their sessions are "
        "signed out."
    )
    _print_link(issued, "Reset link")


@user_app.command("reset-password")
def reset_password_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    email: Annotated[str, typer.Option(help="E-mail address of the user.")],
) -> None:
    """Force a password reset: the password stops working, the sessions end, and the printed
    one-time link lets the user choose a new one (audited as the CLI)."""
    asyncio.run(_reset_password(_settings(ctx), org, email))


async def reset_mfa_of(org_key: str, email: str) -> str:
    """The command's work, in a connected database: what it prints."""
    org = await resolve_org(org_key)
    user = await scoped(User, org_id=org.id).get_or_none(
        email=email.strip().lower(), deleted_at=None
    )
    if user is None:
        raise CliError(f"no user '{email}' in organization '{org.slug}'.")
    try:
        await mfa.reset_mfa(cli_admin(org.id), user.id)
    except Invalid as exc:
        raise CliError(exc.message) from None
    return (
        f"Reset the multi-factor authentication of {user.name} <{user.email}> and revoked their "
        "sessions. They set it up again at their next sign-in when the organization requires it."
    )


async def _reset_mfa(settings: Settings, org_key: str, email: str) -> None:
    async with database(settings):
        typer.echo(await reset_mfa_of(org_key, email))


@user_app.command("reset-mfa")
def reset_mfa_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the user's organization.")],
    email: Annotated[str, typer.Option(help="The user's e-mail address.")],
) -> None:
    """Reset a user's multi-factor authentication (a lost device, a compromised account): their
    authenticator and recovery codes stop working and their sessions are revoked. API tokens
    are not affected."""
    asyncio.run(_reset_mfa(_settings(ctx), org, email))


ORG = Annotated[str, typer.Option("--org", help="Slug or id of the organization.")]
USER = Annotated[str, typer.Option("--user", help="The user's e-mail address or id.")]


async def _user_rows(settings: Settings, org: str, active_only: bool) -> list[tuple[str, ...]]:
    async with database(settings):
        found = await resolve_org(org)
        people = await users.list_users(cli_admin(found.id), include_suspended=not active_only)
        return [
            (str(u.id), u.email if u.kind.value == "person" else "(service account)", u.name,
             ", ".join(u.roles) or "-", u.status.value, "on" if u.mfa_enabled else "off",
             f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "-")
            for u in people
        ]  # fmt: skip


@user_app.command("list")
def user_list_cmd(
    ctx: typer.Context,
    org: ORG,
    active_only: Annotated[
        bool, typer.Option("--active-only", help="Leave suspended users out.")
    ] = False,
) -> None:
    """List the users of an organization with their roles, status and MFA."""
    rows = asyncio.run(_user_rows(_settings(ctx), org, active_only))
    table = Table("id", "e-mail", "name", "roles", "status", "MFA", "last login (UTC)")
    for row in rows:
        table.add_row(*row)
    out.print(table)


async def _suspend(settings: Settings, org: str, key: str, reason: str) -> None:
    async with database(settings):
        found = await resolve_org(org)
        admin = cli_admin(found.id)
        user = await access.find_user(admin, key)
        done = await users.suspend_user(admin, user.id, reason=reason)
    typer.echo(
        f"Suspended user {done.id} <{done.email}>; their sessions and API tokens are revoked."
    )


@user_app.command("suspend")
def user_suspend_cmd(
    ctx: typer.Context,
    org: ORG,
    user: USER,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
) -> None:
    """Suspend a user: their sessions and API tokens are revoked at once (audited as the CLI)."""
    asyncio.run(_suspend(_settings(ctx), org, user, reason))


async def _reactivate(settings: Settings, org: str, key: str) -> None:
    async with database(settings):
        found = await resolve_org(org)
        admin = cli_admin(found.id)
        user = await access.find_user(admin, key)
        done = await users.reactivate_user(admin, user.id)
    typer.echo(f"Reactivated user {done.id} <{done.email}>: they can sign in again.")


@user_app.command("reactivate")
def user_reactivate_cmd(ctx: typer.Context, org: ORG, user: USER) -> None:
    """Reactivate a suspended user (audited as the CLI)."""
    asyncio.run(_reactivate(_settings(ctx), org, user))
