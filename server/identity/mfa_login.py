"""The login's second step (what the /login/code and /login/enrol pages call): the step a right
password leads to (`stage_after_password`), the `LoginChallenge` it opens (`open_challenge`),
and the challenge's use with a TOTP code, a recovery code, or the first code of an enrolment the
organization requires. Enrolment, recovery codes and the policy themselves live in `mfa`.

The second step is a `LoginChallenge`: its id is the SHA-256 of the cookie the browser holds,
it lives `login_challenge_minutes`, and it is used once (taken with a conditional UPDATE in the
transaction that checks the code, so a wrong code leaves it open and a right one closes it). It
is rate-limited per account with the password step's atomic counter, and a TOTP step is never
accepted twice (the factor's `last_step`, claimed with a conditional UPDATE)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Literal

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Invalid, RateLimited, Unauthenticated
from riskops.server.core.scoping import scoped
from riskops.server.identity import attempts, org_security, totp
from riskops.server.identity.mfa import (
    Enrolment,
    _account,
    _claim_step,
    _confirm,
    _failed,
    _pending,
    _person,
    _reserve,
    _secret_of,
)
from riskops.server.identity.models import (
    ChallengeStage,
    LoginChallenge,
    LoginFailure,
    MfaFactor,
    OrgSecurity,
    RecoveryCode,
    User,
    UserKind,
    UserStatus,
)
from riskops.server.identity.sessions import ClientInfo, LoginResult, start_session
from riskops.server.security import digest, new_secret
from riskops.server.settings import Settings, get_settings

CHALLENGE_GONE = (
    "This sign-in step has expired or was already used. Sign in again with your e-mail "
    "address and password."
)
BAD_CODE = (
    "That code is not right. Enter the 6-digit code your authenticator app shows now (each "
    "code works once), or one of your recovery codes."
)


# ----------------------------------------------------------------------------- login: contract


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
    forget_failures: str | None = None,
) -> LoginResult:
    """A `LoginChallenge` for `user` at `stage` (its cookie value in `challenge_secret`);
    `forget_failures` as in `start_session`."""
    secret = new_secret()
    now = datetime.now(UTC)
    minutes = get_settings().login_challenge_minutes
    row = dict(
        id=digest(secret), user_id=user.id, org_id=user.org_id, stage=stage, via=via,
        created_at=now, expires_at=now + timedelta(minutes=minutes), ip=client.ip,
        user_agent=(client.user_agent or "")[:300] or None,
    )  # fmt: skip
    db = connections.get("default")
    if db.capabilities.dialect == "postgres":
        # Both writes in one statement, its own transaction (issue 14's figure).
        await db.execute_query(
            _OPEN_CHALLENGE, [*{**row, "stage": stage.value}.values(), forget_failures]
        )
        return LoginResult(None, None, challenge_secret=secret, stage=stage)
    async with in_transaction() as conn:
        if forget_failures is not None:
            await LoginFailure.filter(account=forget_failures).using_db(conn).delete()
        await LoginChallenge.create(**row, using_db=conn)
    return LoginResult(None, None, challenge_secret=secret, stage=stage)


# PostgreSQL: forget the account's failures ($10; NULL forgets none) and open the challenge.
_OPEN_CHALLENGE = (
    "WITH forgotten AS (DELETE FROM login_failure WHERE account = $10::text) "
    "INSERT INTO login_challenge (id, user_id, org_id, stage, via, created_at, expires_at, ip, "
    "user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)


# ----------------------------------------------------------------------------- login: steps


async def _challenge(
    secret: str | None, stage: ChallengeStage | None
) -> tuple[LoginChallenge, User]:
    """The open challenge the cookie `secret` stands for, at `stage` (any when None), and its
    user (active)."""
    if not secret or len(secret) > 200:
        raise Unauthenticated(CHALLENGE_GONE)
    # The challenge and its user in one statement (a login sends as few as it can).
    challenge = await LoginChallenge.get_or_none(id=digest(secret)).select_related("user")
    now = datetime.now(UTC)
    if (
        challenge is None
        or (stage is not None and challenge.stage != stage)
        or challenge.used_at is not None
        or challenge.expires_at <= now
    ):
        raise Unauthenticated(CHALLENGE_GONE)
    user = challenge.user
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
    challenge, _ = await _challenge(secret, None)
    return challenge.stage


async def _take(challenge: LoginChallenge, conn: BaseDBAsyncClient) -> bool:
    """Use the challenge once: a second request with the same cookie finds it used (True; gone
    meanwhile: Unauthenticated)."""
    now = datetime.now(UTC)
    taken = (
        await scoped(LoginChallenge, org_id=challenge.org_id)
        .filter(id=challenge.id, used_at=None, expires_at__gt=now)
        .using_db(conn)
        .update(used_at=now)
    )
    if not taken:
        raise Unauthenticated(CHALLENGE_GONE)
    return True


class _WrongCode(Unauthenticated):
    """A wrong second-step code (counted and audited; the challenge stays open)."""


async def second_step(
    settings: Settings, challenge_secret: str | None, code: str, client: ClientInfo
) -> LoginResult:
    """The second step at login: a TOTP code or one of the recovery codes. A right code uses
    the challenge and starts the session (`auth.login` via "mfa"); a wrong one is counted and
    audited (`auth.login_failed`, reason bad_code) and the challenge stays open."""
    typed = totp.clean(code)
    factor: MfaFactor | None = None
    if totp.is_totp_code(typed):
        # The factor is read with the challenge, at once: its step is claimed below with a
        # conditional UPDATE of this very row, so reading it before the locks is safe.
        (challenge, user), factor = await asyncio.gather(
            _challenge(challenge_secret, ChallengeStage.MFA), _factor_of(challenge_secret)
        )
    else:
        challenge, user = await _challenge(challenge_secret, ChallengeStage.MFA)
    account = _account(user)
    # One transaction holds the account's and the IP's locks while it counts, checks the code
    # (cheap, unlike a password) and either writes the failure or uses the challenge and
    # starts the session: a parallel attempt waits for it and then sees its failure counted.
    async with in_transaction() as conn:
        retry = await attempts.limit_reached(conn, settings, account, client.ip or "-")
        if retry is None:
            if totp.is_totp_code(typed):
                ok = await _accept_totp(user, factor, typed, challenge, conn)
            else:
                ok = await _use_recovery(user, typed, client, conn) and await _take(challenge, conn)
            if ok:
                # the challenge used (gone meanwhile: Unauthenticated, and nothing of this
                # attempt stays), the account's wrong codes forgotten, the session started
                return await start_session(
                    settings, user, client, via="mfa", forget_failures=account, conn=conn
                )
            await LoginFailure.create(
                account=account, ip=client.ip or "-", at=datetime.now(UTC), using_db=conn
            )
    if retry is not None:
        await _failed(user, client, "rate_limited", RiskLevel.HIGH)
        raise RateLimited(f"Too many wrong codes; try again in {retry} seconds.", retry_after=retry)
    await _failed(user, client, "bad_code", RiskLevel.MEDIUM)
    raise _WrongCode(BAD_CODE, field="code")


async def use_recovery_code(
    settings: Settings, challenge_secret: str | None, code: str, client: ClientInfo
) -> LoginResult:
    """The second step with a recovery code only (each works once)."""
    if not totp.is_recovery_code(totp.clean(code)):
        code = "-"  # counted and refused like any wrong code
    return await second_step(settings, challenge_secret, code, client)


async def login_enrolment(challenge_secret: str | None) -> Enrolment:
    """The enrolment a person whose organization requires MFA sees right after the password
    (the same one again on a reload, until it is confirmed)."""
    _, user = await _challenge(challenge_secret, ChallengeStage.ENROL)
    return await _pending(user)


async def login_enrol_confirm(
    settings: Settings, challenge_secret: str | None, code: str, client: ClientInfo
) -> tuple[LoginResult, list[str]]:
    """Confirm the enrolment at login with a first code: the factor is on, the ten recovery
    codes exist (returned this once), and the session starts."""
    challenge, user = await _challenge(challenge_secret, ChallengeStage.ENROL)
    reserved = await _reserve(settings, user, client)
    try:
        async with in_transaction() as conn:
            await _take(challenge, conn)
            codes = await _confirm(user, totp.clean(code), _person(user, client), conn)
    except Invalid:
        await _failed(user, client, "bad_code", RiskLevel.MEDIUM)
        raise
    except Unauthenticated:
        await LoginFailure.filter(id=reserved).delete()
        raise
    session = await start_session(settings, user, client, via="mfa", forget_failures=_account(user))
    return session, codes


# ----------------------------------------------------------------------------- codes


async def _factor_of(challenge_secret: str | None) -> MfaFactor | None:
    """The factor of the user a challenge cookie stands for (checked against the challenge's
    user by `_accept_totp`)."""
    if not challenge_secret or len(challenge_secret) > 200:
        return None
    return await MfaFactor.filter(user__login_challenges__id=digest(challenge_secret)).first()


async def _accept_totp(
    user: User,
    factor: MfaFactor | None,
    code: str,
    challenge: LoginChallenge,
    conn: BaseDBAsyncClient,
) -> bool:
    """Whether `code` is the user's current TOTP code and its step is later than the last one
    accepted; the step is recorded with a conditional UPDATE, so of two requests with the same
    code only one is accepted. Accepted, the challenge is used in the same transaction
    (Unauthenticated when it is gone meanwhile)."""
    if factor is None or factor.user_id != user.id or factor.confirmed_at is None:
        return False
    step = totp.matching_step(_secret_of(factor), code)
    if step is None:
        return False
    if conn.capabilities.dialect != "postgres":
        return await _claim_step(factor, code, conn) and await _take(challenge, conn)
    # PostgreSQL: the step's claim and the challenge's use in one statement
    now = datetime.now(UTC)
    [row] = await conn.execute_query_dict(
        _CLAIM_AND_TAKE, [step, factor.id, user.id, now, challenge.id, challenge.org_id]
    )
    if not row["step"]:
        return False
    if not row["taken"]:
        raise Unauthenticated(CHALLENGE_GONE)
    return True


_CLAIM_AND_TAKE = (
    "WITH step AS (UPDATE mfa_factor SET last_step = $1 WHERE id = $2 AND user_id = $3 "
    "AND (last_step IS NULL OR last_step < $1) RETURNING id), "
    "taken AS (UPDATE login_challenge SET used_at = $4 WHERE id = $5 AND org_id = $6 "
    "AND used_at IS NULL AND expires_at > $4 AND EXISTS (SELECT 1 FROM step) RETURNING id) "
    "SELECT (SELECT count(*) FROM step) AS step, (SELECT count(*) FROM taken) AS taken"
)


async def _use_recovery(user: User, code: str, client: ClientInfo, conn: BaseDBAsyncClient) -> bool:
    if not user.mfa_enabled or not totp.is_recovery_code(code):
        return False
    now = datetime.now(UTC)
    used = (
        await RecoveryCode.filter(user_id=user.id, code_hash=totp.recovery_hash(code), used_at=None)
        .using_db(conn)
        .update(used_at=now)
    )
    if used != 1:
        return False
    left = await RecoveryCode.filter(user_id=user.id, used_at=None).using_db(conn).count()
    await record(_person(user, client), conn, "mfa.recovery_code_used", "user", user.id,
                 new={"recovery_codes_left": left}, risk=RiskLevel.MEDIUM)  # fmt: skip
    return True
