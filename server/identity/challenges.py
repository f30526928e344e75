"""The login challenge (`LoginChallenge`): the step between a right password (or single
sign-on, or an invitation's link) and a session. Which step a right password leads to
(`stage_after_password`), opening the challenge with what its TOTP code will be checked against
(`open_challenge`, `totp_check`), reading it back from its cookie, and using it once. The steps
that use it (a code, a recovery code, a first enrolment) live in `mfa_login`.

Its id is the SHA-256 of the cookie the browser holds, whose value starts with the
organization's and the user's ids (`ids_of`); it lives `login_challenge_minutes` and is used
once (`take`, or the second step's one statement)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from riskops.server.core.errors import Unauthenticated
from riskops.server.core.scoping import scoped
from riskops.server.core.sealing import Unsealable
from riskops.server.db import aliased, joined, sqlite_run
from riskops.server.identity import attempts, org_security, totp
from riskops.server.identity.mfa import _account, _secret_of
from riskops.server.identity.models import (
    ChallengeStage,
    LoginChallenge,
    MfaFactor,
    OrgSecurity,
    User,
    UserKind,
    UserStatus,
)
from riskops.server.identity.sessions import ClientInfo, LoginResult
from riskops.server.security import digest, new_secret
from riskops.server.settings import get_settings

CHALLENGE_GONE = (
    "This sign-in step has expired or was already used. Sign in again with your e-mail "
    "address and password."
)


async def stage_after_password(
    user: User, policy: OrgSecurity | Literal["unread"] | None = "unread"
) -> ChallengeStage | None:
    """The step a right password leads to: MFA when the user has a confirmed factor, ENROL when
    the organization requires MFA of this user and there is none, else None (a session).
    `policy`: the organization's policy when the caller has read it already."""
    if user.mfa_enabled:
        return ChallengeStage.MFA
    if policy == "unread":
        policy = await org_security.policy_of(user.org_id)
    if org_security.mfa_required(policy, user):
        return ChallengeStage.ENROL
    return None


async def open_challenge(
    user: User,
    stage: ChallengeStage,
    client: ClientInfo,
    *,
    via: str = "password",
    factor: MfaFactor | Literal["unread"] | None = "unread",
) -> LoginResult:
    """A `LoginChallenge` for `user` at `stage` (its cookie value in `challenge_secret`). The
    password step opens it while the password is being checked (`auth.login`): its cookie value
    is handed out only when the password is right, so a challenge opened for a wrong one is a
    row nobody can use (removed a day after it expires: `identity.expiry`). The account's
    failed attempts are forgotten by the second step, when the session starts.

    The cookie value starts with the organization's and the user's ids (`ids_of`; the
    challenge's id is the SHA-256 of the whole value, so they cannot be changed): the second
    step writes the session and its event before it has read the user. At the MFA stage the
    challenge holds what the second step checks a code against (`totp_check`), made of the
    user's TOTP factor: `factor` when the caller read it (the password step, with the
    account), else read here."""
    secret = f"{user.org_id}.{user.id}.{new_secret()}"
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=get_settings().login_challenge_minutes)
    check = None
    if stage == ChallengeStage.MFA:
        if factor == "unread":
            factor = await MfaFactor.get_or_none(user_id=user.id)
        check = totp_check(user, factor, via, digest(secret), now, expires)
    values = [
        digest(secret), user.id, user.org_id, stage.value, via, now, expires, client.ip,
        (client.user_agent or "")[:300] or None, json.dumps(check) if check else None,
    ]  # fmt: skip
    db = connections.get("default")
    if db.capabilities.dialect == "postgres":
        await db.execute_query(_OPEN_CHALLENGE, values)  # one statement, its own transaction
    else:
        await sqlite_run(db, _sqlite_open_challenge, values, transaction=True)
    return LoginResult(None, None, challenge_secret=secret, stage=stage)


def totp_check(
    user: User,
    factor: MfaFactor | None,
    via: str,
    challenge_id: str,
    now: datetime,
    expires: datetime,
) -> dict[str, Any] | None:
    """What the second step checks a TOTP code against without reading the factor: its id, the
    keyed digests of its codes (`totp.code_digest`, bound to the challenge) of every time step
    a code may be typed in until the challenge expires, and the accounts a right code clears
    (`forgotten_on_success`). None without a confirmed factor, or when its secret cannot be
    opened (the second step then reads the factor, and says so)."""
    if factor is None or factor.user_id != user.id or factor.confirmed_at is None:
        return None
    try:
        secret = _secret_of(factor)
    except Unsealable:
        return None
    key = get_settings().key
    first = totp.current_step(now.timestamp()) - totp.VALID_WINDOW
    last = totp.current_step(expires.timestamp()) + totp.VALID_WINDOW
    codes = [totp.code_digest(key, challenge_id, step, code)
             for step, code in totp.codes_between(secret, first, last)]  # fmt: skip
    return {"factor": factor.id, "codes": codes, "forget": list(forgotten(user, via))}


def code_step(
    challenge: LoginChallenge, user: User, factor: MfaFactor | None, code: str
) -> int | None:
    """The time step a typed TOTP code is of, for this challenge: against its `totp_check` when
    it has one (`checked_step`), else against the user's confirmed factor itself."""
    if challenge.totp_check:
        return checked_step(challenge, factor, code)
    if factor is None or factor.user_id != user.id or factor.confirmed_at is None:
        return None
    return totp.matching_step(_secret_of(factor), code)


def checked_step(challenge: LoginChallenge, factor: MfaFactor | None, code: str) -> int | None:
    """`totp.matching_step` against the challenge's `totp_check`: the earliest step of the
    window whose digest it holds (and only for the factor it was made of)."""
    check = challenge.totp_check or {}
    if factor is None or factor.id != check.get("factor") or not totp.is_totp_code(code):
        return None
    key, held = get_settings().key, set(check.get("codes") or ())
    for step in totp.window():
        if totp.code_digest(key, challenge.id, step, code) in held:
            return step
    return None


def ids_of(secret: str | None) -> tuple[int, int] | None:
    """The organization's and the user's ids a challenge's cookie value starts with."""
    org, _, rest = (secret or "").partition(".")
    user, _, token = rest.partition(".")
    if not (org.isascii() and org.isdigit() and user.isascii() and user.isdigit() and token):
        return None
    if len(org) > 12 or len(user) > 12:
        return None
    return int(org), int(user)


def _sqlite_open_challenge(db: sqlite3.Connection, values: list[Any]) -> None:
    db.execute(_OPEN_CHALLENGE_SQLITE, values)


def forgotten_on_success(user: User, challenge: LoginChallenge) -> tuple[str, ...]:
    """The rate limit's accounts a completed second step forgets the failures of (`forgotten`
    for the way the challenge was opened)."""
    return forgotten(user, challenge.via)


def forgotten(user: User, via: str) -> tuple[str, ...]:
    """The rate limit's accounts a completed second step forgets the failures of: the codes'
    (`mfa:<id>`) and, when a password opened the challenge, the password's: until the code
    is right, the password attempt that opened it counts as a failure (someone who has the
    password but not the code is still counted as a guesser)."""
    if via == "password":
        return (_account(user), attempts.password_account(user.email))
    return (_account(user),)


# PostgreSQL: open the challenge, committed without waiting for the WAL flush
# (`synchronous_commit` off for this transaction only): a crash may lose a challenge opened in
# its last fraction of a second (the person types the password again), never an audit event
# (the session and its event are written by the second step, flushed).
_OPEN_CHALLENGE = (
    "WITH lazy AS (SELECT set_config('synchronous_commit', 'off', true)) "
    "INSERT INTO login_challenge (id, user_id, org_id, stage, via, created_at, expires_at, ip, "
    "user_agent, totp_check) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) "
    "RETURNING (SELECT 1 FROM lazy)"
)
_OPEN_CHALLENGE_SQLITE = (
    "INSERT INTO login_challenge (id, user_id, org_id, stage, via, created_at, expires_at, ip, "
    "user_agent, totp_check) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


async def challenge_of(
    secret: str | None, stage: ChallengeStage | None
) -> tuple[LoginChallenge, User]:
    """The open challenge the cookie `secret` stands for, at `stage` (any when None), and its
    user (active)."""
    if not secret or len(secret) > 200:
        raise Unauthenticated(CHALLENGE_GONE)
    # The challenge and its user in one statement (a login sends as few as it can).
    challenge = await LoginChallenge.get_or_none(id=digest(secret)).select_related("user")
    return _open(challenge, challenge.user if challenge else None, stage)


def _open(
    challenge: LoginChallenge | None, user: User | None, stage: ChallengeStage | None
) -> tuple[LoginChallenge, User]:
    """The challenge and its user when the challenge is open at `stage` and the user active;
    else Unauthenticated."""
    now = datetime.now(UTC)
    if (
        challenge is None
        or (stage is not None and challenge.stage != stage)
        or challenge.used_at is not None
        or challenge.expires_at <= now
    ):
        raise Unauthenticated(CHALLENGE_GONE)
    assert user is not None
    if (
        user.org_id != challenge.org_id
        or user.deleted_at is not None
        or user.status != UserStatus.ACTIVE
        or user.kind != UserKind.PERSON
    ):
        raise Unauthenticated(CHALLENGE_GONE)
    return challenge, user


async def challenge_stage(secret: str | None) -> ChallengeStage:
    """The stage of the open challenge the cookie `secret` stands for (Unauthenticated when
    there is none): which page of the second step the browser belongs on."""
    challenge, _ = await challenge_of(secret, None)
    return challenge.stage


async def take(challenge: LoginChallenge, conn: BaseDBAsyncClient) -> bool:
    """Use the challenge once: a second request with the same cookie finds it used (True; gone
    meanwhile: Unauthenticated)."""
    now = datetime.now(UTC)
    taken = (
        await scoped(LoginChallenge, org_id=challenge.org_id)
        .filter(id=challenge.id, used_at=None, expires_at__gt=now)
        .using_db(conn)
        .update(used_at=now, totp_check=None)
    )
    if not taken:
        raise Unauthenticated(CHALLENGE_GONE)
    return True


_CHALLENGE = ("id", "org_id", "user_id", "stage", "via", "created_at", "expires_at", "used_at",
              "ip", "user_agent", "totp_check")  # fmt: skip
FACTOR_COLUMNS = ("id", "user_id", "secret_sealed", "created_at", "confirmed_at", "last_step")
_CHALLENGE_AND_FACTOR = (
    f"SELECT u.*, {aliased('c', 'challenge', _CHALLENGE)}, "
    f"{aliased('f', 'factor', FACTOR_COLUMNS)} "
    "FROM login_challenge c JOIN app_user u ON u.id = c.user_id "
    "LEFT JOIN mfa_factor f ON f.user_id = c.user_id WHERE c.id = {} LIMIT 1"
)


async def challenge_and_factor(
    secret: str | None,
) -> tuple[LoginChallenge, User, MfaFactor | None]:
    """`challenge_of` at the MFA stage, with the factor of its user, in one statement (the factor's
    step is claimed with a conditional UPDATE of this very row, so reading it before the locks
    is safe)."""
    if not secret or len(secret) > 200:
        raise Unauthenticated(CHALLENGE_GONE)
    db = connections.get("default")
    mark = "$1" if db.capabilities.dialect == "postgres" else "?"
    rows = await db.execute_query_dict(_CHALLENGE_AND_FACTOR.format(mark), [digest(secret)])
    if not rows:
        raise Unauthenticated(CHALLENGE_GONE)
    row = rows[0]
    challenge = joined(LoginChallenge, row, "challenge", _CHALLENGE)
    challenge, user = _open(challenge, User._init_from_db(**row), ChallengeStage.MFA)
    return challenge, user, joined(MfaFactor, row, "factor", FACTOR_COLUMNS)
