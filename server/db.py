"""Opening and closing the database, and applying migrations."""

from __future__ import annotations

import tortoise.context
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from riskops.audit import spool
from riskops.server.settings import Settings, tortoise_config


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
