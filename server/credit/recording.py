"""Recording the run ledger (seed 002) with its classification: the rules are in
`riskops.server.credit.classification`, the automatic actions they call for are applied by
`riskops.server.credit.auto_actions`; this module parses, classifies and stores a batch.

`record_runs` takes up to 1,000 runs per call. It is idempotent on (organization, run_id): a run
recorded before is reported unchanged. Invalid items are reported (index, field, message) while
the valid ones are recorded. In ONE transaction per call: the runs (scenarios created on first
sight), their artifacts, and the automatic actions the classification calls for —

    SEV0  quarantine the artifacts, block dispatch, open a case, notify #critical, rerun gate
    SEV1  open a case, notify #alerts, rerun gate
    SEV2  listed for the weekly review; a case (one open case per scenario) at the persistent
          pattern (3 SEV2 runs of the scenario in 7 days); rerun gate when misconfig is likely

— with their audit events and outbox messages. After the commit: quarantined files are moved
aside and the outbox is kicked. While the alert-suppression kill switch is on, notifications are
written as suppressed; runs are always recorded and classified.
"""

from __future__ import annotations

import bisect
import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from riskops.server.core.audit_trail import record
from riskops.server.core.errors import ErrorCode, Invalid, ItemError
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import lock_scoped, scoped
from riskops.server.credit import artifacts, kill_switches, ledger
from riskops.server.credit import policy as controls
from riskops.server.credit.auto_actions import (
    AfterCommit,
    RunItem,
    RunLinks,
    after_commit,
    apply_actions,
    use_rerun_requests,
)
from riskops.server.credit.classification import ScenarioStats, actions, classify
from riskops.server.credit.models import (
    Baseline,
    RerunRequest,
    RerunStatus,
    Run,
    RunArtifact,
    Scenario,
)
from riskops.server.credit.terms import AutoAction, Policy, Severity

log = logging.getLogger("riskops.runs")

MAX_BATCH = 1000
MAX_PAGE = 200
MAX_REASON = 2000

_RUN_COLUMNS = (
    "job_type", "started_at", "finished_at", "credits_total", "prompt_tokens",
    "completion_tokens", "items_processed", "retry_count", "has_max_items_config",
    "deployment_ref", "deployed_at",
)  # fmt: skip


# --- recording ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRun:
    index: int
    run_id: str
    pk: int
    severity: Severity | None
    actions: tuple[str, ...] = ()
    case_number: str | None = None


@dataclass
class RecordResult:
    batch_id: str
    recorded: list[RecordedRun] = field(default_factory=list)
    unchanged: list[RecordedRun] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)


def _item_errors(index: int, e: Invalid) -> list[ItemError]:
    listed = e.extra.get("errors") or [{"field": e.field, "message": e.message}]
    return [ItemError(index, str(x.get("field") or ""), str(x["message"])) for x in listed]


def _check_artifacts(data: dict[str, Any], org_id: int) -> None:
    for i, a in enumerate(data["artifacts"]):
        if artifacts.is_managed(a["uri"]):
            try:
                artifacts.check_owner(a["uri"], org_id)
            except Invalid as e:
                raise Invalid(e.message, field=f"artifacts[{i}].uri") from None


def _parse(items: Sequence[Any], result: RecordResult, org_id: int) -> list[RunItem]:
    parsed: list[RunItem] = []
    first_at: dict[str, int] = {}
    for index, raw in enumerate(items):
        try:
            data = ledger.parse_record(raw)
            _check_artifacts(data, org_id)
        except Invalid as e:
            result.errors.extend(_item_errors(index, e))
            continue
        seen = first_at.setdefault(data["run_id"], index)
        if seen != index:
            result.errors.append(
                ItemError(
                    index, "run_id",
                    f"run_id {data['run_id']!r} appears twice in this batch (items {seen} and "
                    f"{index}); a run is recorded once.",
                    ErrorCode.DUPLICATE,
                )
            )  # fmt: skip
            continue
        parsed.append(RunItem(index, data))
    return parsed


def check_batch(items: Any) -> None:
    if not isinstance(items, list):
        raise Invalid("input must be a list of runs.", field="input")
    if not items:
        raise Invalid("input is empty; send at least one run.", field="input")
    if len(items) > MAX_BATCH:
        raise Invalid(
            f"input has {len(items)} runs; send at most {MAX_BATCH} per call "
            "(split the ledger into batches).",
            field="input",
        )


async def record_runs(principal: Principal, items: list[Any]) -> RecordResult:
    """Record up to 1,000 runs with their classification and automatic actions (see the module
    docstring). One `run.record` audit event per call with the counts, and one per automatic
    action taken."""
    principal.require(Perm.RUN_RECORD)
    check_batch(items)
    result = RecordResult(batch_id=uuid.uuid4().hex)
    parsed = _parse(items, result, principal.org_id)
    parse_errors = list(result.errors)
    after = AfterCommit()
    if parsed:
        try:
            await _record_in_transaction(principal, parsed, result, after)
        except IntegrityError:
            # A concurrent call recorded one of these run_ids first: its runs stand; ours are
            # reported against the stored ones. The first attempt's findings are dropped.
            result.recorded.clear()
            result.unchanged.clear()
            result.errors[:] = parse_errors
            after = AfterCommit()
            for item in parsed:
                item.case, item.run, item.rerun_of, item.rerun_request = None, None, None, None
            await _record_in_transaction(principal, parsed, result, after)
    result.errors.sort(key=lambda e: e.index)
    await after_commit(after)
    return result


async def _record_in_transaction(
    principal: Principal, parsed: list[RunItem], result: RecordResult, after: AfterCommit
) -> None:
    now = datetime.now(UTC)
    org = principal.org_id
    async with in_transaction() as conn:
        known = await _known_runs(principal, conn, [p.data["run_id"] for p in parsed])
        fresh: list[RunItem] = []
        for item in parsed:
            stored = known.get(item.data["run_id"])
            if stored is not None:
                result.unchanged.append(
                    RecordedRun(item.index, stored.run_id, stored.id, stored.severity)
                )
            else:
                fresh.append(item)
        if not fresh:
            await _audit_batch(principal, conn, result, len(parsed))
            return
        policy_in_force = await controls.current_policy(org, conn)
        switches = await kill_switches.active_switches(org, now, conn)
        suppressed = kill_switches.suppression_on(switches)
        backfill = kill_switches.backfill_scenarios(switches)
        scenarios = await _scenarios(principal, conn, {i.data["scenario"] for i in fresh}, now)
        stats = await _stats(principal, conn, [s.id for s in scenarios.values()])
        fresh = await _check_reruns(principal, conn, fresh, result)
        policy = policy_in_force.policy
        for item in fresh:
            item.scenario = scenarios[item.data["scenario"]]
            if item.data["started_at"] is None:
                item.data["started_at"] = now
            # What the run touched, else what its scenario is configured to touch: the value
            # stored is the value classified (SEV0 needs PII or regulatory data).
            item.data["data_classification"] = (
                item.data["data_classification"] or item.scenario.data_classification
            )
            facts = ledger.run_facts(item.data, scenario_backfill=item.scenario.key in backfill)
            usual = stats.get(item.scenario.id, ScenarioStats())
            item.baseline_median = usual.baseline_median
            item.verdict = classify(facts, usual, policy)
        prior = await _prior_sev2(principal, conn, fresh, policy)
        for item in fresh:
            assert item.verdict is not None
            item.acts = actions(
                item.verdict, prior_sev2_runs=prior.get(item.index, 0), policy=policy
            )
        await _insert_runs(principal, conn, fresh, policy_in_force.number, now)
        await _insert_artifacts(principal, conn, fresh, after, now)
        await use_rerun_requests(principal, conn, fresh)
        links = RunLinks()
        for item in fresh:
            if item.acts:
                await apply_actions(principal, conn, item, suppressed, after, links, now)
        await links.write(principal, conn)
        for item in fresh:
            assert item.verdict is not None
            result.recorded.append(
                RecordedRun(
                    item.index, item.data["run_id"], item.pk, item.verdict.severity,
                    tuple(a.value for a in item.acts),
                    item.case.display_number if item.case else None,
                )
            )  # fmt: skip
        await _audit_batch(principal, conn, result, len(parsed))


async def _audit_batch(
    principal: Principal, conn: BaseDBAsyncClient, result: RecordResult, valid: int
) -> None:
    severities: dict[str, int] = defaultdict(int)
    for r in result.recorded:
        severities[r.severity.value if r.severity else "none"] += 1
    await record(
        principal, conn, "run.record", "run_batch", result.batch_id,
        new={"received": valid + len({e.index for e in result.errors}),
             "recorded": len(result.recorded), "unchanged": len(result.unchanged),
             "invalid": len({e.index for e in result.errors}), "severities": dict(severities)},
    )  # fmt: skip


async def _known_runs(
    principal: Principal, conn: BaseDBAsyncClient, run_ids: list[str]
) -> dict[str, Run]:
    rows = (
        await scoped(Run, principal)
        .filter(run_id__in=run_ids)
        .using_db(conn)
        .only("id", "run_id", "severity")
    )
    return {r.run_id: r for r in rows}


async def _scenarios(
    principal: Principal, conn: BaseDBAsyncClient, keys: set[str], now: datetime
) -> dict[str, Scenario]:
    """The scenarios by key, created on first sight (concurrent creators: the first one wins)."""
    found = {
        s.key: s
        for s in await scoped(Scenario, principal).filter(key__in=sorted(keys)).using_db(conn)
    }
    missing = sorted(keys - set(found))
    if missing:
        await Scenario.bulk_create(
            [Scenario(org_id=principal.org_id, key=k, name=k, created_at=now) for k in missing],
            ignore_conflicts=True,
            using_db=conn,
        )
        for s in await scoped(Scenario, principal).filter(key__in=missing).using_db(conn):
            found[s.key] = s
        await record(
            principal, conn, "scenario.create", "scenario", ",".join(missing)[:200],
            new={"keys": missing},
        )  # fmt: skip
    return found


async def _stats(
    principal: Principal, conn: BaseDBAsyncClient, scenario_ids: list[int]
) -> dict[int, ScenarioStats]:
    rows = await scoped(Baseline, principal).filter(scenario_id__in=scenario_ids).using_db(conn)
    return {
        b.scenario_id: ScenarioStats(b.median, b.credits_per_item, b.prompt_tokens) for b in rows
    }


async def _check_reruns(
    principal: Principal, conn: BaseDBAsyncClient, items: list[RunItem], result: RecordResult
) -> list[RunItem]:
    """A rerun must name a run of the organization; a rerun of a gated run needs an approved,
    unused rerun request (seed 002 "Rerun Approval Gates"). Refused items are reported."""
    wanted = sorted({i.data["rerun_of"] for i in items if i.data["rerun_of"]})
    if not wanted:
        return items
    originals = {
        r.run_id: r for r in await scoped(Run, principal).filter(run_id__in=wanted).using_db(conn)
    }
    gated = [r.id for r in originals.values() if r.rerun_gate]
    approved: dict[int, RerunRequest] = {}
    if gated:
        # Locked: a concurrent call that wants the same approval waits, then no longer sees it
        # as approved (one approval, one rerun).
        for found in (
            await scoped(RerunRequest, principal)
            .filter(run_id__in=gated, status=RerunStatus.APPROVED)
            .select_for_update()
            .using_db(conn)
            .order_by("decided_at")
        ):
            approved.setdefault(found.run_id, found)
    kept: list[RunItem] = []
    used: set[int] = set()
    for item in items:
        name = item.data["rerun_of"]
        if not name:
            kept.append(item)
            continue
        original = originals.get(name)
        if original is None:
            result.errors.append(
                ItemError(
                    item.index, "rerun_of",
                    f"rerun_of: run {name!r} not found; a rerun names a recorded run.",
                    ErrorCode.NOT_FOUND,
                )
            )  # fmt: skip
            continue
        req: RerunRequest | None = approved.get(original.id)
        if original.rerun_gate and (req is None or req.id in used):
            sev = original.severity.value if original.severity else "gated"
            result.errors.append(
                ItemError(
                    item.index, "rerun_of",
                    f"Run {name} ({sev}) needs an approved rerun request before a rerun is "
                    "recorded; request one (requestRerun) and have an approver approve it with "
                    "the mitigation.",
                    ErrorCode.FORBIDDEN,
                )
            )  # fmt: skip
            continue
        item.rerun_of = original
        if original.rerun_gate and req is not None:
            item.rerun_request = req
            used.add(req.id)
        kept.append(item)
    return kept


async def _prior_sev2(
    principal: Principal, conn: BaseDBAsyncClient, items: list[RunItem], policy: Policy
) -> dict[int, int]:
    """For each SEV2 item: SEV2 runs of its scenario in the `sev2_pattern_days` before it
    started, counting stored runs and earlier items of this batch."""
    sev2 = [i for i in items if i.verdict is not None and i.verdict.severity is Severity.SEV2]
    if not sev2:
        return {}
    window = timedelta(days=policy.sev2_pattern_days)
    starts = [i.data["started_at"] for i in sev2]
    assert all(i.scenario is not None for i in sev2)
    rows = (
        await scoped(Run, principal)
        .filter(
            scenario_id__in=sorted({i.scenario.id for i in sev2 if i.scenario}),
            severity=Severity.SEV2,
            started_at__gte=min(starts) - window,
            started_at__lte=max(starts),
        )
        .using_db(conn)
        .values_list("scenario_id", "started_at")
    )
    times: dict[int, list[datetime]] = defaultdict(list)
    for sid, at in rows:
        times[int(sid)].append(at)
    out: dict[int, int] = {}
    for item in sorted(sev2, key=lambda i: (i.data["started_at"], i.index)):
        assert item.scenario is not None
        seen = sorted(times[item.scenario.id])
        at = item.data["started_at"]
        lo = bisect.bisect_left(seen, at - window)
        hi = bisect.bisect_right(seen, at)
        out[item.index] = hi - lo
        times[item.scenario.id].append(at)
    return out


async def touch_run(
    principal: Principal, conn: BaseDBAsyncClient, run_pk: int, now: datetime
) -> None:
    """A change that shows on the run (its rerun requests): bump its `updated_at`, what
    `runs(updatedAfter:)` pages on, in the caller's transaction."""
    await scoped(Run, principal).filter(id=run_pk).using_db(conn).update(updated_at=now)


def _run_values(principal: Principal, item: RunItem, policy_number: int, now: datetime) -> dict:
    assert item.verdict is not None and item.scenario is not None
    v, d, acts = item.verdict, item.data, item.acts
    return {
        "org_id": principal.org_id,
        "run_id": d["run_id"],
        "scenario_id": item.scenario.id,
        "recorded_at": now,
        "updated_at": now,
        "data_classification": d["data_classification"],
        "producer_flags": sorted(d["risk_flags"]),
        "flags": [f.value for f in v.flags],
        "explanations": v.explanations,
        "baseline_median": item.baseline_median,
        "multiplier": v.multiplier,
        "severity": v.severity,
        "misconfig_likelihood": v.misconfig_likelihood.value,
        "policy_number": policy_number,
        "quarantined": AutoAction.QUARANTINE in acts,
        "quarantine_reason": None,
        "declassified_at": None,
        "declassified_by_id": None,
        "dispatch_blocked": AutoAction.BLOCK_DISPATCH in acts,
        "rerun_gate": AutoAction.ARM_RERUN_GATE in acts,
        "reported_severity": d["reported_severity"],
        "reported_dispatch_blocked": d["reported_dispatch_blocked"],
        "rerun_of_id": item.rerun_of.id if item.rerun_of else None,
        "case_id": None,
        "version": 1,
        **{c: d[c] for c in _RUN_COLUMNS},
    }


def _inserted() -> tuple[str, ...]:
    # Read when used: the foreign keys' columns join the projection at Tortoise.init.
    return tuple(name for name in Run._meta.fields_db_projection if name != "id")


def _insert_sql(dialect: str, names: tuple[str, ...]) -> str:
    cols = ", ".join(f'"{Run._meta.fields_db_projection[n]}"' for n in names)
    if dialect == "postgres":
        marks = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    else:
        marks = ", ".join("?" for _ in names)
    return f'INSERT INTO "{Run._meta.db_table}" ({cols}) VALUES ({marks})'


async def _insert_runs(
    principal: Principal,
    conn: BaseDBAsyncClient,
    items: list[RunItem],
    policy_number: int,
    now: datetime,
) -> None:
    """One multi-row insert per call, converted by Tortoise's own field converters (what
    bulk_create does) without building a model per run: at 500 runs a call, the models cost
    more than the classification."""
    fields_map = Run._meta.fields_map
    names = _inserted()
    values = [_run_values(principal, i, policy_number, now) for i in items]
    rows = [[fields_map[n].to_db_value(v[n], Run) for n in names] for v in values]
    await conn.execute_many(_insert_sql(conn.capabilities.dialect, names), rows)
    ids = dict(
        await scoped(Run, principal)
        .filter(run_id__in=[v["run_id"] for v in values])
        .using_db(conn)
        .values_list("run_id", "id")
    )
    for item, v in zip(items, values, strict=True):
        item.pk = int(ids[v["run_id"]])
        if item.acts:
            item.run = Run(id=item.pk, **v)
    # A rerun changes its original (the run lists its reruns): incremental sync shows it again.
    originals = sorted({v["rerun_of_id"] for v in values if v["rerun_of_id"] is not None})
    if originals:
        await scoped(Run, principal).filter(id__in=originals).using_db(conn).update(updated_at=now)


async def _insert_artifacts(
    principal: Principal,
    conn: BaseDBAsyncClient,
    items: list[RunItem],
    after: AfterCommit,
    now: datetime,
) -> None:
    rows: list[RunArtifact] = []
    for item in items:
        quarantine = AutoAction.QUARANTINE in item.acts
        for a in item.data["artifacts"]:
            qpath = None
            if quarantine and artifacts.is_managed(a["uri"]):
                qpath = artifacts.quarantine_path(principal.org_id, item.data["run_id"], a["uri"])
                after.quarantine.append((a["uri"], qpath))
            rows.append(
                RunArtifact(
                    run_id=item.pk,
                    uri=a["uri"],
                    sha256=a["sha256"] or "",
                    quarantine_path=qpath,
                    quarantined_at=now if quarantine else None,
                )
            )
    if rows:
        await RunArtifact.bulk_create(rows, batch_size=500, using_db=conn)


# --- reading -----------------------------------------------------------------------------------


# --- rerun requests ----------------------------------------------------------------------------


async def locked_run(principal: Principal, conn: BaseDBAsyncClient, run_pk: str | int) -> Run:
    return await lock_scoped(Run, principal, conn, run_pk, "Run")


# --- quarantine release ------------------------------------------------------------------------


def summary(result: RecordResult) -> Mapping[str, int]:
    return {
        "recorded": len(result.recorded),
        "unchanged": len(result.unchanged),
        "invalid": len({e.index for e in result.errors}),
    }
