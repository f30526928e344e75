"""GraphQL for the run ledger: record runs, read the ledger and a run's detail, the rerun gate and
quarantine release. Every resolver calls one service in `server/services/runs.py`; expected
errors are data (`errors`, `itemErrors`)."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any

import strawberry

from riskops.graphql.context import Info, or_none, principal, query
from riskops.graphql.run_types import (
    ArtifactCheck,
    ClassifiedUnder,
    RecordedRun,
    RecordRunsPayload,
    ReleasePayload,
    RerunRequest,
    RerunRequestPayload,
    Run,
    RunArtifact,
    RunConnection,
    RunDetail,
    RunEdge,
    RunFilterInput,
    RunInput,
    RunItemError,
    run_input_dict,
)
from riskops.graphql.types import PageInfo, UserError
from riskops.server.core.errors import DomainError
from riskops.server.core.scoping import scoped
from riskops.server.credit import models as rm
from riskops.server.credit import quarantine
from riskops.server.credit import recording as runs
from riskops.server.credit import reruns as runs_reruns
from riskops.server.credit import runs as runs_runs
from riskops.server.triage.models import Case

MAX_RECORD = runs.MAX_BATCH


def _loaded(row: rm.Run, relation: str) -> tuple[bool, Any]:
    """Whether `relation` was loaded with the row (select_related / fetch_related), and it."""
    key = f"_{relation}"
    return key in row.__dict__, row.__dict__.get(key)


async def run_nodes(info: Info, rows: Sequence[rm.Run]) -> list[Run]:
    """Nodes for runs. Scenario keys and case numbers come with the rows the services loaded
    (select_related); only rows loaded without them cost one query per relation for all."""
    p = principal(info)
    keys: dict[int, str] = {}
    numbers: dict[int, str] = {}
    for r in rows:
        has, scenario = _loaded(r, "scenario")
        if has and scenario is not None:
            keys[r.scenario_id] = scenario.key
        has, case = _loaded(r, "case")
        if has and case is not None:
            numbers[case.id] = case.display_number
    missing_scenarios = sorted({r.scenario_id for r in rows} - set(keys))
    missing_cases = sorted({r.case_id for r in rows if r.case_id} - set(numbers))
    if missing_scenarios:
        keys.update(
            await scoped(rm.Scenario, p).filter(id__in=missing_scenarios).values_list("id", "key")
        )
    if missing_cases:
        for c in await scoped(Case, p).filter(id__in=missing_cases).only("id", "number"):
            numbers[c.id] = c.display_number
    return [
        Run.of(
            r,
            scenario_key=keys.get(r.scenario_id, ""),
            case_number=numbers.get(r.case_id) if r.case_id else None,
        )
        for r in rows
    ]


def _filter(f: RunFilterInput | None) -> runs_runs.RunFilter:
    if f is None:
        return runs_runs.RunFilter()
    return runs_runs.RunFilter(
        severities=list(f.severity or []),
        scenario=f.scenario,
        flag=f.flag.value if f.flag is not None else None,
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
    ) -> RunConnection:
        page = await query(
            runs_runs.list_runs(principal(info), _filter(filter), first=first, after=after)
        )
        nodes = await run_nodes(info, page.runs)
        return RunConnection(
            edges=[
                RunEdge(cursor=runs_runs.encode_cursor(r), node=n)
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


async def _rerun_payload(change: Awaitable[rm.RerunRequest]) -> RerunRequestPayload:
    try:
        req = await change
    except DomainError as exc:
        return RerunRequestPayload(errors=[UserError.of(exc)])
    return RerunRequestPayload(rerun_request=RerunRequest.of(req))


@strawberry.type
class RunsMutation:
    @strawberry.mutation(
        description=f"Record up to {MAX_RECORD} runs, idempotent on runId, each classified with "
        "its automatic actions (SEV0 quarantine and case, SEV1 case, notifications). Invalid "
        "or refused items are reported in itemErrors by index; the valid ones are recorded."
    )
    async def record_runs(self, info: Info, input: list[RunInput]) -> RecordRunsPayload:
        try:
            result = await runs.record_runs(principal(info), [run_input_dict(i) for i in input])
        except DomainError as exc:
            return RecordRunsPayload(errors=[UserError.of(exc)])

        def item(r: runs.RecordedRun) -> RecordedRun:
            return RecordedRun(
                index=r.index,
                run_id=r.run_id,
                id=strawberry.ID(str(r.pk)),
                severity=r.severity,
                actions=list(r.actions),
                case_number=r.case_number,
            )

        return RecordRunsPayload(
            batch_id=result.batch_id,
            recorded=[item(r) for r in result.recorded],
            unchanged=[item(r) for r in result.unchanged],
            item_errors=[
                RunItemError(index=e.index, field=e.field, code=e.code.value, message=e.message)
                for e in result.errors
            ],
        )

    @strawberry.mutation(description="Ask for a rerun of a gated run (operators, approvers).")
    async def request_rerun(
        self, info: Info, run_id: strawberry.ID, reason: str
    ) -> RerunRequestPayload:
        return await _rerun_payload(runs_reruns.request_rerun(principal(info), str(run_id), reason))

    @strawberry.mutation(
        description="Approve a rerun request with the mitigation applied (an approver who did "
        "not request it). The next rerun of the run is then recorded."
    )
    async def approve_rerun(
        self, info: Info, request_id: strawberry.ID, mitigation: str, expected_version: int
    ) -> RerunRequestPayload:
        return await _rerun_payload(
            runs_reruns.approve_rerun(
                principal(info), str(request_id), mitigation, expected_version=expected_version
            )
        )

    @strawberry.mutation(description="Deny a rerun request with the reason.")
    async def deny_rerun(
        self, info: Info, request_id: strawberry.ID, reason: str, expected_version: int
    ) -> RerunRequestPayload:
        return await _rerun_payload(
            runs_reruns.deny_rerun(
                principal(info), str(request_id), reason, expected_version=expected_version
            )
        )

    @strawberry.mutation(
        description="Release a quarantined run (approvers): its case must be resolved and every "
        "artifact riskops holds must still match its SHA-256. Unblocks dispatch."
    )
    async def release_quarantine(
        self, info: Info, run_id: strawberry.ID, reason: str, expected_version: int
    ) -> ReleasePayload:
        try:
            released = await quarantine.release_quarantine(
                principal(info), str(run_id), reason, expected_version=expected_version
            )
        except DomainError as exc:
            return ReleasePayload(errors=[UserError.of(exc)])
        (node,) = await run_nodes(info, [released.run])
        return ReleasePayload(
            run=node,
            checks=[
                ArtifactCheck(uri=c.uri, held=c.held, ok=c.ok, detail=c.detail)
                for c in released.checks
            ],
        )
