"""The migrations in migrations/ describe the models exactly: a model change without its
migration fails here (run `make migrations`)."""

from __future__ import annotations

from tortoise import Tortoise
from tortoise.migrations.autodetector import MigrationAutodetector

from riskops.server.settings import tortoise_config


async def test_models_and_migrations_agree(db):
    apps_config = tortoise_config(db.settings.db_url)["apps"]
    detector = MigrationAutodetector(Tortoise.apps, apps_config)
    pending = await detector.changes()
    described = [(w.name, [op.describe() for op in w.operations]) for w in pending]
    assert not pending, f"models changed without a migration, run `make migrations`: {described}"
