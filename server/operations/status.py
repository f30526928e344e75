"""The platform's status (issue 15, seed 003 DO-001, IR-002): one report that `riskops status`
(a table, or `--json`), GraphQL `platformStatus` and the admin page "Platform status" all show.

Checks, each `ok`, `warn`, `fail` or `info`: versions (riskops, Python, the database server), the
database and its latency, migrations (applied vs known), the job queue and its workers (Redis
and arq when configured, else in-process), the audit spool, the last verified backup, the last
audit checkpoint of each chain, open SEV0/SEV1 runs, kill switches in force and maintenance
mode. The platform is *degraded* when any check fails; `riskops status` then exits 1.

On the machine the report covers every organization; over the API and the page an admin sees
their own organization's chains, runs, switches and maintenance only (the installation-wide
checks, database, queue, spool, backups and versions, are the same for everyone).
"""

from __future__ import annotations

import platform as py_platform
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.connection import get_connection
from tortoise.expressions import Q
from tortoise.migrations.executor import MigrationExecutor

from riskops import __version__
from riskops.audit import spool
from riskops.audit.models import AuditCheckpoint, AuditHead
from riskops.audit.types import SYSTEM_ORG
from riskops.jobs.runner import queue_depth
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit.kill_switches import in_force
from riskops.server.credit.models import KillSwitch, Run
from riskops.server.credit.terms import Severity
from riskops.server.identity.models import Organization
from riskops.server.operations import maintenance
from riskops.server.operations.backups import backup_state
from riskops.server.settings import Settings, tortoise_config

MAX_CHAINS = 50  # chains listed (the CLI's table); the rest are counted
SLOW_DATABASE_MS = 500.0  # a `SELECT 1` slower than this is a warning
OPEN_SEVERITIES = (Severity.SEV0, Severity.SEV1)
CLOSED_CASE = ("resolved", "closed")
OK, WARN, FAIL, INFO = "ok", "warn", "fail", "info"


@dataclass(frozen=True)
class Check:
    name: str
    state: str  # ok | warn | fail | info
    detail: str


@dataclass(frozen=True)
class Chain:
    """One audit chain: its head and its newest signed checkpoint."""

    org_id: int
    slug: str
    head_seq: int
    checkpoint_seq: int | None
    checkpoint_at: str | None
    behind: int  # events since the checkpoint


@dataclass
class StatusReport:
    checks: list[Check] = field(default_factory=list)
    chains: list[Chain] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def degraded(self) -> bool:
        return any(c.state == FAIL for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if c.state == FAIL]

    def as_json(self) -> dict[str, Any]:
        """The report for scripts (`riskops status --json`)."""
        return {
            "degraded": self.degraded,
            "generated_at": self.generated_at.isoformat(),
            "checks": [asdict(c) for c in self.checks],
            "chains": [asdict(c) for c in self.chains],
        }


# --------------------------------------------------------------------------- the checks


def redact(url: str) -> str:
    """A database or Redis URL without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def versions_check(server_version: str | None) -> Check:
    db = f", database {server_version}" if server_version else ""
    return Check(
        "versions", INFO, f"riskops {__version__}, Python {py_platform.python_version()}{db}"
    )


async def database_version() -> str | None:
    conn = get_connection("default")
    try:
        if conn.capabilities.dialect == "postgres":
            _, rows = await conn.execute_query("SHOW server_version")
            return f"PostgreSQL {rows[0][0]}"
        _, rows = await conn.execute_query("SELECT sqlite_version()")
        return f"SQLite {rows[0][0]}"
    except Exception:
        return None


async def database_check(settings: Settings, *, machine: bool = True) -> Check:
    """Reachable, and how fast a `SELECT 1` answers. Its address (without the password) only
    on the machine: an organization's admin is not told where the database lives."""
    started = time.perf_counter()
    await get_connection("default").execute_query("SELECT 1")
    ms = (time.perf_counter() - started) * 1000
    state = WARN if ms > SLOW_DATABASE_MS else OK
    where = redact(settings.db_url) if machine else "the database"
    return Check("database", state, f"{where} reachable ({ms:.1f} ms)")


async def migrations_check(settings: Settings) -> Check:
    executor = MigrationExecutor(
        get_connection("default"), tortoise_config(settings.db_url)["apps"]
    )
    applied = [key.name for key in await executor.recorder.applied_migrations()]
    pending = [step.migration.name for step in await executor.plan() if not step.backward]
    known = len(applied) + len(pending)
    if pending:
        return Check(
            "migrations", FAIL,
            f"{len(applied)} of {known} applied; pending {', '.join(pending)}: run "
            "`riskops migrate`",
        )  # fmt: skip
    return Check("migrations", OK, f"up to date ({len(applied)} applied)")


async def queue_check(settings: Settings) -> list[Check]:
    """The queue depth, and who runs jobs: arq workers on Redis, or this process."""
    depth = Check("job queue", OK, f"{await queue_depth()} queued or running")
    if not settings.redis_url:
        return [depth, Check("workers", INFO, "redis not configured: jobs run in-process")]
    from redis.asyncio import Redis  # slow to import: only when configured

    client = Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3)
    where = redact(settings.redis_url)
    try:
        await client.ping()
        # arq's worker refreshes this key every health-check interval while it runs.
        beat = await client.get(f"{settings.job_queue}:health-check")
    except Exception as exc:
        return [depth, Check("redis", FAIL, f"{where} unreachable: {exc}")]
    finally:
        await client.aclose()
    redis = Check("redis", OK, f"{where} reachable")
    if beat is None:
        worker = Check(
            "workers", WARN,
            f"no arq worker seen on queue {settings.job_queue}: start `riskops worker`",
        )  # fmt: skip
    else:
        text = beat.decode(errors="replace") if isinstance(beat, bytes) else str(beat)
        worker = Check("workers", OK, f"arq worker alive ({text[:80]})")
    return [depth, redis, worker]


def spool_check(settings: Settings) -> Check:
    spool.configure(settings.spool_dir)
    depth = spool.depth()
    if depth:
        return Check("audit spool", WARN,
                     f"{depth} event(s) waiting: run `riskops audit flush-spool`")  # fmt: skip
    return Check("audit spool", OK, "empty")


async def backup_check(settings: Settings) -> Check:
    """The last verified backup: failing once older than `backup_max_age_hours`; never taken
    is a warning on a development install and a failure in production."""
    state = await backup_state(settings)
    age, detail = state["age_hours"], str(state.get("detail") or "")
    if settings.backup_max_age_hours == 0:
        return Check("last backup", OK, detail)
    if age is None:
        # never taken: a warning on a development install, a failure in production
        message = "no verified backup yet: run `riskops backup create`"
        return Check("last backup", FAIL if settings.is_prod else WARN, message)
    if state["ok"]:
        return Check("last backup", OK, f"last verified backup {age:.1f} h ago")
    return Check("last backup", FAIL, f"{detail}: run `riskops backup create`")


async def chains(org_id: int | None) -> list[Chain]:
    """Each chain's head and newest checkpoint: every chain (org_id None), or the platform's
    and that organization's."""
    heads = AuditHead.all() if org_id is None else AuditHead.filter(org_id__in=[SYSTEM_ORG, org_id])
    rows = await heads.order_by("org_id").limit(MAX_CHAINS)
    ids = [h.org_id for h in rows]
    slugs = dict(await Organization.filter(id__in=ids).values_list("id", "slug"))
    found: list[Chain] = []
    for head in rows:
        cp = await AuditCheckpoint.filter(org_id=head.org_id).order_by("-seq", "-id").first()
        slug = "(platform)" if head.org_id == SYSTEM_ORG else str(slugs.get(head.org_id, "?"))
        found.append(Chain(
            head.org_id, slug, head.seq, cp.seq if cp else None, cp.ts if cp else None,
            head.seq - (cp.seq if cp else 0),
        ))  # fmt: skip
    return found


def checkpoint_check(found: list[Chain]) -> Check:
    if not found:
        return Check("audit checkpoints", INFO, "no audit chain yet")
    without = [c.slug for c in found if c.checkpoint_seq is None and c.head_seq]
    newest = max((c.checkpoint_at for c in found if c.checkpoint_at), default=None)
    detail = f"{len(found)} chain(s); newest checkpoint {newest or 'none yet'}"
    if without:
        return Check("audit checkpoints", WARN,
                     f"{detail}; none yet for {', '.join(without[:5])}: the checkpoint job runs "
                     "with `riskops worker` or `riskops audit checkpoint`")  # fmt: skip
    return Check("audit checkpoints", OK, detail)


async def open_runs_check(org_id: int | None) -> Check:
    """SEV0/SEV1 runs still open: their case neither resolved nor closed (or none yet), or
    still quarantined (as on the home page's "My work")."""
    q = Run.all() if org_id is None else scoped(Run, org_id=org_id)
    rows = (
        await q.filter(severity__in=[s.value for s in OPEN_SEVERITIES])
        .filter(Q(case_id__isnull=True) | ~Q(case__status__in=CLOSED_CASE) | Q(quarantined=True))
        .values_list("severity", flat=True)
    )
    counts = {s.value: sum(1 for r in rows if str(r) == s.value) for s in OPEN_SEVERITIES}
    detail = ", ".join(f"{n} {s}" for s, n in counts.items())
    return Check("open SEV0/SEV1", WARN if any(counts.values()) else OK, detail)


async def kill_switch_check(org_id: int | None) -> Check:
    q = KillSwitch.all() if org_id is None else scoped(KillSwitch, org_id=org_id)
    switches = await q.filter(in_force(datetime.now(UTC))).order_by("org_id", "name")
    if not switches:
        return Check("kill switches", OK, "none in force")
    names = ", ".join(
        f"{s.name}{f' ({s.scope})' if s.scope else ''}"
        + (f" in org {s.org_id}" if org_id is None else "")
        for s in switches[:10]
    )
    return Check("kill switches", WARN, f"{len(switches)} in force: {names}")


async def maintenance_check(org_id: int | None) -> Check:
    if org_id is None:
        periods = [maintenance.Maintenance.of(p) for p in await maintenance.open_periods()]
    else:
        one = await maintenance.active_for(org_id)
        periods = [one] if one else []
    if not periods:
        return Check("maintenance", OK, "off: writes work")
    text = "; ".join(
        f"{'every organization' if p.everywhere else f'org {p.org_id}'}: {p.reason}"
        for p in periods[:5]
    )
    return Check("maintenance", WARN, f"read-only on ({text})")


# --------------------------------------------------------------------------- the report


async def collect(settings: Settings, org_id: int | None = None) -> StatusReport:
    """The report, with the ORM initialized. org_id None: every organization (the machine)."""
    report = StatusReport()
    report.checks.append(versions_check(await database_version()))
    report.checks.append(await database_check(settings, machine=org_id is None))
    migrations = await migrations_check(settings)
    report.checks.append(migrations)
    report.checks.extend(await queue_check(settings))
    report.checks.append(spool_check(settings))
    if migrations.state == FAIL:
        return report  # the tables below may not exist yet
    report.checks.append(await backup_check(settings))
    report.chains = await chains(org_id)
    report.checks.append(checkpoint_check(report.chains))
    report.checks.append(await open_runs_check(org_id))
    report.checks.append(await kill_switch_check(org_id))
    report.checks.append(await maintenance_check(org_id))
    return report


def unreachable(settings: Settings, message: str) -> StatusReport:
    """The report when the database cannot be reached: what is known without it."""
    return StatusReport(
        checks=[
            versions_check(None),
            Check("database", FAIL, message),
            spool_check(settings),
        ]
    )


async def platform_status(principal: Principal, settings: Settings) -> StatusReport:
    """The report for an admin of an organization (ops.read): GraphQL and the page."""
    principal.require(Perm.OPS_READ)
    return await collect(settings, principal.org_id)
