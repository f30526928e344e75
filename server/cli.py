"""The `riskops` command line: what an operator runs (the runbooks' commands).

`serve` and `worker` start the processes; `migrate`, `seed-demo` and `create-user` prepare an
installation; `audit verify|export|checkpoint|flush-spool` operate the tamper-evident trail;
`status` reports the platform's health. Every command loads the settings (environment plus the
global `--database-url` / `--var-dir` flags) and installs them before touching anything else.
Expected failures (configuration, domain rules, an unreachable database) end with one line on
stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from dataclasses import replace as dataclass_replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TextIO, cast
from urllib.parse import urlsplit, urlunsplit

import pydantic
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
)
from rich.table import Table
from tortoise.connection import get_connection
from tortoise.migrations.executor import MigrationExecutor

from riskops import __version__
from riskops.audit import spool, store
from riskops.audit.chain import format_ts
from riskops.audit.types import Actor, Entry, RiskLevel
from riskops.audit.verify import Verification
from riskops.jobs import catalog  # noqa: F401  (registers every job kind)
from riskops.server.core import approvals
from riskops.server.core.errors import DomainError
from riskops.server.core.principal import Principal
from riskops.server.credit import kill_switches
from riskops.server.db import close_db, init_db, migrate
from riskops.server.settings import (
    ConfigError,
    Settings,
    load_settings,
    tortoise_config,
    use_settings,
)

if TYPE_CHECKING:
    from riskops.server.triage.demo import DemoResult

app = typer.Typer(
    name="riskops",
    help="Risk Operations Platform: run it, prepare it, and operate its audit trail.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
audit_app = typer.Typer(
    help="The tamper-evident audit trail: verify, export, checkpoint, flush the spool.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")
alerts_app = typer.Typer(help="Alerts: import them from JSON lines.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
demo_app = typer.Typer(help="Demo data: synthetic alerts in bulk.", no_args_is_help=True)
runs_app = typer.Typer(
    help="Runs and credit monitoring: import the ledger, show a run.", no_args_is_help=True
)
app.add_typer(runs_app, name="runs")
app.add_typer(demo_app, name="demo")

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

CLI_ACTOR = "cli"
DB_TIMEOUT_SECONDS = 10.0
STATUS_MAX_CHAINS = 50


# --------------------------------------------------------------------------- errors and settings


class CliError(Exception):
    """An expected failure of a command: `main` prints the message on one line and exits."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _die(message: str, code: int = 1) -> NoReturn:
    err.print(f"riskops: error: {' '.join(message.split())}", markup=False, soft_wrap=True)
    raise SystemExit(code)


@dataclass(frozen=True)
class Overrides:
    """The global flags; each one, when given, wins over its `RISKOPS_*` variable."""

    database_url: str | None = None
    var_dir: Path | None = None

    def load(self) -> Settings:
        given = {k: v for k, v in asdict(self).items() if v is not None}
        try:
            return use_settings(load_settings(**given))
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"RISKOPS_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"invalid setting(s): {problems}") from None


def _settings(ctx: typer.Context) -> Settings:
    overrides: Overrides = ctx.obj or Overrides()
    return overrides.load()


def _export_env(settings: Settings) -> None:
    """Put the effective locations in the environment, for the processes we start (uvicorn's
    reloader, arq) that read the settings again from scratch."""
    os.environ["RISKOPS_VAR_DIR"] = str(settings.var_dir)
    if settings.database_url:
        os.environ["RISKOPS_DATABASE_URL"] = settings.database_url


def redact(url: str) -> str:
    """The URL without its password, fit for printing."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"riskops {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Database URL (overrides RISKOPS_DATABASE_URL), e.g. "
            "postgres://user@host:5432/riskops or sqlite:///path/riskops.sqlite3.",
        ),
    ] = None,
    var_dir: Annotated[
        Path | None,
        typer.Option(
            "--var-dir",
            help="Directory for local state (overrides RISKOPS_VAR_DIR).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.obj = Overrides(database_url=database_url, var_dir=var_dir)


# --------------------------------------------------------------------------- database sessions


@dataclass(frozen=True)
class MigrationState:
    applied: list[str]
    pending: list[str]


async def migration_state(settings: Settings) -> MigrationState:
    """Applied and pending migrations of the connected database (`init_db` first)."""
    executor = MigrationExecutor(
        get_connection("default"), tortoise_config(settings.db_url)["apps"]
    )
    applied = [key.name for key in await executor.recorder.applied_migrations()]
    pending = [step.migration.name for step in await executor.plan() if not step.backward]
    return MigrationState(applied, pending)


async def _ping(settings: Settings) -> None:
    try:
        await asyncio.wait_for(
            get_connection("default").execute_query("SELECT 1"), DB_TIMEOUT_SECONDS
        )
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"cannot reach the database {redact(settings.db_url)}: {reason}") from None


@asynccontextmanager
async def database(settings: Settings, *, require_migrated: bool = True) -> AsyncIterator[None]:
    """Connected for the duration of the block; refuses a database with pending migrations."""
    await init_db(settings)
    try:
        await _ping(settings)
        if require_migrated:
            pending = (await migration_state(settings)).pending
            if pending:
                raise CliError(
                    f"the database has {len(pending)} unapplied migration(s) "
                    f"({', '.join(pending)}); run `riskops migrate` first."
                )
        yield
    finally:
        await close_db()


async def _apply_migrations(settings: Settings) -> MigrationState:
    """Apply pending migrations; returns the state found before (what was applied)."""
    async with database(settings, require_migrated=False):
        before = await migration_state(settings)
    if before.pending:
        await migrate(settings)
    return before


def _report_migrations(settings: Settings, before: MigrationState) -> None:
    where = redact(settings.db_url)
    if before.pending:
        typer.echo(f"Applied {len(before.pending)} migration(s) to {where}:")
        for name in before.pending:
            typer.echo(f"  {name}")
    else:
        typer.echo(f"{where} is up to date ({len(before.applied)} migrations applied).")


# --------------------------------------------------------------------------- serve, worker


@app.command("serve")
def serve_cmd(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (default: RISKOPS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: RISKOPS_PORT).")] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Web processes (default: RISKOPS_WEB_WORKERS, 1). Several spread requests over "
            "the cores; about one per core.",
        ),
    ] = None,
    demo: Annotated[
        bool | None,
        typer.Option(
            "--demo/--no-demo",
            help="Seed the demo organization into an empty database "
            "(default: on when RISKOPS_ENV=dev, off in prod).",
        ),
    ] = None,
) -> None:
    """Apply migrations, seed the demo if wanted, and serve the web app and GraphQL API."""
    import uvicorn

    settings = _settings(ctx)
    processes = workers or settings.web_workers
    if reload and processes > 1:
        raise CliError(
            f"--reload runs one process; it cannot be combined with {processes} workers. "
            "Drop --reload, or use --workers 1 (RISKOPS_WEB_WORKERS=1)."
        )
    if processes > 1 and settings.db_url.startswith("sqlite"):
        raise CliError(
            f"{processes} web processes need PostgreSQL: SQLite, the embedded default, takes "
            "one writing process (two would refuse each other's writes). Set "
            "RISKOPS_DATABASE_URL=postgres://... or serve with --workers 1."
        )
    _export_env(settings)
    if processes > 1:
        _prepare_shared_metrics(settings)
    seed = (not settings.is_prod) if demo is None else demo
    asyncio.run(_prepare_serving(settings, seed=seed))
    uvicorn.run(
        "riskops.server.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        workers=processes,
        timeout_keep_alive=settings.keep_alive_seconds,
        log_level=settings.log_level.lower(),
    )


def _prepare_shared_metrics(settings: Settings) -> None:
    """Several web processes keep their Prometheus samples in files under var/, which /metrics
    of any of them adds up (prometheus_client's multiprocess mode). Emptied at each start, as
    the library requires; the workers read the variable when they import it."""
    directory = settings.var_dir / "prometheus"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory.resolve())


async def _prepare_serving(settings: Settings, *, seed: bool) -> None:
    _report_migrations(settings, await _apply_migrations(settings))
    if seed:
        await _seed_and_print(settings, quiet_if_seeded=True)


@app.command("worker")
def worker_cmd(ctx: typer.Context) -> None:
    """Run an arq worker: executes queued jobs from Redis (RISKOPS_REDIS_URL)."""
    settings = _settings(ctx)
    if not settings.redis_url:
        raise CliError(
            "RISKOPS_REDIS_URL is not set. Without Redis, jobs run in-process inside "
            "`riskops serve` and no worker is needed. To run jobs on workers, start Redis and set "
            "RISKOPS_REDIS_URL=redis://HOST:6379/0 for the web processes and the workers alike."
        )
    _export_env(settings)
    from arq.typing import WorkerSettingsType
    from arq.worker import run_worker

    # Imported only now: it builds its RedisSettings from the settings installed above.
    from riskops.jobs.worker import WorkerSettings
    from riskops.server.observability import configure_logging

    configure_logging(settings.log_level)
    # A plain class satisfies arq's protocol at run time; its class variables confuse mypy.
    run_worker(cast(WorkerSettingsType, WorkerSettings))


# --------------------------------------------------------------------------- install and users


@app.command("migrate")
def migrate_cmd(ctx: typer.Context) -> None:
    """Apply pending database migrations and say which."""
    settings = _settings(ctx)
    _report_migrations(settings, asyncio.run(_apply_migrations(settings)))


def _print_logins(logins: list[tuple[str, str, str]]) -> None:
    table = Table(title="Demo logins (passwords are shown only this once)")
    for column in ("e-mail", "password", "roles"):
        table.add_column(column, no_wrap=True)
    for row in logins:
        table.add_row(*row)
    out.print(table)


async def _seed_and_print(settings: Settings, *, quiet_if_seeded: bool = False) -> None:
    from riskops.server.demo import DEMO_NAME, seed_demo

    async with database(settings):
        logins = await seed_demo(settings)
    if logins is None:
        if not quiet_if_seeded:
            typer.echo("Already seeded: the database has an organization; nothing changed.")
        return
    typer.echo(f"Seeded the demo organization '{DEMO_NAME}' (slug demo).")
    _print_logins(logins)


@app.command("seed-demo")
def seed_demo_cmd(ctx: typer.Context) -> None:
    """Create the demo organization with one login per role, if the database has none."""
    asyncio.run(_seed_and_print(_settings(ctx)))


class CliPrincipal(Principal):
    """An administrator of one organization acting from the command line. Its audit events
    name the CLI (a system actor), not a user account that does not exist."""

    @property
    def actor(self) -> Actor:
        return cli_actor(self.org_id)


def cli_actor(org_id: int) -> Actor:
    return Actor(org_id=org_id, actor=CLI_ACTOR, actor_type="system")


@dataclass(frozen=True)
class NewUser:
    org: str
    email: str
    name: str
    roles: list[str]
    password: str | None
    create_org: bool
    org_name: str | None


def _check_new_user(new: NewUser) -> None:
    """Every input check before anything is written, so a mistake creates nothing."""
    from riskops.server.core import validation

    validation.text(new.org, "org", max_len=64)
    validation.email(new.email)
    validation.text(new.name, "name", max_len=200)
    validation.roles(new.roles, "role")
    if new.password is not None:
        validation.password(new.password)


async def _org_for(new: NewUser) -> tuple[int, str, bool]:
    """(id, slug, created) of the organization the user goes into."""
    from riskops.server.core.errors import Duplicate
    from riskops.server.identity.models import Organization, User
    from riskops.server.identity.orgs import create_organization

    slug = new.org.strip().lower()
    org = await Organization.get_or_none(slug=slug)
    if org is not None:
        return org.id, org.slug, False
    if not new.create_org:
        raise CliError(f"no organization with slug '{slug}'; add --create-org to create it.")
    if await User.filter(email=new.email.strip().lower()).exists():
        raise Duplicate(f"The e-mail address {new.email} is already in use.", field="email")
    org = await create_organization(slug, new.org_name or slug)
    return org.id, org.slug, True


async def _create_user(settings: Settings, new: NewUser) -> None:
    from riskops.server.core.permissions import Role
    from riskops.server.identity import users

    _check_new_user(new)
    async with database(settings):
        org_id, slug, created = await _org_for(new)
        if created:
            typer.echo(f"Created organization {slug} (id {org_id}).")
        admin = CliPrincipal(user_id=0, org_id=org_id, roles=frozenset({Role.ADMIN.value}))
        password = new.password or secrets.token_urlsafe(18)
        user = await users.create_user(
            admin, email=new.email, name=new.name, roles=new.roles, password=password
        )
    typer.echo(
        f"Created user {user.id} <{user.email}> in organization {slug} with roles: "
        f"{', '.join(user.roles)}."
    )
    if new.password is None:
        typer.echo(f"Password (shown only this once): {password}")


@app.command("create-user")
def create_user_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug of the user's organization.")],
    email: Annotated[str, typer.Option(help="Login e-mail address.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role", help="A role; repeat for several (e.g. --role admin --role viewer)."
        ),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(help="Initial password; omit it to get a generated one, printed once."),
    ] = None,
    create_org: Annotated[
        bool, typer.Option("--create-org", help="Create the organization if it does not exist.")
    ] = False,
    org_name: Annotated[
        str | None, typer.Option(help="Name of the organization --create-org creates.")
    ] = None,
) -> None:
    """Create a user in an organization (audited as the CLI)."""
    new = NewUser(org, email, name, list(role or []), password, create_org, org_name)
    asyncio.run(_create_user(_settings(ctx), new))


async def _org_principal(slug: str) -> CliPrincipal:
    """An administrator of the organization `slug`, acting as the CLI."""
    from riskops.server.core.permissions import Role
    from riskops.server.identity.models import Organization

    key = slug.strip().lower()
    org = await Organization.get_or_none(slug=key)
    if org is None:
        raise CliError(f"no organization with slug '{key}' (see `riskops status`).")
    return CliPrincipal(user_id=0, org_id=org.id, roles=frozenset({Role.ADMIN.value}))


async def user_principal(slug: str, email: str) -> Principal:
    """An active user of the organization `slug`, acting from the command line with their own
    roles (approvals need a person: maker-checker compares who asked with who approves)."""
    from riskops.server.identity.models import Organization, User, UserStatus

    key = slug.strip().lower()
    org = await Organization.get_or_none(slug=key)
    if org is None:
        raise CliError(f"no organization with slug '{key}' (see `riskops status`).")
    user = await User.get_or_none(
        org_id=org.id, email=email.strip().lower(), status=UserStatus.ACTIVE, deleted_at=None
    )
    if user is None:
        raise CliError(f"no active user '{email}' in organization '{key}' (check --as).")
    return Principal(
        user_id=user.id,
        org_id=org.id,
        roles=frozenset(user.roles),
        email=user.email,
        name=user.name,
        user_agent="riskops-cli",
    )


# --------------------------------------------------------------------------- alerts, demo

MAX_SHOWN_ERRORS = 20


@dataclass
class ImportSummary:
    lines: int = 0
    stored: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # line, field, message
    severities: Counter[str] = field(default_factory=Counter)


def _read_lines(source: str) -> list[str]:
    if source == "-":
        return sys.stdin.read().splitlines()
    with Path(source).open(encoding="utf-8") as fh:
        return fh.read().splitlines()


async def _send_alerts(
    principal: Principal, batch: list[tuple[int, Any]], summary: ImportSummary
) -> None:
    from riskops.server.triage.ingest import ingest_alerts

    result = await ingest_alerts(principal, [item for _, item in batch])
    summary.stored += len(result.created)
    summary.unchanged += len(result.unchanged)
    summary.errors.extend((batch[e.index][0], e.field or "item", e.message) for e in result.errors)


Sender = Callable[[Principal, list[tuple[int, Any]], ImportSummary], Awaitable[None]]


async def import_jsonl(
    source: str,
    principal: Principal,
    batch_size: int,
    send: Sender,
    what: str,
    prepare: Callable[[int, Any], Awaitable[Any]] | None = None,
) -> ImportSummary:
    """Read a JSON lines file (- is stdin) and send its records in batches; a line that is not
    JSON (or that `prepare` refuses with a DomainError) is reported with its number."""
    lines = _read_lines(source)
    summary = ImportSummary()
    numbered = [(i, line) for i, line in enumerate(lines, start=1) if line.strip()]
    summary.lines = len(numbered)
    with _progress(len(numbered), f"importing {what}") as (progress, task):
        batch: list[tuple[int, Any]] = []
        for number, line in numbered:
            try:
                record = json.loads(line)
                batch.append((number, await prepare(number, record) if prepare else record))
            except ValueError as exc:
                summary.errors.append((number, "json", f"not valid JSON: {exc}"))
                progress.update(task, advance=1)
            except DomainError as exc:
                summary.errors.append((number, exc.field or "record", exc.message))
                progress.update(task, advance=1)
            if len(batch) >= batch_size:
                await send(principal, batch, summary)
                progress.update(task, advance=len(batch))
                batch = []
        if batch:
            await send(principal, batch, summary)
            progress.update(task, advance=len(batch))
    summary.errors.sort()
    return summary


async def _import_alerts(
    settings: Settings, source: str, org: str, batch_size: int
) -> ImportSummary:
    async with database(settings):
        principal = await _org_principal(org)
        return await import_jsonl(source, principal, batch_size, _send_alerts, "alerts")


def _print_import(summary: ImportSummary, what: str) -> None:
    typer.echo(
        f"Read {summary.lines} line(s): {summary.stored} stored, {summary.unchanged} unchanged "
        f"(already there), {len(summary.errors)} invalid."
    )
    for line, name, message in summary.errors[:MAX_SHOWN_ERRORS]:
        typer.echo(f"  line {line}: {name}: {message}")
    if len(summary.errors) > MAX_SHOWN_ERRORS:
        typer.echo(f"  … and {len(summary.errors) - MAX_SHOWN_ERRORS} more invalid line(s).")
    if summary.errors:
        raise CliError(f"{len(summary.errors)} line(s) were invalid and not imported.")


@alerts_app.command("import")
def alerts_import_cmd(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A JSON lines file, one alert per line; - is stdin.")],
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=1000, help="Alerts per ingest call.")
    ] = 500,
) -> None:
    """Import alerts (idempotent on external_id); exit 1 if any line was invalid."""
    summary = asyncio.run(_import_alerts(_settings(ctx), file, org, batch))
    _print_import(summary, "alerts")


# --------------------------------------------------------------------------- runs


def _upload_local_artifacts(base: Path, org_id: int) -> Callable[[int, Any], Awaitable[Any]]:
    """A ledger record's artifacts given as local file paths (relative to the ledger's folder,
    and inside it) are uploaded into the artifact store and referenced as `artifact:` URIs with
    their hash. A run recorded before is left alone: importing a ledger again must not put a
    quarantined run's file back into the store."""
    from riskops.server.core.errors import Invalid
    from riskops.server.credit import artifacts
    from riskops.server.credit.models import Run

    root = base.resolve()

    async def prepare(number: int, record: Any) -> Any:
        if not isinstance(record, dict):
            return record
        key = "artifacts" if "artifacts" in record else "Artifacts"
        items = record.get(key)
        if not isinstance(items, list):
            return record
        run_id = str(record.get("run_id") or record.get("Run_ID") or f"line-{number}")
        if await Run.exists(org_id=org_id, run_id=run_id):
            return record
        out = []
        for item in items:
            uri = item.get("uri") if isinstance(item, dict) else None
            if isinstance(uri, str) and ":" not in uri.split("/", 1)[0]:
                path = (root / uri).resolve()
                if not path.is_relative_to(root):
                    raise Invalid(
                        f"artifact {uri!r}: only files in the ledger's folder are uploaded.",
                        field=key,
                    )
                if not path.is_file():
                    raise Invalid(f"artifact {uri!r}: no such file next to the ledger.", field=key)
                stored = artifacts.upload(org_id, run_id, path)
                given = item.get("sha256")
                if given and str(given).lower() != stored.sha256:
                    raise Invalid(
                        f"artifact {uri!r}: SHA-256 is {stored.sha256}, the ledger says {given}.",
                        field=key,
                    )
                item = {"uri": stored.uri, "sha256": stored.sha256}
            out.append(item)
        return {**record, key: out}

    return prepare


async def _send_runs(
    principal: Principal, batch: list[tuple[int, Any]], summary: ImportSummary
) -> None:
    from riskops.server.credit.recording import record_runs

    result = await record_runs(principal, [item for _, item in batch])
    summary.stored += len(result.recorded)
    summary.unchanged += len(result.unchanged)
    summary.errors.extend(
        (batch[e.index][0], e.field or "record", e.message) for e in result.errors
    )
    summary.severities.update(str(r.severity or "none") for r in result.recorded)


async def _import_runs(
    settings: Settings, source: str, org: str, batch_size: int, base: Path
) -> ImportSummary:
    async with database(settings):
        principal = await _org_principal(org)
        prepare = _upload_local_artifacts(base, principal.org_id)
        return await import_jsonl(source, principal, batch_size, _send_runs, "runs", prepare)


@runs_app.command("import")
def runs_import_cmd(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A ledger.jsonl file, one run per line; - is stdin.")],
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=1000, help="Runs per recordRuns call.")
    ] = 500,
) -> None:
    """Record the runs of a ledger (seed field names such as Scenario_ID, Credits_Total,
    Risk_Flags, Job_Type are accepted), classified with their automatic actions. Idempotent on
    run_id; local artifact files are uploaded with their SHA-256. Exit 1 if a line was invalid."""
    base = Path(file).resolve().parent if file != "-" else Path.cwd()
    summary = asyncio.run(_import_runs(_settings(ctx), file, org, batch, base))
    if summary.severities:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.severities.items()))
        typer.echo(f"Severities of the recorded runs: {counts}.")
    _print_import(summary, "runs")


async def _show_run(settings: Settings, org: str, run_id: str) -> dict[str, Any]:
    from riskops.server.credit import artifacts
    from riskops.server.credit.models import Run
    from riskops.server.credit.runs import get_run_detail

    async with database(settings):
        principal = await _org_principal(org)
        pk = (
            await Run.filter(org_id=principal.org_id, run_id=run_id)
            .first()
            .values_list("id", flat=True)
        )
        if pk is None:
            raise CliError(f"no run '{run_id}' in organization '{org}'.")
        # Through the service, like the pages and GraphQL: reading a run is a `run.view`
        # data-access event (here by the CLI).
        reader = dataclass_replace(principal, roles=frozenset({"viewer"}))
        detail = await get_run_detail(reader, int(str(pk)))
        run, arts = detail.run, detail.artifacts
        fields = (
            "run_id", "job_type", "started_at", "finished_at", "credits_total", "prompt_tokens",
            "completion_tokens", "items_processed", "retry_count", "has_max_items_config",
            "deployment_ref", "data_classification", "flags", "baseline_median", "multiplier",
            "severity", "misconfig_likelihood", "quarantined", "dispatch_blocked", "rerun_gate",
            "explanations",
        )  # fmt: skip
        out: dict[str, Any] = {f: getattr(run, f) for f in fields}
        out["scenario"] = run.scenario.key
        out["case"] = run.case.display_number if run.case else None
        out["artifacts"] = [
            {
                "uri": a.uri,
                "sha256": a.sha256 or None,
                "quarantine_path": a.quarantine_path,
                "check": artifacts.verify_quarantined(
                    a.uri, a.quarantine_path, a.sha256 or None
                ).detail
                if a.quarantine_path and not a.released_at
                else None,
            }
            for a in arts
        ]
        return json.loads(json.dumps(out, default=str))


async def _list_runs(
    settings: Settings, org: str, severities: list[str], since: datetime | None, limit: int
) -> list[tuple[str, ...]]:
    from riskops.server.credit.runs import RunFilter, list_runs

    async with database(settings):
        principal = await _org_principal(org)
        viewer = dataclass_replace(principal, roles=frozenset({"viewer"}))
        page = await list_runs(viewer, RunFilter(severities=severities, since=since), first=limit)
        return [
            (
                format_ts(r.started_at)[:19] + "Z",
                r.run_id,
                r.scenario.key,
                f"{r.credits_total:,.2f}",
                "-" if r.multiplier is None else f"{r.multiplier:.2f}x",
                r.severity.value
                if r.severity
                else ("no baseline" if "no_baseline" in r.flags else "-"),
                r.case.display_number if r.case else "-",
                "quarantined" if r.quarantined else "",
            )
            for r in page.runs
        ]


@runs_app.command("list")
def runs_list_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    severity: Annotated[
        list[str] | None,
        typer.Option("--severity", help="SEV0..SEV3 or none; repeat for several."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Started at or after (ISO 8601).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200)] = 50,
) -> None:
    """The ledger, newest first (e.g. the daily check: no unacknowledged SEV0/SEV1 —
    `--severity SEV0 --severity SEV1 --since 2024-01-23`)."""
    rows = asyncio.run(
        _list_runs(_settings(ctx), org, list(severity or []), parse_when(since, "--since"), limit)
    )
    table = Table("started", "run", "scenario", "credits", "x baseline", "severity", "case", "")
    for row in rows:
        table.add_row(*row)
    out.print(table)
    typer.echo(f"{len(rows)} run(s).")


async def _verify_artifacts(settings: Settings, org: str, days: int) -> list[tuple[str, str, str]]:
    from datetime import timedelta

    from riskops.server.credit import artifacts
    from riskops.server.credit.models import RunArtifact

    async with database(settings):
        principal = await _org_principal(org)
        since = datetime.now(UTC) - timedelta(days=days)
        rows = await RunArtifact.filter(
            run__org_id=principal.org_id, run__recorded_at__gte=since
        ).select_related("run")
        out_rows = []
        for a in rows:
            if not artifacts.is_managed(a.uri):
                continue
            if a.quarantine_path and a.released_at is None:
                check = artifacts.verify_quarantined(a.uri, a.quarantine_path, a.sha256 or None)
                state = "ok" if check.ok else "MISMATCH"
                out_rows.append((a.run.run_id, a.uri, f"{state}: {check.detail} (quarantined)"))
                continue
            path = artifacts.stored_path(a.uri)
            if not path.exists():
                out_rows.append((a.run.run_id, a.uri, "MISMATCH: missing from the store"))
                continue
            actual = artifacts.sha256_of(path)
            ok = not a.sha256 or actual == a.sha256
            detail = f"SHA-256 {actual}" + ("" if ok else f", recorded {a.sha256}")
            out_rows.append((a.run.run_id, a.uri, ("ok: " if ok else "MISMATCH: ") + detail))
        return out_rows


@runs_app.command("verify-artifacts")
def runs_verify_artifacts_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    days: Annotated[
        int, typer.Option("--days", min=1, max=3650, help="Runs recorded in the last N days.")
    ] = 1,
) -> None:
    """Re-hash the artifacts riskops holds for recent runs (stored or quarantined) against their
    recorded SHA-256 (the runbook's daily check); exit 1 on any mismatch."""
    rows = asyncio.run(_verify_artifacts(_settings(ctx), org, days))
    for run_id, uri, result in rows:
        typer.echo(f"{run_id}  {uri}  {result}")
    bad = [r for r in rows if r[2].startswith("MISMATCH")]
    typer.echo(f"{len(rows)} artifact(s) checked, {len(bad)} mismatch(es).")
    if bad:
        raise CliError(f"{len(bad)} artifact(s) do not match their recorded SHA-256.")


@runs_app.command("show")
def runs_show_cmd(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id as recorded (e.g. RUN-123).")],
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
) -> None:
    """Print a run record as JSON (for jq): classification, flags, dispatch_blocked, and each
    quarantined artifact's SHA-256 re-verified."""
    typer.echo(json.dumps(asyncio.run(_show_run(_settings(ctx), org, run_id)), indent=2))


async def _generate_demo(settings: Settings, org: str, count: int, seed: int) -> DemoResult:
    from riskops.server.triage.demo import generate_demo_alerts

    async with database(settings):
        principal = await _org_principal(org)
        with _progress(count, "generating alerts") as (progress, task):
            return await generate_demo_alerts(
                principal, count, seed=seed, on_progress=lambda k: progress.advance(task, k)
            )


@demo_app.command("generate")
def demo_generate_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    alerts: Annotated[int, typer.Option("--alerts", min=1, help="How many alerts.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same alerts).")] = 42,
) -> None:
    """Generate synthetic alerts in bulk (idempotent per seed: existing ones are skipped)."""
    result = asyncio.run(_generate_demo(_settings(ctx), org, alerts, seed))
    typer.echo(
        f"Created {result.created} alert(s) with {result.rule_hits} rule hit(s) and "
        f"{result.signals} signal(s); {result.existing} already existed."
    )
    typer.echo(
        f"{result.seconds:.1f} s"
        + (f", {result.per_second:,.0f} alerts/s." if result.created else ".")
    )


# --------------------------------------------------------------------------- audit


async def _flush(announce: bool = True) -> int:
    stored = await store.flush_spool()
    if stored and announce:
        err.print(f"Flushed {stored} spooled audit event(s) into the store.")
    return stored


async def _require_chain(org_id: int) -> None:
    from riskops.audit.verify import org_ids

    if org_id not in await org_ids():
        raise CliError(f"organization {org_id} has no audit chain (check the id).")


@contextmanager
def _progress(total: int, what: str) -> Iterator[tuple[Progress, TaskID]]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        yield progress, progress.add_task(what, total=total)


async def _verify(settings: Settings, org: int | None) -> list[Verification]:
    from riskops.audit.verify import org_ids, verify_org

    async with database(settings):
        await _flush()
        if org is not None:
            await _require_chain(org)
        ids = [org] if org is not None else await org_ids()
        results: list[Verification] = []
        events = 0
        with _progress(len(ids), "verifying audit chains") as (progress, task):
            for org_id in ids:
                results.append(await verify_org(org_id, settings.key))
                events += results[-1].events_checked
                progress.update(task, advance=1, description=f"verified {events} events")
    return results


@audit_app.command("verify")
def audit_verify_cmd(
    ctx: typer.Context,
    org: Annotated[
        int | None, typer.Option("--org", help="Organization id; default: every chain.")
    ] = None,
) -> None:
    """Verify hash chains and checkpoints; exit 1 naming the first bad seq if any is broken."""
    results = asyncio.run(_verify(_settings(ctx), org))
    for result in results:
        typer.echo(result.describe())
    broken = [r for r in results if not r.ok]
    if broken:
        first = broken[0]
        raise CliError(
            f"{len(broken)} of {len(results)} audit chain(s) BROKEN; the first is org "
            f"{first.org_id}, first bad seq {first.first_bad_seq}."
        )
    err.print(f"All {len(results)} audit chain(s) verify.")


def parse_when(value: str | None, flag: str) -> datetime | None:
    """An ISO 8601 date or time; without a zone it is taken as UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CliError(
            f"{flag}: '{value}' is not an ISO 8601 date or time "
            "(like 2026-01-31 or 2026-01-31T12:00:00Z)."
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def _write_export(
    org: int, since: datetime | None, until: datetime | None, sink: TextIO
) -> int:
    from riskops.audit.export import export_events

    count = 0
    async for line in export_events(org, since, until):
        sink.write(line + "\n")
        count += 1
    sink.flush()
    return count


async def _export(
    settings: Settings,
    org: int,
    since: datetime | None,
    until: datetime | None,
    output: Path | None,
) -> int:
    async with database(settings):
        await _flush()
        await _require_chain(org)
        if output is None:
            count = await _write_export(org, since, until, sys.stdout)
        else:
            with output.open("w", encoding="utf-8") as fh:
                count = await _write_export(org, since, until, fh)
        # Recorded after the lines are written: the export itself is the chain's next event.
        detail = {
            "since": format_ts(since) if since else None,
            "until": format_ts(until) if until else None,
            "events": count,
        }
        await store.emit(
            cli_actor(org),
            Entry("audit.export", "audit_chain", org, {}, detail, RiskLevel.MEDIUM),
        )
    return count


@audit_app.command("export")
def audit_export_cmd(
    ctx: typer.Context,
    org: Annotated[int, typer.Option("--org", help="Organization id.")],
    since: Annotated[
        str | None, typer.Option(help="Only events at or after this ISO 8601 time (UTC default).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only events before this ISO 8601 time.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Export one organization's chain as JSON lines (the ARCHITECTURE.md contract), for a SIEM."""
    start, end = parse_when(since, "--since"), parse_when(until, "--until")
    if start and end and start >= end:
        raise CliError("--since must be earlier than --until.")
    settings = _settings(ctx)
    count = asyncio.run(_export(settings, org, start, end, output))
    where = str(output) if output else "stdout"
    err.print(f"Exported {count} event(s) of org {org} to {where}.", markup=False)


async def _checkpoint(settings: Settings) -> list[tuple[int, int, str]]:
    from riskops.audit.checkpoint import checkpoint_all

    async with database(settings):
        await _flush()
        made = await checkpoint_all(settings.key)
    return [(cp.org_id, cp.seq, cp.head_hash) for cp in made]


@audit_app.command("checkpoint")
def audit_checkpoint_cmd(ctx: typer.Context) -> None:
    """Sign a checkpoint of every chain whose head moved since its last checkpoint."""
    made = asyncio.run(_checkpoint(_settings(ctx)))
    for org_id, seq, head_hash in made:
        typer.echo(f"org {org_id}: checkpoint at seq {seq} (head {head_hash[:16]}…)")
    if not made:
        typer.echo("Every chain is already checkpointed at its head.")


async def _flush_spool(settings: Settings) -> tuple[int, int]:
    async with database(settings):
        stored = await _flush(announce=False)
    return stored, spool.depth()


@audit_app.command("flush-spool")
def audit_flush_spool_cmd(ctx: typer.Context) -> None:
    """Store the events spooled while the audit store was unavailable, in order."""
    stored, remaining = asyncio.run(_flush_spool(_settings(ctx)))
    typer.echo(f"Stored {stored} spooled event(s); {remaining} remain in the spool.")
    if remaining:
        raise CliError(f"{remaining} event(s) could not be stored yet; the store is failing.")


# --------------------------------------------------------------------------- status


@dataclass
class Check:
    name: str
    state: str  # ok | warn | fail | info
    detail: str


STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "info": "cyan"}


async def _redis_check(settings: Settings) -> Check:
    if not settings.redis_url:
        return Check("redis", "info", "not configured: jobs run in-process")
    from redis.asyncio import Redis

    client = Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except Exception as exc:
        return Check("redis", "fail", f"{redact(settings.redis_url)} unreachable: {exc}")
    finally:
        await client.aclose()
    return Check("redis", "ok", f"{redact(settings.redis_url)} reachable")


async def _counts_checks() -> list[Check]:
    from riskops.jobs.runner import queue_depth
    from riskops.server.identity.models import Organization, User, UserStatus

    users = await User.filter(deleted_at=None).count()
    active = await User.filter(deleted_at=None, status=UserStatus.ACTIVE).count()
    return [
        Check("job queue", "ok", f"{await queue_depth()} queued or running"),
        Check("organizations", "info", str(await Organization.all().count())),
        Check("users", "info", f"{users} ({active} active)"),
    ]


async def _chain_rows() -> list[tuple[str, ...]]:
    from riskops.audit.models import AuditCheckpoint, AuditHead
    from riskops.server.identity.models import Organization

    slugs = dict(await Organization.all().values_list("id", "slug"))
    rows: list[tuple[str, ...]] = []
    for head in await AuditHead.all().order_by("org_id").limit(STATUS_MAX_CHAINS):
        cp = await AuditCheckpoint.filter(org_id=head.org_id).order_by("-seq", "-id").first()
        checkpoint = f"seq {cp.seq} at {cp.ts}" if cp else "none yet"
        behind = str(head.seq - cp.seq) if cp else str(head.seq)
        slug = str(slugs.get(head.org_id, "(platform)" if head.org_id == 0 else "?"))
        rows.append((str(head.org_id), slug, str(head.seq), checkpoint, behind))
    return rows


async def _database_checks(settings: Settings) -> tuple[list[Check], list[tuple[str, ...]]]:
    where = redact(settings.db_url)
    try:
        async with database(settings, require_migrated=False):
            checks = [Check("database", "ok", f"{where} reachable")]
            state = await migration_state(settings)
            if state.pending:
                detail = f"{len(state.pending)} pending ({', '.join(state.pending)}): run migrate"
                checks.append(Check("migrations", "warn", detail))
                return checks, []
            checks.append(Check("migrations", "ok", f"up to date ({len(state.applied)} applied)"))
            return checks + await _counts_checks(), await _chain_rows()
    except CliError as exc:
        return [Check("database", "fail", exc.message)], []


async def _status(settings: Settings) -> tuple[list[Check], list[tuple[str, ...]]]:
    spool.configure(settings.spool_dir)
    checks = [Check("version", "info", f"riskops {__version__} ({settings.env})")]
    db_checks, chains = await _database_checks(settings)
    depth = spool.depth()
    spooled = Check(
        "audit spool",
        "warn" if depth else "ok",
        f"{depth} event(s) waiting: run `riskops audit flush-spool`" if depth else "empty",
    )
    return [*checks, *db_checks, await _redis_check(settings), spooled], chains


def _print_status(checks: list[Check], chains: list[tuple[str, ...]]) -> None:
    table = Table(title="riskops platform status")
    for column in ("check", "state", "detail"):
        table.add_column(column)
    for c in checks:
        table.add_row(c.name, f"[{STYLE[c.state]}]{c.state.upper()}[/]", c.detail)
    out.print(table)
    if chains:
        chain_table = Table(title="audit chains (latest checkpoint)")
        for column in ("org", "slug", "head seq", "latest checkpoint", "events since"):
            chain_table.add_column(column)
        for row in chains:
            chain_table.add_row(*row)
        out.print(chain_table)


@app.command("status")
def status_cmd(ctx: typer.Context) -> None:
    """Report database, migrations, Redis, audit spool, job queue, tenants and checkpoints.

    Exits 1 when the database, or a configured Redis, is unreachable.
    """
    checks, chains = asyncio.run(_status(_settings(ctx)))
    _print_status(checks, chains)
    failed = [c.name for c in checks if c.state == "fail"]
    if failed:
        raise CliError(f"unhealthy: {', '.join(failed)} (see the table above).")


# --------------------------------------------------------------------------- kill switches, outbox

killswitch_app = typer.Typer(
    help="Kill switches: alert suppression, backfill mode per scenario (approvers).",
    no_args_is_help=True,
)
app.add_typer(killswitch_app, name="killswitch")
outbox_app = typer.Typer(help="The notification outbox: deliver it now.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")


async def _killswitch_set(
    settings: Settings, org: str, email: str, name: str, scope: str, reason: str,
    expires: datetime | None,
) -> str:  # fmt: skip

    async with database(settings):
        principal = await user_principal(org, email)
        row = await kill_switches.set_kill_switch(principal, name, scope, reason, expires)
        until = f" until {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at else ""
        what = row.name + (f" for {row.scope}" if row.scope else "")
        return f"Kill switch {row.id} set: {what}{until}."


async def _killswitch_clear(
    settings: Settings, org: str, email: str, switch_id: int, reason: str
) -> str:

    async with database(settings):
        principal = await user_principal(org, email)
        row = await kill_switches.clear_kill_switch(principal, switch_id, reason)
        return f"Kill switch {row.id} ({row.name}{' ' + row.scope if row.scope else ''}) cleared."


async def _killswitch_list(
    settings: Settings, org: str, email: str, include_inactive: bool
) -> list[tuple[str, ...]]:

    async with database(settings):
        principal = await user_principal(org, email)
        now = datetime.now(UTC)
        rows = await kill_switches.list_kill_switches(principal, include_inactive)
        return [
            (
                str(s.id), s.name, s.scope or "-", kill_switches.switch_state(s, now),
                f"{s.set_at:%Y-%m-%d %H:%M}",
                f"{s.expires_at:%Y-%m-%d %H:%M}" if s.expires_at else "-",
                " ".join(s.reason.split())[:60],
            )
            for s in rows
        ]  # fmt: skip


@killswitch_app.command("set")
def killswitch_set_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="alert_suppression or backfill.")],
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    email: Annotated[str, typer.Option("--as", help="E-mail of the approver acting.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the switch).")],
    scenario: Annotated[str, typer.Option("--scenario", help="Scenario key (backfill only).")] = "",
    expires: Annotated[
        str | None, typer.Option("--expires", help="When it ends (ISO 8601, UTC if no zone).")
    ] = None,
) -> None:
    """Turn a kill switch on (audited), e.g. `riskops killswitch set alert_suppression --org acme
    --as o3@acme.test --reason "API outage storm" --expires 2024-01-23T18:00`."""
    when = parse_when(expires, "--expires") if expires else None
    message = asyncio.run(_killswitch_set(_settings(ctx), org, email, name, scenario, reason, when))
    typer.echo(message)


@killswitch_app.command("clear")
def killswitch_clear_cmd(
    ctx: typer.Context,
    switch_id: Annotated[int, typer.Argument(help="The switch id (see `killswitch list`).")],
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    email: Annotated[str, typer.Option("--as", help="E-mail of the approver acting.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is cleared.")],
) -> None:
    """Turn a kill switch off before it expires (audited)."""
    typer.echo(asyncio.run(_killswitch_clear(_settings(ctx), org, email, switch_id, reason)))


@killswitch_app.command("list")
def killswitch_list_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    email: Annotated[str, typer.Option("--as", help="E-mail of a user who may read runs.")],
    all_: Annotated[
        bool, typer.Option("--all", help="Include cleared and expired switches.")
    ] = False,
) -> None:
    """Kill switches in force (with --all, also the cleared and expired ones), newest first."""
    rows = asyncio.run(_killswitch_list(_settings(ctx), org, email, all_))
    table = Table("id", "switch", "scenario", "state", "set (UTC)", "expires (UTC)", "reason")
    for row in rows:
        table.add_row(*row)
    out.print(table)
    typer.echo(f"{len(rows)} switch(es).")


async def _outbox_deliver(settings: Settings) -> dict[str, int]:
    from riskops.server.notify.delivery import deliver_due

    async with database(settings):
        return (await deliver_due(settings=settings)).as_dict()


@outbox_app.command("deliver")
def outbox_deliver_cmd(ctx: typer.Context) -> None:
    """Run one delivery pass over the due notifications now (what the every-minute job does)."""
    settings = _settings(ctx)
    if not settings.webhooks:
        typer.echo("No webhook configured (RISKOPS_WEBHOOKS): due messages will be marked failed.")
    counts = asyncio.run(_outbox_deliver(settings))
    typer.echo(
        f"Sent {counts['sent']}, retrying {counts['retrying']}, failed {counts['failed']}"
        f" (skipped {counts['skipped']} claimed by another deliverer)."
    )


# --------------------------------------------------------------------------- reports

report_app = typer.Typer(
    help="Reports: the weekly credit review, written as JSON with its SHA-256.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")


@dataclass(frozen=True)
class WeeklyReportFile:
    name: str  # weekly_<date>.json
    body: bytes  # the stored canonical JSON
    sha256: str
    summary: dict[str, Any]


async def _weekly_report(
    settings: Settings, org: str, period_start: str | None, as_email: str | None
) -> WeeklyReportFile:
    from riskops.server.credit import reports

    async with database(settings):
        if as_email:
            principal: Principal = await user_principal(org, as_email)
        else:
            # The CLI itself (audited as the system actor "cli") with an operator's rights.
            principal = dataclass_replace(await _org_principal(org), roles=frozenset({"operator"}))
        day = reports.parse_period_start(period_start or reports.last_complete_week())
        report = await reports.generate_weekly_report(principal, day)
        f = await reports.report_file(principal, report.id)
        return WeeklyReportFile(f.filename, f.body, f.sha256, reports.summary_of(report))


def _write_report(output: Path, f: WeeklyReportFile) -> tuple[Path, Path]:
    output.mkdir(parents=True, exist_ok=True)
    path = output / f.name
    tmp = output / f".{f.name}.tmp"
    tmp.write_bytes(f.body)
    tmp.replace(path)
    sha_path = output / f"{f.name}.sha256"
    sha_path.write_text(f"{f.sha256}  {f.name}\n", encoding="utf-8")  # `sha256sum -c` format
    return path, sha_path


@report_app.command("weekly")
def report_weekly_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    period_start: Annotated[
        str | None,
        typer.Option(
            "--period-start",
            help="First day of the week (YYYY-MM-DD, 00:00 UTC, 7 days). "
            "Default: the last complete Monday-to-Monday week.",
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", help="Directory to write the report into.")
    ] = Path("runs/CREDIT_REVIEWS"),
    as_email: Annotated[
        str | None,
        typer.Option("--as", help="Generate as this user (needs report.generate)."),
    ] = None,
) -> None:
    """Generate (or fetch, when it exists) the weekly report and write weekly_<date>.json and
    weekly_<date>.json.sha256 (check with `sha256sum -c`)."""
    report = asyncio.run(_weekly_report(_settings(ctx), org, period_start, as_email))
    path, sha_path = _write_report(output, report)
    s = report.summary
    typer.echo(f"Report {s['report_id']}: {s['period_start']} to {s['period_end']}")
    typer.echo(f"Wrote {path}")
    typer.echo(f"Wrote {sha_path}")
    typer.echo(f"SHA-256 {s['sha256']}")
    counts = ", ".join(f"{k} {v}" for k, v in s["severity_counts"].items())
    typer.echo(f"Severity counts: {counts}")
    for t in s["top_scenarios"]:
        typer.echo(f"  {t['scenario']}: {t['total']:,.2f} credits")
    typer.echo(f"Policy violations: {s['violations']}. Baseline candidates: {s['candidates']}.")


# --------------------------------------------------------------------------- baselines

baseline_app = typer.Typer(
    help="Baselines of scenarios: calculate, propose and approve updates, set one by hand.",
    no_args_is_help=True,
)
app.add_typer(baseline_app, name="baseline")


def _calculation_lines(calc: Any) -> list[str]:
    cv = "n/a" if calc.cv is None else f"{calc.cv:.2f}"
    lines = [
        f"Calculated baseline for {calc.scenario.key}: {calc.median:.2f} "
        f"(from {calc.sample_size} healthy runs), CV {cv}"
    ]
    if calc.current is None:
        lines.append("No baseline in force yet: this would be the first one.")
    else:
        confirm = " (above the limit: approving needs --confirm-large-change)"
        lines.append(
            f"Baseline in force: {calc.current.median:.2f}; change {calc.change_pct:+.1f}%"
            + (confirm if calc.needs_confirmation else "")
        )
    return lines


async def _baseline_calculate(
    settings: Settings, org: str, scenario: str, days: int | None
) -> list[str]:
    from riskops.server.credit import baselines

    async with database(settings):
        principal = await _org_principal(org)
        reader = dataclass_replace(principal, roles=frozenset({"viewer"}))
        return _calculation_lines(await baselines.calculate_baseline(reader, scenario, days))


@baseline_app.command("calculate")
def baseline_calculate_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    scenario: Annotated[str, typer.Option("--scenario", help="The scenario key (exact).")],
    days: Annotated[
        int | None,
        typer.Option("--days", min=1, max=365, help="Window (default: the policy's, 30)."),
    ] = None,
) -> None:
    """Calculate a scenario's baseline from its healthy runs (not SEV0/SEV1, not quarantined).
    Changes nothing."""
    for line in asyncio.run(_baseline_calculate(_settings(ctx), org, scenario, days)):
        typer.echo(line)


async def _baseline_propose(
    settings: Settings, org: str, email: str, scenario: str, days: int | None, rationale: str
) -> list[str]:
    from riskops.server.credit import baselines

    async with database(settings):
        principal = await user_principal(org, email)
        change = await baselines.propose_baseline_update(principal, scenario, days, rationale)
        pct = "" if change.change_pct is None else f" ({change.change_pct:+.1f}%)"
        old = "none" if change.old_median is None else f"{change.old_median:.2f}"
        return [
            f"Proposed baseline change {change.id} for {scenario}: {old} -> "
            f"{change.new_median:.2f}{pct}, from {change.sample_size} healthy runs.",
            "An approver other than you approves it: riskops baseline update --approve.",
        ]


async def _baseline_approve(
    settings: Settings, org: str, email: str, scenario: str, rationale: str, confirm: bool
) -> list[str]:
    from riskops.server.credit import baselines

    async with database(settings):
        principal = await user_principal(org, email)
        reader = dataclass_replace(principal, roles=frozenset({"viewer"}))
        found = await baselines.get_scenario(reader, baselines.parse_scenario_key(scenario))
        proposal = await baselines.open_proposal(reader, found.id)
        if proposal is None:
            raise CliError(
                f"no open baseline proposal for {found.key}: propose one first "
                "(riskops baseline update without --approve)."
            )
        change = await baselines.approve_baseline_update(principal, proposal.id, rationale, confirm)
        return [
            f"Approved baseline change {change.id}: {found.key} baseline is now "
            f"{change.new_median:.2f} (approved at {change.decided_at:%Y-%m-%d %H:%M} UTC)."
        ]


@baseline_app.command("update")
def baseline_update_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    scenario: Annotated[str, typer.Option("--scenario", help="The scenario key (exact).")],
    email: Annotated[str, typer.Option("--as", help="E-mail of the person acting.")],
    rationale: Annotated[
        str, typer.Option("--rationale", help="Why (kept in the baseline history).")
    ],
    days: Annotated[
        int | None,
        typer.Option("--days", min=1, max=365, help="Window of the proposal (default 30)."),
    ] = None,
    approve: Annotated[
        bool, typer.Option("--approve", help="Approve the open proposal (an approver).")
    ] = False,
    confirm_large_change: Annotated[
        bool,
        typer.Option("--confirm-large-change", help="Confirm a change above 50% (--approve)."),
    ] = False,
) -> None:
    """Propose the calculated baseline (operators, approvers), or with --approve approve the
    open proposal (an approver other than the proposer)."""
    settings = _settings(ctx)
    if approve:
        if days is not None:
            raise CliError("--days applies to a proposal, not to --approve.")
        lines = asyncio.run(
            _baseline_approve(settings, org, email, scenario, rationale, confirm_large_change)
        )
    else:
        if confirm_large_change:
            raise CliError("--confirm-large-change applies to --approve.")
        lines = asyncio.run(_baseline_propose(settings, org, email, scenario, days, rationale))
    for line in lines:
        typer.echo(line)


async def _baseline_set(
    settings: Settings, org: str, email: str, scenario: str, median: float, rationale: str,
    confirm: bool,
) -> str:  # fmt: skip
    from riskops.server.credit import baselines

    async with database(settings):
        principal = await user_principal(org, email)
        change = await baselines.set_manual_baseline(
            principal, scenario, median, rationale, confirm
        )
        if change.status is approvals.ChangeStatus.PROPOSED:
            return (
                f"Proposed manual baseline for {scenario}: {change.new_median:.2f} (change "
                f"{change.id}); the baseline in force stays until an approver other than you "
                "approves it: riskops baseline update --approve."
            )
        return (
            f"Manual baseline for {scenario}: {change.new_median:.2f} (change {change.id}), "
            "in force."
        )


async def _baseline_reject(
    settings: Settings, org: str, email: str, scenario: str, reason: str
) -> str:
    from riskops.server.credit import baselines

    async with database(settings):
        principal = await user_principal(org, email)
        reader = dataclass_replace(principal, roles=frozenset({"viewer"}))
        found = await baselines.get_scenario(reader, baselines.parse_scenario_key(scenario))
        proposal = await baselines.open_proposal(reader, found.id)
        if proposal is None:
            raise CliError(f"no open baseline proposal for {found.key}: nothing to reject.")
        change = await baselines.reject_baseline_update(principal, proposal.id, reason)
        return f"Rejected baseline change {change.id} for {found.key}; the baseline in force stays."


@baseline_app.command("reject")
def baseline_reject_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    scenario: Annotated[str, typer.Option("--scenario", help="The scenario key (exact).")],
    email: Annotated[str, typer.Option("--as", help="E-mail of the approver acting.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the history).")],
) -> None:
    """Reject the open baseline proposal of a scenario (approvers; the proposer may withdraw
    their own)."""
    typer.echo(asyncio.run(_baseline_reject(_settings(ctx), org, email, scenario, reason)))


@baseline_app.command("set")
def baseline_set_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug of the organization.")],
    scenario: Annotated[str, typer.Option("--scenario", help="The scenario key (exact).")],
    median: Annotated[float, typer.Option("--median", help="Median credits, e.g. 1250.50.")],
    rationale: Annotated[str, typer.Option("--rationale", help="Why (kept in the history).")],
    email: Annotated[str, typer.Option("--as", help="E-mail of the approver acting.")],
    confirm_large_change: Annotated[
        bool, typer.Option("--confirm-large-change", help="Confirm a change above 50%.")
    ] = False,
) -> None:
    """Set a scenario's baseline by hand (approvers): "Baseline not found for scenario" with too
    few runs to calculate one."""
    typer.echo(
        asyncio.run(
            _baseline_set(_settings(ctx), org, email, scenario, median, rationale,
                          confirm_large_change)
        )
    )  # fmt: skip


# --------------------------------------------------------------------------- entry point


def main() -> None:
    """Run the CLI; expected failures become one line on stderr and a non-zero exit code."""
    try:
        app()
    except CliError as exc:
        _die(exc.message, exc.code)
    except ConfigError as exc:
        _die(str(exc))
    except DomainError as exc:
        _die(exc.message)
    except OSError as exc:
        _die(str(exc))


if __name__ == "__main__":
    main()
