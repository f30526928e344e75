"""The login's second step (what the /login/code and /login/enrol pages call): the challenge
(`challenges`) used with a TOTP code, a recovery code, or the first code of an enrolment the
organization requires. Enrolment, recovery codes and the policy themselves live in `mfa`.

A wrong code leaves the challenge open and a right one closes it, in the transaction (or, on
PostgreSQL, the one statement) that checks the code. It is rate-limited per account with the
password step's atomic counter, and a TOTP step is never accepted twice (the factor's
`last_step`, claimed with a conditional UPDATE)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import RiskLevel
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Invalid, RateLimited, Unauthenticated
from riskops.server.db import sqlite_run
from riskops.server.identity import attempts, totp
from riskops.server.identity.challenges import (
    CHALLENGE_GONE,
    challenge_and_factor,
    challenge_of,
    code_step,
    forgotten_on_success,
    ids_of,
    take,
)
from riskops.server.identity.mfa import (
    Enrolment,
    _account,
    _claim_step,
    _confirm,
    _failed,
    _pending,
    _person,
    _reserve,
)
from riskops.server.identity.models import (
    ChallengeStage,
    LoginChallenge,
    LoginFailure,
    MfaFactor,
    RecoveryCode,
    User,
    UserKind,
    UserStatus,
)
from riskops.server.identity.sessions import (
    ClientInfo,
    LoginResult,
    Opening,
    _principal,
    draft,
    own_makers,
    prepare,
    sqlite_write,
    start_session,
)
from riskops.server.security import digest
from riskops.server.settings import Settings

BAD_CODE = (
    "That code is not right. Enter the 6-digit code your authenticator app shows now (each "
    "code works once), or one of your recovery codes."
)


# ----------------------------------------------------------------------------- login: steps


class _WrongCode(Unauthenticated):
    """A wrong second-step code (counted and audited; the challenge stays open)."""


async def second_step(
    settings: Settings, challenge_secret: str | None, code: str, client: ClientInfo
) -> LoginResult:
    """The second step at login: a TOTP code or one of the recovery codes. A right code uses
    the challenge and starts the session (`auth.login` via "mfa"); a wrong one is counted and
    audited (`auth.login_failed`, reason bad_code) and the challenge stays open.

    A TOTP code takes the short way (issue 14's figure). PostgreSQL: one statement for a
    challenge opened with its `totp_check` (`_FAST_STEP`: the code checked against the
    challenge's keyed digests; it counts under the locks, claims the step, uses the challenge
    and starts the session). SQLite: the challenge, its user and the factor in one statement,
    then the same in one thread hop (`_sqlite_step`).
    A recovery code, an attempt past the limit, or (PostgreSQL) a challenge without its
    `totp_check` take the counted way (`_counted_step`)."""
    typed = totp.clean(code)
    if not totp.is_totp_code(typed):
        challenge, user = await challenge_of(challenge_secret, ChallengeStage.MFA)
        return await _counted_step(settings, challenge, user, None, typed, client)
    db = connections.get("default")
    if db.capabilities.dialect == "postgres":
        ids = ids_of(challenge_secret)
        if ids is not None and challenge_secret and len(challenge_secret) <= 200:
            done = await _pg_fast_step(settings, challenge_secret, ids, typed, client)
            if done is not None:
                return done
        # not open with its `totp_check` (or its factor's secret could not be opened): the
        # challenge read says which, or the counted way checks the code against the factor
        challenge, user, factor = await challenge_and_factor(challenge_secret)
        return await _counted_step(settings, challenge, user, factor, typed, client)
    challenge, user, factor = await challenge_and_factor(challenge_secret)
    step = code_step(challenge, user, factor, typed)
    account, ip = _account(user), client.ip or "-"
    forget = forgotten_on_success(user, challenge)
    opening = await prepare(settings, user, client, via="mfa", forget_failures=forget)
    claim = [step, factor.id if factor else None, user.id, challenge.id, challenge.org_id]
    outcome = await sqlite_run(
        db, _sqlite_step, settings, account, ip, claim, opening, transaction=True
    )
    if outcome == "ok":
        return opening.done(user)
    if outcome == "limited":  # the counted way says for how long (or, no longer, goes on)
        return await _counted_step(settings, challenge, user, factor, typed, client)
    await _failed(user, client, "bad_code", RiskLevel.MEDIUM)
    raise _WrongCode(BAD_CODE, field="code")


async def _pg_fast_step(
    settings: Settings, secret: str, ids: tuple[int, int], typed: str, client: ClientInfo
) -> LoginResult | None:
    """PostgreSQL: the second step in one statement (`_FAST_STEP`), for a challenge opened with
    its `totp_check` by the password step: the session and its event are drafted from the ids
    the cookie starts with, which the statement checks against the challenge. None when the
    challenge is not open with a `totp_check` (nothing was written): the way that reads first
    says why, or does it."""
    org_id, user_id = ids
    challenge_id = digest(secret)
    d = draft(settings, org_id, user_id, client, via="mfa")
    now = d.row[3]
    steps = totp.window(now.timestamp())
    digests = [totp.code_digest(settings.key, challenge_id, step, typed) for step in steps]
    params = [
        attempts.code_account(user_id), client.ip or "-", *attempts.reserve_params(settings, now),
        challenge_id, user_id, org_id, steps, digests, d.row[0], d.row[4], d.row[5], d.row[6],
        *d.event,
    ]  # fmt: skip
    db = connections.get("default")
    [row] = await db.execute_query_dict(_FAST_STEP, params)
    if row["prepared"] and not row["has_head"]:  # nothing was written: the head, then again
        await store.ensure_head(org_id, db)
        [row] = await db.execute_query_dict(_FAST_STEP, params)
    if not row["prepared"]:
        return None
    user = User._init_from_db(**row)
    if not row["under"]:  # the counted way says for how long (or, no longer, goes on)
        challenge, user, factor = await challenge_and_factor(secret)
        return await _counted_step(settings, challenge, user, factor, typed, client)
    if not row["claimable"]:
        await _failed(user, client, "bad_code", RiskLevel.MEDIUM)
        raise _WrongCode(BAD_CODE, field="code")
    if not row["open"]:  # gone meanwhile: nothing of this attempt was written
        raise Unauthenticated(CHALLENGE_GONE)
    principal = _principal(user, client, await own_makers(user), session_id=d.row[0])
    return Opening(d.row, d.event, LoginResult(d.secret, principal)).done(user)


# PostgreSQL: the second step in one statement, its own transaction. `c`: the challenge (the
# ids of the cookie, the MFA stage, open, with its `totp_check`) and its user (active, a
# person); `r`: the account's and the IP's locks and counts (`riskops_login_reserve`, no
# insert); `ok`: under both limits, with the organization's chain head; `m`: the earliest step
# of the window ($10) whose keyed digest ($11) the challenge holds; `fs`: its factor, locked,
# when that step can be claimed; `ch`: then the challenge, locked, when still open. Then the
# writes, each under its condition: the step's claim and the challenge's use (its `totp_check`
# cleared), or the attempt's failure row; the session's writes and the event
# (`store.pg_append_sql`) as `sessions.start_session` writes them. The same outcomes as the
# counted way: a step that cannot be claimed is a counted failure; a claimable step on a
# challenge gone meanwhile writes nothing. Locks in the counted way's order: account and IP,
# factor, challenge, head. Last, the user's row for the session's principal.
_FAST_STEP = (
    "WITH c AS (SELECT c.totp_check AS tc FROM login_challenge c "
    "JOIN app_user u ON u.id = c.user_id WHERE c.id = $7 AND c.user_id = $8 AND c.org_id = $9 "
    f"AND c.stage = '{ChallengeStage.MFA.value}' AND c.used_at IS NULL AND c.expires_at > $4 "
    "AND c.totp_check IS NOT NULL AND u.org_id = $9 AND u.deleted_at IS NULL "
    f"AND u.status = '{UserStatus.ACTIVE.value}' AND u.kind = '{UserKind.PERSON.value}'), "
    "r AS (SELECT by_account, by_ip FROM riskops_login_reserve($1, $2, $3, $4, $5, $6, false) "
    "WHERE EXISTS (SELECT 1 FROM c)), "
    "ok AS (SELECT 1 FROM r WHERE by_account < $5 AND by_ip < $6 "
    "AND EXISTS (SELECT 1 FROM audit_head WHERE org_id = $9)), "
    "m AS (SELECT min(x.s) AS step FROM c, unnest($10::bigint[], $11::text[]) AS x(s, d) "
    "WHERE c.tc->'codes' @> to_jsonb(x.d)), "
    "fs AS (SELECT id FROM mfa_factor WHERE id = (SELECT (tc->>'factor')::int FROM c) "
    "AND user_id = $8 AND confirmed_at IS NOT NULL AND (SELECT step FROM m) IS NOT NULL "
    "AND (last_step IS NULL OR last_step < (SELECT step FROM m)) "
    "AND EXISTS (SELECT 1 FROM ok) FOR UPDATE), "
    "ch AS (SELECT id FROM login_challenge WHERE id = $7 AND org_id = $9 AND used_at IS NULL "
    "AND expires_at > $4 AND EXISTS (SELECT 1 FROM fs) FOR UPDATE), "
    "step AS (UPDATE mfa_factor SET last_step = (SELECT step FROM m) "
    "WHERE id IN (SELECT id FROM fs) AND EXISTS (SELECT 1 FROM ch)), "
    "taken AS (UPDATE login_challenge SET used_at = $4, totp_check = NULL "
    "WHERE id IN (SELECT id FROM ch)), "
    "failed AS (INSERT INTO login_failure (account, ip, at) SELECT $1, $2, $4 "
    "WHERE EXISTS (SELECT 1 FROM ok) AND NOT EXISTS (SELECT 1 FROM fs)), "
    "forgotten AS (DELETE FROM login_failure WHERE account = ANY (ARRAY("
    "SELECT jsonb_array_elements_text(tc->'forget') FROM c)) AND EXISTS (SELECT 1 FROM ch)), "
    "seen AS (UPDATE app_user SET last_login_at = $4 WHERE id = $8 AND org_id = $9 "
    "AND EXISTS (SELECT 1 FROM ch)), "
    "opened AS (INSERT INTO user_session (id, user_id, org_id, created_at, expires_at, "
    "last_seen_at, ip, user_agent) SELECT $12, $8, $9, $4, $13, $4, $14, $15 "
    "WHERE EXISTS (SELECT 1 FROM ch)), "
    + store.pg_append_sql("$9", 16, only_if="EXISTS (SELECT 1 FROM ch)", last=False)
    + " SELECT EXISTS (SELECT 1 FROM c) AS prepared, "
    "EXISTS (SELECT 1 FROM audit_head WHERE org_id = $9) AS has_head, "
    "(SELECT by_account < $5 AND by_ip < $6 FROM r) AS under, "
    "EXISTS (SELECT 1 FROM fs) AS claimable, EXISTS (SELECT 1 FROM ch) AS open, u.* "
    "FROM (SELECT 1) AS one LEFT JOIN app_user u ON u.id = $8 AND u.org_id = $9"
)


async def _counted_step(
    settings: Settings,
    challenge: LoginChallenge,
    user: User,
    factor: MfaFactor | None,
    typed: str,
    client: ClientInfo,
) -> LoginResult:
    """The second step with ORM statements: a recovery code, or a TOTP code past the limit."""
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
                ok = await _use_recovery(user, typed, client, conn) and await take(challenge, conn)
            if ok:
                # the challenge used (gone meanwhile: Unauthenticated, and nothing of this
                # attempt stays), the account's wrong codes forgotten, the session started
                return await start_session(
                    settings, user, client, via="mfa",
                    forget_failures=forgotten_on_success(user, challenge), conn=conn,
                )  # fmt: skip
            await LoginFailure.create(
                account=account, ip=client.ip or "-", at=datetime.now(UTC), using_db=conn
            )
    if retry is not None:
        await _failed(user, client, "rate_limited", RiskLevel.HIGH)
        raise RateLimited(f"Too many wrong codes; try again in {retry} seconds.", retry_after=retry)
    await _failed(user, client, "bad_code", RiskLevel.MEDIUM)
    raise _WrongCode(BAD_CODE, field="code")


_SQLITE_COUNTS = (
    "SELECT (SELECT count(*) FROM login_failure WHERE account = ? AND at >= ?), "
    "(SELECT count(*) FROM login_failure WHERE ip = ? AND at >= ?), "
    "EXISTS (SELECT 1 FROM login_failure WHERE account IN ({}))"
)
_SQLITE_CLAIM = (
    "UPDATE mfa_factor SET last_step = ? WHERE id = ? AND user_id = ? "
    "AND (last_step IS NULL OR last_step < ?)"
)
_SQLITE_TAKE = (
    "UPDATE login_challenge SET used_at = ?, totp_check = NULL WHERE id = ? AND org_id = ? "
    "AND used_at IS NULL "
    "AND expires_at > ?"
)


def _sqlite_step(
    db: sqlite3.Connection,
    settings: Settings,
    account: str,
    ip: str,
    claim: list[Any],
    opening: Opening,
) -> str:
    """SQLite, in its worker thread, in one transaction: `_FAST_STEP`'s writes (SQLite has a
    single writer, so no locks). The accounts' failures are forgotten only when they have some."""
    step, factor_id, user_id, challenge_id, org_id = claim
    now = datetime.now(UTC)
    since = now - timedelta(seconds=settings.login_failure_window_seconds)
    forget = opening.row[7] or []
    marks = ", ".join("?" for _ in forget) or "NULL"
    [(by_account, by_ip, failed_before)] = db.execute(
        _SQLITE_COUNTS.format(marks), [account, since, ip, since, *forget]
    ).fetchall()
    if (
        by_account >= settings.login_max_failures_per_account
        or by_ip >= settings.login_max_failures_per_ip
    ):
        return "limited"
    if step is None or db.execute(_SQLITE_CLAIM, [step, factor_id, user_id, step]).rowcount != 1:
        db.execute(
            "INSERT INTO login_failure (account, ip, at) VALUES (?, ?, ?)",
            [account, ip, datetime.now(UTC)],
        )
        return "bad"
    now = datetime.now(UTC)
    if db.execute(_SQLITE_TAKE, [now, challenge_id, org_id, now]).rowcount != 1:
        raise Unauthenticated(CHALLENGE_GONE)  # gone meanwhile: rolled back
    if not failed_before:  # nothing to forget: no DELETE
        opening = replace(opening, row=[*opening.row[:7], None])
    sqlite_write(db, opening)
    return "ok"


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
    _, user = await challenge_of(challenge_secret, ChallengeStage.ENROL)
    return await _pending(user)


async def login_enrol_confirm(
    settings: Settings, challenge_secret: str | None, code: str, client: ClientInfo
) -> tuple[LoginResult, list[str]]:
    """Confirm the enrolment at login with a first code: the factor is on, the ten recovery
    codes exist (returned this once), and the session starts."""
    challenge, user = await challenge_of(challenge_secret, ChallengeStage.ENROL)
    reserved = await _reserve(settings, user, client)
    try:
        async with in_transaction() as conn:
            await take(challenge, conn)
            codes = await _confirm(user, totp.clean(code), _person(user, client), conn)
    except Invalid:
        await _failed(user, client, "bad_code", RiskLevel.MEDIUM)
        raise
    except Unauthenticated:
        await LoginFailure.filter(id=reserved).delete()
        raise
    forget = forgotten_on_success(user, challenge)
    session = await start_session(settings, user, client, via="mfa", forget_failures=forget)
    return session, codes


# ----------------------------------------------------------------------------- codes


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
    step = code_step(challenge, user, factor, code)
    if step is None:
        return False
    if conn.capabilities.dialect != "postgres":
        return await _claim_step(factor, code, conn, step) and await take(challenge, conn)
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
    "taken AS (UPDATE login_challenge SET used_at = $4, totp_check = NULL WHERE id = $5 "
    "AND org_id = $6 "
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
