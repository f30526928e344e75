"""API tokens for integrators and automation: shown once, stored hashed, scoped, expiring.

A person's token is created by that person only (their own API tokens page, or
`createApiToken` without `userId`): nobody, an admin included, receives a secret that acts as
someone else. Automation gets a service account (`users.create_service_account`), whose tokens
an admin mints; each token records who minted it (`created_by_id`), and maker-checker counts an
act through it as that admin's too (`auth.own_makers`, `core.approvals`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server.core import validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Forbidden, Invalid, not_found
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, scoped
from riskops.server.identity.models import ApiToken, User, UserKind, UserStatus
from riskops.server.security import digest, new_api_token

MAX_TOKEN_DAYS = 365
DEFAULT_TOKEN_DAYS = 90


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # the only time it exists in clear


async def list_tokens(
    principal: Principal, *, managing: bool = False, mine: bool = False
) -> list[ApiToken]:
    """Your own tokens; an admin sees the organization's (`mine=True`: only one's own, for
    anyone). `managing=True` (the admin screen) needs token.manage."""
    if managing:
        principal.require(Perm.TOKEN_MANAGE)
    if principal.can(Perm.TOKEN_MANAGE) and not mine:
        q = scoped(ApiToken, principal)
    else:
        q = scoped(ApiToken, principal).filter(user_id=principal.user_id)
    return await q.order_by("-created_at", "-id")


async def create_api_token(
    principal: Principal,
    *,
    user_id: str | int | None = None,
    name: str,
    roles: list[str],
    expires_in_days: int | None = DEFAULT_TOKEN_DAYS,
) -> IssuedToken:
    """A token for yourself (`user_id` None or your own id: any person, with at most the roles
    you act with now), or for a service account (token.manage). A token for another person is
    refused: they create their own."""
    own = user_id is None or str(user_id).strip() == str(principal.user_id)
    if not own:
        principal.require(Perm.TOKEN_MANAGE)
    name = validation.text(name, "name", max_len=120)
    roles = validation.roles(roles)
    days = DEFAULT_TOKEN_DAYS if expires_in_days is None else expires_in_days
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise Invalid(
            f"Expires in (days) must be between 1 and {MAX_TOKEN_DAYS}.", field="expiresInDays"
        )
    async with in_transaction() as conn:
        target = principal.user_id if own or user_id is None else user_id
        owner = await get_scoped(User, principal, target, "User")
        service = owner.kind == UserKind.SERVICE
        if own and service:
            raise Forbidden(
                "A service account's tokens are minted by an admin (Admin → API tokens), never "
                "by the account itself."
            )
        if not own:
            # A person mints it, so that maker-checker can count the token's acts as theirs
            # (a service account minting another's token would hide the person behind it).
            minter = await scoped(User, principal).filter(id=principal.user_id).using_db(conn)
            if not minter or minter[0].kind != UserKind.PERSON:
                raise Forbidden(
                    "A service account's token is minted by a person (an admin), not by another "
                    "service account or the system."
                )
            if not minter[0].minted_service_tokens:
                await (
                    scoped(User, principal)
                    .filter(id=principal.user_id)
                    .using_db(conn)
                    .update(minted_service_tokens=True)
                )
        if not own and not service:
            raise Forbidden(
                f"{owner.name} is a person: a person's API token is created by that person only "
                "(their API tokens page). For automation, create a service account and mint "
                "its token."
            )
        if owner.status != UserStatus.ACTIVE:
            raise Invalid(f"{owner.name} is suspended; reactivate them first.", field="userId")
        # Never more than the owner holds, nor (for your own) more than you act with now.
        allowed = set(owner.roles) & (set(principal.roles) if own else set(owner.roles))
        extra = sorted(set(roles) - allowed)
        if extra:
            whose = "you act with now" if own else f"{owner.name} has"
            raise Invalid(
                f"Roles: the token may only carry roles {whose}; not {validation.choices(extra)}.",
                field="roles",
            )
        secret = new_api_token()
        token = await ApiToken.create(
            org_id=principal.org_id,
            user_id=owner.id,
            name=name,
            prefix=secret[:10],
            token_hash=digest(secret),
            roles=roles,
            created_by_id=principal.user_id or None,
            expires_at=datetime.now(UTC) + timedelta(days=days),
            using_db=conn,
        )
        await record(
            principal, conn, "token.create", "api_token", token.id,
            new={"user_id": owner.id, "kind": owner.kind.value, "minted_by": principal.user_id,
                 "name": name, "roles": roles, "expires_in_days": days},
            risk=RiskLevel.HIGH if service else RiskLevel.MEDIUM,
        )  # fmt: skip
    return IssuedToken(token, secret)


async def revoke_api_token(
    principal: Principal, token_id: str | int, *, mine: bool = False
) -> ApiToken:
    """Revoke a token: your own, or any of the organization's (token.manage). `mine=True` (the
    own tokens page) finds only your own: another's id is not found there."""
    async with in_transaction() as conn:
        token = await get_scoped(ApiToken, principal, token_id, "API token")
        if mine and token.user_id != principal.user_id:
            raise not_found("API token", token_id)
        if token.user_id != principal.user_id:
            principal.require(Perm.TOKEN_MANAGE)
        if token.revoked_at is None:
            token.revoked_at = datetime.now(UTC)
            await token.save(using_db=conn, update_fields=["revoked_at"])
            await record(
                principal, conn, "token.revoke", "api_token", token.id,
                new={"user_id": token.user_id, "minted_by": token.created_by_id},
                risk=RiskLevel.MEDIUM,
            )  # fmt: skip
    return token
