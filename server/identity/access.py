"""Sessions and access an admin can see (issue 14): a user's live sessions and API tokens with
where they were last used, their MFA status, and revoking one session.

A session is named by its short id (the first 16 hex characters of the SHA-256 of its cookie,
as `auth.login` records it): never the cookie, and the whole digest never leaves the server.
Revoking a token is `tokens.revoke_api_token`. A person sees and revokes their own; another's
needs user.manage. Another organization's user or session reads exactly like a missing one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server.core import validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Invalid, not_found
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, scoped
from riskops.server.identity import tokens, users
from riskops.server.identity.models import ApiToken, Session, User, UserKind

SHORT_ID = 16
_SHORT = re.compile(rf"[0-9a-f]{{{SHORT_ID}}}")


def short_id(session: Session) -> str:
    return session.id[:SHORT_ID]


@dataclass(frozen=True)
class SessionRow:
    id: str  # the short id
    created_at: datetime
    last_seen_at: datetime | None
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool  # the session the asker uses now


@dataclass(frozen=True)
class UserAccess:
    user: User
    mfa_enabled: bool
    sessions: list[SessionRow]
    tokens: list[ApiToken]  # live ones: not revoked, not expired


def _require_for(principal: Principal, user_id: str | int) -> None:
    if str(user_id).strip() != str(principal.user_id):
        principal.require(Perm.USER_MANAGE)


async def user_access(principal: Principal, user_id: str | int) -> UserAccess:
    """The user's active sessions (newest first), live API tokens and MFA status."""
    _require_for(principal, user_id)
    user = await get_scoped(User, principal, user_id, "User")
    now = datetime.now(UTC)
    sessions = (
        await scoped(Session, principal)
        .filter(user_id=user.id, revoked_at=None, expires_at__gt=now)
        .order_by("-created_at", "id")
    )
    live = (
        await scoped(ApiToken, principal)
        .filter(user_id=user.id, revoked_at=None)
        .order_by("-created_at", "-id")
    )
    tokens = [t for t in live if t.expires_at is None or t.expires_at > now]
    rows = [
        SessionRow(
            id=short_id(s),
            created_at=s.created_at,
            last_seen_at=s.last_seen_at,
            expires_at=s.expires_at,
            ip=s.ip,
            user_agent=s.user_agent,
            current=s.id == principal.session_id,
        )
        for s in sessions
    ]
    return UserAccess(user, user.mfa_enabled, rows, tokens)


async def revoke_session(
    principal: Principal, session_id: str, *, user_id: str | int | None = None
) -> SessionRow:
    """End one session, named by its short id: your own, or anyone's of the organization
    (user.manage). Audited `session.revoke` with the short id. Revoking a revoked one is a no-op;
    a session that is not live (expired, garbled id, another organization's) is not found.
    `user_id` (the page of one user): the session must be that user's, else not found."""
    owner = None
    if user_id is not None:
        _require_for(principal, user_id)
        owner = (await get_scoped(User, principal, user_id, "User")).id
    raw = str(session_id or "").strip().lower()
    manager = principal.can(Perm.USER_MANAGE)
    if not _SHORT.fullmatch(raw):
        if not manager:  # permission first: only one's own sessions, and this names none
            principal.require(Perm.USER_MANAGE)
        raise not_found("Session", session_id)
    async with in_transaction() as conn:
        found = (
            await scoped(Session, principal)
            .filter(id__startswith=raw)
            .using_db(conn)
            .select_for_update()
            .limit(2)
        )
        if len(found) != 1 or (owner is not None and found[0].user_id != owner):
            if not manager:  # not one of one's own sessions: the rest needs user.manage
                principal.require(Perm.USER_MANAGE)
            raise not_found("Session", session_id)
        session = found[0]
        if session.user_id != principal.user_id:
            principal.require(Perm.USER_MANAGE)
        if session.revoked_at is None:
            now = datetime.now(UTC)
            if session.expires_at <= now:
                raise not_found("Session", session_id)
            session.revoked_at = now
            await session.save(using_db=conn, update_fields=["revoked_at"])
            await record(
                principal, conn, "session.revoke", "session", raw,
                new={"user_id": session.user_id, "sessions_revoked": 1},
                risk=RiskLevel.MEDIUM,
            )  # fmt: skip
    return SessionRow(
        id=raw,
        created_at=session.created_at,
        last_seen_at=session.last_seen_at,
        expires_at=session.expires_at,
        ip=session.ip,
        user_agent=session.user_agent,
        current=session.id == principal.session_id,
    )


async def revoke_user_token(
    principal: Principal, user_id: str | int, token_id: str | int
) -> ApiToken:
    """`tokens.revoke_api_token` from the page of one user: the token must be theirs, else it is
    not found (like a missing one or another organization's)."""
    _require_for(principal, user_id)
    owner = await get_scoped(User, principal, user_id, "User")
    token = await get_scoped(ApiToken, principal, token_id, "API token")
    if token.user_id != owner.id:
        raise not_found("API token", token_id)
    return await tokens.revoke_api_token(principal, token.id)


async def find_user(principal: Principal, key: str) -> User:
    """A user of the organization by id or e-mail address (the CLI's `--user`), user.read; an
    unknown one and another organization's read alike."""
    principal.require(Perm.USER_READ)
    text = str(key or "").strip()
    if "@" in text:
        found = await scoped(User, principal).filter(email=text.lower(), deleted_at=None).first()
        if found is None:
            raise not_found("User", text)
        return found
    return await get_scoped(User, principal, text, "User")


async def service_account_named(principal: Principal, name: str) -> User | None:
    """The organization's active service account called `name` (the CLI's `token create
    --service-account NAME`), or None; two of the same name are refused as ambiguous."""
    principal.require(Perm.USER_READ)
    text = validation.text(name, "name", max_len=200)
    found = await scoped(User, principal).filter(name=text, kind=UserKind.SERVICE, deleted_at=None)
    if len(found) > 1:
        raise Invalid(
            f"Service account: {len(found)} accounts are called {text!r}; name it by its id "
            "with `riskops create-service-token --account ID`.",
            field="name",
        )
    return found[0] if found else None


async def mint_service_token(
    creator: Principal,
    minter: Principal,
    account: str,
    roles: list[str],
    *,
    name: str | None = None,
    days: int | None = None,
) -> tuple[User, tokens.IssuedToken, bool]:
    """`riskops token create --service-account NAME`: the service account called `account`
    (created by `creator` with `roles` when there is none) and its token minted by the person
    `minter` (token.manage). Whether the minter may mint and the roles are checked before the
    account is created, so a refusal leaves nothing behind. Returns (account, token, created)."""
    minter.require(Perm.TOKEN_MANAGE)
    roles = validation.roles(roles)
    if days is not None and not 1 <= days <= tokens.MAX_TOKEN_DAYS:
        raise Invalid(
            f"Expires in (days) must be between 1 and {tokens.MAX_TOKEN_DAYS}.", field="days"
        )
    owner = await service_account_named(creator, account)
    created = owner is None
    if owner is None:
        owner = await users.create_service_account(creator, name=account, roles=roles)
    issued = await tokens.create_api_token(
        minter, user_id=owner.id, name=name or f"{owner.name} token", roles=roles,
        expires_in_days=days,
    )  # fmt: skip
    return owner, issued, created
