"""Backups and restores (issue 15, seed 003 BR-001, BR-002, IR-003, DP-001, MO-001): one archive
with a SHA-256 manifest, verified, restored into an empty database, kept for `--keep-days`.

Backups are installation-wide (one archive holds every organization), so each backup, each
verification and each restore is recorded as a system event (actor `cli:<user>@<host>`) in every
organization's chain, since it copies (or brings back) their data, and in the platform chain
(org 0). The archive format and the checks are `backup_archive`'s; docs/BACKUPS.md is the guide.
"""

from __future__ import annotations

import functools
import getpass
import pkgutil
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import SYSTEM_ORG, Actor, Entry, RiskLevel
from riskops.audit.verify import verify_org
from riskops.server.core import validation
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.db import close_db, init_db
from riskops.server.identity.models import Organization
from riskops.server.operations import backup_archive as archive
from riskops.server.operations.backup_archive import ArchiveError
from riskops.server.operations.models import BackupBackend, BackupRecord, RestoreRecord
from riskops.server.settings import Settings

ARCHIVE_PREFIX = "riskops-backup-"
ARCHIVE_SUFFIX = ".tar"
STAMP = "%Y%m%dT%H%M%SZ"
MAX_PAGE = 200
# A line of a restore's detail about one audit chain: "org 7: BROKEN at seq 12: ...".
CHAIN_LINE = re.compile(r"^org (\d+): ")


async def last_verified_backup() -> BackupRecord | None:
    """The newest backup whose last verification passed and that retention has not removed
    (what /health and `riskops status` show the age of)."""
    return (
        await BackupRecord.filter(verified_at__isnull=False, deleted_at=None)
        .order_by("-created_at")
        .first()
    )


def operator() -> str:
    """Who runs a command on the machine: `cli:<os user>@<host>`."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in a bare container
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"[:200]


def known_migrations() -> list[str]:
    """The migrations this code knows, in order (a newer archive cannot be restored by it)."""
    from riskops import migrations

    return sorted(m.name for m in pkgutil.iter_modules(migrations.__path__) if m.name[:4].isdigit())


def backup_dir(settings: Settings) -> Path:
    return (settings.backup_dir or settings.var_dir / "backups").absolute()


async def _record_everywhere(
    who: str,
    action: str,
    entity_id: str | int,
    detail: dict[str, Any] | Callable[[int], dict[str, Any]],
    conn: Any,
) -> None:
    """The event in every organization's chain and the platform chain (system actor);
    `detail`: the same for all, or each chain's own (`detail(org_id)`)."""
    orgs = await Organization.all().using_db(conn).only("id")
    for org_id in [SYSTEM_ORG, *sorted(o.id for o in orgs)]:
        actor = Actor(org_id=org_id, actor=who, actor_type="system")
        values = detail(org_id) if callable(detail) else detail
        await store.append(actor, Entry(action, "backup", entity_id, {}, values,
                                        RiskLevel.MEDIUM), conn)  # fmt: skip


# --------------------------------------------------------------------------- create


@dataclass
class Created:
    record: BackupRecord
    path: Path
    row_counts: dict[str, int]
    removed: list[Path] = field(default_factory=list)


async def create_backup(
    settings: Settings, *, output_dir: Path | None = None, keep_days: int = 30, who: str = ""
) -> Created:
    """Write one archive of the connected database and var_dir's files, verify it, record it,
    then remove the archives of the directory older than `keep_days` (0: keep every one)."""
    who = who or operator()
    if keep_days < 0 or keep_days > 3650:
        raise ArchiveError("--keep-days must be between 0 (keep every archive) and 3650.")
    directory = (output_dir or backup_dir(settings)).absolute()
    url = settings.db_url
    backend = archive.backend_of(url)
    now = datetime.now(UTC)
    path = directory / f"{ARCHIVE_PREFIX}{now.strftime(STAMP)}{ARCHIVE_SUFFIX}"
    if path.exists():
        raise ArchiveError(f"{path} exists already; wait a second and run it again.")
    with archive.workdir_near(directory) as work:
        dump = work / archive.DUMPS[backend]
        if backend == "sqlite":
            facts = archive.sqlite_snapshot(archive.sqlite_path(url), dump)
        else:
            facts = await archive.pg_snapshot(url, dump)
        manifest = {
            "format": archive.FORMAT,
            "created_at": now.isoformat(),
            "backend": backend,
            "schema_version": facts.schema_version,
            "row_counts": facts.row_counts,
            "audit_heads": facts.audit_heads,
            "key_check": archive.key_check(settings.key),
            "created_by": who,
        }
        sha256, size = archive.write_archive(path, dump, backend, settings.var_dir, manifest)
        # Verified as it lies on disk: every member re-hashed, the dump (the bytes hashed
        # into it) readable.
        with archive.workdir_near(directory) as scratch:
            checked = archive.check_archive(path, scratch, extract=False)
        await archive.check_dump_file(backend, dump)
    async with in_transaction() as conn:
        record = await BackupRecord.create(
            created_at=now, path=str(path), backend=BackupBackend(backend),
            schema_version=facts.schema_version, size_bytes=size, sha256=checked.sha256,
            created_by=who, verified_at=datetime.now(UTC), using_db=conn,
        )  # fmt: skip
        detail = {"archive": path.name, "sha256": sha256, "size_bytes": size,
                  "schema_version": facts.schema_version}  # fmt: skip
        await _record_everywhere(who, "ops.backup_created", record.id, detail, conn)
    removed = await _prune(directory, keep_days, now) if keep_days else []
    return Created(record, path, facts.row_counts, removed)


async def _prune(directory: Path, keep_days: int, now: datetime) -> list[Path]:
    """Delete this directory's archives older than keep_days; their records get deleted_at."""
    removed = _remove_older(directory, now - timedelta(days=keep_days))
    if removed:
        await BackupRecord.filter(path__in=[str(p) for p in removed], deleted_at=None).update(
            deleted_at=now
        )
    return removed


def _remove_older(directory: Path, cutoff: datetime) -> list[Path]:
    removed: list[Path] = []
    for path in sorted(directory.glob(f"{ARCHIVE_PREFIX}*{ARCHIVE_SUFFIX}")):
        stamp = path.name.removeprefix(ARCHIVE_PREFIX).removesuffix(ARCHIVE_SUFFIX)
        try:
            taken = datetime.strptime(stamp, STAMP).replace(tzinfo=UTC)
        except ValueError:
            continue  # not named by us: not ours to delete
        if taken < cutoff:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


# --------------------------------------------------------------------------- verify


@dataclass
class Verified:
    ok: bool
    sha256: str
    error: str | None
    manifest: dict[str, Any] | None
    recorded: bool = False


async def check(path: Path) -> Verified:
    """Every member against the manifest, the manifest well-formed, the dump readable. Needs
    no database: an archive can be checked anywhere."""
    path = archive.absolute(path)
    if not path.is_file():
        return Verified(False, "", f"{path}: no such archive file.", None)
    with archive.workdir_near(path.parent) as work:
        try:
            checked = archive.check_archive(path, work)
            await archive.check_dump(checked)
        except ArchiveError as exc:
            return Verified(False, archive.sha256_file(path), exc.message, None)
    return Verified(True, checked.sha256, None, checked.manifest)


async def record_verification(result: Verified, who: str = "") -> bool:
    """Record the result on the backup of the same SHA-256, if this database has it (with the
    event in every chain); False when it has none."""
    record = await BackupRecord.filter(sha256=result.sha256).order_by("-id").first()
    if record is None:
        return False
    async with in_transaction() as conn:
        verified_at = datetime.now(UTC) if result.ok else None
        await (
            BackupRecord.filter(id=record.id)
            .using_db(conn)
            .update(verified_at=verified_at, verify_error=result.error)
        )
        detail = {"ok": result.ok, "error": result.error, "sha256": result.sha256}
        await _record_everywhere(who or operator(), "ops.backup_verified", record.id, detail, conn)
    result.recorded = True
    return True


# --------------------------------------------------------------------------- restore


@dataclass
class Restored:
    ok: bool
    lines: list[str]


async def restore_backup(settings: Settings, path: Path, who: str = "") -> Restored:
    """Restore `path` into the EMPTY database and var_dir of `settings`. Refuses (nothing
    written) a damaged or mismatched archive and a target that holds data; then restores, checks
    every audit chain, the row counts and the files against the manifest, and records a
    RestoreRecord (with its event in every chain) in the restored database."""
    who = who or operator()
    started = datetime.now(UTC)
    url = settings.db_url
    backend = archive.backend_of(url)
    path = archive.absolute(path)
    near = archive.sqlite_path(url).parent if backend == "sqlite" else settings.var_dir
    with archive.workdir_near(near) as work:
        checked = archive.check_archive(path, work)
        await archive.check_dump(checked)
        manifest = checked.manifest
        _refuse_mismatch(manifest, backend, settings)
        await _refuse_non_empty(url, backend, settings.var_dir)
        if backend == "sqlite":
            archive.sqlite_restore(checked.dump, archive.sqlite_path(url))
        else:
            await archive.pg_restore(url, checked.dump)
        files = archive.restore_files(checked, settings.var_dir)
    lines = [f"restored {path.name} ({manifest['schema_version']}, {files} file(s))"]
    problems: list[str] = []
    facts = (
        archive.sqlite_facts(archive.sqlite_path(url))
        if backend == "sqlite"
        else await archive.pg_facts(url)
    )
    for table, expected in sorted(manifest["row_counts"].items()):
        got = facts.row_counts.get(table)
        if got != expected:
            problems.append(f"table {table}: {got} rows, the manifest says {expected}")
    lines.append(f"row counts: {len(manifest['row_counts'])} tables compared")
    for name, member in sorted(manifest["members"].items()):
        if name.startswith("files/"):
            restored = settings.var_dir.joinpath(*Path(name).parts[1:])
            if not restored.is_file() or archive.sha256_file(restored) != member["sha256"]:
                problems.append(f"{name}: restored file does not match its SHA-256")
    await init_db(settings)
    try:
        for org_id, head in sorted(manifest["audit_heads"].items(), key=lambda kv: int(kv[0])):
            result = await verify_org(int(org_id), settings.key)
            if not result.ok:
                problems.append(result.describe())
            elif (result.head_seq, result.head_hash) != (head["seq"], head["hash"]):
                problems.append(f"org {org_id}: chain head differs from the manifest's")
        lines.append(f"audit chains: {len(manifest['audit_heads'])} verified")
        ok = not problems
        detail = "\n".join(lines + problems)
        async with in_transaction() as conn:
            record = await RestoreRecord.create(
                backup_sha256=checked.sha256, archive=str(path), started_at=started,
                finished_at=datetime.now(UTC), ok=ok, detail=detail, created_by=who,
                using_db=conn,
            )  # fmt: skip
            info = {"archive": path.name, "sha256": checked.sha256, "ok": ok}
            seen_by = functools.partial(restored_event, info, problems)
            await _record_everywhere(who, "ops.backup_restored", record.id, seen_by, conn)
    finally:
        await close_db()
    return Restored(ok, lines + problems)


def _refuse_mismatch(manifest: dict[str, Any], backend: str, settings: Settings) -> None:
    if manifest["backend"] != backend:
        raise ArchiveError(
            f"it is a {manifest['backend']} backup and the target database is {backend}: "
            f"restore it into a {manifest['backend']} database (--database-url)."
        )
    known = known_migrations()
    version = manifest["schema_version"]
    if version not in known:
        raise ArchiveError(
            f"its schema version {version or '(none)'} is not one this riskops knows (the newest "
            f"it knows is {known[-1]}): restore it with the riskops version that took it."
        )
    if manifest.get("key_check") != archive.key_check(settings.key):
        raise ArchiveError(
            "this installation's secret key is not the one that took the backup, so its audit "
            "checkpoints could not be verified: set RISKOPS_SECRET_KEY (or var_dir/secret_key) "
            "to the key of the installation that took it."
        )


async def _refuse_non_empty(url: str, backend: str, var_dir: Path) -> None:
    if backend == "sqlite":
        if not archive.sqlite_is_empty(archive.sqlite_path(url)):
            raise ArchiveError(
                f"the target database {archive.sqlite_path(url)} already holds tables: restore "
                "into a new file (--database-url sqlite:///new/path.sqlite3)."
            )
    elif await archive.pg_table_count(url):
        raise ArchiveError(
            "the target PostgreSQL database already holds tables: restore into a new, empty "
            "database (createdb riskops_restored; --database-url postgres://.../riskops_restored)."
        )
    present = archive.files_present(var_dir)
    if present:
        raise ArchiveError(
            f"the target var directory {var_dir} already holds {' and '.join(present)} files: "
            "restore into a new --var-dir."
        )


# --------------------------------------------------------------------------- reading


async def list_backups(principal: Principal | None, first: int = 50) -> list[BackupRecord]:
    """The backups, newest first (with removed ones). `None` is the operator on the machine
    (`riskops backup list`); a person needs ops.read."""
    if principal is not None:
        principal.require(Perm.OPS_READ)
    validation.page_size(first, MAX_PAGE)
    return await BackupRecord.all().order_by("-created_at", "-id").limit(first)


async def list_restore_drills(principal: Principal | None, first: int = 20) -> list[RestoreRecord]:
    """The restores recorded in this database (a restored installation, a drill's copy), newest
    first. A person reads each one's detail as `detail_for` their organization gives it."""
    if principal is not None:
        principal.require(Perm.OPS_READ)
    validation.page_size(first, MAX_PAGE)
    rows = await RestoreRecord.all().order_by("-finished_at", "-id").limit(first)
    if principal is not None:
        for row in rows:  # read only: never saved
            row.detail = detail_for(principal.org_id, row.detail)
    return rows


def restored_event(info: dict[str, Any], problems: list[str], org_id: int) -> dict[str, Any]:
    """The `ops.backup_restored` event's values in organization `org_id`'s chain: the findings
    it may read (`detail_for`; the platform chain, all of them), at most 20."""
    shown = "\n".join(problems)
    if org_id != SYSTEM_ORG:
        shown = detail_for(org_id, shown)
    return {**info, "problems": shown.splitlines()[:20]}


def detail_for(org_id: int | None, detail: str) -> str:
    """A restore's detail as organization `org_id` may read it (None: the operator on the
    machine, everything). A restore is installation-wide, and so are its table counts and file
    checks, but a line about another organization's audit chain ("org 7: BROKEN at seq 12: ...")
    is that organization's: over the API, on the page and in the evidence export an
    organization sees its own chain and the platform's (org 0) only, as on the status page."""
    if org_id is None:
        return detail
    kept: list[str] = []
    left_out = 0
    for line in detail.splitlines():
        found = CHAIN_LINE.match(line)
        if found and int(found.group(1)) not in (org_id, SYSTEM_ORG):
            left_out += 1
        else:
            kept.append(line)
    if left_out:
        kept.append(
            f"{left_out} finding(s) about other organizations' audit chains are not shown here: "
            "the restore's output on the machine has them."
        )
    return "\n".join(kept)


async def backup_state(settings: Settings) -> dict[str, Any]:
    """For /health and `riskops status` (the database connected): the age of the newest
    verified backup, degraded past settings.backup_max_age_hours (0: not watched). With no
    verified backup at all, degraded only once the installation has data older than that
    (a new installation is not degraded for its first day)."""
    limit = settings.backup_max_age_hours
    last = await last_verified_backup()
    now = datetime.now(UTC)
    state: dict[str, Any] = {"ok": True, "max_age_hours": limit, "last_verified_at": None,
                             "age_hours": None}  # fmt: skip
    if last is not None:
        age = (now - last.created_at).total_seconds() / 3600
        state.update(last_verified_at=last.created_at.isoformat(), age_hours=round(age, 2))
    if limit == 0:
        state["detail"] = "backups are not watched (RISKOPS_BACKUP_MAX_AGE_HOURS=0)"
        return state
    if last is None:
        oldest = await Organization.all().order_by("created_at").first()
        if oldest is not None and oldest.created_at < now - timedelta(hours=limit):
            state.update(ok=False, detail="no verified backup yet: run `riskops backup create`")
        else:
            state["detail"] = "no backup yet"
        return state
    if state["age_hours"] > limit:
        state.update(
            ok=False,
            detail=f"the last verified backup is {state['age_hours']:.0f} h old (limit {limit} h)",
        )
    else:
        state["detail"] = "ok"
    return state
