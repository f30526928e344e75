"""The `riskops` command line: what an operator runs (the runbooks' commands).

Each command group is a module of this package; importing it registers its commands on the one
Typer app of `riskops.server.cli.common`. Modules are imported lazily: `COMMANDS` below names
every top-level command and the module that registers it, and the root group
(`common.LazyGroup`) imports that module only when one of its commands runs. `riskops backup
create` pays for the backup code and nothing else: not the other groups, not the job catalog
(the job runner loads the catalog itself the first time a command enqueues or runs a job,
`riskops.jobs.registry.load_all`). `riskops --help` imports no group.

**Adding a command group is one line** in `COMMANDS`: `"name": ("module", "Its line in --help.")`,
where the module (here, in `server/cli/`) registers `name` on `app` as today
(`app.add_typer(x_app, name="name")` or `@app.command("name")`). A test
(tests/cli/test_cli_loading.py) checks that every name registered by a module of this package is
listed here, with the right module (the help line is a summary: `riskops NAME --help` shows the
command's own help).

Expected failures (configuration, domain rules, an unreachable database) end with one line on
stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

from riskops.server.cli.common import LAZY, CliError, _die, app, load_every_group
from riskops.server.core.errors import DomainError
from riskops.server.settings import ConfigError

# Top-level command -> (module of riskops.server.cli registering it, its line in `riskops --help`).
# In the order `riskops --help` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("serving", "Apply migrations and serve the web app and GraphQL API."),
    "worker": ("serving", "Run an arq worker: executes queued jobs from Redis."),
    "migrate": ("serving", "Apply pending database migrations and say which."),
    "seed-demo": ("serving", "Create the demo organization, one login per role."),
    "smoke": ("smoke", "Post-deploy smoke test: health, login, GraphQL, a page, the audit."),
    "status": ("status", "The platform on one screen; exits non-zero when degraded."),
    "ack": ("response", "Acknowledge a SEV0/SEV1 run or case, as a named person."),
    "escalate": ("response", "Run the escalation pass now (the every-minute job)."),
    "create-user": ("users", "Create a user in an organization (audited as the CLI)."),
    "create-service-account": ("users", "Create a service account (cannot sign in)."),
    "create-service-token": ("users", "Mint an API token for a service account."),
    "access": ("access", "The access review (seed 003 DO-002): show it, record it."),
    "alerts": ("alerts", "Alerts: import them from JSON lines."),
    "demo": ("alerts", "Demo data: synthetic alerts in bulk."),
    "assistant": ("assistant", "The assistant: availability, test prompt, usage and cost."),
    "audit": ("audit", "The audit trail: verify, export, archive, checkpoint, flush."),
    "backup": ("backups", "Backups: create, verify, restore and list archives."),
    "baseline": ("baselines", "Baselines of scenarios: calculate, propose, approve, set."),
    "cases": ("cases", "Cases: archive resolved cases older than the policy's age."),
    "channels": ("channels", "Notification channels of an organization: list, test."),
    "killswitch": ("controls", "Kill switches: alert suppression, backfill mode per scenario."),
    "outbox": ("controls", "The notification outbox: deliver it now."),
    "evidence": ("evidence", "SOC 2-style evidence (seed 003 CO-001)."),
    "gdpr": ("gdpr", "GDPR requests: export, erase (maker-checker), list."),
    "maintenance": ("maintenance", "Read-only (maintenance) mode: on, off, status."),
    "policy": ("policy", "The classification policy: show, export, propose, decide."),
    "report": ("reports", "Reports: the weekly credit review, as JSON with its SHA-256."),
    "retention": ("retention", "Retention per organization: set, show, run."),
    "runs": ("runs", "Runs: import the ledger or a run tree, quarantine, show a run."),
    "scenarios": ("scenarios", "Scenario config files (config/scenarios/): import, export."),
    "token": ("tokens", "API tokens for automation."),
    "user": ("users", "People: list, invite, suspend, reactivate, reset password or MFA."),
    "views": ("views", "Saved views and their promotion to standard (seed 000 §3)."),
}
LAZY.update(COMMANDS)

__all__ = ["COMMANDS", "app", "load_every_group", "main"]


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
