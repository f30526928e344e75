"""Migrated databases for the tests, copied from a template instead of migrated one by one.

Migrating an empty database replays all the project's migrations (Tortoise projects the
models' state operation by operation): about 8 s of CPU per database here, and the suite
needs a fresh migrated database per backend and pytest worker, plus one per CLI module that
works on a database of its own. So the first process that needs one makes a **template**
with the real `riskops migrate` (the CLI, in a process of its own), and every database after
that is a copy of it:

- SQLite: a file, `<cache>/<key>.sqlite3`, copied;
- PostgreSQL: a database, `riskops_tpl_<key>`, copied by `CREATE DATABASE … TEMPLATE`.

`<key>` is a hash of every file under migrations/ and Tortoise's version: a changed or new
migration makes a new template (PostgreSQL templates of other keys are dropped then, once a day
old: another checkout may be using them), so a copy is always what migrating would give. A
test of one migration on existing data asks for a template
`upto` the migration before it (`copy_sqlite(dest, upto=...)`, `create_pg(name, upto=...)`):
the same, migrated by Tortoise's own `migrate` up to that migration only (`<key>-<upto>.sqlite3`,
`riskops_tpl_<key>_<number>`). The templates outlive the run (the next run on this machine
starts with them); the cache folder is RISKOPS_TEST_TEMPLATES, by default
`<tmp>/riskops-test-templates`. A lock file keeps two workers from making the same template at
once. The callers still run `migrate` on their copy (a check that finds nothing to apply),
and tests of `migrate` itself use empty databases."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(
    os.environ.get("RISKOPS_TEST_TEMPLATES")
    or Path(tempfile.gettempdir()) / "riskops-test-templates"
)
PG_ADMIN_URL = os.environ.get("RISKOPS_TEST_PG", "postgres://postgres@127.0.0.1:5432/postgres")
PG_PREFIX = "riskops_tpl_"


def key() -> str:
    import tortoise

    h = hashlib.sha256(tortoise.__version__.encode())
    for path in sorted((ROOT / "migrations").rglob("*.py")):
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _in_thread(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run `coro` on an event loop of its own (callers may be inside one already)."""
    out: dict[str, Any] = {}

    def go() -> None:
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller
            out["error"] = exc

    t = threading.Thread(target=go)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


async def _pg(sql: str) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


# Tortoise's `migrate` up to one migration (`riskops migrate` always goes to the latest).
_MIGRATE_UPTO = """
import asyncio, sys
from tortoise import connections
from tortoise.migrations.api.migrate import migrate
from riskops.server.settings import tortoise_config

async def main():
    await migrate(config=tortoise_config(sys.argv[1]), target="riskops." + sys.argv[2])
    await connections.close_all()

asyncio.run(main())
"""


def _migrate(url: str, var_dir: Path, upto: str | None = None) -> None:
    """The real `riskops migrate` (or Tortoise's, `upto` a migration), in a process of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    if upto is None:
        command = [sys.executable, "-m", "riskops.server.cli", "--database-url", url,
                   "--var-dir", str(var_dir), "migrate"]  # fmt: skip
    else:
        command = [sys.executable, "-c", _MIGRATE_UPTO, url, upto]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"migrating the template failed:\n{done.stdout}\n{done.stderr}")


def _upto(upto: str | None) -> str:
    """The template's name suffix for migrations `upto` one ("" for all of them)."""
    if upto is None:
        return ""
    if not (ROOT / "migrations" / f"{upto}.py").exists():
        raise ValueError(f"no migration {upto!r} under migrations/")
    return "-" + upto


def sqlite_template(upto: str | None = None) -> Path:
    path = CACHE / f"{key()}{_upto(upto)}.sqlite3"
    if path.exists():
        return path
    with _locked(f"sqlite-{key()}{_upto(upto)}"):
        if path.exists():
            return path
        work = Path(tempfile.mkdtemp(prefix="riskops-template-", dir=CACHE))
        try:
            db = work / "template.sqlite3"
            _migrate(f"sqlite://{db}", work / "var", upto)
            # one self-contained file: the WAL folded in, rollback journal (each copy's
            # connection sets WAL again, as the app does)
            with contextlib.closing(sqlite3.connect(db)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("PRAGMA journal_mode=DELETE")
            os.replace(db, path)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return path


def copy_sqlite(dest: Path, upto: str | None = None) -> None:
    """A migrated SQLite database at `dest` (a new file); `upto`: only up to that migration."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sqlite_template(upto), dest)


def pg_template(upto: str | None = None) -> str:
    current = PG_PREFIX + key()
    suffix = _upto(upto)
    # PostgreSQL names: lowercase, at most 63 bytes; the migration's number is enough
    name = current + (f"_{upto.split('_', 1)[0]}" if upto else "")
    with _locked(f"pg-{key()}{suffix}"):
        known = {r["datname"]: r["note"] for r in _in_thread(_pg(
            "SELECT datname, shobj_description(oid, 'pg_database') AS note FROM pg_database "
            f"WHERE datname LIKE '{PG_PREFIX}%'"
        ))}  # fmt: skip
        if name not in known:
            building = f"{name}_build"
            _in_thread(_pg(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)'))
            _in_thread(_pg(f'CREATE DATABASE "{building}"'))
            work = Path(tempfile.mkdtemp(prefix="riskops-template-var-"))
            try:
                _migrate(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + building, work, upto)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            _in_thread(_pg(f'ALTER DATABASE "{building}" RENAME TO "{name}"'))
        # stamped each time it is handed out: a template in use is never a day old
        _in_thread(_pg(f"COMMENT ON DATABASE \"{name}\" IS '{_MADE_AT}{time.time():.0f}'"))
        for old, note in known.items():  # templates of other migrations (full or `upto` one)
            if not old.startswith(current) and not old.endswith("_build") and _stale(note):
                _in_thread(_pg(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)'))
    return name


# Another checkout on the same machine (a branch with other migrations) uses the same
# PostgreSQL: its templates are dropped only once unused for a day (the stamp is renewed each
# time a run takes the template), not as soon as this one is made (each dropping the other's,
# two checkouts' runs rebuilt their templates again and again).
_MADE_AT = "riskops test template made at "
STALE_SECONDS = 24 * 3600


def _stale(note: str | None) -> bool:
    """A template last handed out a day ago or more (or stamped by a version of this module that
    did not say when)."""
    if not note or not note.startswith(_MADE_AT):
        return True
    try:
        return time.time() - float(note.removeprefix(_MADE_AT)) > STALE_SECONDS
    except ValueError:
        return True


def create_pg(dbname: str, upto: str | None = None) -> None:
    """A new PostgreSQL database `dbname`, migrated (a copy of the template); `upto`: only up
    to that migration."""
    template = pg_template(upto)
    for attempt in range(5):
        try:
            _in_thread(_pg(f'CREATE DATABASE "{dbname}" TEMPLATE "{template}"'))
            return
        except Exception as exc:  # another copy of the template starting at the same moment
            if "being accessed by other users" not in str(exc) or attempt == 4:
                raise
            threading.Event().wait(0.2 * (attempt + 1))
