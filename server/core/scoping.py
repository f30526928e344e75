"""Tenancy: the one entry point for queries of an organization's data, and its exceptions.

The rule. Every row an organization owns (a model with an `org` foreign key or an `org_id`
column, and the organization row itself) is read, updated, locked or deleted only through a
query started by `scoped(Model, principal)`, or `scoped(Model, org_id=...)` in code that acts
for an organization without a caller (jobs, the CLI after it resolved `--org`). Then an id of
another organization reads exactly like a missing one: `get_scoped` and `lock_scoped` turn both
into the same NotFound.

- Child rows without an organization column (rule hits, signals, info requests, case notes,
  case links, run artifacts) are reached through their parent: their query filters on the parent
  key (`alert_id=alert.id`, `run_id__in=ids`) with the id of a row read through `scoped`, or
  follows the relation of such a row (`case.notes`). `scoped` refuses them rather than join the
  parent on every read (rule hits and signals are read per queue page).
- Creating a row (`create`, `bulk_create`) is not a query: the service sets its `org_id`.
- `tests/core/test_tenancy_structure.py` walks `server/`, `graphql/`, `ui/` and `jobs/` and fails
  on any query of an organization's data that starts elsewhere, naming the file and line.
- Code whose point is to work across organizations, or before there is a principal, is listed in
  `UNSCOPED_QUERIES` below with its reason; the test fails on an entry that no longer matches.
  Migrations and `riskops.audit` (the chain's storage, always given an explicit org id) are not
  walked.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields.relational import BackwardFKRelation
from tortoise.models import Model
from tortoise.queryset import QuerySet

from riskops.server.core.errors import not_found
from riskops.server.core.principal import Principal

M = TypeVar("M", bound=Model)


@cache
def _org_column(model: type[Model]) -> str:
    """The column holding the organization of `model`'s rows, from its Tortoise metadata."""
    meta = model._meta
    if "org_id" in meta.fields_map or "org" in meta.fk_fields:
        return "org_id"
    # The organization itself: the model other rows point at with `org`, scoped by its own id.
    backward = (meta.fields_map[n] for n in meta.backward_fk_fields)
    if any(isinstance(f, BackwardFKRelation) and f.relation_field == "org_id" for f in backward):
        return "id"
    raise TypeError(
        f"{model.__name__} has no organization of its own: reach its rows through their parent "
        "(filter on the parent key with the id of a row read through scoped())."
    )


def scoped(
    model: type[M], principal: Principal | None = None, *, org_id: int | None = None
) -> QuerySet[M]:
    """The rows of `model` that belong to the caller's organization (or to `org_id`, for code
    acting without a caller): the start of every query of an organization's data."""
    if (principal is None) == (org_id is None):
        raise TypeError("scoped() needs either the principal or an explicit org_id")
    org = principal.org_id if principal is not None else org_id
    return model.filter(**{_org_column(model): org})


def parse_id(kind: str, raw: str | int) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise not_found(kind, raw) from None
    if value <= 0 or value > 2**31 - 1:
        raise not_found(kind, raw)
    return value


async def get_scoped(
    model: type[M],
    principal: Principal,
    raw_id: str | int,
    kind: str,
    conn: BaseDBAsyncClient | None = None,
) -> M:
    """The organization's row `raw_id` (read in the transaction `conn` when given); missing and
    another organization's read as the same not-found."""
    q = scoped(model, principal)
    obj = await (q.using_db(conn) if conn is not None else q).get_or_none(id=parse_id(kind, raw_id))
    if obj is None:
        raise not_found(kind, raw_id)
    return obj


async def lock_scoped(
    model: type[M],
    principal: Principal,
    conn: BaseDBAsyncClient,
    raw_id: str | int,
    kind: str,
    **narrower: Any,
) -> M:
    """The organization's row `raw_id` of `model`, locked until the transaction `conn` ends
    (FOR UPDATE on PostgreSQL); missing, another organization's or outside `narrower` (extra
    filters, e.g. a page's scenario) all read as the same not-found."""
    q = scoped(model, principal).filter(id=parse_id(kind, raw_id), **narrower)
    obj = await q.select_for_update().using_db(conn).first()
    if obj is None:
        raise not_found(kind, raw_id)
    return obj


# The deliberate exceptions, "path:function" -> why that function reads across organizations or
# before there is a principal. tests/core/test_tenancy_structure.py allows exactly these and fails
# when one no longer queries unscoped, so the list cannot rot.
_JOB_RUNNER = (
    "the job runner: a Job row is the system's record of queued work (system jobs have no "
    "organization), found by the UUID the queue delivers or the dedupe key the enqueuing code "
    "chose, never by an id a caller gives."
)
_OUTBOX = (
    "outbox delivery is a system job: one pass over the due messages of every organization (each "
    "message is then claimed and settled through scoped(..., org_id=msg.org_id))."
)

UNSCOPED_QUERIES: dict[str, str] = {
    "server/core/scoping.py:scoped": "the entry point itself: it adds the organization filter.",
    # Authentication: there is no principal until these have found one.
    "server/identity/auth.py:from_session": (
        "authentication: resolves a session cookie (by its hash) to the principal and touches "
        "that session; there is no principal yet."
    ),
    "server/identity/auth.py:from_bearer": (
        "authentication: resolves an API token (by its hash) to the principal and touches that "
        "token; there is no principal yet."
    ),
    "server/identity/challenges.py:challenge_of": (
        "authentication: resolves the second step's cookie (by its hash) to its login challenge; "
        "there is no principal yet (the user is then read through scoped(..., org_id=...))."
    ),
    "server/identity/expiry.py:purge": (
        "the daily job removes the login challenges and SSO attempts of every organization that "
        "expired a day ago: transient login state, not any organization's records."
    ),
    # One-time links (issue 14): the person is not signed in; the address or the link is all
    # there is to go on.
    # Single sign-on (issue 14): nobody is signed in yet; the organization is what the browser
    # names (its slug or the e-mail domain), the attempt is what the provider sends back.
    "server/identity/sso.py:available": (
        "the login page: whether any organization has single sign-on on (no principal yet)."
    ),
    "server/identity/sso.py:org_for_email": (
        "single sign-on: the organization whose allowed domain is the typed e-mail's (no "
        "principal yet)."
    ),
    "server/identity/sso.py:begin": (
        "single sign-on: the organization named by the sign-in link's slug (no principal yet)."
    ),
    "server/identity/sso.py:_claim_attempt": (
        "single sign-on: the attempt in flight found by the SHA-256 of its state, claimed once "
        "(no principal until the provider's answer is checked)."
    ),
    "server/identity/sso.py:_person": (
        "single sign-on: the person of the checked ID token, by subject or e-mail; the user is "
        "then required to be of the attempt's organization."
    ),
    "server/identity/links.py:_account_of": (
        "self-service password reset: finds the account of the e-mail address typed on the "
        "forgot-password page; there is no principal (the answer is the same either way)."
    ),
    "server/identity/links.py:_live_link": (
        "an invitation or reset link: finds the link by the SHA-256 of its token; there is no "
        "principal until the password is set."
    ),
    # Values unique across the installation: checking them must see every organization.
    "server/identity/users.py:insert_user": (
        "e-mail addresses are unique across organizations (login finds a user by e-mail alone), "
        "so the duplicate check sees them all; its message reveals nothing of the other one."
    ),
    "server/identity/orgs.py:_insert": (
        "slugs are unique across organizations: creating a tenant (CLI, seeding, tests) checks "
        "them all."
    ),
    "server/demo.py:seed_demo": (
        "the demo seeds only an empty installation: it asks whether any organization exists."
    ),
    # The CLI: the operator on the host names the organization; there is no principal before.
    "server/cli/common.py:find_org": (
        "the CLI's one organization lookup: --org names the organization by slug or id, before "
        "there is a principal (every command then acts through scoped)."
    ),
    "server/cli/status.py:_counts_checks": (
        "`riskops status` is the operator's view of the whole installation: it counts the "
        "organizations and the users of all of them."
    ),
    # Issue 15: the platform status and maintenance mode.
    "server/operations/status.py:chains": (
        "the platform status lists the audit chain head and last checkpoint of every "
        "organization on the machine (org_id None), else of the caller's and the platform's."
    ),
    "server/operations/status.py:open_runs_check": (
        "`riskops status` on the machine (org_id None) counts the open SEV0/SEV1 runs of every "
        "organization; with an organization the query starts on scoped()."
    ),
    "server/operations/status.py:kill_switch_check": (
        "`riskops status` on the machine (org_id None) lists the kill switches in force in "
        "every organization; with an organization the query starts on scoped()."
    ),
    "server/operations/maintenance.py:active_for": (
        "maintenance: the caller's organization's open period and the installation-wide one "
        "(org_id None, started on the machine), in one indexed query."
    ),
    "server/operations/maintenance.py:end_everywhere": (
        "maintenance: `riskops maintenance off` ends the installation-wide period (org_id None), "
        "which belongs to no organization."
    ),
    "server/operations/maintenance.py:open_periods": (
        "maintenance: `riskops status` and `riskops maintenance status` list the open periods "
        "of every organization on the machine."
    ),
    # Backups hold the whole installation (issue 15, h/backup).
    "server/operations/backups.py:_record_everywhere": (
        "a backup copies every organization's data, so its event goes into every "
        "organization's chain: it lists the organization ids."
    ),
    "server/operations/backups.py:backup_state": (
        "with no backup yet, /health asks when the oldest organization of the installation "
        "was created (its data is that old)."
    ),
    # System jobs that work through every organization.
    "server/operations/retention.py:enforce_all": (
        "the daily retention job lists the organizations that have a retention policy; each is "
        "then enforced through scoped(..., org_id=...)."
    ),
    "server/credit/jobs.py:generate_all": (
        "the weekly report job lists every organization; each report is then built through "
        "scoped(..., org_id=...)."
    ),
    "server/credit/kill_switches.py:expire_kill_switches": (
        "the scheduler finds the expired kill switches of every organization; each is then "
        "cleared through scoped(..., org_id=row.org_id)."
    ),
    "server/notify/outbox.py:kick": (
        "after a commit: whether any organization has a channel (a disabled one still closes "
        "its incidents), i.e. whether the installation has anything to deliver to; the job it "
        "queues delivers for every organization (no row is read or returned)."
    ),
    "server/notify/routing.py:_channels_of": (
        "outbox routing takes the messages of several organizations at once (the escalation "
        "pass): one query for the channels of exactly the organizations of those messages."
    ),
    "server/notify/routing.py:_triggered": (
        "outbox routing: the earlier PagerDuty triggers of the messages' keys, limited to the "
        "channels _channels_of read for the messages' own organizations (several at once)."
    ),
    "server/notify/delivery.py:deliver_due": _OUTBOX,
    "server/notify/delivery.py:_pending_ahead": (
        "outbox delivery: the pending messages of the channels and keys the pass's (or a "
        "delivery log page's) acknowledges and resolves are about, for the organizations of "
        "those messages (several in one pass): one query instead of one per message."
    ),
    "server/notify/delivery.py:_organizations": (
        "outbox delivery: the slug and name of the organizations of the messages it sends, for "
        "the webhook payload."
    ),
    "jobs/runner.py:enqueue": _JOB_RUNNER,
    "jobs/runner.py:create_job": _JOB_RUNNER,
    "jobs/runner.py:run_job": _JOB_RUNNER,
    "jobs/runner.py:queue_depth": "the job runner's queue depth counts the jobs of everyone.",
    # A child-row query that is scoped by the query around it.
    "server/triage/queue_filters.py:apply_filter": (
        "the rule-id filter is a subquery of alert ids inside the organization's scoped alert "
        "query, so only that organization's alerts match; joining the alert table again inside "
        "it would slow the queue filtered by a common rule (bench_alert_queue, VEL-001)."
    ),
}
