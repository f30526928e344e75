"""`riskops token create --service-account NAME --role …` (issue 14): automation's token in one
command. The service account is found by name, or created (audited as the CLI) with the roles
given; its token is minted by the admin named with `--as` (maker-checker counts its acts as
theirs too) and printed once."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from riskops.server.cli.common import (
    _settings,
    app,
    cli_admin,
    database,
    resolve_org,
    user_principal,
)
from riskops.server.identity import access
from riskops.server.settings import Settings

token_app = typer.Typer(help="API tokens for automation.", no_args_is_help=True)
app.add_typer(token_app, name="token")


async def _create(
    settings: Settings, org: str, email: str, account: str, roles: list[str], name: str | None,
    days: int | None,
) -> None:  # fmt: skip
    async with database(settings):
        found = await resolve_org(org)
        admin = await user_principal(org, email)
        owner, issued, created = await access.mint_service_token(
            cli_admin(found.id), admin, account, roles, name=name, days=days
        )
    if created:
        typer.echo(f"Created service account {owner.id} ({owner.name}) with roles: "
                   f"{', '.join(owner.roles)}.")  # fmt: skip
    typer.echo(
        f"Minted token {issued.token.id} ({issued.token.name}) for service account {owner.id} "
        f"({owner.name}), by {admin.email}, with roles: {', '.join(issued.token.roles)}; "
        f"expires {issued.token.expires_at:%Y-%m-%d}."
    )
    typer.echo(f"Token (shown only this once): {issued.secret}")


@token_app.command("create")
def token_create_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    service_account: Annotated[
        str,
        typer.Option(
            "--service-account", help="Name of the service account (created when missing)."
        ),
    ],
    email: Annotated[
        str, typer.Option("--as", help="E-mail of the admin minting the token (token.manage).")
    ],
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="A role the token carries; repeat for several."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="What the token is for (default: the account's).")
    ] = None,
    days: Annotated[
        int | None, typer.Option("--days", help="Days until it expires (1-365, default 90).")
    ] = None,
) -> None:
    """Mint an API token for a service account (created with the roles when it does not exist),
    printed once."""
    asyncio.run(_create(_settings(ctx), org, email, service_account, list(role or []), name, days))
