"""Verification of a long chain in parallel ranges (child processes, PostgreSQL) gives the same
answer as the one-process stream: the chain holds, an edited event, a broken link and a missing
event are found at the same seq, also across the join of two ranges and after an archive."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskops.audit import verify
from riskops.audit.archive import archive_chain
from riskops.audit.types import system_actor
from tests.audit._util import grow, mark_tampered
from tests.audit.test_archive import CUT, old_and_new_chain
from tests.audit.test_chain import synthetic_org
from tests.audit.test_tamper import tamper

pytestmark = pytest.mark.postgres_only


async def both(org: int, key: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple:
    monkeypatch.setattr(verify, "PARALLEL_MIN", 10**12)
    serial = await verify.verify_org(org, key)
    monkeypatch.setattr(verify, "PARALLEL_MIN", 2)
    monkeypatch.setattr(verify, "_workers", lambda: 3)
    parallel = await verify.verify_org(org, key)
    return serial, parallel


async def test_a_chain_that_holds(db, monkeypatch) -> None:
    org = synthetic_org()
    await grow(org, 20)
    serial, parallel = await both(org, db.settings.key, monkeypatch)
    assert serial.ok and parallel.ok
    assert (parallel.events_checked, parallel.head_seq, parallel.head_hash) == (
        serial.events_checked, serial.head_seq, serial.head_hash,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("statement", "seq", "reason"),
    [
        ("UPDATE audit_event SET actor = 'user:9' WHERE org_id = ? AND seq = ?", 8,
         "content does not match its hash"),
        ("UPDATE audit_event SET actor = 'user:9' WHERE org_id = ? AND seq = ?", 15,
         "content does not match its hash"),
        ("UPDATE audit_event SET prev_hash = repeat('a', 64) WHERE org_id = ? AND seq = ?", 15,
         "prev_hash does not match"),
        ("DELETE FROM audit_event WHERE org_id = ? AND seq = ?", 15, "seq 15 is missing"),
        ("DELETE FROM audit_event WHERE org_id = ? AND seq = ?", 9, "seq 9 is missing"),
    ],
)  # fmt: skip
async def test_a_break_is_found_at_the_same_seq(db, monkeypatch, statement, seq, reason) -> None:
    org = synthetic_org()  # 21 events: ranges of 7 (seq 1-7, 8-14, 15-21) with 3 workers
    await grow(org, 21)
    mark_tampered(org)
    await tamper(db.name, (statement, [org, seq]))
    serial, parallel = await both(org, db.settings.key, monkeypatch)
    assert not serial.ok and not parallel.ok
    assert serial.first_bad_seq == parallel.first_bad_seq == seq
    assert reason in (serial.reason or "") and reason in (parallel.reason or "")


async def test_after_an_archive(db, monkeypatch, tmp_path: Path) -> None:
    org = await old_and_new_chain()
    await grow(org, 12)
    await archive_chain(org, CUT, tmp_path, db.settings.key, system_actor(org))
    serial, parallel = await both(org, db.settings.key, monkeypatch)
    assert serial.ok and parallel.ok and parallel.archived_seq == 5
    assert parallel.events_checked == serial.events_checked
