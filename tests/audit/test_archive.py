"""Archiving the old segment of a chain (`riskops.audit.archive`), on both backends: the file
verifies on its own, the segment leaves the database only through the one privileged path, and
`verify_org` then starts from the archived, signed checkpoint. Refusals remove nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.archive import ArchiveRefused, archive_chain
from riskops.audit.chain import format_ts
from riskops.audit.export import export_events
from riskops.audit.models import AuditArchive, AuditEvent
from riskops.audit.types import system_actor
from riskops.audit.verify import sign_checkpoint, verify_org
from tests.audit._util import actor, entry, mark_tampered, raw, seqs, sql
from tests.audit.test_chain import standalone_verify, synthetic_org
from tests.audit.test_tamper import tamper

OLD = 5  # events stamped in 2020
NEW = 3  # events stamped now
CUT = datetime(2021, 1, 1, tzinfo=UTC)


async def old_and_new_chain() -> int:
    """A chain of OLD events from 2020 followed by NEW events of today."""
    org = synthetic_org()
    async with in_transaction() as conn:
        for i in range(OLD):
            ts = f"2020-06-0{i + 1}T00:00:00.000000Z"
            await store.append(actor(org), entry(i=i), conn, ts=ts)
    for i in range(NEW):
        await store.emit(actor(org), entry(i=OLD + i))
    return org


async def remaining_export(org: int) -> list[str]:
    return [line async for line in export_events(org)]


async def test_archive_writes_a_verified_segment_and_verify_starts_from_its_checkpoint(
    db, tmp_path: Path
) -> None:
    org = await old_and_new_chain()
    key = db.settings.key
    done = await archive_chain(org, CUT, tmp_path, key, system_actor(org))

    # The file: seq 1..OLD in the export format, verifying on its own from the genesis hash.
    lines = done.file.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["seq"] for x in lines] == list(range(1, OLD + 1))
    assert standalone_verify(lines) is None
    checkpoint = json.loads(done.checkpoint_file.read_text(encoding="utf-8"))
    cp = checkpoint["checkpoint"]
    assert (cp["org"], cp["seq"], cp["head_hash"]) == (org, OLD, json.loads(lines[-1])["hash"])
    assert cp["signature"] == sign_checkpoint(key, org, OLD, cp["head_hash"], cp["ts"])
    assert checkpoint["first_seq"] == 1 and checkpoint["last_seq"] == OLD

    # The database: the segment is gone, recorded as an archive row and an event of the chain.
    archive = done.archive
    assert (archive.first_seq, archive.last_seq, archive.events) == (1, OLD, OLD)
    assert archive.file_sha256 == checkpoint["file_sha256"]
    assert await seqs(org) == list(range(OLD + 1, OLD + NEW + 2))
    event = await AuditEvent.get(org_id=org, seq=OLD + NEW + 1)
    assert (event.action, event.risk_level) == ("audit.archived", "high")
    assert json.loads(event.new_values)["last_hash"] == archive.last_hash

    # Verification starts from the archived checkpoint.
    verification = await verify_org(org, key)
    assert verification.ok, verification.describe()
    assert verification.archived_seq == OLD
    assert verification.events_checked == NEW + 1
    assert "from the archived checkpoint at seq 5" in verification.describe()

    # What remains exports and verifies from the checkpoint's last hash (the independent way).
    rest = await remaining_export(org)
    assert json.loads(rest[0])["prev_hash"] == archive.last_hash
    assert standalone_verify(rest, prev=archive.last_hash, seq=OLD + 1) is None

    # A second archive continues where the first ended: its file starts at the first's last hash.
    second = await archive_chain(org, datetime.now(UTC), tmp_path, key, system_actor(org))
    assert second.archive.first_seq == OLD + 1
    assert second.archive.first_prev_hash == archive.last_hash
    lines2 = second.file.read_text(encoding="utf-8").splitlines()
    assert standalone_verify(lines2, prev=archive.last_hash, seq=OLD + 1) is None
    verification = await verify_org(org, key)
    assert verification.ok and verification.archived_seq == second.archive.last_seq


async def test_the_guard_holds_outside_the_archiving_transaction(db, tmp_path: Path) -> None:
    org = await old_and_new_chain()
    await archive_chain(org, CUT, tmp_path, db.settings.key, system_actor(org))
    conn = raw()
    # A remaining event cannot be deleted, nor an archive row changed or deleted.
    with pytest.raises(OperationalError, match="append-only"):
        await conn.execute_query(
            sql(db.name, "DELETE FROM audit_event WHERE org_id = ? AND seq = ?"), [org, OLD + 1]
        )
    with pytest.raises(OperationalError, match="append-only"):
        await conn.execute_query(
            sql(db.name, "UPDATE audit_archive SET last_seq = ? WHERE org_id = ?"), [99, org]
        )
    with pytest.raises(OperationalError, match="append-only"):
        await conn.execute_query(sql(db.name, "DELETE FROM audit_archive WHERE org_id = ?"), [org])
    # An archive row alone (no lift in the same transaction) does not open the guard.
    with pytest.raises(OperationalError, match="append-only"):
        async with in_transaction() as tx:
            await AuditArchive.create(
                org_id=org, first_seq=OLD + 1, last_seq=OLD + 2, first_prev_hash="0" * 64,
                last_hash="0" * 64, first_ts="x", last_ts="x", before="x", events=2,
                file_name="forged", file_sha256="0" * 64, checkpoint_ts="x", signature="0" * 64,
                created_at="x", created_by="test", using_db=tx,
            )  # fmt: skip
            await tx.execute_query(
                sql(db.name, "DELETE FROM audit_event WHERE org_id = ? AND seq = ?"),
                [org, OLD + 1],
            )
    assert await seqs(org) == list(range(OLD + 1, OLD + NEW + 2))
    assert (await verify_org(org, db.settings.key)).ok


async def _unchanged(org: int, before: list[int], out: Path) -> None:
    assert await seqs(org) == before
    assert not await AuditArchive.filter(org_id=org).exists()
    assert not written(out)


def written(out: Path) -> list[Path]:
    return sorted(out.iterdir()) if out.exists() else []


async def test_a_date_in_the_future_is_refused(db, tmp_path: Path) -> None:
    org = await old_and_new_chain()
    before = await seqs(org)
    with pytest.raises(ArchiveRefused, match="is in the future"):
        await archive_chain(
            org, datetime.now(UTC) + timedelta(days=1), tmp_path, db.settings.key,
            system_actor(org),
        )  # fmt: skip
    await _unchanged(org, before, tmp_path)


async def test_nothing_to_archive_is_refused(db, tmp_path: Path) -> None:
    org = await old_and_new_chain()
    before = await seqs(org)
    with pytest.raises(ArchiveRefused, match="no audit events before 2019"):
        await archive_chain(org, datetime(2019, 1, 1, tzinfo=UTC), tmp_path, db.settings.key,
                            system_actor(org))  # fmt: skip
    await _unchanged(org, before, tmp_path)


async def test_an_output_directory_that_cannot_be_written_is_refused(db, tmp_path: Path) -> None:
    org = await old_and_new_chain()
    before = await seqs(org)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ArchiveRefused, match="cannot create the output directory"):
        await archive_chain(org, CUT, blocker / "archive", db.settings.key, system_actor(org))
    assert await seqs(org) == before
    assert not await AuditArchive.filter(org_id=org).exists()


async def test_a_chain_that_does_not_verify_is_never_archived(db, tmp_path: Path) -> None:
    org = await old_and_new_chain()
    mark_tampered(org)
    await tamper(
        db.name,
        ("UPDATE audit_event SET actor = 'user:999' WHERE org_id = ? AND seq = ?", [org, 2]),
    )
    before = await seqs(org)
    with pytest.raises(ArchiveRefused, match="does not verify"):
        await archive_chain(org, CUT, tmp_path, db.settings.key, system_actor(org))
    await _unchanged(org, before, tmp_path)


async def test_a_forged_archive_checkpoint_breaks_verification(db, tmp_path: Path) -> None:
    org = await old_and_new_chain()
    await archive_chain(org, CUT, tmp_path, db.settings.key, system_actor(org))
    verification = await verify_org(org, b"another key entirely, not the chain's own")
    assert not verification.ok
    assert "invalid signature" in (verification.reason or "")


async def test_the_archived_event_names_the_file(db, tmp_path: Path) -> None:
    org = await old_and_new_chain()
    done = await archive_chain(org, CUT, tmp_path, db.settings.key, system_actor(org))
    event = await AuditEvent.filter(org_id=org, action="audit.archived").first()
    assert event is not None
    detail = json.loads(event.new_values)
    assert detail["file"] == done.file.name
    assert detail["file_sha256"] == done.archive.file_sha256
    assert detail["before"] == format_ts(CUT)
