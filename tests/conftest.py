"""Test harness: every database test runs on a real SQLite file *and* a real PostgreSQL database.

Each backend gets a fresh database, migrated with the project's own migrations (a copy of a
template migrated once, tests/support/templates.py). Tests isolate
themselves by creating their own organization (everything is tenant-scoped), so nothing is
truncated, and at the end every audit chain written during the run must still verify.

`make test` runs the suite on two pytest-xdist workers (`-n 2`). Each worker is a process of
its own with its own session: its own SQLite file (under its own tmp dir) and PostgreSQL
database (named after the worker, `riskops_test_gw0_...`), its own audit-chain check at the
end, and every server, worker queue and webhook receiver a test starts takes a free port or a
queue name of its own. So no test may rely on what another test did before it: each one makes
what it reads (see `tenant`), whatever worker or order it runs in.

PostgreSQL and Redis: on 127.0.0.1 by default (RISKOPS_TEST_PG, RISKOPS_TEST_REDIS). When one
cannot be reached, its tests are skipped locally, and fail under CI=true.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from riskops.jobs import catalog  # noqa: F401  (registers every job kind)
from riskops.server.settings import Settings, load_settings, use_settings
from tests.support import templates

PG_ADMIN_URL = os.environ.get("RISKOPS_TEST_PG", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("RISKOPS_TEST_REDIS", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The pytest-xdist worker running this process ("gw0", "gw1"; "main" without xdist).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if reachable(host, port):
        return
    msg = f"{name} is not reachable on {host}:{port}"
    if IN_CI:
        pytest.fail(f"{msg}; CI must run the whole suite (.ci/run starts it).")
    pytest.skip(f"{msg}; start it to run these tests (see README, 'Tests').")


def pg_url(dbname: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclass
class Backend:
    name: str
    settings: Settings


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("riskops")


@pytest_asyncio.fixture(scope="session", params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_root: Path) -> AsyncIterator[Backend]:
    from riskops.audit.verify import org_ids, verify_org
    from riskops.server.db import close_db, init_db, migrate

    name = request.param
    var_dir = tmp_root / f"var-{name}"
    dbname = f"riskops_test_{WORKER}_{uuid.uuid4().hex[:10]}"
    # a copy of the migrated template (tests/support/templates.py); `migrate` below then finds
    # nothing to apply
    if name == "postgres":
        require_service("PostgreSQL", "127.0.0.1", 5432)
        await asyncio.to_thread(templates.create_pg, dbname)
        url = pg_url(dbname)
    else:
        await asyncio.to_thread(templates.copy_sqlite, var_dir / "test.sqlite3")
        url = f"sqlite://{var_dir / 'test.sqlite3'}"
    settings = use_settings(
        load_settings(
            database_url=url,
            var_dir=var_dir,
            secret_key="test-secret-key-" + "x" * 32,
            redis_url=None,
        )
    )
    await migrate(settings)
    await init_db(settings)
    try:
        yield Backend(name, settings)
        # The audit contract holds after everything the suite did on this backend.
        broken = [
            v.describe()
            for v in [await verify_org(o, settings.key) for o in await org_ids()]
            if not v.ok and o_not_tampered(v.org_id)
        ]
        assert not broken, f"audit chains broken after the suite: {broken}"
    finally:
        await close_db()
        if name == "postgres":
            await _pg_admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


# Chains a test deliberately tampers with, as (database URL, org id): org ids repeat across
# the two backends, and only the tampered backend's chain may be skipped.
TAMPERED_ORGS: set[tuple[str, int]] = set()


def mark_chain_tampered(org_id: int) -> None:
    from riskops.server.settings import get_settings

    TAMPERED_ORGS.add((get_settings().db_url, org_id))


def o_not_tampered(org_id: int) -> bool:
    from riskops.server.settings import get_settings

    return (get_settings().db_url, org_id) not in TAMPERED_ORGS


@pytest.fixture
def db(backend: Backend, request: pytest.FixtureRequest) -> Backend:
    if request.node.get_closest_marker("postgres_only") and backend.name != "postgres":
        pytest.skip("PostgreSQL only")
    if request.node.get_closest_marker("sqlite_only") and backend.name != "sqlite":
        pytest.skip("SQLite only")
    return backend


@dataclass
class Tenant:
    org_id: int
    slug: str
    admin: object  # Principal
    admin_user: object  # User
    password: str

    async def user(self, *roles: str, name: str | None = None):  # -> tuple[User, Principal]
        return await make_user(self.org_id, list(roles), name=name)


PASSWORD = "correct horse battery staple"


async def make_user(org_id: int, roles: list[str], name: str | None = None):
    from riskops.server.core.principal import Principal
    from riskops.server.identity.models import User
    from riskops.server.security import hash_password

    tag = uuid.uuid4().hex[:8]
    user = await User.create(
        org_id=org_id,
        email=f"{(name or 'user').lower()}-{tag}@example.test",
        name=name or f"User {tag}",
        roles=sorted(roles),
        password_hash=_PW_HASH.get() or hash_password(PASSWORD),
    )
    return user, Principal(
        user_id=user.id, org_id=org_id, roles=frozenset(roles), email=user.email, name=user.name
    )


class _Cached:
    value: str | None = None

    def get(self) -> str | None:
        if self.value is None:
            from riskops.server.security import hash_password

            self.value = hash_password(PASSWORD)
        return self.value


_PW_HASH = _Cached()


@pytest_asyncio.fixture
async def tenant(db: Backend) -> Tenant:
    """A fresh organization with one admin: the unit of isolation between tests."""
    from riskops.server.identity.orgs import create_organization

    slug = f"t-{uuid.uuid4().hex[:12]}"
    org = await create_organization(slug, f"Tenant {slug}")
    admin_user, admin = await make_user(org.id, ["admin"], name="Admin")
    return Tenant(org.id, slug, admin, admin_user, PASSWORD)


@pytest_asyncio.fixture
async def other_tenant(db: Backend) -> Tenant:
    from riskops.server.identity.orgs import create_organization

    slug = f"o-{uuid.uuid4().hex[:12]}"
    org = await create_organization(slug, f"Other {slug}")
    admin_user, admin = await make_user(org.id, ["admin"], name="Other")
    return Tenant(org.id, slug, admin, admin_user, PASSWORD)


@pytest_asyncio.fixture
async def app(db: Backend):
    from riskops.server.app import create_app

    return create_app(db.settings, manage_db=False)


@pytest_asyncio.fixture
async def client(app) -> AsyncIterator[object]:
    import httpx

    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def run(coro):  # for sync helpers in tests
    return asyncio.get_event_loop().run_until_complete(coro)


# Fixtures of the faces, shared by every domain's tests: `api` and `snapshot` (GraphQL),
# `browser` (pages).
from tests.support.gql import api, snapshot  # noqa: E402, F401
from tests.support.pages import browser  # noqa: E402, F401
