"""What the command groups of `riskops` share: the one Typer app and its global flags, the
settings, database sessions, who acts (the CLI principal, the one `--org` lookup: slug or id),
progress bars and parsing of times.

Every command loads the settings (environment plus the global `--database-url` / `--var-dir`
flags) and installs them before touching anything else. Expected failures raise `CliError`,
which `main` turns into one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, NoReturn
from urllib.parse import urlsplit, urlunsplit

import pydantic
import typer
import typer.main
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
)
from tortoise.connection import get_connection
from tortoise.migrations.executor import MigrationExecutor
from typer._click.core import Command, Context  # typer vendors click: its classes, not click's
from typer._click.exceptions import UsageError
from typer._click.formatting import HelpFormatter
from typer.core import TyperCommand, TyperGroup

from riskops import __version__
from riskops.audit import store
from riskops.audit.types import Actor
from riskops.server.core.errors import NotFound
from riskops.server.core.permissions import Role
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import parse_id
from riskops.server.db import close_db, init_db
from riskops.server.identity import auth
from riskops.server.identity.models import Organization
from riskops.server.identity.orgs import SLUG_RE
from riskops.server.settings import (
    ConfigError,
    Settings,
    load_settings,
    tortoise_config,
    use_settings,
)

# --------------------------------------------------------------------------- lazy command groups

# Top-level command name -> (module of this package that registers it, its line in `--help`).
# `riskops.server.cli.main.COMMANDS` fills it; `LazyGroup` imports a module only when one of its
# commands runs, so a command pays for its own imports only (not every group's, nor the jobs).
LAZY: dict[str, tuple[str, str]] = {}


class LazyGroup(TyperGroup):
    """The root group: knows every command by name (from `LAZY`) and imports the module that
    registers it on first use. Listing the commands (`riskops --help`) imports nothing: a command
    not yet loaded is shown by its line in `LAZY`."""

    _listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return list(dict.fromkeys([*LAZY, *super().list_commands(ctx)]))

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in LAZY:
            return found
        module, line = LAZY[cmd_name]
        if self._listing:
            return TyperCommand(cmd_name, short_help=line, help=line)
        self.load(module)
        return super().get_command(ctx, cmd_name)

    def load(self, module: str) -> None:
        """Import `module` (it registers its commands on `app`) and add what it registered."""
        importlib.import_module(f"{__package__}.{module}")
        fresh = typer.main.get_command(app)
        assert isinstance(fresh, TyperGroup)
        for name, command in fresh.commands.items():
            self.commands.setdefault(name, command)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            # "Did you mean …?" from every command, loaded or not.
            close = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if close and "Did you mean" not in exc.message:
                hint = ", ".join(map(repr, close))
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {hint}?"
            raise


def load_every_group() -> TyperGroup:
    """Import every command module and return the complete root group (docs tests, the test
    zygote): what `riskops --help` lists, each command real."""
    for module in dict.fromkeys(m for m, _ in LAZY.values()):
        importlib.import_module(f"{__package__}.{module}")
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    return group


app = typer.Typer(
    name="riskops",
    help="Risk Operations Platform: run it, prepare it, and operate its audit trail.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
)

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

CLI_ACTOR = "cli"
DB_TIMEOUT_SECONDS = 10.0


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


# --------------------------------------------------------------------------- who acts


class CliPrincipal(Principal):
    """The command line acting in one organization with the roles a command needs. Its audit
    events name the CLI (a system actor), not a user account that does not exist."""

    @property
    def actor(self) -> Actor:
        return cli_actor(self.org_id)


def cli_actor(org_id: int) -> Actor:
    return Actor(org_id=org_id, actor=CLI_ACTOR, actor_type="system")


def cli_admin(org_id: int) -> CliPrincipal:
    """The CLI as an administrator of the organization `org_id`."""
    return CliPrincipal(user_id=0, org_id=org_id, roles=frozenset({Role.ADMIN.value}))


def no_such_org(key: str) -> str:
    """The one message for an `--org` that names no organization."""
    return f"no organization with slug or id '{key.strip().lower()}' (see `riskops status`)"


async def find_org(key: str) -> Organization | None:
    """The organization `--org` names: its slug, or its id (a number that is not the slug of an
    organization). The CLI's one lookup across organizations: it is what picks the tenant."""
    text = key.strip().lower()
    org = await Organization.get_or_none(slug=text) if SLUG_RE.match(text) else None
    if org is None and text.isascii() and text.isdigit():
        with suppress(NotFound):  # out of the id range: no organization has it
            org = await Organization.get_or_none(id=parse_id("Organization", text))
    return org


async def resolve_org(key: str) -> Organization:
    org = await find_org(key)
    if org is None:
        raise CliError(no_such_org(key) + ".")
    return org


async def org_principal(key: str, role: Role = Role.ADMIN) -> CliPrincipal:
    """The CLI acting in the organization `key` (slug or id) with one role: an admin to put
    data in, a viewer to read, an operator to generate a report."""
    org = await resolve_org(key)
    return CliPrincipal(user_id=0, org_id=org.id, roles=frozenset({role.value}))


async def user_principal(key: str, email: str) -> Principal:
    """An active user of the organization `key` (slug or id), acting from the command line with
    their own roles (approvals need a person: maker-checker compares who asked with who
    approves)."""
    org = await resolve_org(key)
    principal = await auth.person(org.id, email, auth.ClientInfo(user_agent="riskops-cli"))
    if principal is None:
        raise CliError(f"no active user '{email}' in organization '{org.slug}' (check --as).")
    return principal


# --------------------------------------------------------------------------- audit


async def _flush(announce: bool = True) -> int:
    stored = await store.flush_spool()
    if stored and announce:
        err.print(f"Flushed {stored} spooled audit event(s) into the store.")
    return stored


@contextmanager
def _progress(total: int, what: str) -> Iterator[tuple[Progress, TaskID]]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        yield progress, progress.add_task(what, total=total)


# --------------------------------------------------------------------------- parsing


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
