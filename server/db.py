"""Opening and closing the database, and applying migrations."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import tortoise.context
from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.models import Model

from riskops.audit import spool
from riskops.server.settings import Settings, tortoise_config

T = TypeVar("T")
M = TypeVar("M", bound=Model)
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


def aliased(alias: str, prefix: str, columns: Sequence[str]) -> str:
    """A SELECT list of a joined table's `columns` renamed `<prefix>_<column>`: several models
    read in one statement (`joined` makes each back)."""
    return ", ".join(f"{alias}.{c} AS {prefix}_{c}" for c in columns)


def joined(model: type[M], row: Mapping[str, Any], prefix: str, columns: Sequence[str]) -> M | None:
    """The `model` of `row`'s `aliased` columns, or None when the join found none (its id NULL)."""
    if row[f"{prefix}_id"] is None:
        return None
    return model._init_from_db(**{c: row[f"{prefix}_{c}"] for c in columns})


class Pipeline:
    """Writes of one transaction run in order by a task of their own while the caller computes
    the next ones: the database inserts one slice of a bulk job's rows while this process
    builds the next (the escalation pass writes 10,000 items' rows in slices), instead of the
    two taking turns. `send` queues a write (a coroutine function using the transaction) and
    returns a future of its result; the caller lets the task start the next write with
    `await turn()` between slices. Leaving the block waits for every write and raises the
    first failure; after a failure nothing more is written, and when the block itself fails
    the writes still queued are dropped (the transaction rolls back either way) once the one
    running is done: never left behind."""

    def __init__(self, conn: BaseDBAsyncClient) -> None:
        self._conn = conn
        self._queue: asyncio.Queue[_Write | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Pipeline:
        self._task = asyncio.ensure_future(self._run())
        return self

    async def _run(self) -> None:
        while (item := await self._queue.get()) is not None:
            work, done = item
            try:
                done.set_result(await work())
            except BaseException as exc:
                done.set_exception(exc)
                done.exception()  # raised by the block's exit, not by an unread future
                raise

    def send(self, work: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        assert self._task is not None, "use Pipeline in an async with block"
        if self._task.done():  # a write failed: raise it now, queue nothing more
            self._task.result()
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((work, done))
        return done

    async def turn(self) -> None:
        """Let the writing task (and any answer that came in) run."""
        await asyncio.sleep(0)

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._task is not None
        if exc_type is not None:
            while not self._queue.empty():
                if (item := self._queue.get_nowait()) is not None:
                    item[1].cancel()
        self._queue.put_nowait(None)
        if exc_type is None:
            await self._task
            return
        try:
            await self._task
        except BaseException:  # the block's own failure is the one raised
            _log.debug("a pipelined write failed after the block failed", exc_info=True)


_Write = tuple[Callable[[], Awaitable[Any]], "asyncio.Future[Any]"]
