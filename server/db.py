"""Opening and closing the database, and applying migrations."""

from __future__ import annotations

import tortoise.context
from tortoise import Tortoise

from riskops.audit import spool
from riskops.server.settings import Settings, tortoise_config


async def init_db(settings: Settings) -> None:
    """Connect (process-wide, so every task and request sees the same connections)."""
    spool.configure(settings.spool_dir)
    await Tortoise.init(config=tortoise_config(settings.db_url), _enable_global_fallback=True)


async def close_db() -> None:
    await Tortoise.close_connections()
    tortoise.context._global_context = None  # allow a later init_db in the same process


async def migrate(settings: Settings) -> None:
    from tortoise.migrations.api.migrate import migrate as migrate_api

    await migrate_api(config=tortoise_config(settings.db_url))
    await Tortoise.close_connections()
    tortoise.context._global_context = None
