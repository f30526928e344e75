"""API tokens for integrators and automation: shown once, stored hashed, scoped, expiring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server.core import validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, scoped
from riskops.server.identity.models import ApiToken, User, UserStatus
from riskops.server.security import digest, new_api_token

MAX_TOKEN_DAYS = 365
DEFAULT_TOKEN_DAYS = 90


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # the only time it exists in clear


async def list_tokens(principal: Principal, *, managing: bool = False) -> list[ApiToken]:
    """Your own tokens; an admin sees the organization's. `managing=True` (the admin screen)
    needs token.manage."""
    if managing:
        principal.require(Perm.TOKEN_MANAGE)
    if principal.can(Perm.TOKEN_MANAGE):
        q = scoped(ApiToken, principal)
    else:
        q = scoped(ApiToken, principal).filter(user_id=principal.user_id)
    return await q.order_by("-created_at", "-id")


async def create_api_token(
    principal: Principal,
    *,
    user_id: str | int,
    name: str,
    roles: list[str],
    expires_in_days: int | None = DEFAULT_TOKEN_DAYS,
) -> IssuedToken:
    principal.require(Perm.TOKEN_MANAGE)
    name = validation.text(name, "name", max_len=120)
    roles = validation.roles(roles)
    days = DEFAULT_TOKEN_DAYS if expires_in_days is None else expires_in_days
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise Invalid(
            f"Expires in (days) must be between 1 and {MAX_TOKEN_DAYS}.", field="expiresInDays"
        )
    async with in_transaction() as conn:
        owner = await get_scoped(User, principal, user_id, "User")
        if owner.status != UserStatus.ACTIVE:
            raise Invalid(f"User {owner.id} is suspended; reactivate them first.", field="userId")
        extra = sorted(set(roles) - set(owner.roles))
        if extra:
            raise Invalid(
                f"Roles: the token may only carry roles its owner has; {owner.name or owner.email} "
                f"does not have {validation.choices(extra)}.",
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
            created_by_id=principal.user_id,
            expires_at=datetime.now(UTC) + timedelta(days=days),
            using_db=conn,
        )
        await record(
            principal, conn, "token.create", "api_token", token.id,
            new={"user_id": owner.id, "name": name, "roles": roles, "expires_in_days": days},
            risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    return IssuedToken(token, secret)


async def revoke_api_token(principal: Principal, token_id: str | int) -> ApiToken:
    async with in_transaction() as conn:
        token = await get_scoped(ApiToken, principal, token_id, "API token")
        if token.user_id != principal.user_id:
            principal.require(Perm.TOKEN_MANAGE)
        if token.revoked_at is None:
            token.revoked_at = datetime.now(UTC)
            await token.save(using_db=conn, update_fields=["revoked_at"])
            await record(
                principal, conn, "token.revoke", "api_token", token.id,
                new={"user_id": token.user_id}, risk=RiskLevel.MEDIUM,
            )  # fmt: skip
    return token
