"""The atomic counter of failed sign-in attempts (`LoginFailure` rows), shared by the password
step (`auth.login`, account key: the e-mail address) and the second step (`mfa`, account key
`mfa:<user id>`): an attempt is counted before its secret is checked, serialised per account and
per IP, so parallel attempts cannot slip past the limit. Its own module so that `mfa`, which
`auth` imports, can count without importing `auth`."""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from riskops.server.identity.models import LoginFailure
from riskops.server.settings import Settings


def password_account(email: str | None) -> str:
    """The password step's account key: the e-mail address as typed, trimmed and lower case."""
    return (email or "").strip().lower()[:254]


def code_account(user_id: int) -> str:
    """The second step's account key: the user's id (codes are counted per person)."""
    return f"mfa:{user_id}"


def retry_in(oldest: datetime | None, window: timedelta, now: datetime) -> int:
    """Whole seconds until the oldest counted failure leaves the window (1 to the window)."""
    until = (oldest or now) + window
    left = math.ceil((until - now).total_seconds())
    return max(1, min(int(window.total_seconds()), left))


async def serialise(conn: BaseDBAsyncClient, *keys: str) -> None:
    """Hold, until the transaction ends, a lock per key (PostgreSQL advisory transaction locks,
    always taken in the same order). SQLite needs none: Tortoise runs one transaction at a time
    on its single connection, and SQLite has a single writer."""
    if conn.capabilities.dialect != "postgres" or not keys:
        return
    # One statement: a SELECT list is evaluated left to right, so the order holds.
    locks = ", ".join(f"pg_advisory_xact_lock(hashtext(${i}))" for i in range(1, len(keys) + 1))
    await conn.execute_query(f"SELECT {locks}", list(keys))


async def limit_reached(
    conn: BaseDBAsyncClient, settings: Settings, account: str, ip: str
) -> int | None:
    """Inside the caller's transaction: take the account's and the IP's locks (held until it
    ends) and count their recent failures; the seconds to wait when a limit is reached, else
    None. What the caller then writes in that transaction (a failure row) is seen by the next
    attempt, which waits for the locks."""
    window = timedelta(seconds=settings.login_failure_window_seconds)
    if conn.capabilities.dialect == "postgres":
        return await _reserve_in_one_call(conn, settings, account, ip, insert=False)
    await serialise(conn, f"login-account:{account}", f"login-ip:{ip}")
    now = datetime.now(UTC)  # after the wait: the rows counted are all older
    since = now - window
    # Both counts in one statement (a login sends as few as it can: issue 14's figure).
    [counted] = (
        await LoginFailure.filter(Q(account=account) | Q(ip=ip), at__gte=since)
        .using_db(conn)
        .annotate(
            by_account=Count("id", _filter=Q(account=account)),
            by_ip=Count("id", _filter=Q(ip=ip)),
        )
        .values("by_account", "by_ip")
    )
    for field, key, limit in (
        ("account", account, settings.login_max_failures_per_account),
        ("ip", ip, settings.login_max_failures_per_ip),
    ):
        if int(counted[f"by_{field}"] or 0) >= limit:
            recent = LoginFailure.filter(**{field: key, "at__gte": since}).using_db(conn)
            oldest = await recent.order_by("-at").offset(limit - 1).first()
            return retry_in(oldest.at if oldest else None, window, now)
    return None


async def reserve_attempt(settings: Settings, account: str, ip: str) -> tuple[int | None, int]:
    """Count this attempt before its secret is checked, atomically per account and per IP:
    either (seconds to wait, 0) when a limit is reached, or (None, id of the failure row that
    now stands for this attempt; deleted when the secret turns out right). Reading the count
    and inserting the row in one serialised transaction is what keeps 50 parallel attempts from
    each seeing the count before any of them was written. (A check cheap enough to hold the
    locks through, like a TOTP code, uses `limit_reached` in its own transaction instead.)"""
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        retry, reserved = await _reserve_in_one_call(conn, settings, account, ip, insert=True)
        return retry, reserved or 0
    async with in_transaction() as conn:
        retry = await limit_reached(conn, settings, account, ip)
        if retry is not None:
            return retry, 0
        reserved = await LoginFailure.create(
            account=account, ip=ip, at=datetime.now(UTC), using_db=conn
        )
    return None, reserved.id


_RESERVE = (
    "SELECT reserved_id, by_account, by_ip FROM riskops_login_reserve($1, $2, $3, $4, $5, $6, $7)"
)
# The reservation alone is its own transaction: committed without waiting for the WAL flush
# (`synchronous_commit` off for this transaction only). A crash may lose the last fraction of
# a second of reservations, i.e. forget a few failed attempts of the rate limit; it cannot
# make one appear nor lose anything else (issue 14: one WAL flush less before argon2).
_RESERVE_ALONE = (
    "SELECT reserved_id, by_account, by_ip, set_config('synchronous_commit', 'off', true) "
    "FROM riskops_login_reserve($1, $2, $3, $4, $5, $6, $7)"
)


async def _reserve_in_one_call(
    conn: BaseDBAsyncClient, settings: Settings, account: str, ip: str, *, insert: bool
) -> Any:
    """PostgreSQL: the locks, the counts and (`insert`) the attempt's failure row in one
    statement, `riskops_login_reserve` (migration 0026): one round trip instead of five for a
    reservation (alone, the statement is its own transaction), two instead of three for
    `limit_reached` in the caller's transaction. Only a refused attempt reads again, for its
    retry time. `insert`: (seconds to wait or None, reserved row id); else the seconds or None."""
    now = datetime.now(UTC)
    [row] = await conn.execute_query_dict(
        (_RESERVE_ALONE if insert else _RESERVE),
        [account, ip, *reserve_params(settings, now), insert],
    )
    return await reserved(conn, settings, account, ip, now, row, insert=insert)


def reserve_params(settings: Settings, now: datetime) -> list[Any]:
    """`riskops_login_reserve`'s window and limits ($3 to $6, after the account and the IP)."""
    window = timedelta(seconds=settings.login_failure_window_seconds)
    return [now - window, now, settings.login_max_failures_per_account,
            settings.login_max_failures_per_ip]  # fmt: skip


async def reserved(
    conn: BaseDBAsyncClient,
    settings: Settings,
    account: str,
    ip: str,
    now: datetime,
    row: Any,
    *,
    insert: bool,
) -> Any:
    """What `riskops_login_reserve`'s `row` (reserved_id, by_account, by_ip) means, as
    `_reserve_in_one_call` returns it: a limited attempt reads its retry time (one query)."""
    window = timedelta(seconds=settings.login_failure_window_seconds)
    if row["reserved_id"] is not None:
        return None, int(row["reserved_id"])
    for field, key, limit in (
        ("account", account, settings.login_max_failures_per_account),
        ("ip", ip, settings.login_max_failures_per_ip),
    ):
        if int(row[f"by_{field}"] or 0) >= limit:
            recent = LoginFailure.filter(**{field: key, "at__gte": now - window})
            oldest = await recent.using_db(conn).order_by("-at").offset(limit - 1).first()
            retry = retry_in(oldest.at if oldest else None, window, now)
            return (retry, None) if insert else retry
    return (None, None) if insert else None


# SQLite: the attempt's failure row, inserted only while both counts are under their limits, in
# one statement (atomic: SQLite's single writer holds its lock from the statement's start).
_SQLITE_RESERVE = (
    "INSERT INTO login_failure (account, ip, at) SELECT ?, ?, ? "
    "WHERE (SELECT count(*) FROM login_failure WHERE account = ? AND at >= ?) < ? "
    "AND (SELECT count(*) FROM login_failure WHERE ip = ? AND at >= ?) < ? RETURNING id"
)


def sqlite_try_reserve(db: sqlite3.Connection, settings: Settings, account: str, ip: str) -> int:
    """SQLite, in its worker thread (`server.db.sqlite_run`, with the account's lookup): the
    reservation of `reserve_attempt` when no limit is reached, in one statement: the reserved
    row's id, or 0 when a limit is reached (then `reserve_attempt` says for how long)."""
    now = datetime.now(UTC)
    since = now - timedelta(seconds=settings.login_failure_window_seconds)
    limits = (settings.login_max_failures_per_account, settings.login_max_failures_per_ip)
    params = [account, ip, now, account, since, limits[0], ip, since, limits[1]]
    # stepped to its end: the statement is done (and committed) when this returns
    rows = db.execute(_SQLITE_RESERVE, params).fetchall()
    return int(rows[0][0]) if rows else 0
