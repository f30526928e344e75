"""The schema as published: graphql-core is not shadowed by our folder, and the committed SDL
(`graphql/schema.graphql`) is the schema the code builds, so CI fails on drift (Saleor style)."""

from __future__ import annotations

from pathlib import Path

import graphql
import riskops
import riskops.graphql.schema as schema_module
from riskops.graphql.app import build_schema
from riskops.server.settings import load_settings

REPO = Path(riskops.__file__).resolve().parent
SDL_FILE = Path(schema_module.__file__).resolve().parent / "schema.graphql"
REGENERATE = "the schema changed: run `make schema` and commit graphql/schema.graphql"


def test_graphql_is_graphql_core_not_our_folder():
    core = Path(graphql.__file__).resolve()
    assert core.parent.parent.name == "site-packages", core
    assert core.parent != REPO / "graphql", core
    assert hasattr(graphql, "specified_rules")  # what Strawberry needs from graphql-core
    # Our folder is reached only as riskops.graphql, a namespace portion without __init__.py.
    assert not (REPO / "graphql" / "__init__.py").exists()
    assert Path(schema_module.__file__).resolve().parent == REPO / "graphql"


def sdl_drift(committed: str, built: str) -> str | None:
    """None when the committed SDL is the built one (trailing newlines aside), else why not."""
    if committed.rstrip("\n") == built.rstrip("\n"):
        return None
    return REGENERATE


def test_committed_sdl_matches_the_schema():
    assert SDL_FILE.exists(), f"graphql/schema.graphql is missing; {REGENERATE}"
    committed = SDL_FILE.read_text(encoding="utf-8")
    built = str(schema_module.schema)
    assert built == schema_module.schema.as_str()
    drift = sdl_drift(committed, built)
    assert drift is None, drift


def test_drift_is_reported_with_how_to_fix_it():
    built = schema_module.schema.as_str()
    assert sdl_drift(built + "\n", built) is None
    changed = built.replace("expiresInDays: Int", "expiresInDays: Float")
    assert changed != built
    assert sdl_drift(changed, built) == REGENERATE
    assert "make schema" in REGENERATE


def test_served_schema_is_the_committed_one(tmp_path):
    """The app builds its schema with extensions from settings; its SDL must not differ."""
    for env, key in (("dev", None), ("prod", "k" * 40)):
        settings = load_settings(env=env, var_dir=tmp_path, secret_key=key)
        served = build_schema(settings)
        assert served.as_str() == schema_module.schema.as_str(), (env, REGENERATE)
