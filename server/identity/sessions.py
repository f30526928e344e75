"""Sessions: who a signed-in person is (`ClientInfo`, `LoginResult`, the `Principal` of a user),
and starting the session of a user who has proven who they are, by password (`auth.login`), a
second step (`mfa`) or single sign-on (`sso`). Its own module so that each of those can start a
session without importing the others."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from riskops.audit import store
from riskops.audit.types import Entry, RiskLevel
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.db import sqlite_run
from riskops.server.identity.models import (
    ApiToken,
    ChallengeStage,
    User,
    UserKind,
)
from riskops.server.security import digest, new_secret
from riskops.server.settings import Settings


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class LoginResult:
    """A session (`session_secret`, `principal`), or, when a second step is needed, none yet:
    `challenge_secret` is the value of the second step's cookie and `stage` says which step
    (a TOTP or recovery code, or enrolment first when the organization requires MFA)."""

    session_secret: str | None
    principal: Principal | None
    challenge_secret: str | None = None
    stage: ChallengeStage | None = None


async def start_session(
    settings: Settings,
    user: User,
    client: ClientInfo,
    *,
    via: str = "password",
    forget_failures: Sequence[str] = (),
    conn: BaseDBAsyncClient | None = None,
) -> LoginResult:
    """The session of a user who has proven who they are (password and, where needed, a second
    step; or single sign-on), with its `auth.login` audit event (`via` says how).
    `forget_failures`: the rate limit's account keys whose failed attempts (this one's reserved
    row included) are forgotten in the same transaction. `conn`: a transaction the caller holds
    (the second step's, so that using its challenge and starting the session are one).

    The writes (forget the failures, mark the login on the user, insert the session, append
    the event) are one statement on PostgreSQL (its own transaction when `conn` is None) and
    one thread hop on SQLite (issue 14's figure)."""
    opening = await prepare(settings, user, client, via=via, forget_failures=forget_failures)
    db = conn or connections.get("default")
    if db.capabilities.dialect == "postgres":
        await pg_write(db, opening)
    else:
        await sqlite_run(db, sqlite_write, opening, transaction=conn is None)
    return opening.done(user)


@dataclass(frozen=True)
class Opening:
    """A session about to be written (`start_session`): its row, its audit event
    (`store.event_params`) and what the login returns once it is written."""

    row: list[Any]  # id, user id, org id, now, expires, ip, user agent, accounts to forget
    event: list[Any]
    result: LoginResult

    def done(self, user: User) -> LoginResult:
        user.last_login_at = self.row[3]
        return self.result


async def prepare(
    settings: Settings,
    user: User,
    client: ClientInfo,
    *,
    via: str,
    forget_failures: Sequence[str] = (),
) -> Opening:
    """The session `start_session` writes, before any write (the second step prepares it
    before its one thread hop on SQLite, `mfa_login._sqlite_step`)."""
    makers = await own_makers(user)
    d = draft(settings, user.org_id, user.id, client, via=via, forget_failures=forget_failures)
    principal = _principal(user, client, makers, session_id=d.row[0])
    return Opening(d.row, d.event, LoginResult(d.secret, principal))


@dataclass(frozen=True)
class Draft:
    """A session and its `auth.login` event, before the user's row is read (the second step's
    one statement reads it as it writes them): the cookie value, the row, the event."""

    secret: str
    row: list[Any]  # as `Opening.row`
    event: list[Any]


def draft(
    settings: Settings,
    org_id: int,
    user_id: int,
    client: ClientInfo,
    *,
    via: str,
    forget_failures: Sequence[str] = (),
) -> Draft:
    """The session of user `user_id` and its event (its actor is the user's, whatever their
    roles: `Principal.actor`)."""
    secret = new_secret()
    now = datetime.now(UTC)
    session_id = digest(secret)
    expires = now + timedelta(hours=settings.session_ttl_hours)
    agent = (client.user_agent or "")[:300] or None
    actor = Principal(
        user_id=user_id, org_id=org_id, roles=frozenset(), ip=client.ip,
        user_agent=client.user_agent, request_id=client.request_id,
    ).actor  # fmt: skip
    entry = Entry("auth.login", "session", session_id[:16], {},
                  {"via": via} if via != "password" else {}, RiskLevel.LOW)  # fmt: skip
    forget = list(forget_failures) or None
    row = [session_id, user_id, org_id, now, expires, client.ip, agent, forget]
    return Draft(secret, row, store.event_params(actor, entry))


async def pg_write(db: BaseDBAsyncClient, opening: Opening) -> None:
    """PostgreSQL: the session's writes and its event in one statement (`_SESSION_WRITES`)."""
    params = [*opening.row, *opening.event]
    if not await db.execute_query_dict(_SESSION_WRITES, params):
        # the organization has no audit head yet: nothing was written
        await store.ensure_head(opening.row[2], db)
        await db.execute_query_dict(_SESSION_WRITES, params)


# PostgreSQL: forget the accounts' failures ($8, a text array; NULL forgets none), mark the
# login on the user, write the session and append the event (`store.pg_append_sql`), in one
# statement. Only when the organization has an audit head (the event needs it): else nothing is
# written.
_HAS_HEAD = "EXISTS (SELECT 1 FROM audit_head WHERE org_id = $3)"
_SESSION_WRITES = (
    f"WITH forgotten AS (DELETE FROM login_failure WHERE account = ANY($8::text[]) "
    f"AND {_HAS_HEAD}), "
    f"seen AS (UPDATE app_user SET last_login_at = $4 WHERE id = $2 AND org_id = $3 "
    f"AND {_HAS_HEAD}), "
    "opened AS (INSERT INTO user_session (id, user_id, org_id, created_at, expires_at, "
    f"last_seen_at, ip, user_agent) SELECT $1, $2, $3, $4, $5, $4, $6, $7 WHERE {_HAS_HEAD}), "
    + store.pg_append_sql("$3", 9)
)

_SQLITE_SESSION = (
    "INSERT INTO user_session (id, user_id, org_id, created_at, expires_at, last_seen_at, ip, "
    "user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def sqlite_write(db: sqlite3.Connection, opening: Opening) -> None:
    """SQLite, in its worker thread (`server.db.sqlite_run`): the same writes as
    `_SESSION_WRITES`, in the caller's transaction."""
    session_id, user_id, org_id, now, expires, ip, agent, forget = opening.row
    if forget:
        marks = ", ".join("?" for _ in forget)
        db.execute(f"DELETE FROM login_failure WHERE account IN ({marks})", forget)
    db.execute(_SQLITE_SESSION, [session_id, user_id, org_id, now, expires, now, ip, agent])
    db.execute(
        "UPDATE app_user SET last_login_at = ? WHERE id = ? AND org_id = ?", [now, user_id, org_id]
    )
    store.sqlite_append(db, org_id, opening.event)


async def own_makers(user: User, token: ApiToken | None = None) -> frozenset[int]:
    """Maker-checker's view of who acts (`Principal.own_makers`, used by `core.approvals`): the
    people acting (the user; through a service account's token, the account and the admin who
    minted the token) and every service account any of them ever minted a token for (revoked
    ones included: the account's past requests stay theirs)."""
    people = {user.id}
    if user.kind == UserKind.PERSON and not user.minted_service_tokens:
        return frozenset(people)  # no query: most requests are of such people
    if user.kind == UserKind.SERVICE and token is not None and token.created_by_id:
        people.add(token.created_by_id)
    minted = (
        await scoped(ApiToken, org_id=user.org_id)
        .filter(created_by_id__in=sorted(people), user__kind=UserKind.SERVICE)
        .distinct()
        .values_list("user_id", flat=True)
    )
    return frozenset(people | {int(str(i)) for i in minted})


def _principal(
    user: User,
    client: ClientInfo,
    makers: frozenset[int],
    *,
    session_id: str | None = None,
    token: ApiToken | None = None,
) -> Principal:
    roles = frozenset(user.roles) & frozenset(token.roles) if token else frozenset(user.roles)
    return Principal(
        own_makers=makers,
        user_id=user.id,
        org_id=user.org_id,
        roles=roles,
        email=user.email,
        name=user.name,
        token_id=token.id if token else None,
        session_id=session_id,
        ip=client.ip,
        user_agent=client.user_agent,
        request_id=client.request_id,
    )
