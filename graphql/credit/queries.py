"""Credit monitoring queries: the run ledger and a run's detail, scenarios and baselines, the
policy and kill switches, weekly reports. Every resolver calls one service."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated

import strawberry

from riskops.graphql.core.context import Info, or_none, principal, query
from riskops.graphql.core.inputs import value_of
from riskops.graphql.core.pagination import PageInfo
from riskops.graphql.credit.policy_types import (
    KillSwitch,
    Policy,
)
from riskops.graphql.credit.report_types import (
    PiiFalsePositiveRate,
    Report,
    ReportConnection,
    ReportEdge,
)
from riskops.graphql.credit.run_types import (
    ClassifiedUnder,
    RerunRequest,
    Run,
    RunArtifact,
    RunConnection,
    RunDetail,
    RunEdge,
    RunFilterInput,
)
from riskops.graphql.credit.scenario_types import (
    Baseline,
    BaselineCandidate,
    BaselinePrerequisites,
    ScenarioDetail,
    ScenarioSummary,
)
from riskops.server.core.principal import Principal
from riskops.server.credit import baselines, candidates, pii_rate, reports, scenarios
from riskops.server.credit import kill_switches as controls_kill_switches
from riskops.server.credit import models as rm
from riskops.server.credit import policy as controls
from riskops.server.credit import runs as runs_runs
from riskops.server.credit.models import PolicyVersion
from riskops.server.identity import users
from riskops.server.views import applying


async def run_nodes(info: Info, rows: Sequence[rm.Run]) -> list[Run]:
    """Nodes for runs, their scenario keys and case numbers batch-loaded for all of them."""
    loaders = info.context.run_loaders
    await loaders.load_for(rows)
    return [Run.of(r, loaders) for r in rows]


def _filter(f: RunFilterInput | None) -> runs_runs.RunFilter:
    if f is None:
        return runs_runs.RunFilter()
    return runs_runs.RunFilter(
        severities=list(f.severity or []),
        scenario=f.scenario,
        flag=value_of(f.flag),
        since=f.since,
        until=f.until,
        quarantined=f.quarantined,
    )


@strawberry.type
class RunsQuery:
    @strawberry.field(description="The run ledger, newest first, with keyset cursors.")
    async def runs(
        self,
        info: Info,
        filter: RunFilterInput | None = None,
        first: int = 50,
        after: str | None = None,
        view_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="A saved view of the runs ledger: its filters apply, and `filter` "
                "narrows them further (it never widens a view)."
            ),
        ] = None,
        updated_after: Annotated[
            datetime | None,
            strawberry.argument(
                description="Incremental sync: only runs changed after this time (exclusive), "
                "oldest change first on (updatedAt, id). Keep the last page's endCursor (or the "
                "last updatedAt seen) for the next pass; see docs/INTEGRATORS.md."
            ),
        ] = None,
    ) -> RunConnection:
        who = principal(info)
        within: list[runs_runs.RunFilter] = []
        if view_id is not None:
            _, in_view = await query(applying.run_filter_of(who, str(view_id)))
            within = [in_view]
        if updated_after is None:
            listed = runs_runs.list_runs(
                who, _filter(filter), first=first, after=after, within=within
            )
        else:
            listed = runs_runs.list_changed_runs(
                who, _filter(filter), updated_after, first=first, after=after, within=within
            )
        page = await query(listed)
        sync = updated_after is not None
        nodes = await run_nodes(info, page.runs)
        return RunConnection(
            edges=[
                RunEdge(cursor=runs_runs.encode_cursor(r, sync=sync), node=n)
                for r, n in zip(page.runs, nodes, strict=True)
            ],
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor),
        )

    @strawberry.field(
        description="One run with why it got its severity, its artifacts and reruns. "
        "Viewing it is recorded in the audit trail. Null when it does not exist."
    )
    async def run(self, info: Info, id: strawberry.ID) -> RunDetail | None:
        d = await or_none(runs_runs.get_run_detail(principal(info), str(id)))
        if d is None:
            return None
        main, *others = await run_nodes(
            info, [d.run, *d.reruns, *([d.rerun_of] if d.rerun_of else [])]
        )
        reruns = others[: len(d.reruns)]
        requests = {r.id: RerunRequest.of(r) for r in d.rerun_requests}
        open_request = d.open_rerun_request
        return RunDetail(
            run=main,
            artifacts=[RunArtifact.of(a) for a in d.artifacts],
            rerun_requests=list(requests.values()),
            open_rerun_request=requests[open_request.id] if open_request else None,
            reruns=reruns,
            rerun_of=others[len(d.reruns)] if d.rerun_of else None,
            classified_under=ClassifiedUnder.of(d.classified_under),
        )


@strawberry.type
class BaselinesQuery:
    @strawberry.field(
        description="Every scenario (at most 1000, by key) with its baseline, runs in the last "
        "30 days, last run and open baseline proposal."
    )
    async def scenarios(self, info: Info) -> list[ScenarioSummary]:
        rows = await query(scenarios.list_scenarios(principal(info)))
        return [ScenarioSummary.of(r) for r in rows]

    @strawberry.field(
        description="One scenario by its exact key, with baseline history, open proposal, "
        "candidate status (last 7 days) and credits of the last 90 days; null when unknown."
    )
    async def scenario(self, info: Info, key: str) -> ScenarioDetail | None:
        detail = await or_none(scenarios.get_scenario_detail(principal(info), key))
        return ScenarioDetail.of(detail) if detail is not None else None

    @strawberry.field(
        description="Whether a baseline update of the scenario may be proposed now, condition "
        "by condition (seed 002 prerequisites; the CV over the healthy runs of the last `days` "
        "days, default the policy's window; `manual`: as for setManualBaseline). Null when the "
        "scenario is unknown."
    )
    async def baseline_prerequisites(
        self, info: Info, scenario: str, days: int | None = None, manual: bool = False
    ) -> BaselinePrerequisites | None:
        found = await or_none(
            baselines.baseline_prerequisites(principal(info), scenario, days, manual=manual)
        )
        return BaselinePrerequisites.of(found) if found is not None else None

    @strawberry.field(description="The baseline in force of every scenario that has one.")
    async def baselines(self, info: Info) -> list[Baseline]:
        rows = await query(baselines.baselines_in_force(principal(info)))
        return [Baseline.of(r.baseline, r.scenario.key) for r in rows]

    @strawberry.field(
        description="Scenarios with runs in [periodStart, periodEnd) (default: the last 7 "
        "days) judged as baseline candidates: ≥ 10 runs, no SEV0/SEV1, CV < 0.3, median < 1.2x "
        "the current baseline (the policy's numbers). Candidates first."
    )
    async def baseline_candidates(
        self,
        info: Info,
        period_start: datetime | None = None,
        period_end: datetime | None = None,
    ) -> list[BaselineCandidate]:
        rows = await query(
            candidates.baseline_candidates(principal(info), period_start, period_end)
        )
        return [BaselineCandidate.of(c) for c in rows]


def people_of(rows: Iterable[PolicyVersion]) -> list[int | None]:
    return [i for r in rows for i in (r.set_by_id, r.decided_by_id)]


async def policy_of(p: Principal) -> Policy:
    current = await query(controls.get_policy(p))
    row = current.version
    changes = None
    if row is not None:
        versions = await query(controls.list_policy_versions(p))
        changes = controls.version_changes(versions).get(row.id)
    names = await users.names_of(p, people_of([row] if row else []))
    return Policy.of(current.number, current.policy, row, names, changes)


@strawberry.type
class ControlsQuery:
    @strawberry.field(description="The classification policy in force, with each value's meaning.")
    async def policy(self, info: Info) -> Policy:
        return await policy_of(principal(info))

    @strawberry.field(
        description="The stored policy versions, newest first, each with its status (PROPOSED, "
        "APPROVED, REJECTED) and what it changed."
    )
    async def policy_versions(self, info: Info) -> list[Policy]:
        p = principal(info)
        rows = await query(controls.list_policy_versions(p))
        names = await users.names_of(p, people_of(rows))
        changes = controls.version_changes(rows)
        return [Policy.of_row(r, names, changes.get(r.id)) for r in rows]

    @strawberry.field(
        description="The proposed version waiting for another approver (at most one), with "
        "its changes relative to the version in force; null when none is open."
    )
    async def policy_proposal(self, info: Info) -> Policy | None:
        p = principal(info)
        open_ = await query(controls.open_policy_proposal(p))
        if open_ is None:
            return None
        names = await users.names_of(p, people_of([open_.version]))
        return Policy.of_row(open_.version, names, open_.changes)

    @strawberry.field(
        description="Kill switches in force, newest first; with includeInactive also the "
        "cleared and expired ones."
    )
    async def kill_switches(self, info: Info, include_inactive: bool = False) -> list[KillSwitch]:
        p = principal(info)
        rows = await query(controls_kill_switches.list_kill_switches(p, include_inactive))
        names = await users.names_of(p, [i for s in rows for i in (s.set_by_id, s.cleared_by_id)])
        return [KillSwitch.of(s, names) for s in rows]


@strawberry.type
class ReportsQuery:
    @strawberry.field(description="Weekly reports of your organization, newest week first.")
    async def reports(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> ReportConnection:
        page = await query(reports.list_reports(principal(info), first=first, after=after))
        creators = await reports.creators(principal(info), page.items)
        return ReportConnection(
            edges=[
                ReportEdge(cursor=reports.page_cursor(r), node=Report.of(r, creators))
                for r in page.items
            ],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )

    @strawberry.field(
        description="The PII false-positive rate (seed 002 monthly check) of the runs started "
        "in [periodStart, periodEnd) (default: the 30 days up to now; at most 366 days): how "
        "many of those flagged pii_exposure or regulatory_data an approver declassified."
    )
    async def pii_false_positive_rate(
        self,
        info: Info,
        period_start: datetime | None = None,
        period_end: datetime | None = None,
    ) -> PiiFalsePositiveRate:
        found = await query(
            pii_rate.pii_false_positive_rate(principal(info), period_start, period_end)
        )
        return PiiFalsePositiveRate.of(found)

    @strawberry.field(
        description="One report with its JSON and SHA-256; viewing it is recorded in the audit "
        "trail. Null when it does not exist."
    )
    async def report(self, info: Info, id: strawberry.ID) -> Report | None:
        row = await or_none(reports.get_report(principal(info), str(id)))
        if row is None:
            return None
        return Report.of(row, await reports.creators(principal(info), [row]))
