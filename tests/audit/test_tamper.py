"""Tampering that bypasses the append-only triggers is caught by `verify_org`.

Every test breaks its own organization's chain on purpose and registers it in TAMPERED_ORGS, so
the end-of-suite check (every chain verifies) skips it.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from riskops.audit.chain import event_hash, format_ts
from riskops.audit.checkpoint import checkpoint_all
from riskops.audit.export import export_events
from riskops.audit.models import AuditCheckpoint, AuditHead
from riskops.audit.verify import row_to_event, sign_checkpoint, verify_org
from tests.audit._util import grow, mark_tampered, raw, rows, seqs, sql
from tests.audit.test_chain import standalone_verify

_MIGRATION = importlib.import_module("riskops.migrations.0002_audit_append_only")
# Migration 0022 replaced the DELETE trigger by one that lets an archived segment through
# (riskops.audit.archive), inside the transaction that archives it.
_ARCHIVE_GUARD = importlib.import_module("riskops.migrations.0022_retention")
# The exact trigger DDL the migrations ran on SQLite, to put the triggers back as they were.
SQLITE_TRIGGERS = {
    stmt.split()[2]: stmt
    for stmt in _MIGRATION._sql("sqlite", True)
    if stmt.split()[2].startswith("audit_event_")
} | {
    stmt.split()[2]: stmt
    for stmt in _ARCHIVE_GUARD._guard_sql("sqlite", True)
    if stmt.startswith("CREATE TRIGGER audit_event_")
}
assert set(SQLITE_TRIGGERS) == {"audit_event_no_update", "audit_event_no_delete"}

N = 6  # events per chain under test: org.create + 5 emitted


@asynccontextmanager
async def triggers_bypassed(backend: str) -> AsyncIterator[BaseDBAsyncClient]:
    """A transaction in which audit_event's append-only triggers are off.

    They are restored before commit (and by the rollback if the tampering fails), so no other
    connection ever sees the table unprotected.
    """
    async with in_transaction() as conn:
        if backend == "postgres":
            await conn.execute_script("ALTER TABLE audit_event DISABLE TRIGGER USER")
        else:
            for name in SQLITE_TRIGGERS:
                await conn.execute_query(f"DROP TRIGGER {name}")
        yield conn
        if backend == "postgres":
            await conn.execute_script("ALTER TABLE audit_event ENABLE TRIGGER USER")
        else:
            for stmt in SQLITE_TRIGGERS.values():
                await conn.execute_query(stmt)
    await assert_triggers_active(backend)


async def assert_triggers_active(backend: str) -> None:
    if backend == "postgres":
        got = await raw().execute_query_dict(
            "SELECT tgname, tgenabled::text AS tgenabled FROM pg_trigger "
            "WHERE tgrelid = 'audit_event'::regclass AND NOT tgisinternal ORDER BY tgname"
        )
        assert [(r["tgname"], r["tgenabled"]) for r in got] == [
            ("audit_event_append_only", "O"),
            ("audit_event_no_truncate", "O"),
        ]
    else:
        got = await raw().execute_query_dict(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'trigger' AND tbl_name = 'audit_event'"
        )
        assert {r["name"]: r["sql"] for r in got} == SQLITE_TRIGGERS
    with pytest.raises(OperationalError, match="append-only"):
        await raw().execute_query("UPDATE audit_event SET action = 'x' WHERE seq = 1")


async def tamper(backend: str, *statements: tuple[str, list]) -> None:
    async with triggers_bypassed(backend) as conn:
        for query, params in statements:
            n, _ = await conn.execute_query(sql(backend, query), params)
            assert n >= 1, query


@pytest.fixture
async def chain(db, tenant) -> int:
    """A fresh, valid chain of N events, registered as tampered (the test breaks it)."""
    org = tenant.org_id
    mark_tampered(org)
    await grow(org, N - 1)
    assert await seqs(org) == list(range(1, N + 1))
    v = await verify_org(org, db.settings.key)
    assert v.ok and v.events_checked == N, v.describe()
    return org


async def assert_broken(db, org: int, seq: int, *reason_parts: str) -> None:
    v = await verify_org(org, db.settings.key)
    assert not v.ok, v.describe()
    assert v.first_bad_seq == seq, v.describe()
    assert v.reason
    for part in reason_parts:
        assert part in v.reason, v.describe()
    assert v.describe() == f"org {org}: BROKEN at seq {seq}: {v.reason}"


WHERE = "WHERE org_id = ? AND seq = ?"


async def test_edited_event(db, chain: int) -> None:
    await tamper(
        db.name, (f"UPDATE audit_event SET new_values = ? {WHERE}", ['{"i":99}', chain, 3])
    )
    await assert_broken(db, chain, 3, "content does not match its hash (edited)")
    v = await verify_org(chain, db.settings.key)
    assert (v.events_checked, v.head_seq) == (2, 2)


async def test_edited_event_with_its_hash_recomputed(db, chain: int) -> None:
    row = (await rows(chain))[2]
    forged = {**row_to_event(row), "new_values": {"i": 99}}
    await tamper(
        db.name,
        (
            f"UPDATE audit_event SET new_values = ?, hash = ? {WHERE}",
            ['{"i":99}', event_hash(forged), chain, 3],
        ),
    )
    # seq 3 is self-consistent now, but seq 4 no longer points at it
    await assert_broken(db, chain, 4, "prev_hash does not match")


async def test_deleted_middle_event(db, chain: int) -> None:
    await tamper(db.name, (f"DELETE FROM audit_event {WHERE}", [chain, 3]))
    assert await seqs(chain) == [1, 2, 4, 5, 6]
    await assert_broken(db, chain, 3, "seq 3 is missing (next stored is 4)")


async def test_reordered_events(db, chain: int) -> None:
    before = await rows(chain)
    swap = f"UPDATE audit_event SET seq = ? {WHERE}"
    await tamper(
        db.name,
        (swap, [-3, chain, 3]),
        (swap, [3, chain, 4]),
        (swap, [4, chain, -3]),
    )
    after = await rows(chain)
    assert (after[2]["hash"], after[3]["hash"]) == (before[3]["hash"], before[2]["hash"])
    await assert_broken(db, chain, 3, "prev_hash does not match the previous event's hash")


async def test_truncated_tail_after_checkpoint(db, chain: int) -> None:
    await checkpoint_all(db.settings.key)
    cp = await AuditCheckpoint.filter(org_id=chain).order_by("-seq", "-id").first()
    assert cp is not None and cp.seq == N
    assert (await verify_org(chain, db.settings.key)).checkpoint_seq == N
    await tamper(db.name, ("DELETE FROM audit_event WHERE org_id = ? AND seq > ?", [chain, 4]))
    assert await seqs(chain) == [1, 2, 3, 4]
    # the head row still says 6
    await assert_broken(db, chain, 5, "chain ends at seq 4 but its head says 6 (truncated)")


async def test_truncated_tail_with_head_rewound_is_caught_by_the_checkpoint(db, chain) -> None:
    await checkpoint_all(db.settings.key)
    fourth = (await rows(chain))[3]
    await tamper(db.name, ("DELETE FROM audit_event WHERE org_id = ? AND seq > ?", [chain, 4]))
    # A thorough attacker also rewinds the (unprotected) head row: only the checkpoint is left.
    await AuditHead.filter(org_id=chain).update(seq=4, hash=fourth["hash"])
    lines = [line async for line in export_events(chain)]
    assert standalone_verify(lines) is None  # what is left is a valid chain prefix
    await assert_broken(db, chain, 5, "chain ends at seq 4 but checkpoint", f"recorded seq {N}")


async def test_forged_checkpoint_signature(db, chain: int) -> None:
    head = await AuditHead.get(org_id=chain)
    ts = format_ts()
    await AuditCheckpoint.create(
        org_id=chain,
        seq=head.seq,
        head_hash=head.hash,
        ts=ts,
        signature=sign_checkpoint(b"not-the-key-" + b"x" * 32, chain, head.seq, head.hash, ts),
    )
    await assert_broken(db, chain, N, "signature is invalid")


async def test_genuine_checkpoint_then_forged_later_one(db, chain: int) -> None:
    await checkpoint_all(db.settings.key)
    assert (await verify_org(chain, db.settings.key)).ok
    await grow(chain, 2)
    head = await AuditHead.get(org_id=chain)
    await AuditCheckpoint.create(
        org_id=chain, seq=head.seq, head_hash=head.hash, ts=format_ts(), signature="0" * 64
    )
    await assert_broken(db, chain, N + 2, "signature is invalid")


async def test_chain_rewritten_with_recomputed_hashes(db, chain: int) -> None:
    await checkpoint_all(db.settings.key)
    cp = await AuditCheckpoint.filter(org_id=chain).order_by("-seq", "-id").first()
    assert cp is not None and cp.seq == N
    original = await rows(chain)

    # Rewrite history from seq 2 on, recomputing every hash so the chain is self-consistent.
    statements = []
    prev = original[0]["hash"]
    for row in original[1:]:
        event = {**row_to_event(row), "prev_hash": prev}
        if event["seq"] == 2:
            event["new_values"] = {"i": 0, "rewritten": True}
        digest = event_hash(event)
        statements.append(
            (
                f"UPDATE audit_event SET new_values = ?, prev_hash = ?, hash = ? {WHERE}",
                [
                    json.dumps(event["new_values"], sort_keys=True, separators=(",", ":")),
                    prev,
                    digest,
                    chain,
                    event["seq"],
                ],
            )
        )
        prev = digest
    await tamper(db.name, *statements)
    await AuditHead.filter(org_id=chain).update(hash=prev)

    rewritten = await rows(chain)
    assert [r["hash"] for r in rewritten][1:] != [r["hash"] for r in original][1:]
    lines = [line async for line in export_events(chain)]
    assert standalone_verify(lines) is None  # the forgery is a valid chain on its own...
    # ... but it no longer ends where the signed checkpoint says it did
    await assert_broken(db, chain, N, f"event {N} no longer has the hash checkpoint")


async def test_untampered_chain_with_checkpoint_verifies(db, tenant) -> None:
    """Control: the same steps without tampering verify, and checkpoints are idempotent."""
    org = tenant.org_id
    await grow(org, N - 1)
    made = await checkpoint_all(db.settings.key)
    assert [cp.seq for cp in made if cp.org_id == org] == [N]
    assert not [cp for cp in await checkpoint_all(db.settings.key) if cp.org_id == org]
    await grow(org, 1)
    v = await verify_org(org, db.settings.key)
    assert v.ok, v.describe()
    assert (v.events_checked, v.head_seq, v.checkpoint_seq) == (N + 1, N + 1, N)
    await assert_triggers_active(db.name)
