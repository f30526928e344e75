"""Logging in and out, and resolving a session cookie or bearer token to a Principal.

Failed logins are counted per account and per IP in the database (so every web process sees
them) and refused with RATE_LIMITED past the limits; every attempt is audited. An attempt is
counted before its password is checked (`_reserve_attempt`, serialised per account), so parallel
attempts cannot slip past the limit.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import SYSTEM_ORG, Actor, Entry, RiskLevel
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Forbidden, RateLimited, Unauthenticated
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, scoped
from riskops.server.db import aliased, joined, sqlite_run
from riskops.server.identity import attempts, challenges, org_security
from riskops.server.identity.models import (
    ApiToken,
    LoginFailure,
    MfaFactor,
    OrgSecurity,
    Session,
    User,
    UserKind,
    UserStatus,
)
from riskops.server.identity.sessions import (
    ClientInfo,
    LoginResult,
    _principal,
    own_makers,
    start_session,
)
from riskops.server.security import digest, verify_password
from riskops.server.settings import Settings

__all__ = [
    "ClientInfo",
    "LoginResult",
    "from_bearer",
    "from_session",
    "list_sessions",
    "login",
    "logout",
    "own_makers",
    "person",
    "revoke_sessions",
    "start_session",
]

TOUCH_EVERY = timedelta(seconds=60)


def _mask(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


# The counter moved to `attempts` (shared with the second step); these names stay for callers.
_retry_in = attempts.retry_in
_serialise = attempts.serialise
_reserve_attempt = attempts.reserve_attempt


# The account, its organization's security policy (SSO only, MFA) and its TOTP factor (the
# challenge of a second step is opened with what its code is checked against) in one statement.
_POLICY = ("id", "org_id", "mfa_policy", "sso_only", "break_glass_user_id", "updated_at",
           "updated_by_id", "version")  # fmt: skip
_FACTOR = challenges.FACTOR_COLUMNS
_LOOKUP = (
    f"SELECT u.*, {aliased('s', 'policy', _POLICY)}, {aliased('f', 'factor', _FACTOR)} "
    "FROM app_user u "
    "LEFT JOIN org_security s ON s.org_id = u.org_id "
    "LEFT JOIN mfa_factor f ON f.user_id = u.id WHERE u.email = {} AND u.deleted_at IS NULL "
    "LIMIT 1"
)
_LOOKUP_SQLITE = _LOOKUP.format("?")
# PostgreSQL: the attempt's reservation (`attempts`, its own transaction, committed without
# waiting for the WAL flush) and the account with its policy, in one statement: one round trip
# on one connection before argon2 (issue 14's figure). The reservation does not depend on
# whether the account exists.
_LOOKUP_AND_RESERVE_PG = (
    "SELECT r.reserved_id, r.by_account, r.by_ip, "
    "set_config('synchronous_commit', 'off', true) AS lazy, x.* "
    "FROM riskops_login_reserve($1, $2, $3, $4, $5, $6, true) r "
    "LEFT JOIN LATERAL (" + _LOOKUP.format("$1") + ") x ON true"
)


def _found(rows: list[Any]) -> tuple[User | None, OrgSecurity | None, MfaFactor | None]:
    if not rows or rows[0]["id"] is None:
        return None, None, None
    row = dict(rows[0])
    user = User._init_from_db(**row)
    policy = joined(OrgSecurity, row, "policy", _POLICY)
    return user, policy, joined(MfaFactor, row, "factor", _FACTOR)


def _sqlite_lookup_and_reserve(
    db: sqlite3.Connection, settings: Settings, account: str, ip: str
) -> tuple[list[Any], int]:
    found = db.execute(_LOOKUP_SQLITE, [account]).fetchall() if account else []
    return found, attempts.sqlite_try_reserve(db, settings, account, ip)


async def _lookup_and_reserve(
    settings: Settings, account: str, ip: str
) -> tuple[User | None, OrgSecurity | None, MfaFactor | None, int | None, int]:
    """The account, its organization's policy and the attempt's reservation (`attempts`): the
    reservation does not depend on whether the account exists. PostgreSQL: one statement;
    SQLite: one thread hop, unless a limit is reached."""
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        now = datetime.now(UTC)
        [row] = await conn.execute_query_dict(
            _LOOKUP_AND_RESERVE_PG, [account, ip, *attempts.reserve_params(settings, now)]
        )
        retry, reserved = await attempts.reserved(
            conn, settings, account, ip, now, row, insert=True
        )
        user, policy, factor = _found([row])
        return user, policy, factor, retry, reserved or 0
    rows, reserved = await sqlite_run(
        conn, _sqlite_lookup_and_reserve, settings, account, ip, transaction=False
    )
    user, policy, factor = _found(rows)
    if reserved:
        return user, policy, factor, None, reserved
    # a limit was reached: the counted path says for how long (or reserves, if no longer)
    retry, reserved = await _reserve_attempt(settings, account, ip)
    return user, policy, factor, retry, reserved


async def login(settings: Settings, email: str, password: str, client: ClientInfo) -> LoginResult:
    account = attempts.password_account(email)
    ip = client.ip or "unknown"
    user, policy, factor, retry, reserved = await _lookup_and_reserve(settings, account, ip)
    actor = Actor(
        org_id=user.org_id if user else SYSTEM_ORG,
        actor=f"user:{user.id}" if user else "anonymous",
        actor_type="user" if user else "anonymous",
        ip=client.ip,
        user_agent=client.user_agent,
        request_id=client.request_id,
    )
    entity_id = user.id if user else "unknown"

    if retry is not None:
        await store.emit(actor, Entry(
            "auth.login_failed", "user", entity_id, {},
            {"reason": "rate_limited", "account": _mask(account)}, RiskLevel.HIGH,
        ))  # fmt: skip
        raise RateLimited(
            f"Too many failed logins; try again in {retry} seconds.", retry_after=retry
        )

    if user is not None and user.kind == UserKind.SERVICE:
        await LoginFailure.filter(id=reserved).delete()  # not a guess at a password
        await store.emit(actor, Entry(
            "auth.login_failed", "user", user.id, {}, {"reason": "service_account"},
            RiskLevel.HIGH,
        ))  # fmt: skip
        raise Forbidden(
            f"{user.name} is a service account: it cannot sign in. Automation uses the API "
            "token an admin minted for it (Admin → API tokens)."
        )
    # argon2 takes ~200 ms of CPU: in a thread (argon2-cffi releases the GIL), so the other
    # requests of this process do not wait for a login (the organization's security policy
    # was read with the account)
    loop, entered = asyncio.get_running_loop(), asyncio.Event()

    def check(password_hash: str | None, typed: str) -> bool:
        loop.call_soon_threadsafe(entered.set)
        return verify_password(password_hash, typed)

    # started now, not when awaited: argon2 is the whole login's time
    checking = loop.run_in_executor(
        None, check, user.password_hash if user else None, password or ""
    )
    stage = None
    allowed = user is not None and org_security.password_allowed(policy, user)
    if user is not None and user.status == UserStatus.ACTIVE and allowed:
        stage = await challenges.stage_after_password(user, policy)
    opened: LoginResult | None = None
    if stage is not None and user is not None:
        # A second step follows a right password: its challenge is opened while argon2 runs
        # (issue 14's figure: no write after the check). Its cookie value is handed out only
        # if the password is right; for a wrong one the row is of no use to anyone. Its Python
        # (the digests of the factor's codes) runs once argon2's thread has started: that
        # thread gives the GIL up as it enters argon2's C code, a few lines on, so the
        # challenge's Python does not hold argon2's start back.
        await entered.wait()
        ok, opened = await asyncio.gather(
            checking,
            challenges.open_challenge(user, stage, client, via="password", factor=factor),
        )
    else:
        ok = await checking
    if not ok or user is None:
        # The attempt's reserved row stays: it is this failure.
        await store.emit(actor, Entry(
            "auth.login_failed", "user", entity_id, {},
            {"reason": "bad_credentials", "account": _mask(account)}, RiskLevel.MEDIUM,
        ))  # fmt: skip
        raise Unauthenticated("Wrong e-mail address or password.")
    # The password was right: from here on the attempt is not a guess. Its reserved row goes
    # on a refusal below, or with the account's other failures when the session is written
    # (by the second step, when there is one: until its code is right, it counts).
    if user.status != UserStatus.ACTIVE:
        await LoginFailure.filter(id=reserved).delete()
        await store.emit(actor, Entry(
            "auth.login_failed", "user", user.id, {}, {"reason": "suspended"}, RiskLevel.HIGH,
        ))  # fmt: skip
        raise Forbidden("This account is suspended; ask an admin of your organization.")
    if not allowed:
        await LoginFailure.filter(id=reserved).delete()
        await store.emit(actor, Entry(
            "auth.login_failed", "user", user.id, {}, {"reason": "sso_only"}, RiskLevel.MEDIUM,
        ))  # fmt: skip
        raise Forbidden(
            'Your organization signs in through single sign-on only: use "Sign in with SSO" '
            "on the login page."
        )
    if opened is not None:
        return opened
    return await start_session(settings, user, client, via="password", forget_failures=(account,))


async def person(org_id: int, email: str, client: ClientInfo) -> Principal | None:
    """An active user of the organization, found by e-mail, acting with their own roles (the
    CLI's `--as`: approvals need a person, since maker-checker compares who asked with who
    decides); None when there is no such user."""
    user = await scoped(User, org_id=org_id).get_or_none(
        email=email.strip().lower(), status=UserStatus.ACTIVE, deleted_at=None
    )
    if user is None or user.kind != UserKind.PERSON:
        return None
    return _principal(user, client, await own_makers(user))


async def logout(principal: Principal) -> None:
    if principal.session_id is None:
        return
    async with in_transaction() as conn:
        n = (
            await scoped(Session, principal)
            .filter(id=principal.session_id, revoked_at=None)
            .using_db(conn)
            .update(revoked_at=datetime.now(UTC))
        )
        if n:
            await record(principal, conn, "auth.logout", "session", principal.session_id[:16])


async def from_session(secret: str, client: ClientInfo) -> Principal | None:
    if not secret or len(secret) > 200:
        return None
    session = await Session.get_or_none(id=digest(secret)).select_related("user")
    now = datetime.now(UTC)
    if session is None or session.revoked_at is not None or session.expires_at <= now:
        return None
    user = session.user
    if user.status != UserStatus.ACTIVE or user.deleted_at is not None:
        return None
    if user.kind != UserKind.PERSON:  # a service account never has a session
        return None
    if session.last_seen_at is None or now - session.last_seen_at > TOUCH_EVERY:
        await Session.filter(id=session.id).update(last_seen_at=now)
    return _principal(user, client, await own_makers(user), session_id=session.id)


async def from_bearer(secret: str, client: ClientInfo) -> Principal | None:
    if not secret or len(secret) > 200:
        return None
    token = await ApiToken.get_or_none(token_hash=digest(secret)).select_related("user")
    now = datetime.now(UTC)
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    user = token.user
    if user.status != UserStatus.ACTIVE or user.deleted_at is not None:
        return None
    if user.kind == UserKind.PERSON and token.created_by_id != user.id:
        # Minted for a person by someone else (before that was refused): it would let its
        # minter act as them, so it acts as nobody. The person creates their own.
        return None
    ip, agent = client.ip, (client.user_agent or "")[:300] or None
    if (
        token.last_used_at is None
        or now - token.last_used_at > TOUCH_EVERY
        or (ip, agent) != (token.last_ip, token.last_user_agent)
    ):
        await ApiToken.filter(id=token.id).update(
            last_used_at=now, last_ip=ip, last_user_agent=agent
        )
    return _principal(user, client, await own_makers(user, token), token=token)


async def list_sessions(principal: Principal, user_id: str | int) -> list[Session]:
    if str(user_id) != str(principal.user_id):
        principal.require(Perm.USER_MANAGE)
    user = await get_scoped(User, principal, user_id, "User")
    return (
        await scoped(Session, principal)
        .filter(user_id=user.id, revoked_at=None, expires_at__gt=datetime.now(UTC))
        .order_by("-created_at")
    )


async def revoke_sessions(principal: Principal, user_id: str | int) -> int:
    """Sign a user out everywhere (admin, or the user themself)."""
    if str(user_id) != str(principal.user_id):
        principal.require(Perm.USER_MANAGE)
    async with in_transaction() as conn:
        user = await get_scoped(User, principal, user_id, "User")
        n = (
            await scoped(Session, principal)
            .filter(user_id=user.id, revoked_at=None)
            .using_db(conn)
            .update(revoked_at=datetime.now(UTC))
        )
        await record(
            principal, conn, "session.revoke", "user", user.id,
            new={"sessions_revoked": n}, risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    return n
