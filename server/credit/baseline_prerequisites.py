"""The prerequisites of a baseline update (seed 002 "Baseline Update Procedure / Prerequisites"):
no SEV0/SEV1 run in the policy's quiet period, enough days of healthy runs, a CV within the policy
(`baseline_rules.baseline_prerequisites` decides; this module loads its inputs). `baselines`
checks them at proposal (propose, manual) and again at approval, which refuse (Conflict) naming
the failed ones, and shows them as a checklist before anyone submits (`baseline_prerequisites`,
`approval_prerequisites`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.functions import Max, Min

from riskops.server.core.errors import Conflict
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit import baseline_rules
from riskops.server.credit.models import BaselineChange, BaselineSource, Run, Scenario
from riskops.server.credit.terms import Policy, Severity, severity_of

SEV0_SEV1 = (Severity.SEV0.value, Severity.SEV1.value)
_HEALTHY_SEVERITIES = (Severity.SEV2.value, Severity.SEV3.value)


@dataclass(frozen=True)
class Prerequisites:
    """The conditions of a baseline update of a scenario, as the world is now."""

    scenario: Scenario
    conditions: list[baseline_rules.Prerequisite]
    manual: bool  # held to the conditions of a manual baseline (the quiet period alone)
    days: int  # the window the CV is taken over

    @property
    def met(self) -> bool:
        return all(c.met for c in self.conditions)

    @property
    def failed(self) -> list[baseline_rules.Prerequisite]:
        return [c for c in self.conditions if not c.met]

    def refusal(self, field: str, prefix: str = "", suffix: str = "", **extra: Any) -> Conflict:
        return Conflict(
            " ".join([prefix, *(c.message for c in self.failed), suffix]).strip(),
            field=field,
            prerequisites=[c.name for c in self.failed],
            **extra,
        )


def _as_date(value: Any) -> date | None:
    """MIN/MAX(started_at) as a UTC date (SQLite returns the stored text)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).date()


async def _severe_run(
    principal: Principal, scenario: Scenario, since: datetime, conn: BaseDBAsyncClient | None
) -> baseline_rules.SevereRun | None:
    q = scoped(Run, principal).filter(
        scenario_id=scenario.id, severity__in=SEV0_SEV1, started_at__gte=since
    )
    if conn is not None:
        q = q.using_db(conn)
    newest = (
        await q.order_by("-started_at", "-id")
        .first()
        .values_list("run_id", "severity", "started_at")
    )
    if newest is None:
        return None
    run_id, sev, started = newest
    return baseline_rules.SevereRun(
        str(run_id), severity_of(sev) or Severity.SEV0, started, await q.count()
    )


async def _healthy_span(
    principal: Principal, scenario: Scenario, conn: BaseDBAsyncClient | None
) -> tuple[date | None, date | None]:
    """First and last day of the scenario's healthy runs (is_healthy: not quarantined, not
    SEV0/SEV1; a run without severity counts), in one aggregate over its index."""
    q = (
        scoped(Run, principal)
        .filter(scenario_id=scenario.id, quarantined=False)
        .filter(Q(severity__isnull=True) | Q(severity__in=_HEALTHY_SEVERITIES))
        .annotate(first=Min("started_at"), last=Max("started_at"))
        .group_by("scenario_id")
    )
    if conn is not None:
        q = q.using_db(conn)
    rows = await q.values_list("first", "last")
    if not rows:
        return None, None
    first, last = rows[0]
    return _as_date(first), _as_date(last)


async def check_prerequisites(
    principal: Principal,
    scenario: Scenario,
    policy: Policy,
    now: datetime,
    conn: BaseDBAsyncClient | None,
    *,
    cv: float | None,
    cv_basis: str,
    days: int,
    manual: bool,
) -> Prerequisites:
    since = now - timedelta(days=policy.baseline_quiet_days)
    severe = await _severe_run(principal, scenario, since, conn)
    first, last = (None, None) if manual else await _healthy_span(principal, scenario, conn)
    conditions = baseline_rules.baseline_prerequisites(
        scenario.key, severe=severe, first_healthy=first, last_healthy=last, cv=cv,
        cv_basis=cv_basis, policy=policy, manual=manual,
    )  # fmt: skip
    return Prerequisites(scenario, conditions, manual, days)


async def change_prerequisites(
    principal: Principal,
    scenario: Scenario,
    change: BaselineChange,
    policy: Policy,
    now: datetime,
    conn: BaseDBAsyncClient | None = None,
) -> Prerequisites:
    """A proposal's prerequisites as the world is now: its CV (the numbers to approve) against
    the policy in force; a manual change is held to the quiet period alone."""
    return await check_prerequisites(
        principal, scenario, policy, now, conn, cv=change.cv,
        cv_basis=f"the {change.sample_size} healthy runs of change {change.id}",
        days=change.window_days or 0, manual=change.source is BaselineSource.MANUAL,
    )  # fmt: skip
