"""The backup archive itself (docs/BACKUPS.md): one uncompressed tar holding the database dump,
the artifact and quarantine files, and `manifest.json` (written last) with the SHA-256 of every
other member, the schema version, the backend, the row count of every table and the audit chain
heads, all read from the same snapshot as the dump.

This module owns the files and the dumps (sqlite3's online backup API, `pg_dump`/`pg_restore`);
it knows nothing of records, audit or who asks: that is `riskops.server.operations.backups`.
Every failure is an `ArchiveError` whose message says what is wrong and what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import unquote, urlsplit, urlunsplit

FORMAT = "riskops-backup/1"
MANIFEST = "manifest.json"
DUMPS = {"sqlite": "database.sqlite3", "postgres": "database.pgdump"}
FILE_ROOTS = ("artifacts", "quarantine")  # under var_dir, restored to the same place
CHUNK = 1 << 20
MIGRATIONS_TABLE = "tortoise_migrations"
KEY_CHECK_TEXT = b"riskops backup: the installation key"


class ArchiveError(Exception):
    """What is wrong with an archive, a dump or a restore target, in one sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Snapshot:
    """What one consistent read of the database found (the same read the dump holds)."""

    schema_version: str
    row_counts: dict[str, int]
    audit_heads: dict[str, dict[str, Any]] = field(default_factory=dict)


def key_check(key: bytes) -> str:
    """A fingerprint of the installation key (an HMAC, which reveals nothing of the key): a
    restore refuses an installation whose key differs, since its audit checkpoints (signed with
    the key) would not verify."""
    return hmac.new(key, KEY_CHECK_TEXT, hashlib.sha256).hexdigest()[:32]


def absolute(path: Path) -> Path:
    return path.absolute()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def libpq_url(url: str) -> str:
    """The database URL as libpq (pg_dump, pg_restore) reads it: without Tortoise's options."""
    parts = urlsplit(url.replace("postgres://", "postgresql://", 1))
    return urlunsplit(parts._replace(query="", fragment=""))


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite://"))


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite://") else "postgres"


# --------------------------------------------------------------------------- reading a database


def _sqlite_facts(db: sqlite3.Connection) -> Snapshot:
    tables = [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    counts = {t: int(db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}
    return Snapshot(_version(db.execute, tables), counts, _heads(db.execute, tables))


def _version(execute: Any, tables: list[str]) -> str:
    if MIGRATIONS_TABLE not in tables:
        return ""
    row = execute(f"SELECT max(name) FROM {MIGRATIONS_TABLE} WHERE app = 'riskops'").fetchone()
    return str(row[0] or "")


def _heads(execute: Any, tables: list[str]) -> dict[str, dict[str, Any]]:
    if "audit_head" not in tables:
        return {}
    rows = execute("SELECT org_id, seq, hash FROM audit_head ORDER BY org_id").fetchall()
    return {str(r[0]): {"seq": int(r[1]), "hash": str(r[2])} for r in rows}


def sqlite_snapshot(source: Path, dest: Path) -> Snapshot:
    """Copy a live SQLite database with the online backup API (a consistent copy while the
    platform writes) and read the copy's facts."""
    if not source.exists():
        raise ArchiveError(f"the SQLite database {source} does not exist.")
    with (
        contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
        contextlib.closing(sqlite3.connect(dest)) as dst,
    ):
        src.backup(dst)
    return sqlite_facts(dest)


def sqlite_facts(path: Path) -> Snapshot:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return _sqlite_facts(db)


def sqlite_integrity(path: Path) -> str | None:
    """None when `PRAGMA integrity_check` passes, else what it (or opening the file) found."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            result = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if result == ["ok"] else "; ".join(result[:3])


async def _pg_connect(url: str) -> Any:
    import asyncpg

    try:
        return await asyncpg.connect(libpq_url(url), timeout=10)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArchiveError(f"cannot connect to the PostgreSQL database: {reason}") from None


async def _pg_facts(conn: Any) -> Snapshot:
    tables = [
        r["tablename"]
        for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
    ]
    counts: dict[str, int] = {}
    for t in tables:
        counts[t] = int(await conn.fetchval(f'SELECT count(*) FROM "{t}"'))
    version = ""
    if MIGRATIONS_TABLE in tables:
        version = str(
            await conn.fetchval(f"SELECT max(name) FROM {MIGRATIONS_TABLE} WHERE app = 'riskops'")
            or ""
        )
    heads: dict[str, dict[str, Any]] = {}
    if "audit_head" in tables:
        for r in await conn.fetch("SELECT org_id, seq, hash FROM audit_head ORDER BY org_id"):
            heads[str(r["org_id"])] = {"seq": int(r["seq"]), "hash": str(r["hash"])}
    return Snapshot(version, counts, heads)


def _tool_url(url: str) -> tuple[str, dict[str, str]]:
    """The URL for pg_dump/pg_restore without its password, which goes in PGPASSWORD instead
    (a command line is visible to every user of the machine in `ps`)."""
    parts = urlsplit(libpq_url(url))
    env = dict(os.environ)
    if parts.password is None:
        return urlunsplit(parts), env
    env["PGPASSWORD"] = unquote(parts.password)
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc}" if user else netloc)), env


async def _run(*args: str, url: str | None = None) -> tuple[int, str]:
    """Run a PostgreSQL tool; `url`'s password (if any) is passed in its environment."""
    env = None
    if url is not None:
        tool_url, env = _tool_url(url)
        args = tuple(tool_url if a == url else a.replace(url, tool_url) for a in args)
    try:
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env
        )
    except FileNotFoundError:
        raise ArchiveError(
            f"`{args[0]}` is not installed: install the PostgreSQL client tools "
            "(e.g. apt-get install postgresql-client) of the server's major version."
        ) from None
    _, stderr = await proc.communicate()
    text = stderr.decode(errors="replace").strip()
    return proc.returncode or 0, text.splitlines()[-1] if text else ""


async def pg_snapshot(url: str, dest: Path) -> Snapshot:
    """`pg_dump --format=custom` of the database, and the facts read in the same snapshot (one
    exported REPEATABLE READ snapshot shared by pg_dump and our counts, read meanwhile)."""
    conn = await _pg_connect(url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot_id = await conn.fetchval("SELECT pg_export_snapshot()")
            dump = asyncio.create_task(
                _run("pg_dump", "--format=custom", f"--snapshot={snapshot_id}",
                     "--no-owner", "--no-privileges", f"--file={dest}", url, url=url)
            )  # fmt: skip
            try:
                facts = await _pg_facts(conn)
            finally:
                code, error = await dump
            if code != 0:
                raise ArchiveError(f"pg_dump failed: {error}")
    finally:
        await conn.close()
    return facts


async def pg_list(dump: Path) -> str | None:
    """None when `pg_restore --list` reads the dump, else its error."""
    code, error = await _run("pg_restore", "--list", str(dump))
    return None if code == 0 else error or "pg_restore --list failed"


async def pg_table_count(url: str) -> int:
    conn = await _pg_connect(url)
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        )
    finally:
        await conn.close()


async def pg_restore(url: str, dump: Path) -> None:
    """In one transaction: a failure leaves the target database as empty as it was."""
    code, error = await _run(
        "pg_restore", "--single-transaction", "--exit-on-error", "--no-owner",
        "--no-privileges", f"--dbname={url}", str(dump), url=url,
    )  # fmt: skip
    if code != 0:
        raise ArchiveError(f"pg_restore failed (nothing was restored): {error}")


async def pg_facts(url: str) -> Snapshot:
    conn = await _pg_connect(url)
    try:
        return await _pg_facts(conn)
    finally:
        await conn.close()


# --------------------------------------------------------------------------- writing an archive


class _HashingWriter(io.RawIOBase):
    """The archive file, hashed as tarfile writes it (no second read of a large archive)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh, self.hash, self.size = fh, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self.hash.update(data)
        self.size += len(data)
        self.fh.write(data)
        return len(data)


def _files(var_dir: Path) -> Iterator[tuple[str, Path]]:
    for root_name in FILE_ROOTS:
        root = var_dir / root_name
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            yield f"files/{root_name}/{path.relative_to(root).as_posix()}", path


def _add(tar: tarfile.TarFile, name: str, path: Path) -> str:
    """Add one file, hashing it as it is copied into the archive."""
    info = tar.gettarinfo(str(path), arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    h = hashlib.sha256()

    class _Hashing(io.RawIOBase):
        def __init__(self, fh: IO[bytes]) -> None:
            self.fh = fh

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            data = self.fh.read(len(b))
            h.update(data)
            b[: len(data)] = data
            return len(data)

    with path.open("rb") as fh:
        tar.addfile(info, io.BufferedReader(_Hashing(fh), CHUNK))
    return h.hexdigest()


def write_archive(
    archive: Path, dump: Path, backend: str, var_dir: Path, manifest: dict[str, Any]
) -> tuple[str, int]:
    """Write the archive (as `<name>.partial`, renamed once complete); returns its SHA-256 and
    size. `manifest` gets the members' hashes and is written as the last member."""
    partial = archive.with_name(archive.name + ".partial")
    members: dict[str, dict[str, Any]] = {}
    try:
        with partial.open("wb") as raw:
            writer = _HashingWriter(raw)
            stream = io.BufferedWriter(writer, CHUNK)
            with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                dump_name = DUMPS[backend]
                members[dump_name] = {"sha256": _add(tar, dump_name, dump),
                                      "size": dump.stat().st_size}  # fmt: skip
                for name, path in _files(var_dir):
                    members[name] = {"sha256": _add(tar, name, path), "size": path.stat().st_size}
                body = json.dumps({**manifest, "members": members}, indent=2, sort_keys=True)
                data = body.encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(data), int(dump.stat().st_mtime), 0o644
                tar.addfile(info, io.BytesIO(data))
            stream.flush()
            raw.flush()
            os.fsync(raw.fileno())
        partial.replace(archive)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return writer.hash.hexdigest(), writer.size


# --------------------------------------------------------------------------- reading an archive


@dataclass
class Checked:
    """An archive whose every member matched its manifest hash, unpacked in `workdir`."""

    manifest: dict[str, Any]
    sha256: str
    workdir: Path

    @property
    def backend(self) -> str:
        return str(self.manifest["backend"])

    @property
    def dump(self) -> Path:
        return self.workdir / DUMPS[self.backend]


REQUIRED = {"format": str, "backend": str, "schema_version": str, "created_at": str,
            "row_counts": dict, "audit_heads": dict, "members": dict}  # fmt: skip


def _parse_manifest(data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except ValueError:
        raise ArchiveError(
            "its manifest.json is not valid JSON (the archive is damaged)."
        ) from None
    if not isinstance(manifest, dict):
        raise ArchiveError("its manifest.json is not a JSON object (the archive is damaged).")
    for key, kind in REQUIRED.items():
        if not isinstance(manifest.get(key), kind):
            raise ArchiveError(
                f"its manifest.json has no valid '{key}' (the archive is damaged or not a "
                "riskops backup)."
            )
    if manifest["format"] != FORMAT:
        raise ArchiveError(
            f"its format is {manifest['format']!r}; this riskops reads {FORMAT!r} archives."
        )
    if manifest["backend"] not in DUMPS or DUMPS[manifest["backend"]] not in manifest["members"]:
        raise ArchiveError("its manifest names no database dump (the archive is damaged).")
    return manifest


def _safe_name(name: str) -> bool:
    p = PurePosixPath(name)
    return not p.is_absolute() and ".." not in p.parts and bool(p.parts)


def check_archive(archive: Path, workdir: Path, *, extract: bool = True) -> Checked:
    """Unpack `archive` into `workdir` (or only read it: extract False), hashing every member
    against the manifest: the manifest present and well-formed, no member missing, added or
    altered."""
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such archive file.")
    found: dict[str, str] = {}
    manifest_data: bytes | None = None
    whole = hashlib.sha256()
    try:
        with archive.open("rb") as raw:

            class _Hashing(io.RawIOBase):
                def readable(self) -> bool:
                    return True

                def readinto(self, b: Any) -> int:
                    data = raw.read(len(b))
                    whole.update(data)
                    b[: len(data)] = data
                    return len(data)

            with tarfile.open(fileobj=io.BufferedReader(_Hashing(), CHUNK), mode="r|") as tar:
                for info in tar:
                    if not info.isfile() or not _safe_name(info.name):
                        raise ArchiveError(f"it holds an unexpected member {info.name!r}.")
                    fh = tar.extractfile(info)
                    assert fh is not None
                    if info.name == MANIFEST:
                        manifest_data = fh.read()
                        continue
                    found[info.name] = _copy(fh, workdir / info.name if extract else None)
            while chunk := raw.read(CHUNK):  # the tar's padding: part of the file's hash too
                whole.update(chunk)
    except tarfile.TarError as exc:
        raise ArchiveError(f"it is not a readable tar archive ({exc}).") from None
    if manifest_data is None:
        raise ArchiveError("it has no manifest.json (not a riskops backup, or truncated).")
    manifest = _parse_manifest(manifest_data)
    expected = {k: v.get("sha256") if isinstance(v, dict) else None
                for k, v in manifest["members"].items()}  # fmt: skip
    for name, digest in expected.items():
        if name not in found:
            raise ArchiveError(f"member {name} listed in the manifest is missing.")
        if found[name] != digest:
            raise ArchiveError(f"member {name} does not match its SHA-256 in the manifest.")
    extra = sorted(set(found) - set(expected))
    if extra:
        raise ArchiveError(f"member {extra[0]} is not in the manifest.")
    return Checked(manifest, whole.hexdigest(), workdir)


def _copy(fh: IO[bytes], target: Path | None) -> str:
    h = hashlib.sha256()
    out: IO[bytes] | None = None
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = target.open("wb")
    try:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            if out is not None:
                out.write(chunk)
    finally:
        if out is not None:
            out.close()
    return h.hexdigest()


async def check_dump(checked: Checked) -> None:
    """The dump readable: SQLite's integrity check, or `pg_restore --list`."""
    await check_dump_file(checked.backend, checked.dump)


async def check_dump_file(backend: str, dump: Path) -> None:
    if backend == "sqlite":
        problem = sqlite_integrity(dump)
        if problem:
            raise ArchiveError(f"its SQLite dump fails the integrity check: {problem}.")
    else:
        problem = await pg_list(dump)
        if problem:
            raise ArchiveError(f"its PostgreSQL dump is not readable by pg_restore: {problem}.")


@contextlib.contextmanager
def workdir_near(path: Path) -> Iterator[Path]:
    """A scratch directory on the same file system as `path` (dumps are as large as the
    database: not in a small /tmp)."""
    path.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".riskops-backup-", dir=path))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def files_present(var_dir: Path) -> list[str]:
    """The file roots of var_dir that already hold files (a restore target must have none)."""
    return [r for r in FILE_ROOTS if (var_dir / r).is_dir() and any((var_dir / r).rglob("*"))]


def restore_files(checked: Checked, var_dir: Path) -> int:
    """Move the unpacked artifact and quarantine files into var_dir; returns how many."""
    count = 0
    for name in checked.manifest["members"]:
        if not name.startswith("files/"):
            continue
        rel = PurePosixPath(name).relative_to("files")
        target = var_dir.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(checked.workdir / name), target)
        count += 1
    return count


def sqlite_restore(dump: Path, target: Path) -> None:
    """Copy the dump into `target` with the backup API (as `<target>.partial`, renamed when
    complete: a failure leaves no database behind)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with (
            contextlib.closing(sqlite3.connect(f"file:{dump}?mode=ro", uri=True)) as src,
            contextlib.closing(sqlite3.connect(partial)) as dst,
        ):
            src.backup(dst)
        for suffix in ("-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def sqlite_is_empty(target: Path) -> bool:
    if not target.exists() or target.stat().st_size == 0:
        return True
    try:
        with contextlib.closing(sqlite3.connect(f"file:{target}?mode=ro", uri=True)) as db:
            n = db.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%'"
            ).fetchone()[0]
    except sqlite3.DatabaseError:
        return False
    return int(n) == 0
