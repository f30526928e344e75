"""The `riskops` CLI as an operator runs it: a real subprocess against a SQLite file and a
throwaway PostgreSQL database (not the conftest `backend`, which lives in this process)."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import cli_runner, templates

pytestmark = pytest.mark.slow

PG_ADMIN_URL = os.environ.get("RISKOPS_TEST_PG", "postgres://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DEMO_EMAILS = [
    f"{p}@demo.riskops.local"
    for p in ("admin", "viewer", "operator", "approver", "approver2", "strategist", "strategist2",
              "compliance", "product")
]  # fmt: skip
# The project's migrations, in order (each issue that changes models adds one).
MIGRATIONS = sorted(
    p.stem for p in (Path(__file__).resolve().parents[2] / "migrations").glob("0*.py")
)


# ----------------------------------------------------------------------------- the standalone
# verifier of ARCHITECTURE.md's contract: json and hashlib only, as a SIEM-side script would be.


def verify_export(lines: list[str], checkpoint: dict[str, Any] | None = None) -> int | None:
    """Return the first bad seq of one organization's exported chain, or None if it holds. A
    chain whose old segment was archived (`riskops audit archive`) starts after the archive's
    checkpoint file: `checkpoint` (its JSON) gives the last archived seq and hash."""
    prev, expected = "0" * 64, 1
    if checkpoint is not None:
        prev, expected = checkpoint["last_hash"], checkpoint["last_seq"] + 1
    for line in lines:
        event = json.loads(line)
        body = {k: v for k, v in event.items() if k != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        if event["seq"] != expected or event["prev_hash"] != prev or digest != event["hash"]:
            return expected
        prev, expected = event["hash"], expected + 1
    return None


# ----------------------------------------------------------------------------- harness


def _in_thread(coro: Coroutine[Any, Any, Any]) -> Any:
    # A thread of its own, so asyncio.run never touches the event loop of pytest-asyncio.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _pg(url: str, sql: str) -> list[tuple[Any, ...]]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        if sql.lstrip().upper().startswith("SELECT"):
            return [tuple(r) for r in await conn.fetch(sql)]
        await conn.execute(sql)  # simple protocol: DDL, several statements, CREATE DATABASE
        return []
    finally:
        await conn.close()


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _require(name: str, port: int) -> None:
    if _reachable(port):
        return
    msg = f"{name} is not reachable on 127.0.0.1:{port}"
    if IN_CI:
        pytest.fail(f"{msg}; CI must run the whole suite.")
    pytest.skip(msg)


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env["COLUMNS"] = "200"  # rich tables on one line each, so tests can read them
    return env


@dataclass
class Target:
    """One database the CLI is pointed at, plus direct SQL access to check what it did."""

    backend: str
    url: str
    var_dir: Path

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "riskops.server.cli", "--database-url", self.url,
                "--var-dir", str(self.var_dir), *args]  # fmt: skip

    def run(self, *args: str, ok: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        # A process of its own per command, forked from a preloaded CLI (tests/support/
        # cli_runner.py: the same as `self.command(*args)` in a subprocess, a second faster).
        done = cli_runner.run(
            self.command(*args)[3:], env={**_cli_env(), **env}, cwd=self.var_dir.parent
        )
        if ok:
            assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
        return done

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.backend == "sqlite":
            with contextlib.closing(sqlite3.connect(self.url.removeprefix("sqlite://"))) as db:
                return [tuple(r) for r in db.execute(sql).fetchall()]
        return _in_thread(_pg(self.url, sql))

    def scalar(self, sql: str) -> Any:
        return self.query(sql)[0][0]

    def execute(self, sql: str) -> None:
        """A statement that changes data, committed."""
        if self.backend == "sqlite":
            path = self.url.removeprefix("sqlite://")
            with contextlib.closing(sqlite3.connect(path)) as db, db:
                db.execute(sql)
            return
        _in_thread(_pg(self.url, sql))

    def demo_org(self) -> int:
        return int(self.scalar("SELECT id FROM organization WHERE slug = 'demo'"))

    def tamper_actor(self, org_id: int, seq: int, actor: str) -> None:
        """What an attacker with database access does: lift the append-only guard and edit."""
        update = f"UPDATE audit_event SET actor = '{actor}' WHERE org_id = {org_id} AND seq = {seq}"
        if self.backend == "sqlite":
            with contextlib.closing(sqlite3.connect(self.url.removeprefix("sqlite://"))) as db:
                db.execute("DROP TRIGGER audit_event_no_update")
                db.execute(update)
                db.commit()
        else:
            self.query(f"ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only; {update}")


@contextlib.contextmanager
def new_target(backend: str, root: Path, *, migrated: bool = False) -> Iterator[Target]:
    """An empty database, or with `migrated` a copy of the migrated template
    (tests/support/templates.py: what `riskops migrate` makes of an empty one)."""
    var_dir = root / f"var-{backend}"
    var_dir.mkdir(parents=True)
    if backend == "sqlite":
        if migrated:
            templates.copy_sqlite(var_dir / "riskops.sqlite3")
        yield Target(backend, f"sqlite://{var_dir / 'riskops.sqlite3'}", var_dir)
        return
    _require("PostgreSQL", 5432)
    dbname = f"riskops_cli_{uuid.uuid4().hex[:10]}"
    if migrated:
        templates.create_pg(dbname)
    else:
        _in_thread(_pg(PG_ADMIN_URL, f'CREATE DATABASE "{dbname}"'))
    try:
        yield Target(backend, PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname, var_dir)
    finally:
        _in_thread(_pg(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))


@dataclass
class Seeded:
    target: Target
    migrated: subprocess.CompletedProcess[str]
    seeded: subprocess.CompletedProcess[str]


# One database per backend and pytest process, migrated (a copy of the migrated template) and
# seeded through the CLI; each
# `seeded_target` is a copy of it (`migrate` and `seed-demo` take about 6 s, a copy well under
# one). The var directory (the installation's key, quarantined artifacts) is copied with it:
# nothing in the database names that directory.
_TEMPLATES: dict[str, Seeded] = {}


def _template(backend: str) -> Seeded:
    made = _TEMPLATES.get(backend)
    if made is None:
        root = Path(tempfile.mkdtemp(prefix=f"riskops-cli-template-{backend}-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        var_dir = root / f"var-{backend}"
        var_dir.mkdir()
        # from the migrated template (tests/support/templates.py): `migrate` finds nothing to do
        if backend == "sqlite":
            templates.copy_sqlite(var_dir / "riskops.sqlite3")
            target = Target(backend, f"sqlite://{var_dir / 'riskops.sqlite3'}", var_dir)
        else:
            _require("PostgreSQL", 5432)
            dbname = f"riskops_cli_template_{uuid.uuid4().hex[:10]}"
            templates.create_pg(dbname)
            # At exit there is no event loop left to avoid and no thread pool to use.
            drop = f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'
            atexit.register(lambda: asyncio.run(_pg(PG_ADMIN_URL, drop)))
            target = Target(backend, PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname, var_dir)
        made = _TEMPLATES[backend] = Seeded(target, target.run("migrate"), target.run("seed-demo"))
    return made


@contextlib.contextmanager
def seeded_target(backend: str, root: Path) -> Iterator[Seeded]:
    """A database of its own, migrated and seeded with the demo through the CLI (a copy of this
    process's template for `backend`, with `migrate`'s and `seed-demo`'s output)."""
    template = _template(backend)
    var_dir = root / f"var-{backend}"
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template.target.var_dir, var_dir)
    if backend == "sqlite":
        target = Target(backend, f"sqlite://{var_dir / 'riskops.sqlite3'}", var_dir)
        yield Seeded(target, template.migrated, template.seeded)
        return
    source = template.target.url.rsplit("/", 1)[1]
    dbname = f"riskops_cli_{uuid.uuid4().hex[:10]}"
    _in_thread(_pg(PG_ADMIN_URL, f'CREATE DATABASE "{dbname}" TEMPLATE "{source}"'))
    try:
        target = Target(backend, PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname, var_dir)
        yield Seeded(target, template.migrated, template.seeded)
    finally:
        _in_thread(_pg(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    """A database migrated and seeded through the CLI, shared by the tests of one backend."""
    with seeded_target(request.param, tmp_path_factory.mktemp("cli")) as made:
        yield made


def printed_logins(stdout: str) -> dict[str, tuple[str, str]]:
    """{e-mail: (password, roles)} from the table `seed-demo` prints."""
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in stdout.splitlines()
        if "@demo.riskops.local" in line
    ]
    return {email: (password, roles) for email, password, roles in rows}


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("riskops: error: ")
    assert "Traceback" not in done.stderr
    return lines[0]


# ----------------------------------------------------------------------------- migrate, seed


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migrate_says_what_it_applied_then_nothing(backend: str, tmp_path: Path) -> None:
    n = len(MIGRATIONS)
    assert MIGRATIONS[:3] == ["0001_initial", "0002_audit_append_only", "0003_alerts_and_cases"]
    with new_target(backend, tmp_path) as target:  # an empty database: every migration runs
        migrated = target.run("migrate")
        assert f"Applied {n} migration(s)" in migrated.stdout
        for name in MIGRATIONS:
            assert name in migrated.stdout
        again = target.run("migrate")
        assert f"up to date ({n} migrations applied)" in again.stdout
        assert target.scalar("SELECT count(*) FROM tortoise_migrations") == n


def test_seed_demo_prints_working_logins_once(seeded: Seeded) -> None:
    from riskops.server.security import verify_password

    target = seeded.target
    logins = printed_logins(seeded.seeded.stdout)
    assert sorted(logins) == sorted(DEMO_EMAILS)
    assert logins["approver2@demo.riskops.local"][1] == "approver"
    admin_hash = target.scalar(
        "SELECT password_hash FROM app_user WHERE email = 'admin@demo.riskops.local'"
    )
    assert verify_password(admin_hash, logins["admin@demo.riskops.local"][0])

    again = target.run("seed-demo")
    assert "Already seeded" in again.stdout
    assert "@demo.riskops.local" not in again.stdout
    assert target.scalar("SELECT count(*) FROM organization WHERE slug = 'demo'") == 1


def test_seed_demo_is_audited_through_the_services(seeded: Seeded) -> None:
    target = seeded.target
    org = target.demo_org()
    rows = target.query(f"SELECT action FROM audit_event WHERE org_id = {org} ORDER BY seq")
    actions = [r[0] for r in rows]
    assert actions[:2] == ["org.create", "user.create"]
    assert actions.count("user.create") == len(DEMO_EMAILS)
    assert "team.create" in actions
    members = target.query(
        "SELECT u.email FROM team t JOIN team_member m ON m.team_id = t.id "
        "JOIN app_user u ON u.id = m.user_id WHERE t.name = 'Fraud Strategy'"
    )
    assert sorted(members) == [
        ("strategist2@demo.riskops.local",),
        ("strategist@demo.riskops.local",),
    ]
    assert "view.created" in actions  # the strategist's demo view, saved through the service


# ----------------------------------------------------------------------------- create-user


def test_create_user_with_bad_email_fails_clearly_and_creates_nothing(seeded: Seeded) -> None:
    target = seeded.target
    users_before = target.scalar("SELECT count(*) FROM app_user")
    done = target.run(
        "create-user", "--org", "newco", "--create-org", "--email", "not-an-email",
        "--name", "N", "--role", "admin", ok=False,
    )  # fmt: skip
    assert "'not-an-email' is not an e-mail address" in one_error_line(done)
    assert target.scalar("SELECT count(*) FROM organization WHERE slug = 'newco'") == 0
    assert target.scalar("SELECT count(*) FROM app_user") == users_before


def test_create_user_with_unknown_role_fails_clearly(seeded: Seeded) -> None:
    done = seeded.target.run(
        "create-user", "--org", "demo", "--email", "w@example.test", "--name", "W",
        "--role", "wizard", ok=False,
    )  # fmt: skip
    line = one_error_line(done)
    assert "--role: unknown role(s) wizard" in line and "choose from" in line
    assert seeded.target.scalar("SELECT count(*) FROM app_user WHERE email = 'w@example.test'") == 0
    no_role = seeded.target.run(
        "create-user", "--org", "demo", "--email", "w@example.test", "--name", "W", ok=False
    )
    assert "--role: give at least one role" in one_error_line(no_role)


def test_create_user_in_unknown_org_says_how_to_create_it(seeded: Seeded) -> None:
    done = seeded.target.run(
        "create-user", "--org", "nowhere", "--email", "x@example.test", "--name", "X",
        "--role", "viewer", ok=False,
    )  # fmt: skip
    line = one_error_line(done)
    assert "--create-org" in line and "no organization with slug or id 'nowhere'" in line


def test_create_user_takes_the_organizations_id(seeded: Seeded) -> None:
    target = seeded.target
    org = target.demo_org()
    done = target.run(
        "create-user", "--org", str(org), "--email", "by-id@example.test", "--name", "By Id",
        "--role", "viewer", "--password", "correct horse battery staple",
    )  # fmt: skip
    assert "in organization demo with roles: viewer" in done.stdout
    assert "Created organization" not in done.stdout
    assert target.scalar("SELECT org_id FROM app_user WHERE email = 'by-id@example.test'") == org


def test_create_user_generates_a_password_and_is_audited_as_the_cli(seeded: Seeded) -> None:
    from riskops.server.security import verify_password

    target = seeded.target
    slug = f"acme-{uuid.uuid4().hex[:6]}"
    done = target.run(
        "create-user", "--org", slug, "--create-org", "--org-name", "Acme",
        "--email", f"Boss@{slug}.example", "--name", "Boss", "--role", "admin", "--role", "viewer",
    )  # fmt: skip
    password = re.search(r"Password \(shown only this once\): (\S+)", done.stdout)
    assert password, done.stdout
    user_id, roles, pw_hash, org_id = target.query(
        f"SELECT id, roles, password_hash, org_id FROM app_user WHERE email = 'boss@{slug}.example'"
    )[0]
    assert (json.loads(roles) if isinstance(roles, str) else roles) == ["admin", "viewer"]
    assert verify_password(pw_hash, password.group(1))
    actor = target.query(
        f"SELECT actor, actor_type FROM audit_event WHERE org_id = {org_id} "
        f"AND action = 'user.create' AND entity_id = '{user_id}'"
    )
    assert actor == [("cli", "system")]


def test_service_account_and_its_token_minted_by_a_named_admin(seeded: Seeded) -> None:
    target = seeded.target
    org = target.demo_org()
    admin = target.scalar(
        f"SELECT email FROM app_user WHERE org_id = {org} AND CAST(roles AS TEXT) LIKE '%admin%' "
        "AND kind = 'person' ORDER BY id LIMIT 1"
    )
    person = target.scalar(
        f"SELECT id FROM app_user WHERE org_id = {org} AND email <> '{admin}' ORDER BY id LIMIT 1"
    )
    made = target.run("create-service-account", "--org", "demo", "--name", "Importer",
                      "--role", "viewer")  # fmt: skip
    account = int(re.search(r"Created service account (\d+)", made.stdout).group(1))  # type: ignore[union-attr]
    assert target.scalar(f"SELECT kind FROM app_user WHERE id = {account}") == "service"

    minted = target.run("create-service-token", "--org", "demo", "--account", str(account),
                        "--as", admin, "--name", "nightly", "--role", "viewer")  # fmt: skip
    assert re.search(r"Token \(shown only this once\): rko_", minted.stdout), minted.stdout
    admin_id = target.scalar(f"SELECT id FROM app_user WHERE email = '{admin}'")
    assert target.query(f"SELECT created_by_id FROM api_token WHERE user_id = {account}") == [
        (admin_id,)
    ]
    # Never a person's token.
    before = target.scalar("SELECT count(*) FROM api_token")
    refused = target.run("create-service-token", "--org", "demo", "--account", str(person),
                         "--as", admin, "--name", "x", "--role", "viewer", ok=False)  # fmt: skip
    assert "created by that person only" in one_error_line(refused)
    assert target.scalar("SELECT count(*) FROM api_token") == before


# ----------------------------------------------------------------------------- audit


def test_audit_verify_accepts_untouched_chains(seeded: Seeded) -> None:
    done = seeded.target.run("audit", "verify")
    assert f"org {seeded.target.demo_org()}: OK" in done.stdout
    assert "verify" in done.stderr


def test_audit_verify_is_recorded_like_a_verification_on_the_pages(seeded: Seeded) -> None:
    target = seeded.target
    org = target.demo_org()
    target.run("audit", "verify", "--org", "demo")
    last = target.run("audit", "export", "--org", "demo").stdout.splitlines()[-1]
    event = json.loads(last)
    assert (event["action"], event["actor"], event["org"]) == ("audit.verify", "cli", org)
    assert event["new_values"]["ok"] is True and event["risk_level"] == "low"


def test_audit_verify_of_an_unknown_org_fails(seeded: Seeded) -> None:
    done = seeded.target.run("audit", "verify", "--org", "987654", ok=False)
    assert "no organization with slug or id '987654'" in one_error_line(done)
    # 0 is the platform chain (events of no organization): none in this database yet.
    done = seeded.target.run("audit", "verify", "--org", "0", ok=False)
    assert "the platform chain (0) has no events yet" in one_error_line(done)


def test_audit_export_takes_the_slug(seeded: Seeded) -> None:
    target = seeded.target
    org = target.demo_org()
    done = target.run("audit", "export", "--org", "demo")
    lines = done.stdout.splitlines()
    assert lines and verify_export(lines) is None
    assert {json.loads(line)["org"] for line in lines} == {org}
    assert f"Exported {len(lines)} event(s) of org {org}" in done.stderr
    unknown = target.run("audit", "export", "--org", "nope", ok=False)
    assert "no organization with slug or id 'nope'" in one_error_line(unknown)


def test_export_verifies_standalone_and_is_itself_audited(seeded: Seeded, tmp_path: Path) -> None:
    target = seeded.target
    org = target.demo_org()
    out_file = tmp_path / "demo.jsonl"
    target.run("audit", "export", "--org", str(org), "--output", str(out_file))
    lines = out_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) >= len(DEMO_EMAILS) + 2
    assert verify_export(lines) is None
    assert set(json.loads(lines[0])) == {
        "org", "seq", "ts", "actor", "actor_type", "action", "entity_type", "entity_id", "ip",
        "user_agent", "risk_level", "old_values", "new_values", "request_id", "prev_hash", "hash",
    }  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", json.loads(lines[0])["ts"])

    tampered = json.loads(lines[2])
    tampered["actor"] = "user:999"
    assert verify_export([*lines[:2], json.dumps(tampered), *lines[3:]]) == 3

    # The export was recorded after it was written: it is the next event of the chain.
    later = target.run("audit", "export", "--org", str(org)).stdout.splitlines()
    assert verify_export(later) is None
    event = json.loads(later[len(lines)])
    assert (event["action"], event["actor"]) == ("audit.export", "cli")
    assert event["new_values"]["events"] == len(lines)


def test_export_time_window(seeded: Seeded) -> None:
    org = str(seeded.target.demo_org())
    future = seeded.target.run("audit", "export", "--org", org, "--since", "2999-01-01")
    assert future.stdout == ""
    assert "Exported 0 event(s)" in future.stderr
    bad = seeded.target.run("audit", "export", "--org", org, "--until", "soon", ok=False)
    assert "--until: 'soon' is not an ISO 8601" in one_error_line(bad)


def test_audit_checkpoint_then_verify_checks_it(seeded: Seeded) -> None:
    target = seeded.target
    org = target.demo_org()
    head = target.scalar(f"SELECT seq FROM audit_head WHERE org_id = {org}")
    made = target.run("audit", "checkpoint")
    assert f"org {org}: checkpoint at seq {head}" in made.stdout
    assert "already checkpointed" in target.run("audit", "checkpoint").stdout
    verified = target.run("audit", "verify", "--org", str(org))
    assert f"checkpoint at seq {head} holds" in verified.stdout


def test_flush_spool_stores_spooled_events_in_order(seeded: Seeded) -> None:
    from riskops.audit import spool
    from riskops.audit.types import Actor, Entry

    target = seeded.target
    org = target.demo_org()
    spool.configure(target.var_dir / "audit-spool")
    uid = str(uuid.uuid4())
    actor = Actor(org_id=org, actor="system", actor_type="system")
    record = spool.to_record(
        actor, Entry("test.spooled", "test", 1), "2026-01-01T00:00:00.000000Z", uid
    )
    spool.write(record)
    done = target.run("audit", "flush-spool")
    assert "Stored 1 spooled event(s); 0 remain" in done.stdout
    assert (
        target.scalar(f"SELECT action FROM audit_event WHERE event_uid = '{uid}'") == "test.spooled"
    )
    assert "Stored 0 spooled event(s); 0 remain" in target.run("audit", "flush-spool").stdout


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_audit_verify_names_the_first_tampered_seq(backend: str, tmp_path: Path) -> None:
    with seeded_target(backend, tmp_path) as made:
        target = made.target
        org = target.demo_org()
        target.tamper_actor(org, 3, "user:999")
        done = target.run("audit", "verify", ok=False)
        assert done.returncode == 1
        assert f"org {org}: BROKEN at seq 3" in done.stdout
        assert "first bad seq 3" in one_error_line(done)


# ----------------------------------------------------------------------------- naming an org

# Commands that read (at most writing an audit event), so that the same command run twice prints
# the same.
ORG_READS = {
    "audit verify": ("audit", "verify"),
    "runs list": ("runs", "list", "--severity", "SEV1"),
    "runs verify-artifacts": ("runs", "verify-artifacts", "--days", "1"),
    "killswitch list": ("killswitch", "list", "--as", "viewer@demo.riskops.local"),
    "baseline calculate": ("baseline", "calculate", "--scenario", "CHARGEBACK_TRIAGE"),
}


@pytest.mark.parametrize("command", list(ORG_READS.values()), ids=list(ORG_READS))
def test_org_is_the_slug_or_the_id_everywhere(seeded: Seeded, command: tuple[str, ...]) -> None:
    target = seeded.target
    by_slug = target.run(*command, "--org", "demo")
    by_id = target.run(*command, "--org", str(target.demo_org()))
    spelled = target.run(*command, "--org", " Demo ")
    outputs = [r.stdout for r in (by_slug, by_id, spelled)]
    if command[:2] == ("audit", "verify"):
        # Each verification is itself the chain's next event (audit.verify): the same chain,
        # one event longer each time.
        outputs = [re.sub(r"\d+ events, head seq \d+", "N events, head seq N", o) for o in outputs]
        assert "org 1: OK" in outputs[0]
    assert outputs[0] == outputs[1] == outputs[2] and outputs[0]
    for unknown in ("nope", "987654", "99999999999"):
        line = one_error_line(target.run(*command, "--org", unknown, ok=False))
        assert line.endswith(f"no organization with slug or id '{unknown}' (see `riskops status`).")


# ----------------------------------------------------------------------------- status, errors


def test_status_reports_a_healthy_platform(seeded: Seeded) -> None:
    from riskops import __version__

    done = seeded.target.run("status")
    assert f"riskops {__version__}" in done.stdout
    assert "reachable" in done.stdout
    assert f"up to date ({len(MIGRATIONS)} applied)" in done.stdout
    assert "not configured: jobs run in-process" in done.stdout
    assert re.search(r"│ \d+\s+│ demo\s+│", done.stdout), done.stdout


def test_status_exits_1_when_the_database_is_unreachable(tmp_path: Path) -> None:
    target = Target("postgres", "postgres://postgres:s3cret@127.0.0.1:1/nope", tmp_path / "var")
    target.var_dir.mkdir()
    done = target.run("status", ok=False)
    assert done.returncode == 1
    assert "cannot reach the database" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr
    assert "unhealthy: database" in one_error_line(done)


def test_worker_without_redis_explains_in_process_jobs(tmp_path: Path) -> None:
    target = Target("sqlite", f"sqlite://{tmp_path / 'x.sqlite3'}", tmp_path / "var")
    target.var_dir.mkdir()
    line = one_error_line(target.run("worker", ok=False))
    assert "RISKOPS_REDIS_URL is not set" in line and "in-process" in line


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RISKOPS_ENV": "staging"}, "RISKOPS_ENV: Input should be 'dev' or 'prod'"),
        ({"RISKOPS_ENV": "prod"}, "RISKOPS_SECRET_KEY must be set when RISKOPS_ENV=prod"),
        ({"RISKOPS_SECRET_KEY": "short"}, "RISKOPS_SECRET_KEY is too short"),
        ({"RISKOPS_WEB_WORKERS": "0"}, "RISKOPS_WEB_WORKERS: Input should be greater than"),
        ({"RISKOPS_WEB_WORKERS": "many"}, "RISKOPS_WEB_WORKERS: Input should be a valid integer"),
        ({"RISKOPS_KEEP_ALIVE_SECONDS": "0"}, "RISKOPS_KEEP_ALIVE_SECONDS: Input should be"),
    ],
)
def test_configuration_errors_are_one_clear_line(
    env: dict[str, str], message: str, tmp_path: Path
) -> None:
    target = Target("sqlite", f"sqlite://{tmp_path / 'x.sqlite3'}", tmp_path / "var")
    target.var_dir.mkdir()
    assert message in one_error_line(target.run("migrate", ok=False, **env))
    assert not (tmp_path / "x.sqlite3").exists()


def test_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    target = Target("sqlite", f"sqlite://{tmp_path / 'x.sqlite3'}", tmp_path / "var")
    target.var_dir.mkdir()
    line = one_error_line(target.run("seed-demo", ok=False))
    assert "unapplied migration(s)" in line and "riskops migrate" in line


# ----------------------------------------------------------------------------- long-running


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _eventually(check: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def _health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def background(target: Target, log: Path, *args: str, **env: str) -> Iterator[None]:
    """Run a long-lived command; stop it with Ctrl-C at the end, as an operator would."""
    with log.open("w") as fh:
        proc = subprocess.Popen(
            target.command(*args), stdout=fh, stderr=subprocess.STDOUT,
            env={**_cli_env(), **env}, cwd=target.var_dir.parent,
        )  # fmt: skip
        try:
            yield
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_serve_migrates_seeds_the_demo_and_serves(tmp_path: Path) -> None:
    target = Target("sqlite", f"sqlite://{tmp_path / 'serve.sqlite3'}", tmp_path / "var")
    target.var_dir.mkdir()
    port, log = _free_port(), tmp_path / "serve.log"
    with background(target, log, "serve", "--port", str(port)):
        # every migration on an empty database, then the demo seed: about 10 s of CPU, and
        # more than the default 20 s on a busy machine (it failed so twice)
        assert _eventually(lambda: _health(port), 60), log.read_text()
    text = log.read_text()
    assert f"Applied {len(MIGRATIONS)} migration(s)" in text
    assert sorted(printed_logins(text)) == sorted(DEMO_EMAILS)


def test_worker_starts_on_redis(tmp_path: Path) -> None:
    _require("Redis", 6379)
    target = Target("sqlite", f"sqlite://{tmp_path / 'worker.sqlite3'}", tmp_path / "var")
    target.var_dir.mkdir()
    templates.copy_sqlite(tmp_path / "worker.sqlite3")
    target.run("migrate")
    log = tmp_path / "worker.log"
    with background(target, log, "worker", RISKOPS_REDIS_URL="redis://127.0.0.1:6379/15"):
        assert _eventually(lambda: "Starting worker" in log.read_text()), log.read_text()
    assert "Traceback" not in log.read_text()


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return str(resp.read().decode())


def test_serve_with_several_workers_shares_the_metrics(tmp_path: Path) -> None:
    with new_target("postgres", tmp_path, migrated=True) as target:
        _serve_two_workers_and_count(target, tmp_path)


def _serve_two_workers_and_count(target: Target, tmp_path: Path) -> None:
    port, log = _free_port(), tmp_path / "serve.log"
    with background(target, log, "serve", "--port", str(port), "--workers", "2"):
        assert _eventually(lambda: _health(port), 40), log.read_text()
        # Both processes are up before counting (each logs its own start).
        assert _eventually(lambda: log.read_text().count("Application startup complete") == 2)
        for _ in range(30):
            _get(port, "/login")
        counted = [
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in _get(port, "/metrics").splitlines()
                if line.startswith("riskops_http_requests_total{") and 'route="/login"' in line
            )
            for _ in range(6)
        ]
    # Whichever process answers /metrics, it reports the requests both of them served.
    assert counted == [30.0] * 6, (counted, log.read_text()[-2000:])
    assert "Traceback" not in log.read_text()


def test_serve_refuses_reload_with_several_workers(tmp_path: Path) -> None:
    target = Target("sqlite", f"sqlite://{tmp_path / 'reload.sqlite3'}", tmp_path / "var")
    target.var_dir.mkdir()
    done = target.run("serve", "--reload", "--workers", "2", ok=False)
    assert done.returncode != 0
    assert "--reload runs one process" in one_error_line(done)


def test_serve_refuses_a_worker_count_out_of_range(tmp_path: Path) -> None:
    target = Target("sqlite", f"sqlite://{tmp_path / 'w.sqlite3'}", tmp_path / "var")
    target.var_dir.mkdir()
    for bad in ("0", "65"):
        done = target.run("serve", "--workers", bad, ok=False)
        assert done.returncode != 0 and "--workers" in done.stderr + done.stdout
    assert not (tmp_path / "w.sqlite3").exists()


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path) -> None:
    target = Target("sqlite", f"sqlite://{tmp_path / 'one.sqlite3'}", tmp_path / "var")
    target.var_dir.mkdir()
    done = target.run("serve", "--workers", "2", ok=False)
    assert done.returncode != 0
    assert "2 web processes need PostgreSQL" in one_error_line(done)
    assert not (tmp_path / "one.sqlite3").exists()  # refused before migrating anything


# ----------------------------------------------------------------------------- issue 14: links


def printed_link(done: subprocess.CompletedProcess[str]) -> str:
    found = re.search(r"Link \(shown only this once\): (\S+)", done.stdout)
    assert found, done.stdout
    return found.group(1)


def test_user_invite_and_reset_password_print_a_one_time_link(seeded: Seeded) -> None:
    target = seeded.target
    email = f"ivy-{uuid.uuid4().hex[:6]}@example.test"
    done = target.run("user", "invite", "--org", "demo", "--email", email, "--name", "Ivy",
                      "--role", "viewer")  # fmt: skip
    assert "not sent (no mail server configured)" in done.stdout
    first = printed_link(done)
    assert first.startswith("http://127.0.0.1:8000/invite/")
    user_id = target.scalar(f"SELECT id FROM app_user WHERE email = '{email}'")
    token_hash = hashlib.sha256(first.rsplit("/", 1)[1].encode()).hexdigest()
    assert target.scalar(f"SELECT user_id FROM identity_link WHERE token_hash = '{token_hash}'")
    again = target.run("user", "invite", "--org", "demo", "--email", email.upper())
    assert "Invitation sent again to Ivy" in again.stdout and printed_link(again) != first

    reset = target.run("user", "reset-password", "--org", "demo", "--email", email)
    assert printed_link(reset).startswith("http://127.0.0.1:8000/reset-password/")
    assert target.scalar(f"SELECT password_hash FROM app_user WHERE id = {user_id}") is None
    events = target.query(
        f"SELECT action, actor, new_values FROM audit_event WHERE entity_id = '{user_id}' "
        "AND action LIKE 'user.%' ORDER BY seq"
    )
    assert [(a, who) for a, who, _ in events] == [
        ("user.create", "cli"), ("user.invite", "cli"), ("user.invite", "cli"),
        ("user.password_reset_forced", "cli"),
    ]  # fmt: skip
    for link in (first, printed_link(again), printed_link(reset)):
        assert not any(link.rsplit("/", 1)[1] in values for _, _, values in events)

    missing = target.run("user", "reset-password", "--org", "demo", "--email", "no@example.test",
                         ok=False)  # fmt: skip
    assert "no user 'no@example.test' in organization 'demo'" in one_error_line(missing)
    no_name = target.run("user", "invite", "--org", "demo", "--email", "new@example.test",
                         ok=False)  # fmt: skip
    assert "give --name and --role" in one_error_line(no_name)
