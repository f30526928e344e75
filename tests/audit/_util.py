"""Shared helpers of the audit tests (imported as `tests.audit._util`)."""

from __future__ import annotations

import json
import re
import sys
import uuid
from pathlib import Path
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import connections

from riskops.audit import store
from riskops.audit.models import AuditEvent
from riskops.audit.types import Actor, Entry, RiskLevel
from riskops.audit.verify import _COLUMNS
from tests.conftest import TAMPERED_ORGS, mark_chain_tampered, o_not_tampered

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable


def actor(org_id: int, who: str = "user:1") -> Actor:
    return Actor(
        org_id=org_id,
        actor=who,
        actor_type="user",
        ip="203.0.113.7",
        user_agent="pytest-audit/1.0",
        request_id=uuid.uuid4().hex,
    )


def entry(action: str = "test.event", i: int = 0, **extra: Any) -> Entry:
    return Entry(
        action=action,
        entity_type="thing",
        entity_id=i,
        old_values={},
        new_values={"i": i, **extra},
        risk_level=RiskLevel.MEDIUM,
    )


async def grow(org_id: int, n: int, action: str = "test.event") -> None:
    """Emit `n` events (new_values {"i": 0..n-1}) to `org_id`'s chain, one transaction each."""
    for i in range(n):
        await store.emit(actor(org_id), entry(action, i))


async def rows(org_id: int) -> list[dict[str, Any]]:
    """The stored rows of one chain in seq order (the exported columns plus event_uid)."""
    return await AuditEvent.filter(org_id=org_id).order_by("seq").values(*_COLUMNS, "event_uid")


async def seqs(org_id: int) -> list[int]:
    return [r["seq"] for r in await rows(org_id)]


def indexes(stored: list[dict[str, Any]], action: str) -> list[int]:
    """The `i` of each stored event with `action`, in seq order."""
    return [json.loads(r["new_values"])["i"] for r in stored if r["action"] == action]


def raw() -> BaseDBAsyncClient:
    """The Tortoise connection (outside any transaction) for raw SQL."""
    return connections.get("default")


def sql(backend: str, query: str) -> str:
    """Write queries with `?` marks; PostgreSQL (asyncpg) wants $1, $2, ..."""
    if backend != "postgres":
        return query
    n = iter(range(1, 1000))
    return re.sub(r"\?", lambda _m: f"${next(n)}", query)


def mark_tampered(org_id: int) -> None:
    """Exclude a deliberately broken chain from the end-of-suite check in tests/conftest.py."""
    # Same set object the session fixture reads (pytest registers tests/conftest.py as the
    # module `tests.conftest` under --import-mode=importlib, so this is not a second copy).
    assert o_not_tampered.__globals__["TAMPERED_ORGS"] is TAMPERED_ORGS
    mark_chain_tampered(org_id)
    assert not o_not_tampered(org_id)
