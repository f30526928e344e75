"""One-time links (`OneTimeLink`): invitations (a user created without a password sets one) and
password resets (self-service "forgot password", or forced by an admin). Only the token's
SHA-256 is stored; a link is used once, expires (invitations after `invitation_hours`, resets
after `reset_link_minutes`), and a newer link of the same purpose revokes the older ones. Links go
out through the outbox (e-mail when RISKOPS_SMTP_URL is set, else the `review` webhook for the
links an admin issues) and are also shown once to the admin and printed by the CLI. Every step is
audited, never the token.

A self-service reset link goes by e-mail only: posted to a shared webhook channel, anyone reading
the channel could take over the account whose address they typed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import Actor, Entry, RiskLevel
from riskops.server.core import sealing
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict, Invalid, NotFound, RateLimited
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, scoped
from riskops.server.identity import challenges, org_security, passwords, users
from riskops.server.identity.auth import _reserve_attempt, _retry_in, _serialise
from riskops.server.identity.models import (
    LinkPurpose,
    LoginFailure,
    OneTimeLink,
    Organization,
    Session,
    User,
    UserKind,
    UserStatus,
)
from riskops.server.identity.sessions import ClientInfo, LoginResult, start_session
from riskops.server.notify import mail, outbox
from riskops.server.security import digest, hash_password, new_secret, verify_password
from riskops.server.settings import Settings, get_settings

PATHS = {LinkPurpose.INVITATION: "/invite/", LinkPurpose.PASSWORD_RESET: "/reset-password/"}
# The outbox message of a link: its kind, and the sealing purpose of the link it carries.
MESSAGE_KINDS = {
    LinkPurpose.INVITATION: "identity.invitation",
    LinkPurpose.PASSWORD_RESET: "identity.password_reset",
}
NOT_VALID = (
    "This link is not valid: it was already used, it expired, or a newer link replaced it. "
    "Ask an admin of your organization to send a new one, or use “Forgot your password?” on "
    "the sign-in page."
)
# The counters of self-service requests share the failed-login table, under keys of their own.
FORGOT_ACCOUNT = "forgot:"
FORGOT_IP = "forgot-ip:"
FORGOT_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class IssuedLink:
    url: str  # shown once to the admin, printed by the CLI
    purpose: LinkPurpose
    user_id: int
    expires_at: datetime
    delivered_by: str  # "email", "webhook" or "none" (the admin passes the link on)


@dataclass(frozen=True)
class LinkInfo:
    """What the landing page shows before the password is chosen."""

    purpose: LinkPurpose
    name: str
    email: str
    organization: str
    expires_at: datetime


@dataclass(frozen=True)
class CreatedUser:
    """A new user, and the invitation sent when no password was given (None otherwise)."""

    user: User
    invitation: IssuedLink | None


# ----------------------------------------------------------------------------- issuing


def _lifetime(settings: Settings, purpose: LinkPurpose) -> timedelta:
    if purpose == LinkPurpose.INVITATION:
        return timedelta(hours=settings.invitation_hours)
    return timedelta(minutes=settings.reset_link_minutes)


def _channel(settings: Settings, *, self_service: bool) -> outbox.Channel | None:
    if settings.smtp_url:
        return outbox.Channel.EMAIL
    if not self_service and outbox.Channel.REVIEW.value in settings.webhooks:
        return outbox.Channel.REVIEW
    return None


async def _issue(
    conn: BaseDBAsyncClient,
    user: User,
    purpose: LinkPurpose,
    *,
    created_by: int | None,
    origin: str = "",
) -> IssuedLink:
    """A new link for `user`, in the caller's transaction: the older live links of the same
    purpose are revoked, and the outbox message carries the link sealed (opened at delivery)."""
    settings = get_settings()
    now = datetime.now(UTC)
    token = new_secret()
    link = await OneTimeLink.create(
        org_id=user.org_id, user_id=user.id, purpose=purpose, token_hash=digest(token),
        created_by_id=created_by, created_at=now, expires_at=now + _lifetime(settings, purpose),
        using_db=conn,
    )  # fmt: skip
    await (
        scoped(OneTimeLink, org_id=user.org_id)
        .filter(user_id=user.id, purpose=purpose, used_at=None, revoked_at=None)
        .exclude(id=link.id)
        .using_db(conn)
        .update(revoked_at=now)
    )
    # A self-service request never passes `origin`: its Host header is anyone's to forge, and
    # the mailed link would send the token to their server (password-reset poisoning).
    base = (settings.base_url or origin or f"http://{settings.host}:{settings.port}").rstrip("/")
    url = f"{base}{PATHS[purpose]}{token}"
    channel = _channel(settings, self_service=created_by is None)
    if channel is not None:
        org = await scoped(Organization, org_id=user.org_id).using_db(conn).get()
        payload: dict[str, Any] = {
            "to": user.email,
            "name": user.name,
            "organization": org.name,
            "purpose": purpose.value,
            "expires_at": link.expires_at.isoformat(),
            "link_sealed": sealing.seal(mail.LINK_SEAL, url),
        }
        await outbox.add(conn, user.org_id, channel, MESSAGE_KINDS[purpose], payload,
                         suppressed=False, now=now)  # fmt: skip
    delivered = "none" if channel is None else "email" if channel.value == "email" else "webhook"
    return IssuedLink(url, purpose, user.id, link.expires_at, delivered)


def _person(user: User) -> None:
    if user.kind == UserKind.SERVICE:
        raise Invalid(
            f"{user.name} is a service account: it never signs in, so it has no password. "
            "Mint it an API token instead.",
            field="userId",
        )


async def _password_allowed(user: User) -> None:
    if not await org_security.password_login_allowed(user):
        raise Invalid(
            f"Your organization signs in through single sign-on only, so {user.name} has no "
            "password to set: they sign in with SSO.",
            field="userId",
        )


async def create_user(
    principal: Principal,
    *,
    email: str,
    name: str,
    roles: list[str],
    password: str | None = None,
    origin: str = "",
) -> CreatedUser:
    """Create a user (`user.manage`); without a password, invite them in the same transaction
    (unless the organization signs in through SSO only: they will sign in with SSO)."""
    principal.require(Perm.USER_MANAGE)
    new = users.checked_new_user(email=email, name=name, roles=roles, password=password)
    policy = await org_security.policy_of(principal.org_id)
    async with in_transaction() as conn:
        user = await users.insert_user(principal, conn, new)
        if new.password_hash is not None or (policy is not None and policy.sso_only):
            return CreatedUser(user, None)
        issued = await _issue(conn, user, LinkPurpose.INVITATION, created_by=principal.user_id,
                              origin=origin)  # fmt: skip
        await _audit_invite(principal, conn, user, issued, resent=False)
    await outbox.kick()
    return CreatedUser(user, issued)


async def _audit_invite(
    principal: Principal, conn: BaseDBAsyncClient, user: User, issued: IssuedLink, *, resent: bool
) -> None:
    await record(
        principal, conn, "user.invite", "user", user.id,
        new={"expires_at": issued.expires_at.isoformat(), "delivered_by": issued.delivered_by,
             "resent": resent},
        risk=RiskLevel.MEDIUM,
    )  # fmt: skip


async def invite(principal: Principal, user_id: str | int, *, origin: str = "") -> IssuedLink:
    """(Re)send an invitation to a user who has not set a password yet (`user.manage`)."""
    principal.require(Perm.USER_MANAGE)
    async with in_transaction() as conn:
        user = await get_scoped(User, principal, user_id, "User", conn)
        user = await scoped(User, principal).select_for_update().using_db(conn).get(id=user.id)
        _person(user)
        if user.deleted_at is not None:
            raise NotFound(f"User {user_id} not found.", kind="user")
        if user.password_hash is not None or user.password_changed_at is not None:
            # The page was filled when they had none: what it offered no longer applies.
            raise Conflict(
                f"{user.name} has already set a password, so there is nothing to accept; use "
                "“Force password reset” if they cannot sign in.",
                field="userId",
            )
        if user.status != UserStatus.ACTIVE:
            raise Invalid(f"{user.name} is suspended: reactivate them first.", field="userId")
        await _password_allowed(user)
        issued = await _issue(conn, user, LinkPurpose.INVITATION, created_by=principal.user_id,
                              origin=origin)  # fmt: skip
        await _audit_invite(principal, conn, user, issued, resent=True)
    await outbox.kick()
    return issued


async def force_reset(principal: Principal, user_id: str | int, *, origin: str = "") -> IssuedLink:
    """An admin forces a password reset: the password stops working, sessions are revoked."""
    principal.require(Perm.USER_MANAGE)
    async with in_transaction() as conn:
        user = await get_scoped(User, principal, user_id, "User", conn)
        user = await scoped(User, principal).select_for_update().using_db(conn).get(id=user.id)
        _person(user)
        if user.deleted_at is not None:
            raise NotFound(f"User {user_id} not found.", kind="user")
        if user.id == principal.user_id:
            raise Invalid(
                "You cannot force a reset of your own password; change it under Account → "
                "Password.",
                field="userId",
            )
        await _password_allowed(user)
        now = datetime.now(UTC)
        had_password = user.password_hash is not None
        user.password_hash = None
        user.password_changed_at = now
        await user.save(using_db=conn, update_fields=["password_hash", "password_changed_at"])
        revoked = await _revoke_sessions(user, conn, now)
        issued = await _issue(conn, user, LinkPurpose.PASSWORD_RESET,
                              created_by=principal.user_id, origin=origin)  # fmt: skip
        await record(
            principal, conn, "user.password_reset_forced", "user", user.id,
            old={"has_password": had_password},
            new={"has_password": False, "sessions_revoked": revoked,
                 "expires_at": issued.expires_at.isoformat(),
                 "delivered_by": issued.delivered_by},
            risk=RiskLevel.HIGH,
        )  # fmt: skip
    await outbox.kick()
    return issued


async def _revoke_sessions(
    user: User, conn: BaseDBAsyncClient, now: datetime, *, keep: str | None = None
) -> int:
    q = scoped(Session, org_id=user.org_id).filter(user_id=user.id, revoked_at=None)
    if keep is not None:
        q = q.exclude(id=keep)
    return await q.using_db(conn).update(revoked_at=now)


# ----------------------------------------------------------------------------- self-service


async def _account_of(email: str) -> User | None:
    """The person a "forgot password" request names, if they may reset their password (unknown,
    deleted, suspended and service accounts alike: none)."""
    user = await User.get_or_none(email=email, deleted_at=None) if email else None
    if user is None or user.kind != UserKind.PERSON or user.status != UserStatus.ACTIVE:
        return None
    return user


async def _reserve_request(settings: Settings, account: str, ip: str) -> int | None:
    """Count this request per account and per IP within the hour, atomically (the failed-login
    counter's reservation: parallel requests cannot all be counted first); the seconds to wait
    when a limit is reached, else None."""
    limit = settings.forgot_password_per_hour
    keys = (("account", f"{FORGOT_ACCOUNT}{account}"[:254]), ("ip", f"{FORGOT_IP}{ip}"[:64]))
    async with in_transaction() as conn:
        await _serialise(conn, *(f"login-{field}:{key}" for field, key in keys))
        now = datetime.now(UTC)
        for field, key in keys:
            recent = LoginFailure.filter(**{field: key, "at__gte": now - FORGOT_WINDOW})
            if await recent.using_db(conn).count() >= limit:
                oldest = await recent.using_db(conn).order_by("-at").offset(limit - 1).first()
                return _retry_in(oldest.at if oldest else None, FORGOT_WINDOW, now)
        await LoginFailure.create(account=keys[0][1], ip=keys[1][1], at=now, using_db=conn)
    return None


async def forgot_password(settings: Settings, email: str, client: ClientInfo) -> None:
    """Self-service: the same answer whether or not the account exists; rate-limited. The link
    points at RISKOPS_BASE_URL (else the address `riskops serve` binds), never at the request's
    Host header."""
    account = (email or "").strip().lower()[:254]
    if not account:
        raise Invalid("E-mail address is required.", field="email")
    retry = await _reserve_request(settings, account, client.ip or "unknown")
    if retry is not None:
        raise RateLimited(
            f"Too many password reset requests; try again in {retry} seconds.", retry_after=retry
        )
    user = await _account_of(account)
    if user is None or not await org_security.password_login_allowed(user):
        # The same work as for a real account (a token and its digest, one transaction with a
        # write), so that the time of the answer tells nothing either.
        async with in_transaction() as conn:
            nobody = scoped(OneTimeLink, org_id=0).filter(token_hash=digest(new_secret()))
            await nobody.using_db(conn).update(revoked_at=datetime.now(UTC))
        return
    actor = Actor(org_id=user.org_id, actor=f"user:{user.id}", actor_type="user", ip=client.ip,
                  user_agent=client.user_agent, request_id=client.request_id)  # fmt: skip
    async with in_transaction() as conn:
        issued = await _issue(conn, user, LinkPurpose.PASSWORD_RESET, created_by=None)
        await store.append(actor, Entry(
            "user.password_reset_requested", "user", user.id, {},
            {"expires_at": issued.expires_at.isoformat(), "delivered_by": issued.delivered_by},
            RiskLevel.MEDIUM,
        ), conn)  # fmt: skip
    await outbox.kick()


async def _live_link(token: str) -> tuple[OneTimeLink, User]:
    """The link a token names and its user, or NotFound: used, expired, revoked and unknown
    links (and those of a user who can no longer sign in) look alike."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise NotFound(NOT_VALID, kind="link")
    link = await OneTimeLink.get_or_none(token_hash=digest(token)).select_related("user")
    now = datetime.now(UTC)
    if link is None or link.used_at is not None or link.revoked_at is not None:
        raise NotFound(NOT_VALID, kind="link")
    user = link.user
    if link.expires_at <= now or user.deleted_at is not None or user.kind != UserKind.PERSON:
        raise NotFound(NOT_VALID, kind="link")
    return link, user


async def link_info(token: str) -> LinkInfo:
    """The link's purpose and person, or NotFound "This link is not valid: ..." (used, expired,
    revoked or unknown look alike)."""
    link, user = await _live_link(token)
    org = await scoped(Organization, org_id=user.org_id).get()
    return LinkInfo(LinkPurpose(link.purpose), user.name, user.email, org.name, link.expires_at)


async def redeem(settings: Settings, token: str, password: str, client: ClientInfo) -> LoginResult:
    """Set the password through the link (the policy of `passwords.check_policy`), use the link,
    revoke the user's sessions (a reset), and sign in (or open the second step)."""
    link, user = await _live_link(token)
    new = passwords.check_policy(password, email=user.email, name=user.name)
    if user.status != UserStatus.ACTIVE:
        raise Invalid("This account is suspended; ask an admin of your organization.")
    await _password_allowed(user)
    password_hash = hash_password(new)  # before the transaction: argon2 takes a while
    purpose = LinkPurpose(link.purpose)
    via = "invitation" if purpose == LinkPurpose.INVITATION else "reset"
    actor = Actor(org_id=user.org_id, actor=f"user:{user.id}", actor_type="user", ip=client.ip,
                  user_agent=client.user_agent, request_id=client.request_id)  # fmt: skip
    async with in_transaction() as conn:
        now = datetime.now(UTC)
        used = await (
            scoped(OneTimeLink, org_id=user.org_id)
            .filter(id=link.id, used_at=None, revoked_at=None, expires_at__gt=now)
            .using_db(conn)
            .update(used_at=now)
        )
        if used != 1:  # another tab used it first
            raise NotFound(NOT_VALID, kind="link")
        # Any other live link of this user is spent too: the password it was for is set.
        await (
            scoped(OneTimeLink, org_id=user.org_id)
            .filter(user_id=user.id, used_at=None, revoked_at=None)
            .using_db(conn)
            .update(revoked_at=now)
        )
        await (
            scoped(User, org_id=user.org_id)
            .filter(id=user.id)
            .using_db(conn)
            .update(password_hash=password_hash, password_changed_at=now)
        )
        revoked = await _revoke_sessions(user, conn, now)
        await store.append(actor, Entry(
            "user.password_set", "user", user.id, {}, {"via": via, "sessions_revoked": revoked},
            RiskLevel.MEDIUM,
        ), conn)  # fmt: skip
    user.password_hash, user.password_changed_at = password_hash, now
    stage = await challenges.stage_after_password(user)
    if stage is not None:
        return await challenges.open_challenge(user, stage, client, via=via)
    return await start_session(settings, user, client, via=via)


# ----------------------------------------------------------------------------- signed in


async def change_password(principal: Principal, current: str, new: str) -> int:
    """A signed-in person changes their password: the current one is needed; other sessions
    are revoked (their number is returned). A wrong current password counts as a failed login
    (the same per-account and per-IP limits)."""
    user = await get_scoped(User, principal, principal.user_id, "User")
    _person(user)
    if user.password_hash is None:
        raise Invalid(
            "Your account has no password yet (you sign in with single sign-on, or a reset is "
            "pending): use the link you were sent, or “Forgot your password?” on the sign-in "
            "page.",
            field="current",
        )
    settings = get_settings()
    retry, reserved = await _reserve_attempt(settings, user.email, principal.ip or "unknown")
    if retry is not None:
        raise RateLimited(
            f"Too many wrong passwords; try again in {retry} seconds.", retry_after=retry
        )
    given = current if isinstance(current, str) else ""
    if not await asyncio.to_thread(verify_password, user.password_hash, given):  # off the loop
        raise Invalid("The current password is wrong; type it again.", field="current")
    await LoginFailure.filter(id=reserved).delete()  # the password was right
    checked = passwords.check_policy(new, email=user.email, name=user.name, field="new")
    if checked == current:
        raise Invalid("The new password is the current one; choose another.", field="new")
    password_hash = hash_password(checked)
    async with in_transaction() as conn:
        locked = await scoped(User, principal).select_for_update().using_db(conn).get(id=user.id)
        if locked.password_hash != user.password_hash:
            raise Conflict(
                "Your password was changed meanwhile (in another tab or by a reset); sign in "
                "again with the new one, then change it if you need to.",
                field="current",
            )
        now = datetime.now(UTC)
        locked.password_hash, locked.password_changed_at = password_hash, now
        await locked.save(using_db=conn, update_fields=["password_hash", "password_changed_at"])
        revoked = await _revoke_sessions(locked, conn, now, keep=principal.session_id)
        await (
            scoped(OneTimeLink, principal)
            .filter(user_id=user.id, purpose=LinkPurpose.PASSWORD_RESET, used_at=None,
                    revoked_at=None)
            .using_db(conn)
            .update(revoked_at=now)
        )  # fmt: skip
        await record(
            principal, conn, "user.password_changed", "user", user.id,
            new={"sessions_revoked": revoked}, risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    return revoked
