"""The spool keeps audit events through a database outage and replays them in order, once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from riskops.audit import spool, store
from riskops.audit.chain import format_ts
from riskops.audit.verify import verify_org
from tests.audit._util import HERE, PYTHON, actor, entry, indexes, rows

N, CUT_AFTER = 30, 10


@pytest.fixture
def tmp_spool(db, tmp_path: Path) -> Iterator[Path]:
    """A private spool directory; the session's spool (tests/conftest.py) is put back after."""
    directory = tmp_path / "spool"
    spool.configure(directory)
    try:
        yield directory
    finally:
        spool.configure(db.settings.spool_dir)
    assert spool.spool_path() == db.settings.spool_dir / "spool.jsonl"


def _append_raw(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


@pytest.mark.postgres_only
@pytest.mark.slow
async def test_outage_events_are_spooled_then_flushed_in_order(db, tenant, tmp_path) -> None:
    org = tenant.org_id
    base = len(await rows(org))
    spool_dir = tmp_path / "outage-spool"
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        str(HERE / "_outage.py"),
        db.settings.db_url,
        str(org),
        str(spool_dir),
        str(N),
        str(CUT_AFTER),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    report = json.loads(out.decode().strip().splitlines()[-1])

    # emit never raised; during the outage every event went to the spool, one more each time
    assert report["errors"] == []
    assert report["depths"] == [0] * CUT_AFTER + list(range(1, N - CUT_AFTER + 1))
    assert report["proxy_cut_connections"] >= 1  # the pool's live connections were dropped
    assert report["proxy_refused_during_outage"] >= 1  # and reconnecting was refused
    # after the restore the spool drained completely
    assert report["flushed"] == N - CUT_AFTER
    assert report["final_depth"] == 0
    assert report["spool_file_exists"] is False
    assert not (spool_dir / "spool.jsonl").exists()

    stored = await rows(org)
    assert [r["seq"] for r in stored] == list(range(1, base + N + 1))
    outage = [r for r in stored if r["action"] == "test.outage"]
    assert indexes(stored, "test.outage") == list(range(N))  # all 30, in emit order
    assert len({r["event_uid"] for r in outage}) == N
    # spooled events keep the time they were emitted at, so ts follows seq
    assert [r["ts"] for r in outage] == sorted(r["ts"] for r in outage)
    v = await verify_org(org, db.settings.key)
    assert v.ok, v.describe()
    assert v.events_checked == base + N


async def test_replay_skips_stored_events_and_ignores_a_torn_last_line(db, tenant, tmp_spool):
    org = tenant.org_id
    who = actor(org)
    await store.emit(who, entry("spool.replay", 0))  # the store is up: stored directly
    assert spool.depth() == 0
    stored = (await rows(org))[-1]
    assert stored["action"] == "spool.replay"

    # A flush that stored event 0 but died before rewriting the spool left it spooled, followed
    # by event 1 that was never stored, and a crash tore the last line mid-write.
    spool.write(spool.to_record(who, entry("spool.replay", 0), stored["ts"], stored["event_uid"]))
    uid1 = str(uuid.uuid4())
    spool.write(spool.to_record(who, entry("spool.replay", 1), format_ts(), uid1))
    _append_raw(spool.spool_path(), '{"event_uid": "torn-')
    assert spool.depth() == 2

    assert await store.flush_spool() == 2
    after = await rows(org)
    assert indexes(after, "spool.replay") == [0, 1]  # event 0 not duplicated
    uids = [r["event_uid"] for r in after]
    assert uids.count(stored["event_uid"]) == 1
    assert uids.count(uid1) == 1
    assert [r["seq"] for r in after] == list(range(1, len(after) + 1))
    assert spool.depth() == 0
    assert not spool.spool_path().exists()  # the torn fragment went with the flushed records
    assert await store.flush_spool() == 0  # replaying again is a no-op
    assert await rows(org) == after
    assert (await verify_org(org, db.settings.key)).ok


async def test_torn_last_line_does_not_swallow_the_next_record(db, tenant, tmp_spool):
    org = tenant.org_id
    before = len(await rows(org))
    # A crash tore a line mid-write: it was never acknowledged, so it is ignored ...
    _append_raw(spool.spool_path(), '{"event_uid": "torn-0000", "org_i')
    assert spool.depth() == 0
    # ... but the next record, written (and fsync'd) after the restart, must not be lost
    spool.write(spool.to_record(actor(org), entry("spool.torn", 7), format_ts(), "uid-torn-next"))
    assert spool.depth() == 1
    assert await store.flush_spool() == 1
    after = await rows(org)
    assert len(after) == before + 1
    assert indexes(after, "spool.torn") == [7]
    assert after[-1]["event_uid"] == "uid-torn-next"
    assert spool.depth() == 0
    assert (await verify_org(org, db.settings.key)).ok


async def test_emit_queues_behind_spooled_events(db, tenant, tmp_spool):
    """With events still spooled, a new emit goes behind them, so chain order = emit order."""
    org = tenant.org_id
    who = actor(org)
    spool.write(spool.to_record(who, entry("spool.order", 0), format_ts(), str(uuid.uuid4())))
    spool.write(spool.to_record(who, entry("spool.order", 1), format_ts(), str(uuid.uuid4())))
    await store.emit(who, entry("spool.order", 2))  # store is up: flushes 0 and 1 first
    assert spool.depth() == 0
    assert indexes(await rows(org), "spool.order") == [0, 1, 2]
    assert (await verify_org(org, db.settings.key)).ok
