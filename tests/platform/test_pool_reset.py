"""riskops returns PostgreSQL connections to the pool without asyncpg's reset query
(`settings._keep_session`): one round trip less after every statement outside a transaction.
That is only right while no code leaves session state on a pooled connection. These tests keep
the assumptions true: no session-level advisory lock, LISTEN, session SET or set_config, or
cursor in the code; and on a real pool, a released connection comes back with no transaction
open, no lock held and its settings as at connect."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tortoise import connections

ROOT = Path(__file__).resolve().parents[2]
CODE = ["server", "audit", "jobs", "graphql", "ui", "migrations"]

SESSION_STATE = {
    "a session advisory lock (use pg_advisory_xact_lock)": re.compile(
        r"pg_(try_)?advisory_lock(_shared)?\s*\(", re.I
    ),
    # SQL keywords as this code writes them (upper case), at the start of a statement's text
    "LISTEN": re.compile(r"[\"'(;]\s*LISTEN\s"),
    "a session SET (use SET LOCAL)": re.compile(
        r"[\"';]\s*SET\s+(?!LOCAL\b|NOT NULL|DEFAULT\b|DATA TYPE)(SESSION\s+)?\w+"
    ),
    "set_config for the session (use is_local true)": re.compile(
        r"set_config\s*\([^)]*,\s*false\s*\)", re.I
    ),
    "a cursor (DECLARE … CURSOR)": re.compile(r"DECLARE\s+\w+\s+(\w+\s+)*CURSOR", re.I),
}


def test_no_code_leaves_session_state_on_a_pooled_connection() -> None:
    found = []
    for folder in CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for what, pattern in SESSION_STATE.items():
                for m in pattern.finditer(text):
                    line = text.count("\n", 0, m.start()) + 1
                    found.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert not found, "session state on a pooled connection:\n" + "\n".join(found)


@pytest.mark.postgres_only
async def test_a_released_connection_comes_back_clean(db) -> None:
    from riskops.server.settings import _keep_session

    conn = connections.get("default")
    async with conn.acquire_connection():  # the pool exists
        pass
    assert conn._pool._reset is _keep_session, "the pool still sends asyncpg's reset query"
    async with conn.acquire_connection() as raw:
        before = await raw.fetchval("SHOW statement_timeout")
    # a failed transaction holding a transaction-level advisory lock
    with pytest.raises(RuntimeError):
        async with conn._in_transaction() as tx:
            await tx.execute_query("SELECT pg_advisory_xact_lock(hashtext('pool-reset-test'))")
            raise RuntimeError("rolled back")
    for _ in range(3):  # whichever pooled connection comes next
        async with conn.acquire_connection() as raw:
            assert not raw.is_in_transaction()
            held = await raw.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid()"
            )
            assert held == 0
            assert await raw.fetchval("SHOW statement_timeout") == before
