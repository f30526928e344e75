"""The `riskops` command line: what an operator runs (the runbooks' commands).

Each command group is a module of this package; importing it registers its commands on the one
Typer app of `riskops.server.cli.common`. Expected failures (configuration, domain rules, an
unreachable database) end with one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

from riskops.jobs import catalog  # noqa: F401  (registers every job kind)
from riskops.server.cli import (  # noqa: F401  (importing a group registers its commands)
    access,
    alerts,
    assistant,
    audit,
    backups,
    baselines,
    controls,
    evidence,
    gdpr,
    maintenance,
    reports,
    response,
    retention,
    runs,
    serving,
    smoke,
    status,
    tokens,
    users,
    views,
)
from riskops.server.cli.common import CliError, _die, app
from riskops.server.core.errors import DomainError
from riskops.server.settings import ConfigError


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
