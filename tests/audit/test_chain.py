"""The hash-chain contract (ARCHITECTURE.md, "Audit chain contract") and append-only storage."""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import random
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.chain import (
    EXPORT_FIELDS,
    GENESIS_HASH,
    canonical,
    event_hash,
    format_ts,
    parse_ts,
    verify_lines,
)
from riskops.audit.export import export_events
from riskops.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from riskops.audit.types import Actor, Entry, RiskLevel, system_actor
from riskops.audit.verify import row_to_event, sign_checkpoint, verify_org
from tests.audit._util import actor, entry, grow, raw, rows, seqs, sql

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def standalone_verify(lines, prev="0" * 64, seq=1):
    """An independent verifier of the contract: json + hashlib only. First bad seq, or None."""
    for line in lines:
        ev = json.loads(line)
        body = {k: v for k, v in ev.items() if k != "hash"}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if ev.get("seq") != seq or ev.get("prev_hash") != prev:
            return seq
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != ev.get("hash"):
            return seq
        prev, seq = ev["hash"], seq + 1
    return None


def synthetic_org() -> int:
    """An org id with no organization row and no chain yet (audit rows carry a plain int)."""
    return random.randint(1_500_000_000, 2_100_000_000)


async def export(org_id: int, **window) -> list[str]:
    return [line async for line in export_events(org_id, **window)]


# --- pure contract functions -------------------------------------------------------------------


def test_standalone_verifier_fits_the_contract() -> None:
    src = inspect.getsource(standalone_verify)
    assert len(src.splitlines()) <= 20
    assert not {"riskops", "canonical", "event_hash"} & set(standalone_verify.__code__.co_names)


def test_canonical_is_sorted_compact_utf8() -> None:
    obj = {"b": 1, "a": {"d": [1, 2.5], "c": "é"}, "z": None, "k": "日本 ✓ 😀"}
    out = canonical(obj)
    assert out == '{"a":{"c":"é","d":[1,2.5]},"b":1,"k":"日本 ✓ 😀","z":null}'.encode()
    assert b"\\u" not in out  # ensure_ascii=False: raw UTF-8, no escapes
    assert out == json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )
    # key order of the input never matters
    assert canonical(dict(reversed(list(obj.items())))) == out


def test_event_hash_is_sha256_of_canonical_without_hash() -> None:
    ev = {"seq": 1, "a": "é", "hash": "whatever"}
    expected = hashlib.sha256('{"a":"é","seq":1}'.encode()).hexdigest()
    assert event_hash(ev) == expected
    assert event_hash({**ev, "hash": "something else"}) == expected
    assert event_hash({k: v for k, v in ev.items() if k != "hash"}) == expected
    assert event_hash({**ev, "a": "e"}) != expected


def test_format_ts_is_rfc3339_utc_micro_z() -> None:
    moment = datetime(2026, 11, 24, 10, 25, 0, 1, tzinfo=UTC)
    assert format_ts(moment) == "2026-11-24T10:25:00.000001Z"
    plus_one = datetime(2026, 11, 24, 11, 25, 0, 1, tzinfo=timezone(timedelta(hours=1)))
    assert format_ts(plus_one) == "2026-11-24T10:25:00.000001Z"
    assert format_ts(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000Z"
    now = format_ts()
    assert TS_RE.match(now)
    assert abs(parse_ts(now) - datetime.now(UTC)) < timedelta(seconds=5)
    assert parse_ts("2026-11-24T10:25:00.000001Z") == moment


# --- the stored chain --------------------------------------------------------------------------


async def test_chain_starts_at_seq_1_with_genesis_prev_hash(tenant) -> None:
    stored = await rows(tenant.org_id)
    first = stored[0]
    assert first["seq"] == 1
    assert first["prev_hash"] == GENESIS_HASH == "0" * 64
    assert first["action"] == "org.create"
    assert first["hash"] == event_hash(row_to_event(first))
    head = await AuditHead.get(org_id=tenant.org_id)
    assert (head.seq, head.hash) == (stored[-1]["seq"], stored[-1]["hash"])


async def test_first_append_creates_the_head(db) -> None:
    org = synthetic_org()
    assert await AuditHead.get_or_none(org_id=org) is None
    async with in_transaction() as conn:
        one = await store.append(actor(org), entry(i=0), conn)
    async with in_transaction() as conn:
        two = await store.append(actor(org), entry(i=1), conn)
    assert (one.seq, one.prev_hash) == (1, GENESIS_HASH)
    assert (two.seq, two.prev_hash) == (2, one.hash)
    head = await AuditHead.get(org_id=org)
    assert (head.seq, head.hash) == (2, two.hash)
    assert (await verify_org(org, db.settings.key)).ok


async def test_export_is_accepted_by_a_standalone_verifier(db, tenant) -> None:
    org = tenant.org_id
    await store.emit(
        Actor(org, "user:7", "user", "2001:db8::1", "Mözilla/5.0 (日本) ✓", "req-ü"),
        Entry(
            "risk.update",
            "risk",
            42,
            {"title": "Ärger", "score": 0.1, "tags": ["a", "ß"]},
            {"title": "Ärger 😀", "score": 12.5, "nested": {"z": 1, "a": [None, True]}},
            RiskLevel.HIGH,
        ),
    )
    await store.emit(system_actor(org), Entry("data.read", "report", "r-1"))
    await grow(org, 3)
    lines = await export(org)
    stored = await rows(org)
    assert len(lines) == len(stored) == 6

    for line, row in zip(lines, stored, strict=True):
        ev = json.loads(line)
        assert tuple(sorted(ev)) == tuple(sorted(EXPORT_FIELDS))
        assert ev["org"] == org
        assert (ev["seq"], ev["hash"]) == (row["seq"], row["hash"])
        assert TS_RE.match(ev["ts"])
    second = json.loads(lines[1])
    assert second["user_agent"] == "Mözilla/5.0 (日本) ✓"
    assert second["new_values"]["title"] == "Ärger 😀"
    assert second["risk_level"] == "high"
    assert second["entity_id"] == "42"
    third = json.loads(lines[2])
    assert (third["actor"], third["ip"], third["user_agent"]) == ("system", None, None)

    assert standalone_verify(lines) is None
    assert verify_lines([json.loads(x) for x in lines]) is None

    # ... and names the first bad seq of a tampered export
    edited = [json.loads(x) for x in lines]
    edited[2]["new_values"] = {"forged": True}
    as_text = [json.dumps(e, ensure_ascii=False) for e in edited]
    assert standalone_verify(as_text) == 3
    assert verify_lines(edited) == 3
    assert standalone_verify(lines[:1] + lines[2:]) == 2  # seq 2 dropped
    assert standalone_verify([lines[0], lines[2], lines[1], *lines[3:]]) == 2  # reordered
    assert standalone_verify(lines[1:]) == 1  # head dropped


async def test_export_window_verifies_from_its_first_prev_hash(db) -> None:
    org = synthetic_org()
    for i in range(6):
        async with in_transaction() as conn:
            await store.append(actor(org), entry(i=i), conn, ts=f"2020-01-01T00:00:0{i}.000000Z")
    lines = await export(
        org,
        since=datetime(2020, 1, 1, 0, 0, 2, tzinfo=UTC),
        until=datetime(2020, 1, 1, 0, 0, 5, tzinfo=UTC),
    )
    window = [json.loads(x) for x in lines]
    assert [e["seq"] for e in window] == [3, 4, 5]
    stored = await rows(org)
    assert window[0]["prev_hash"] == stored[1]["hash"]
    assert standalone_verify(lines, prev=window[0]["prev_hash"], seq=3) is None
    assert standalone_verify(lines) == 1  # not a chain from genesis on its own


async def test_two_orgs_have_independent_chains(db, tenant, other_tenant) -> None:
    a, b = tenant.org_id, other_tenant.org_id
    before_a, before_b = len(await seqs(a)), len(await seqs(b))
    for i in range(3):
        await store.emit(actor(a), entry("two.orgs", i))
        await store.emit(actor(b), entry("two.orgs", 100 + i))
    await store.emit(actor(a), entry("two.orgs", 3))
    rows_a, rows_b = await rows(a), await rows(b)
    assert [r["seq"] for r in rows_a] == list(range(1, before_a + 5))
    assert [r["seq"] for r in rows_b] == list(range(1, before_b + 4))
    for chain in (rows_a, rows_b):
        assert chain[0]["prev_hash"] == GENESIS_HASH
        for prev, cur in itertools.pairwise(chain):
            assert cur["prev_hash"] == prev["hash"]
    assert not {r["hash"] for r in rows_a} & {r["prev_hash"] for r in rows_b}
    assert not {r["hash"] for r in rows_b} & {r["prev_hash"] for r in rows_a}
    ia = [json.loads(r["new_values"])["i"] for r in rows_a if r["action"] == "two.orgs"]
    ib = [json.loads(r["new_values"])["i"] for r in rows_b if r["action"] == "two.orgs"]
    assert (ia, ib) == ([0, 1, 2, 3], [100, 101, 102])
    for org in (a, b):
        v = await verify_org(org, db.settings.key)
        assert v.ok, v.describe()
        assert v.events_checked == len(await seqs(org))


class Boom(Exception):
    pass


async def test_rolled_back_append_leaves_no_event_and_no_gap(db, tenant) -> None:
    org = tenant.org_id
    before = await rows(org)
    last = before[-1]["seq"]
    with pytest.raises(Boom):
        async with in_transaction() as conn:
            doomed = await store.append(actor(org), entry("doomed", 0), conn)
            assert doomed.seq == last + 1
            raise Boom
    assert await rows(org) == before
    assert not await AuditEvent.filter(org_id=org, action="doomed").exists()
    head = await AuditHead.get(org_id=org)
    assert (head.seq, head.hash) == (last, before[-1]["hash"])

    async with in_transaction() as conn:
        nxt = await store.append(actor(org), entry("kept", 1), conn)
    assert (nxt.seq, nxt.prev_hash) == (last + 1, before[-1]["hash"])
    assert await seqs(org) == list(range(1, last + 2))

    # a brand-new chain whose very first append rolls back: the head goes too
    fresh = synthetic_org()
    with pytest.raises(Boom):
        async with in_transaction() as conn:
            await store.append(actor(fresh), entry("doomed", 0), conn)
            raise Boom
    assert await AuditHead.get_or_none(org_id=fresh) is None
    async with in_transaction() as conn:
        first = await store.append(actor(fresh), entry("kept", 0), conn)
    assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
    assert (await verify_org(org, db.settings.key)).ok
    assert (await verify_org(fresh, db.settings.key)).ok


async def _checkpoint_now(org_id: int, key: bytes) -> AuditCheckpoint:
    head = await AuditHead.get(org_id=org_id)
    ts = format_ts()
    return await AuditCheckpoint.create(
        org_id=org_id,
        seq=head.seq,
        head_hash=head.hash,
        ts=ts,
        signature=sign_checkpoint(key, org_id, head.seq, head.hash, ts),
    )


@pytest.mark.parametrize("table", ["audit_event", "audit_checkpoint"])
@pytest.mark.parametrize("op", ["UPDATE", "DELETE"])
async def test_database_refuses_update_and_delete(db, tenant, table: str, op: str) -> None:
    org = tenant.org_id
    await grow(org, 2)
    await _checkpoint_now(org, db.settings.key)  # at the head: org.create + 2 events = seq 3
    seq = 2 if table == "audit_event" else 3
    where = "WHERE org_id = ? AND seq = ?"
    select = sql(db.name, f"SELECT * FROM {table} {where}")
    before = await raw().execute_query_dict(select, [org, seq])
    assert len(before) == 1
    if op == "UPDATE":
        column = "action" if table == "audit_event" else "head_hash"
        stmt, params = f"UPDATE {table} SET {column} = ? {where}", ["forged", org, seq]
    else:
        stmt, params = f"DELETE FROM {table} {where}", [org, seq]
    with pytest.raises(OperationalError, match=rf"{table} is append-only \({op} refused\)"):
        await raw().execute_query(sql(db.name, stmt), params)
    assert await raw().execute_query_dict(select, [org, seq]) == before
    assert (await verify_org(org, db.settings.key)).ok


class Rollback(Exception):
    pass


@pytest.mark.postgres_only
@pytest.mark.parametrize("table", ["audit_event", "audit_checkpoint"])
async def test_database_refuses_truncate(db, tenant, table: str) -> None:
    await _checkpoint_now(tenant.org_id, db.settings.key)
    count = f"SELECT count(*) AS n FROM {table}"
    (before,) = await raw().execute_query_dict(count)
    assert before["n"] >= 1
    # Inside a transaction that is always rolled back: should the trigger be missing, the
    # failed assertion still undoes the TRUNCATE instead of wiping the session's audit rows.
    with pytest.raises(Rollback):
        async with in_transaction() as conn:
            with pytest.raises(OperationalError, match=rf"{table} is append-only"):
                await conn.execute_script(f"TRUNCATE {table}")
            raise Rollback
    (after,) = await raw().execute_query_dict(count)
    assert after["n"] == before["n"]
