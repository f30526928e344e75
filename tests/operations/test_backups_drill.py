"""The restore drill (issue 15, seed 003 BR-002) on both backends, through the CLI as an operator
runs it: the demo installation (alerts, cases, runs, views, users, audit, a quarantined artifact)
backed up, restored into a fresh database and var directory, and compared: row counts per table,
every audit chain, the files' hashes, and a demo user's password still logging in. Then every
refusal of a restore, each leaving the target exactly as it was."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from riskops.server.security import verify_password
from tests.cli.test_cli import (
    MIGRATIONS,
    Seeded,
    Target,
    new_target,
    one_error_line,
    printed_logins,
    seeded_target,
)

pytestmark = pytest.mark.slow

# Tables a backup or a restore writes to after the snapshot: its record and its audit events.
WRITTEN_AFTER = {"backup_record", "restore_record", "audit_event", "audit_head"}


def table_counts(target: Target) -> dict[str, int]:
    if target.backend == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    else:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    names = [r[0] for r in target.query(sql)]
    return {n: int(target.scalar(f'SELECT count(*) FROM "{n}"')) for n in sorted(names)}


def file_hashes(var_dir: Path) -> dict[str, str]:
    return {
        p.relative_to(var_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for root in ("artifacts", "quarantine")
        for p in sorted((var_dir / root).rglob("*"))
        if p.is_file()
    }


def archive_of(done_stdout: str) -> Path:
    line = next(x for x in done_stdout.splitlines() if "written and verified:" in x)
    return Path(line.split("written and verified:", 1)[1].strip())


def fresh_var(source: Target, root: Path) -> Path:
    """A new var directory holding only the installation key (kept with the secrets, not in
    the archive: docs/BACKUPS.md)."""
    var_dir = root / "var-restored"
    var_dir.mkdir(parents=True)
    shutil.copy(source.var_dir / "secret_key", var_dir / "secret_key")
    return var_dir


@dataclass
class Drill:
    source: Seeded
    archive: Path
    before: dict[str, int]
    files: dict[str, str]
    root: Path


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def drill(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Drill]:
    root = tmp_path_factory.mktemp(f"drill-{request.param}")
    with seeded_target(request.param, root / "source") as seeded:
        target = seeded.target
        # An artifact in the store besides the demo's quarantined one, and a signed checkpoint
        # (a restore must still verify it: same key).
        stored = target.var_dir / "artifacts" / str(target.demo_org()) / "run-1" / "scores.csv"
        stored.parent.mkdir(parents=True)
        stored.write_bytes(b"id,score\n1,0.93\n")
        target.run("audit", "checkpoint")
        before = table_counts(target)
        made = target.run("backup", "create")
        yield Drill(seeded, archive_of(made.stdout), before, file_hashes(target.var_dir), root)


def test_the_archive_holds_the_dump_files_and_a_manifest(drill: Drill) -> None:
    with tarfile.open(drill.archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert names[-1] == "manifest.json"
    assert set(names[:-1]) == set(manifest["members"])
    assert {f"files/{k}" for k in drill.files} <= set(manifest["members"])
    assert manifest["backend"] == drill.source.target.backend
    assert manifest["schema_version"] == MIGRATIONS[-1]
    assert manifest["row_counts"] == drill.before
    assert str(drill.source.target.demo_org()) in manifest["audit_heads"]
    record = drill.source.target.query(
        "SELECT sha256, verified_at, verify_error, size_bytes FROM backup_record"
    )
    assert len(record) == 1 and record[0][1] is not None and record[0][2] is None
    assert record[0][0] == hashlib.sha256(drill.archive.read_bytes()).hexdigest()
    assert record[0][3] == drill.archive.stat().st_size
    # The backup is in every organization's chain and the platform's, by the operator.
    actions = drill.source.target.query(
        "SELECT org_id, actor, actor_type FROM audit_event WHERE action = 'ops.backup_created'"
    )
    assert {r[0] for r in actions} == {0, drill.source.target.demo_org()}
    assert all(r[1].startswith("cli:") and r[2] == "system" for r in actions)


def test_list_and_verify_show_the_backup(drill: Drill) -> None:
    listed = drill.source.target.run("backup", "list").stdout
    assert "verified" in listed and drill.source.target.backend in listed
    verified = drill.source.target.run("backup", "verify", str(drill.archive))
    assert "OK" in verified.stdout


def test_restore_drill_brings_everything_back(drill: Drill) -> None:
    source = drill.source.target
    with new_target(source.backend, drill.root / "restored") as target:
        var_dir = fresh_var(source, drill.root / "restored")
        target.var_dir = var_dir
        if source.backend == "sqlite":
            target.url = f"sqlite://{var_dir / 'riskops.sqlite3'}"
        done = target.run("backup", "restore", str(drill.archive))
        assert "Restore checked: OK." in done.stdout
        after = table_counts(target)
        assert {k: v for k, v in after.items() if k not in WRITTEN_AFTER} == {
            k: v for k, v in drill.before.items() if k not in WRITTEN_AFTER
        }
        assert after["backup_record"] == drill.before["backup_record"]
        assert after["restore_record"] == drill.before["restore_record"] + 1
        assert target.query("SELECT ok, detail FROM restore_record")[0][0] in (1, True)
        # Every chain verifies, the checkpoint included, and the restore is its last event.
        org = target.demo_org()
        last = target.scalar(
            f"SELECT action FROM audit_event WHERE org_id = {org} ORDER BY seq DESC LIMIT 1"
        )
        assert last == "ops.backup_restored"
        verified = target.run("audit", "verify", "--org", str(org)).stdout
        assert "OK" in verified and "checkpoint at seq" in verified
        assert file_hashes(var_dir) == drill.files
        # The demo admin logs in with the password seed-demo printed.
        password, _ = printed_logins(drill.source.seeded.stdout)["admin@demo.riskops.local"]
        stored = target.scalar(
            "SELECT password_hash FROM app_user WHERE email = 'admin@demo.riskops.local'"
        )
        assert verify_password(stored, password)
        assert not verify_password(stored, password + "x")


# ----------------------------------------------------------------------------- refusals


def rewrite(archive: Path, dest: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """A copy of the archive with members changed (None drops the member)."""
    with tarfile.open(archive) as src, tarfile.open(dest, "w") as out:
        for info in src.getmembers():
            data = change(info.name, src.extractfile(info).read())  # type: ignore[union-attr]
            if data is None:
                continue
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return dest


def flip_dump(name: str, data: bytes) -> bytes:
    if name.startswith("database."):
        return data[:2000] + bytes([data[2000] ^ 0xFF]) + data[2001:]
    return data


def no_manifest(name: str, data: bytes) -> bytes | None:
    return None if name == "manifest.json" else data


def future_schema(name: str, data: bytes) -> bytes:
    if name == "manifest.json":
        manifest = json.loads(data)
        manifest["schema_version"] = "0999_future"
        return json.dumps(manifest).encode()
    return data


@pytest.fixture
def empty_target(drill: Drill, tmp_path: Path) -> Iterator[Target]:
    source = drill.source.target
    with new_target(source.backend, tmp_path) as target:
        target.var_dir = fresh_var(source, tmp_path)
        if source.backend == "sqlite":
            target.url = f"sqlite://{target.var_dir / 'riskops.sqlite3'}"
        yield target


def assert_nothing_written(target: Target) -> None:
    if target.backend == "sqlite":
        assert not Path(target.url.removeprefix("sqlite://")).exists()
    else:
        assert target.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
    assert sorted(p.name for p in target.var_dir.iterdir()) == ["secret_key"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (flip_dump, "does not match its SHA-256 in the manifest"),
        (no_manifest, "has no manifest.json"),
        (future_schema, "schema version 0999_future is not one this riskops knows"),
    ],
    ids=["corrupt-member", "missing-manifest", "newer-schema"],
)
def test_restore_refuses_a_bad_archive_and_writes_nothing(
    drill: Drill,
    empty_target: Target,
    tmp_path: Path,
    change: Callable[[str, bytes], bytes | None],
    message: str,
) -> None:
    bad = rewrite(drill.archive, tmp_path / "bad.tar", change)
    done = empty_target.run("backup", "restore", str(bad), ok=False)
    line = one_error_line(done)
    assert "nothing restored" in line and message in line
    assert_nothing_written(empty_target)


def test_restore_refuses_a_wrong_key_and_writes_nothing(drill: Drill, empty_target: Target) -> None:
    (empty_target.var_dir / "secret_key").write_text("another-installation-key-" + "x" * 40)
    line = one_error_line(empty_target.run("backup", "restore", str(drill.archive), ok=False))
    assert "secret key is not the one that took the backup" in line
    assert_nothing_written(empty_target)


def test_restore_refuses_the_other_backend(drill: Drill, tmp_path: Path) -> None:
    other = "postgres" if drill.source.target.backend == "sqlite" else "sqlite"
    with new_target(other, tmp_path) as target:
        target.var_dir = fresh_var(drill.source.target, tmp_path / "v")
        if other == "sqlite":
            target.url = f"sqlite://{target.var_dir / 'riskops.sqlite3'}"
        line = one_error_line(target.run("backup", "restore", str(drill.archive), ok=False))
        assert f"it is a {drill.source.target.backend} backup" in line
        assert_nothing_written(target)


def test_restore_refuses_a_database_that_holds_data(drill: Drill, tmp_path: Path) -> None:
    source = drill.source.target
    before = table_counts(source)
    var_dir = fresh_var(source, tmp_path)
    done = source.run("backup", "restore", str(drill.archive), "--var-dir", str(var_dir), ok=False)
    assert "already holds tables" in one_error_line(done)
    assert table_counts(source) == before
    assert sorted(p.name for p in var_dir.iterdir()) == ["secret_key"]


def test_restore_refuses_a_var_dir_that_holds_files(drill: Drill, empty_target: Target) -> None:
    (empty_target.var_dir / "artifacts" / "9").mkdir(parents=True)
    (empty_target.var_dir / "artifacts" / "9" / "old.bin").write_bytes(b"old")
    line = one_error_line(empty_target.run("backup", "restore", str(drill.archive), ok=False))
    assert "already holds artifacts files" in line
    if empty_target.backend == "sqlite":
        assert not Path(empty_target.url.removeprefix("sqlite://")).exists()
    else:
        assert (
            empty_target.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        )


def test_verify_records_a_damaged_archive_and_exits_1(drill: Drill, tmp_path: Path) -> None:
    source = drill.source.target
    copy = tmp_path / drill.archive.name
    shutil.copy(drill.archive, copy)
    # Damaged in place: the same file (and record) no longer matches its manifest.
    data = bytearray(copy.read_bytes())
    data[3000] ^= 0xFF
    copy.write_bytes(bytes(data))
    sha = hashlib.sha256(bytes(data)).hexdigest()
    source.execute(
        "INSERT INTO backup_record (created_at, path, backend, schema_version, size_bytes, "
        f"sha256, created_by, verified_at) VALUES ('2026-01-01 00:00:00+00:00', '{copy}', "
        f"'{source.backend}', 'x', 1, '{sha}', 'test', '2026-01-01 00:00:00+00:00')"
    )
    line = one_error_line(source.run("backup", "verify", str(copy), ok=False))
    assert "is NOT a good backup" in line and "SHA-256" in line
    verified_at, error = source.query(
        f"SELECT verified_at, verify_error FROM backup_record WHERE sha256 = '{sha}'"
    )[0]
    assert verified_at is None and "SHA-256" in error
    source.execute(f"DELETE FROM backup_record WHERE sha256 = '{sha}'")


def test_keep_days_removes_older_archives_and_marks_their_records(drill: Drill) -> None:
    source = drill.source.target
    backups_dir = drill.archive.parent
    old = backups_dir / "riskops-backup-20200101T000000Z.tar"
    old.write_bytes(b"an old archive")
    theirs = backups_dir / "notes.tar"  # not named by riskops: never deleted
    theirs.write_bytes(b"keep me")
    source.execute(
        "INSERT INTO backup_record (created_at, path, backend, schema_version, size_bytes, "
        f"sha256, created_by, verified_at) VALUES ('2020-01-01 00:00:00+00:00', '{old}', "
        f"'{source.backend}', 'x', 14, '{'e' * 64}', 'test', '2020-01-01 00:00:00+00:00')"
    )
    bad = source.run("backup", "create", "--keep-days", "-1", ok=False)
    assert "--keep-days must be between 0" in one_error_line(bad)
    assert old.exists()
    made = source.run("backup", "create", "--keep-days", "30")
    assert f"removed (older than 30 days): {old.name}" in made.stdout
    assert not old.exists() and theirs.exists() and drill.archive.exists()
    assert archive_of(made.stdout).exists()
    assert source.scalar(f"SELECT deleted_at FROM backup_record WHERE path = '{old}'") is not None
    assert "removed" in source.run("backup", "list").stdout
