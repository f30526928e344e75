"""Opening and closing the database, and applying migrations."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import tortoise.context
from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.executor import EXECUTOR_CACHE

from riskops.audit import spool
from riskops.server.settings import Settings, tortoise_config

T = TypeVar("T")
_log = logging.getLogger("tortoise.db_client")  # where Tortoise logs its statements


async def init_db(settings: Settings) -> None:
    """Connect (process-wide, so every task and request sees the same connections)."""
    spool.configure(settings.spool_dir)
    await Tortoise.init(config=tortoise_config(settings.db_url), _enable_global_fallback=True)


def _forget() -> None:
    # Allow a later init_db in the same process, possibly on another backend (the test suite
    # runs SQLite then PostgreSQL): drop the global context and Tortoise's per-connection-name
    # cache of compiled INSERTs, which would otherwise keep the first dialect's placeholders.
    tortoise.context._global_context = None
    EXECUTOR_CACHE.clear()


async def close_db() -> None:
    await Tortoise.close_connections()
    _forget()


async def migrate(settings: Settings) -> None:
    from tortoise.migrations.api.migrate import migrate as migrate_api

    await migrate_api(config=tortoise_config(settings.db_url))
    await Tortoise.close_connections()
    _forget()


async def sqlite_run(
    conn: BaseDBAsyncClient, fn: Callable[..., T], *args: Any, transaction: bool
) -> T:
    """SQLite: `fn(db, *args)` on the connection's own sqlite3 connection, in aiosqlite's worker
    thread, holding the client's lock (nothing else uses the connection meanwhile): several
    statements for one thread hop, where aiosqlite hops threads for each (a login sends as few
    as it can: issue 14's figure). `transaction`: within BEGIN and COMMIT (ROLLBACK when `fn`
    raises), for a `conn` outside a transaction; else `conn` is the caller's transaction. The
    statements are logged like Tortoise's (DEBUG, "tortoise.db_client")."""
    async with conn.acquire_connection() as connection:
        return await connection._execute(_in_thread, connection._conn, fn, args, transaction)


def _in_thread(
    db: sqlite3.Connection, fn: Callable[..., T], args: tuple[Any, ...], transaction: bool
) -> T:
    # inside a caller's transaction already (a Tortoise transaction of this task): a savepoint,
    # as a nested `in_transaction` would
    begin, commit, rollback = (
        ("SAVEPOINT riskops_hop", "RELEASE riskops_hop", "ROLLBACK TO riskops_hop")
        if db.in_transaction
        else ("BEGIN", "COMMIT", "ROLLBACK")
    )
    if transaction:
        db.execute(begin)
    traced = _log.isEnabledFor(logging.DEBUG)  # like Tortoise's log: BEGIN and COMMIT left out
    if traced:
        db.set_trace_callback(_log.debug)
    try:
        result = fn(db, *args)
    except BaseException:
        if transaction:
            db.execute(rollback)
            if begin != "BEGIN":
                db.execute(commit)  # the savepoint goes; the caller's transaction stays
        raise
    finally:
        if traced:
            db.set_trace_callback(None)
    if transaction:
        db.execute(commit)
    return result
