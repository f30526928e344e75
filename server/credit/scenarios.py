"""Scenarios: the list with their baselines and recent activity, one scenario's page data (the
credits series for the chart, baseline history, open proposal, candidate status), and changing a
scenario's configuration (runbook: "Fix scenario config (max_items)").

Scenarios are created on first sight by the run record service; this module reads them and
changes their configuration. Baselines are `baselines.py`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import RawSQL
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from riskops.server.core import approvals, validation
from riskops.server.core.approvals import ChangeStatus, Decision
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict, Forbidden, Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.core.versioning import check_version, parse_version, write_versioned
from riskops.server.credit import baseline_rules, baselines
from riskops.server.credit import candidates as baselines_candidates
from riskops.server.credit.models import Baseline, BaselineChange, Run, Scenario
from riskops.server.credit.policy import current_policy
from riskops.server.credit.terms import DataClassification, Policy, Severity, severity_of

RECENT_DAYS = 30
SERIES_DAYS = 90
SERIES_MAX_POINTS = 1000
MAX_SCENARIOS = 1000
MAX_NAME = 200
MAX_TARGET = 500
MAX_ITEMS_LIMIT = 1_000_000_000
MAX_SCENARIO_KEY = 128
SCENARIO_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")  # the ledger's Scenario_ID


@dataclass(frozen=True)
class ScenarioSummary:
    scenario: Scenario
    baseline: Baseline | None
    runs_recent: int  # runs started in the last 30 days
    last_run_at: datetime | None
    open_proposal: BaselineChange | None


@dataclass(frozen=True)
class SeriesPoint:
    started_at: datetime
    credits_total: float
    severity: Severity | None


@dataclass(frozen=True)
class ScenarioDetail:
    scenario: Scenario
    baseline: Baseline | None
    history: list[BaselineChange]
    open_proposal: BaselineChange | None
    candidate: baselines_candidates.Candidate | None  # None: no runs in the last 7 days
    candidate_start: datetime
    candidate_end: datetime
    series: list[SeriesPoint]  # oldest first, the newest SERIES_MAX_POINTS of 90 days
    policy: Policy
    # The open proposal as this caller sees it (maker-checker); None when none is open.
    proposal_decision: Decision | None = None

    @property
    def proposal_needs_confirmation(self) -> bool:
        """Whether approving the open proposal needs confirm_large_change (the policy's rule)."""
        p = self.open_proposal
        return p is not None and baseline_rules.needs_confirmation(
            p.old_median, p.new_median, self.policy
        )


_LAST_RUN = (
    '(SELECT MAX("run"."started_at") FROM "run" WHERE "run"."org_id" = "scenario"."org_id" '
    'AND "run"."scenario_id" = "scenario"."id")'
)


async def scenario_keys(principal: Principal) -> list[str]:
    """The keys of the organization's scenarios, sorted (the pickers of scenario-scoped forms,
    such as backfill mode)."""
    principal.require(Perm.RUN_READ)
    keys = await scoped(Scenario, principal).order_by("key").values_list("key", flat=True)
    return [str(k) for k in keys]


async def list_scenarios(principal: Principal) -> list[ScenarioSummary]:
    """Every scenario of the organization (at most 1000, by key) with its baseline, runs in the
    last 30 days, last run and open baseline proposal."""
    principal.require(Perm.RUN_READ)
    rows = await scoped(Scenario, principal).order_by("key").limit(MAX_SCENARIOS)
    ids = [s.id for s in rows]
    if not ids:
        return []
    since = datetime.now(UTC) - timedelta(days=RECENT_DAYS)
    recent = dict(
        await scoped(Run, principal)
        .filter(scenario_id__in=ids, started_at__gte=since)
        .annotate(n=Count("id"))
        .group_by("scenario_id")
        .values_list("scenario_id", "n")
    )
    # One index lookup per scenario on (org_id, scenario_id, started_at), not a GROUP BY over
    # all of their runs: a correlated MAX reads only the newest entry of each.
    last = dict(
        await scoped(Scenario, principal)
        .filter(id__in=ids)
        .annotate(last=RawSQL(_LAST_RUN))
        .values_list("id", "last")
    )
    by_scenario = {b.scenario_id: b for b in await scoped(Baseline, principal)}
    proposals: dict[int, BaselineChange] = {}
    for c in await scoped(BaselineChange, principal).filter(status=ChangeStatus.PROPOSED):
        proposals.setdefault(c.scenario_id, c)
    return [
        ScenarioSummary(
            scenario=s,
            baseline=by_scenario.get(s.id),
            runs_recent=int(recent.get(s.id, 0)),
            last_run_at=_as_datetime(last.get(s.id)),
            open_proposal=proposals.get(s.id),
        )
        for s in rows
    ]


def _as_datetime(value: Any) -> datetime | None:
    """MAX(started_at) as a timezone-aware datetime (SQLite returns the stored text)."""
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if isinstance(value, datetime) else None
    parsed = datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


async def credits_series(principal: Principal, scenario: Scenario) -> list[SeriesPoint]:
    """The scenario's runs of the last 90 days as (started_at, credits_total, severity), oldest
    first; at most 1000 points, the newest kept."""
    since = datetime.now(UTC) - timedelta(days=SERIES_DAYS)
    rows = (
        await scoped(Run, principal)
        .filter(scenario_id=scenario.id, started_at__gte=since)
        .order_by("-started_at", "-id")
        .limit(SERIES_MAX_POINTS)
        .values_list("started_at", "credits_total", "severity")
    )
    return [
        SeriesPoint(started_at=t, credits_total=float(c), severity=severity_of(s))
        for t, c, s in reversed(rows)
    ]


async def get_scenario_detail(principal: Principal, scenario_key: str) -> ScenarioDetail:
    """A scenario with its baseline, history, open proposal, candidate status over the last 7
    days and the credits series of the last 90 days."""
    principal.require(Perm.RUN_READ)
    key = baselines.parse_scenario_key(scenario_key)
    scenario = await baselines.get_scenario(principal, key)
    policy = (await current_policy(principal.org_id)).policy
    end = datetime.now(UTC)
    start = end - timedelta(days=baselines_candidates.CANDIDATE_DAYS)
    candidates = await baselines_candidates.candidates_in_period(
        principal.org_id, start, end, policy, scenario_ids=[scenario.id]
    )
    proposal = await baselines.open_proposal(principal, scenario.id)
    return ScenarioDetail(
        scenario=scenario,
        baseline=await scoped(Baseline, principal).get_or_none(scenario_id=scenario.id),
        history=await baselines.baseline_history(principal, key),
        open_proposal=proposal,
        candidate=next((c for c in candidates if c.scenario_id == scenario.id), None),
        candidate_start=start,
        candidate_end=end,
        series=await credits_series(principal, scenario),
        policy=policy,
        proposal_decision=(
            approvals.decision_for(principal, Perm.BASELINE_APPROVE, proposal.proposed_by_id)
            if proposal is not None
            else None
        ),
    )


# --- configuration -------------------------------------------------------------------------------


def parse_name(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid("Name is required: how people call the scenario.", field="name")
    value = raw.strip()
    if len(value) > MAX_NAME:
        raise Invalid(
            f"Name is {len(value)} characters long; the limit is {MAX_NAME}.", field="name"
        )
    if any(ord(c) < 32 for c in value):
        raise Invalid("Name contains control characters; remove them.", field="name")
    return value


def parse_max_items(raw: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_ITEMS_LIMIT:
        raise Invalid(
            f"Max items must be a whole number from 1 to {MAX_ITEMS_LIMIT:,} (or empty for no "
            f"limit), not {raw!r}.",
            field="max_items",
        )
    return raw


def parse_classification(raw: Any) -> str:
    choices = validation.choices(DataClassification)
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid(
            f"Data classification is required; choose one of {choices}.",
            field="data_classification",
        )
    try:
        return DataClassification(raw.strip().lower()).value
    except ValueError:
        raise Invalid(
            f"Data classification '{raw}' is unknown; choose one of {choices}.",
            field="data_classification",
        ) from None


def parse_dispatch_target(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise Invalid("dispatch_target must be text.", field="dispatch_target")
    value = raw.strip()
    if len(value) > MAX_TARGET:
        raise Invalid(
            f"dispatch_target is {len(value)} characters long; the limit is {MAX_TARGET}.",
            field="dispatch_target",
        )
    if any(ord(c) < 32 for c in value):
        raise Invalid(
            "dispatch_target contains control characters; remove them.", field="dispatch_target"
        )
    return value or None


async def create_scenario(
    principal: Principal,
    scenario_key: str,
    *,
    name: str,
    max_items: int | None,
    data_classification: str,
    dispatch_target: str | None,
) -> Scenario:
    """Create a scenario with its configuration before any of its runs arrives (the seed's
    config/scenarios/<key>.json files; runs otherwise create theirs on first sight). The key
    follows the ledger's rule for scenario ids; an existing key is a Conflict."""
    principal.require(Perm.BASELINE_PROPOSE)
    key = baselines.parse_scenario_key(scenario_key)
    if not SCENARIO_KEY_RE.match(key) or len(key) > MAX_SCENARIO_KEY:
        raise Invalid(
            f"Scenario key {key[:MAX_SCENARIO_KEY]!r} may hold only letters, digits and _ . -, "
            f"starting with a letter or digit, at most {MAX_SCENARIO_KEY} characters (the "
            "ledger's Scenario_ID).",
            field="scenario_key",
        )
    values: dict[str, Any] = {
        "name": parse_name(name),
        "max_items": parse_max_items(max_items),
        "data_classification": parse_classification(data_classification),
        "dispatch_target": parse_dispatch_target(dispatch_target),
    }
    exists = Conflict(
        f"Scenario {key} already exists; change its configuration instead.", field="scenario_key"
    )
    try:
        async with in_transaction() as conn:
            if await scoped(Scenario, principal).filter(key=key).using_db(conn).exists():
                raise exists
            scenario = await Scenario.create(
                org_id=principal.org_id, key=key, created_at=datetime.now(UTC), version=1,
                using_db=conn, **values,
            )  # fmt: skip
            await record(
                principal, conn, "scenario.create", "scenario", scenario.id,
                new={"key": key, **values, "version": 1},
            )  # fmt: skip
    except IntegrityError:  # created meanwhile (a run of it, another import)
        raise exists from None
    return scenario


_SENSITIVITY = {"public": 0, "internal": 1, "confidential": 2, "pii": 3, "regulatory": 3}


async def update_scenario(
    principal: Principal,
    scenario_key: str,
    *,
    name: str,
    max_items: int | None,
    data_classification: str,
    dispatch_target: str | None,
    expected_version: int,
) -> Scenario:
    """Set a scenario's configuration (every field; max_items None = no limit). Stale
    `expected_version` is a Conflict; a request that changes nothing is refused."""
    principal.require(Perm.BASELINE_PROPOSE)
    key = baselines.parse_scenario_key(scenario_key)
    values: dict[str, Any] = {
        "name": parse_name(name),
        "max_items": parse_max_items(max_items),
        "data_classification": parse_classification(data_classification),
        "dispatch_target": parse_dispatch_target(dispatch_target),
    }
    expected = parse_version(expected_version, of="of the scenario ")
    async with in_transaction() as conn:
        scenario = await baselines.get_scenario(principal, key, conn)
        check_version(f"Scenario {key}", scenario.version, expected, verb="change it")
        changed = {k: v for k, v in values.items() if getattr(scenario, k) != v}
        if not changed:
            raise Invalid(
                "Nothing to change: every value equals the scenario's configuration.",
                field="name",
            )
        if (
            "data_classification" in changed
            and _SENSITIVITY[changed["data_classification"]]
            < _SENSITIVITY[scenario.data_classification]
            and not principal.can(Perm.POLICY_MANAGE)
        ):
            # What a scenario touches decides whether its spikes are SEV0: raising it is an
            # investigation finding, lowering it a governance decision.
            raise Forbidden(
                f"Lowering the data classification of {key} from "
                f"{scenario.data_classification} needs an approver (it decides whether a spike "
                "is SEV0); change the other fields, or ask an approver.",
                permission=Perm.POLICY_MANAGE.value,
            )
        old = {k: getattr(scenario, k) for k in changed}
        await write_versioned(
            scoped(Scenario, principal).filter(id=scenario.id), expected, conn,
            f"Scenario {key}", **changed, version=expected + 1,
        )  # fmt: skip
        for k, v in changed.items():
            setattr(scenario, k, v)
        scenario.version = expected + 1
        await record(
            principal, conn, "scenario.update", "scenario", scenario.id,
            old={**old, "version": expected},
            new={"key": key, **changed, "version": scenario.version},
        )  # fmt: skip
    return scenario
