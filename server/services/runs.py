"""Runs: recording the ledger with its classification and automatic actions, the rerun gate and
quarantine release (seed 002). The rules are in `riskops.server.classification`; this module
applies them to the database.

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

import base64
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
from tortoise.expressions import Q, RawSQL
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server import artifacts, ledger
from riskops.server.classification import (
    AutoAction,
    Classification,
    Policy,
    RiskFlag,
    ScenarioStats,
    Severity,
    actions,
    classify,
)
from riskops.server.errors import Conflict, ErrorCode, Invalid, not_found
from riskops.server.models import Case, CaseSeverity, CaseStatus
from riskops.server.permissions import Perm
from riskops.server.principal import Principal
from riskops.server.run_models import (
    Baseline,
    PolicyVersion,
    RerunRequest,
    RerunStatus,
    Run,
    RunArtifact,
    Scenario,
)
from riskops.server.services import approvals, controls, outbox, validation
from riskops.server.services.alerts import ItemError
from riskops.server.services.audit_trail import access, record
from riskops.server.services.cases import note_in, open_case
from riskops.server.services.scoping import lock_scoped, parse_id, scoped

log = logging.getLogger("riskops.runs")

MAX_BATCH = 1000
MAX_PAGE = 200
MAX_REASON = 2000

CASE_SEVERITY = {
    Severity.SEV0: CaseSeverity.CRITICAL,
    Severity.SEV1: CaseSeverity.HIGH,
    Severity.SEV2: CaseSeverity.MEDIUM,
}
CLOSED_CASE = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED})
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


@dataclass
class _Item:
    index: int
    data: dict[str, Any]  # ledger.parse_record's output
    scenario: Scenario | None = None
    rerun_of: Run | None = None
    rerun_request: RerunRequest | None = None
    verdict: Classification | None = None
    baseline_median: float | None = None
    acts: tuple[AutoAction, ...] = ()
    pk: int = 0  # the stored run's id
    run: Run | None = None  # the stored run as a model, for items with automatic actions
    case: Case | None = None


@dataclass
class _After:
    """Side effects to run once the transaction has committed."""

    quarantine: list[tuple[str, str]] = field(default_factory=list)  # (uri, quarantine path)
    notify: bool = False


@dataclass
class _Links:
    """The cases a batch's runs join, written with one UPDATE per case after the batch's
    actions; each scenario's SEV2 pattern case is looked up once per batch."""

    pattern: dict[int, tuple[Case, bool]] = field(default_factory=dict)  # scenario -> case, new
    runs: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))  # case -> runs

    async def write(self, conn: BaseDBAsyncClient) -> None:
        for case_id, run_ids in self.runs.items():
            await Run.filter(id__in=run_ids).using_db(conn).update(case_id=case_id)


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


def _parse(items: Sequence[Any], result: RecordResult, org_id: int) -> list[_Item]:
    parsed: list[_Item] = []
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
        parsed.append(_Item(index, data))
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
    after = _After()
    if parsed:
        try:
            await _record_in_transaction(principal, parsed, result, after)
        except IntegrityError:
            # A concurrent call recorded one of these run_ids first: its runs stand; ours are
            # reported against the stored ones. The first attempt's findings are dropped.
            result.recorded.clear()
            result.unchanged.clear()
            result.errors[:] = parse_errors
            after = _After()
            for item in parsed:
                item.case, item.run, item.rerun_of, item.rerun_request = None, None, None, None
            await _record_in_transaction(principal, parsed, result, after)
    result.errors.sort(key=lambda e: e.index)
    await _after_commit(after)
    return result


async def _record_in_transaction(
    principal: Principal, parsed: list[_Item], result: RecordResult, after: _After
) -> None:
    now = datetime.now(UTC)
    org = principal.org_id
    async with in_transaction() as conn:
        known = await _known_runs(principal, conn, [p.data["run_id"] for p in parsed])
        fresh: list[_Item] = []
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
        switches = await controls.active_switches(org, now, conn)
        suppressed = controls.suppression_on(switches)
        backfill = controls.backfill_scenarios(switches)
        scenarios = await _scenarios(principal, conn, {i.data["scenario"] for i in fresh}, now)
        stats = await _stats(conn, [s.id for s in scenarios.values()])
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
        await _use_rerun_requests(principal, conn, fresh)
        links = _Links()
        for item in fresh:
            if item.acts:
                await _apply_actions(principal, conn, item, suppressed, after, links, now)
        await links.write(conn)
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


async def _stats(conn: BaseDBAsyncClient, scenario_ids: list[int]) -> dict[int, ScenarioStats]:
    rows = await Baseline.filter(scenario_id__in=scenario_ids).using_db(conn)
    return {
        b.scenario_id: ScenarioStats(b.median, b.credits_per_item, b.prompt_tokens) for b in rows
    }


async def _check_reruns(
    principal: Principal, conn: BaseDBAsyncClient, items: list[_Item], result: RecordResult
) -> list[_Item]:
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
            await RerunRequest.filter(run_id__in=gated, status=RerunStatus.APPROVED)
            .select_for_update()
            .using_db(conn)
            .order_by("decided_at")
        ):
            approved.setdefault(found.run_id, found)
    kept: list[_Item] = []
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
    principal: Principal, conn: BaseDBAsyncClient, items: list[_Item], policy: Policy
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


def _run_values(principal: Principal, item: _Item, policy_number: int, now: datetime) -> dict:
    assert item.verdict is not None and item.scenario is not None
    v, d, acts = item.verdict, item.data, item.acts
    return {
        "org_id": principal.org_id,
        "run_id": d["run_id"],
        "scenario_id": item.scenario.id,
        "recorded_at": now,
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
        "dispatch_blocked": AutoAction.BLOCK_DISPATCH in acts,
        "rerun_gate": AutoAction.ARM_RERUN_GATE in acts,
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
    items: list[_Item],
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


async def _insert_artifacts(
    principal: Principal, conn: BaseDBAsyncClient, items: list[_Item], after: _After, now: datetime
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


async def _use_rerun_requests(
    principal: Principal, conn: BaseDBAsyncClient, items: list[_Item]
) -> None:
    """An approved request allows one rerun: recording it uses the request up."""
    for item in items:
        req = item.rerun_request
        if req is None:
            continue
        await (
            RerunRequest.filter(id=req.id)
            .using_db(conn)
            .update(status=RerunStatus.USED, version=req.version + 1)
        )
        await record(
            principal, conn, "rerun.use", "rerun_request", req.id,
            old={"status": RerunStatus.APPROVED.value},
            new={"status": RerunStatus.USED.value, "rerun": item.data["run_id"]},
        )  # fmt: skip


async def _open_case_for_pattern(
    principal: Principal, conn: BaseDBAsyncClient, item: _Item, now: datetime
) -> tuple[Case, bool]:
    """SEV2 persistent pattern: the scenario's open case if it has one, else a new one (and
    whether it is new)."""
    assert item.scenario is not None and item.run is not None
    # From the runs side: the scenario's SEV2 runs that have a case (index on scenario), then
    # whether that case is still open.
    case_ids = (
        await scoped(Run, principal)
        .filter(scenario_id=item.scenario.id, severity=Severity.SEV2, case_id__isnull=False)
        .using_db(conn)
        .order_by("-started_at")
        .limit(50)
        .values_list("case_id", flat=True)
    )
    if case_ids:
        existing = (
            await scoped(Case, principal)
            .filter(id__in=list(case_ids), status__not_in=[s.value for s in CLOSED_CASE])
            .using_db(conn)
            .order_by("-id")
            .first()
        )
        if existing is not None:
            return existing, False
    case = await open_case(
        principal, conn,
        f"Persistent SEV2 pattern: {item.scenario.key}",
        CaseSeverity.MEDIUM, now,
        source={"run_id": item.run.run_id, "reason": "sev2_pattern"},
    )  # fmt: skip
    return case, True


def _notice(item: _Item) -> dict[str, Any]:
    assert item.run is not None and item.verdict is not None and item.scenario is not None
    run = item.run
    return {
        "run_id": run.run_id,
        "run_pk": run.id,
        "scenario": item.scenario.key,
        "severity": run.severity.value if run.severity else None,
        "multiplier": run.multiplier,
        "baseline_median": run.baseline_median,
        "credits_total": run.credits_total,
        "flags": run.flags,
        "misconfig_likelihood": run.misconfig_likelihood,
        "case_number": item.case.display_number if item.case else None,
    }


async def _apply_actions(
    principal: Principal,
    conn: BaseDBAsyncClient,
    item: _Item,
    suppressed: bool,
    after: _After,
    links: _Links,
    now: datetime,
) -> None:
    assert item.run is not None and item.verdict is not None and item.scenario is not None
    run, sev, acts = item.run, item.verdict.severity, item.acts
    assert sev is not None
    new_pattern = False
    if AutoAction.OPEN_CASE in acts:
        if sev is Severity.SEV2:
            known = links.pattern.get(item.scenario.id)
            if known is None:  # the first of the batch: its case, found or opened
                known = await _open_case_for_pattern(principal, conn, item, now)
                links.pattern[item.scenario.id] = known
                item.case, new_pattern = known
            else:  # later runs of the batch join it quietly
                item.case = known[0]
        else:
            title = f"{sev.value}: {item.scenario.key} run {run.run_id} at {run.multiplier:g}x"
            item.case = await open_case(
                principal, conn, title[:300], CASE_SEVERITY[sev], now,
                source={"run_id": run.run_id, "reason": sev.value.lower()},
            )  # fmt: skip
        run.case_id = item.case.id
        links.runs[item.case.id].append(run.id)
    channel, kind = None, None
    if AutoAction.NOTIFY_CRITICAL in acts:
        channel, kind = outbox.Channel.CRITICAL, "run.sev0"
    elif AutoAction.NOTIFY_ALERTS in acts:
        channel, kind = outbox.Channel.ALERTS, "run.sev1"
    elif new_pattern:  # once per pattern case; later runs are linked to it quietly
        channel, kind = outbox.Channel.REVIEW, "run.sev2_pattern"
    if channel is not None and kind is not None:
        await outbox.add(
            conn, principal.org_id, channel, kind, _notice(item), suppressed=suppressed, now=now
        )
        after.notify = after.notify or not suppressed
    await record(
        principal, conn, "run.auto_actions", "run", run.id,
        new={"run_id": run.run_id, "severity": sev.value, "multiplier": run.multiplier,
             "actions": [a.value for a in acts],
             "case": item.case.display_number if item.case else None,
             "notification": None if channel is None
             else ("suppressed" if suppressed else channel.value)},
        risk=RiskLevel.HIGH if sev is Severity.SEV0 else RiskLevel.MEDIUM,
    )  # fmt: skip


async def _after_commit(after: _After) -> None:
    for uri, qpath in after.quarantine:
        try:
            if not artifacts.move_to_quarantine(uri, qpath):
                log.warning("artifact %s is not in the store; its quarantine is logical", uri)
        except OSError:
            log.exception("could not move artifact %s to quarantine", uri)
    if after.notify:
        await outbox.kick()


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFilter:
    severities: Sequence[str] = ()  # SEV0..SEV3, "none" (no severity)
    scenario: str | None = None
    flag: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    quarantined: bool | None = None


@dataclass(frozen=True)
class RunPage:
    runs: list[Run]
    has_next: bool
    end_cursor: str | None


def encode_cursor(run: Run) -> str:
    raw = f"run:{run.started_at.astimezone(UTC).isoformat()}|{run.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        kind, _, rest = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        at, _, pk = rest.rpartition("|")
        when, ident = datetime.fromisoformat(at), int(pk)
        if kind != "run" or when.tzinfo is None or not 1 <= ident <= 2**31 - 1:
            raise ValueError
        return when, ident
    except (ValueError, UnicodeDecodeError):
        raise Invalid(
            "after: not a cursor returned by this API; pass a pageInfo.endCursor.", field="after"
        ) from None


def _severity_filter(values: Sequence[str]) -> Q | None:
    if not values:
        return None
    names = {s.value for s in Severity}
    bad = [v for v in values if v not in names and v != "none"]
    if bad:
        raise Invalid(
            f"severity {', '.join(map(repr, bad))} is unknown; use SEV0, SEV1, SEV2, SEV3 or none.",
            field="severity",
        )
    q = Q(severity__in=[v for v in values if v in names])
    if "none" in values:
        q |= Q(severity__isnull=True)
    return q


def _with_flag(q: QuerySet[Run], flag: str) -> QuerySet[Run]:
    if flag not in {f.value for f in RiskFlag}:
        raise Invalid(
            f"flag {flag!r} is unknown; the flags are: {', '.join(f.value for f in RiskFlag)}.",
            field="flag",
        )
    if Run._meta.db.capabilities.dialect == "postgres":
        return q.filter(flags__contains=[flag])  # jsonb @> (a GIN index can serve it)
    # SQLite has no JSON containment in Tortoise: the flag (a known name, safe to inline) quoted
    # as in the stored JSON text cannot match inside another name.
    return q.annotate(_flag_at=RawSQL(f'instr("flags", \'"{flag}"\')')).filter(_flag_at__gt=0)


async def list_runs(
    principal: Principal, flt: RunFilter | None = None, *, first: int = 50, after: str | None = None
) -> RunPage:
    """The ledger, newest first (keyset on started_at, id), filtered."""
    principal.require(Perm.RUN_READ)
    flt = flt or RunFilter()
    size = validation.page_size(first, MAX_PAGE)
    q = scoped(Run, principal)
    sev = _severity_filter(flt.severities)
    if sev is not None:
        q = q.filter(sev)
    if flt.scenario:
        q = q.filter(scenario__key=flt.scenario)
    if flt.flag:
        q = _with_flag(q, flt.flag)
    if flt.since is not None:
        q = q.filter(started_at__gte=flt.since)
    if flt.until is not None:
        q = q.filter(started_at__lt=flt.until)
    if flt.quarantined is not None:
        q = q.filter(quarantined=flt.quarantined)
    if after:
        at, pk = decode_cursor(after)
        q = q.filter(Q(started_at__lt=at) | Q(started_at=at, id__lt=pk))
    rows = await q.select_related("scenario", "case").order_by("-started_at", "-id").limit(size + 1)
    has_next = len(rows) > size
    rows = rows[:size]
    return RunPage(rows, has_next, encode_cursor(rows[-1]) if rows else None)


# A rerun request is open while pending or approved-but-unused: a run has at most one.
OPEN_RERUN = (RerunStatus.PENDING, RerunStatus.APPROVED)


@dataclass(frozen=True)
class ClassifiedUnder:
    """The thresholds a run was classified with: its stored policy version (0: the built-in
    defaults) and the version in force now (they differ once the policy changed since)."""

    number: int
    policy: Policy
    in_force: int


@dataclass(frozen=True)
class RunDetail:
    run: Run
    scenario: Scenario
    baseline: Baseline | None
    artifacts: list[RunArtifact]
    rerun_requests: list[RerunRequest]
    reruns: list[Run]
    rerun_of: Run | None
    case: Case | None
    classified_under: ClassifiedUnder

    @property
    def open_rerun_request(self) -> RerunRequest | None:
        return next((r for r in self.rerun_requests if r.status in OPEN_RERUN), None)


async def classified_under(run: Run) -> ClassifiedUnder:
    current = await controls.current_policy(run.org_id)
    if run.policy_number == current.number:
        return ClassifiedUnder(current.number, current.policy, current.number)
    if run.policy_number == 0:
        return ClassifiedUnder(0, Policy(), current.number)
    row = await PolicyVersion.filter(org_id=run.org_id, number=run.policy_number).first()
    policy = Policy.from_dict(row.data) if row is not None else current.policy
    return ClassifiedUnder(run.policy_number, policy, current.number)


async def get_run(principal: Principal, run_pk: str | int) -> Run:
    principal.require(Perm.RUN_READ)
    run = await scoped(Run, principal).filter(id=parse_id("Run", run_pk)).first()
    if run is None:
        raise not_found("Run", run_pk)
    return run


async def get_run_detail(principal: Principal, run_pk: str | int) -> RunDetail:
    """A run with why it got its severity; viewing it is a data-access event (`run.view`)."""
    run = await get_run(principal, run_pk)
    await run.fetch_related("scenario", "case", "rerun_of")
    detail = RunDetail(
        run=run,
        scenario=run.scenario,
        baseline=await Baseline.get_or_none(scenario_id=run.scenario_id),
        artifacts=await RunArtifact.filter(run_id=run.id).order_by("id"),
        rerun_requests=await RerunRequest.filter(run_id=run.id)
        .select_related("requested_by", "decided_by")
        .order_by("-id"),
        reruns=await scoped(Run, principal)
        .filter(rerun_of_id=run.id)
        .select_related("scenario", "case")
        .order_by("started_at"),
        rerun_of=run.rerun_of,
        case=run.case,
        classified_under=await classified_under(run),
    )
    await access(principal, "run.view", "run", run.id, detail={"run_id": run.run_id})
    return detail


async def runs_of_case(principal: Principal, case_id: int, limit: int = 200) -> list[Run]:
    """The runs linked to a case (a SEV0/SEV1 run opens its case), newest first."""
    principal.require(Perm.RUN_READ)
    q = scoped(Run, principal).filter(case_id=case_id).select_related("scenario")
    return list(await q.order_by("-started_at", "-id").limit(limit))


# --- rerun requests ----------------------------------------------------------------------------


async def _locked_run(principal: Principal, conn: BaseDBAsyncClient, run_pk: str | int) -> Run:
    return await lock_scoped(Run, principal, conn, run_pk, "Run")


async def request_rerun(principal: Principal, run_pk: str | int, reason: str) -> RerunRequest:
    """Ask for a rerun of a gated run (operators, approvers). One open request at a time."""
    principal.require(Perm.RERUN_REQUEST)
    reason = validation.long_text(reason, "reason", max_len=MAX_REASON)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        run = await _locked_run(principal, conn, run_pk)
        if not run.rerun_gate:
            raise Invalid(
                f"Run {run.run_id} has no rerun gate: it can be rerun without approval.",
                field="run_id",
            )
        open_req = (
            await RerunRequest.filter(run_id=run.id, status__in=OPEN_RERUN).using_db(conn).first()
        )
        if open_req is not None:
            raise Conflict(
                f"Run {run.run_id} already has a {open_req.status.value} rerun request "
                f"(#{open_req.id}); decide or use that one.",
                field="run_id",
                current_request=open_req.id,
            )
        req = await RerunRequest.create(
            org_id=principal.org_id,
            run_id=run.id,
            reason=reason,
            requested_by_id=principal.user_id or None,
            requested_at=now,
            using_db=conn,
        )
        await record(
            principal, conn, "rerun.request", "rerun_request", req.id,
            new={"run": run.run_id, "status": req.status.value},
        )  # fmt: skip
    return req


async def _locked_request(
    principal: Principal, conn: BaseDBAsyncClient, request_id: str | int
) -> RerunRequest:
    return await lock_scoped(RerunRequest, principal, conn, request_id, "RerunRequest")


async def _decide_rerun(
    principal: Principal,
    request_id: str | int,
    expected_version: int,
    status: RerunStatus,
    note_field: str,
    note: str,
) -> RerunRequest:
    principal.require(Perm.RUN_APPROVE)
    note = validation.long_text(note, note_field, max_len=MAX_REASON)
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise Invalid("expected_version must be the version you loaded.", field="expected_version")
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        req = await _locked_request(principal, conn, request_id)
        if req.version != expected_version:
            raise Conflict(
                f"Rerun request #{req.id} was changed by someone else: it is now "
                f"{req.status.value} at version {req.version} (you had version "
                f"{expected_version}). Reload it and decide again.",
                field="expected_version",
                current_status=req.status.value,
                current_version=req.version,
            )
        if req.status is not RerunStatus.PENDING:
            raise Conflict(
                f"Rerun request #{req.id} is {req.status.value}; only a pending request can be "
                "decided.",
                field="request_id",
                current_status=req.status.value,
                current_version=req.version,
            )
        approvals.require_checker(principal, req.requested_by_id, f"rerun request #{req.id}")
        values: dict[str, Any] = {
            "status": status,
            "decided_by_id": principal.user_id or None,
            "decided_at": now,
            "version": req.version + 1,
            note_field: note,
        }
        await RerunRequest.filter(id=req.id).using_db(conn).update(**values)
        for k, v in values.items():
            setattr(req, k, v)
        await record(
            principal, conn, f"rerun.{'approve' if status is RerunStatus.APPROVED else 'deny'}",
            "rerun_request", req.id,
            old={"status": RerunStatus.PENDING.value},
            new={"status": status.value, "version": req.version},
            risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    return req


async def approve_rerun(
    principal: Principal, request_id: str | int, mitigation: str, *, expected_version: int
) -> RerunRequest:
    """Approve a rerun with the mitigation applied (approver, not the requester)."""
    return await _decide_rerun(
        principal, request_id, expected_version, RerunStatus.APPROVED, "mitigation", mitigation
    )


async def deny_rerun(
    principal: Principal, request_id: str | int, reason: str, *, expected_version: int
) -> RerunRequest:
    return await _decide_rerun(
        principal, request_id, expected_version, RerunStatus.DENIED, "deny_reason", reason
    )


# --- quarantine release ------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    run: Run
    checks: list[artifacts.Check]


async def release_quarantine(
    principal: Principal, run_pk: str | int, reason: str, *, expected_version: int
) -> Release:
    """Release a quarantined run (approver only): its case must be resolved, and every artifact
    we hold must still have its recorded SHA-256. Dispatch is unblocked; a note goes on the case
    ("Quarantine released on <date> by <name>", seed 002)."""
    principal.require(Perm.RUN_APPROVE)
    reason = validation.long_text(reason, "reason", max_len=MAX_REASON)
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise Invalid("expected_version must be the version you loaded.", field="expected_version")
    now = datetime.now(UTC)
    moves: list[tuple[str, str]] = []
    async with in_transaction() as conn:
        run = await _locked_run(principal, conn, run_pk)
        if run.version != expected_version:
            raise Conflict(
                f"Run {run.run_id} was changed by someone else (version {run.version}, you had "
                f"{expected_version}). Reload it and decide again.",
                field="expected_version",
                current_version=run.version,
                quarantined=run.quarantined,
            )
        if not run.quarantined:
            raise Conflict(f"Run {run.run_id} is not quarantined.", field="run_id")
        case = (
            await scoped(Case, principal).filter(id=run.case_id).using_db(conn).first()
            if run.case_id
            else None
        )
        if case is None or case.status not in CLOSED_CASE:
            state = f"{case.display_number} is {case.status.value}" if case else "it has no case"
            raise Conflict(
                f"Run {run.run_id} cannot be released: {state}. Resolve the case first "
                "(root cause, mitigation, approval).",
                field="run_id",
            )
        arts = await RunArtifact.filter(run_id=run.id).using_db(conn).order_by("id")
        checks = [
            artifacts.verify_quarantined(a.uri, a.quarantine_path, a.sha256 or None) for a in arts
        ]
        bad = [c for c in checks if not c.ok]
        if bad:
            raise Conflict(
                "Quarantined artifacts failed verification: "
                + "; ".join(f"{c.uri}: {c.detail}" for c in bad)
                + ". Investigate before release.",
                field="run_id",
            )
        await (
            Run.filter(id=run.id)
            .using_db(conn)
            .update(quarantined=False, dispatch_blocked=False, version=run.version + 1)
        )
        run.quarantined, run.dispatch_blocked, run.version = False, False, run.version + 1
        await RunArtifact.filter(run_id=run.id).using_db(conn).update(released_at=now)
        who = principal.name or principal.email or principal.actor.actor
        await note_in(
            principal, conn, case,
            f"Quarantine of run {run.run_id} released on {now:%Y-%m-%d %H:%M} UTC by {who}. "
            f"Reason: {reason}",
            now,
        )  # fmt: skip
        moves = [(a.uri, a.quarantine_path) for a in arts if a.quarantine_path]
        await record(
            principal, conn, "run.release", "run", run.id,
            old={"quarantined": True, "dispatch_blocked": True},
            new={"quarantined": False, "dispatch_blocked": False, "case": case.display_number,
                 "verified": [c.detail for c in checks if c.held]},
            risk=RiskLevel.HIGH,
        )  # fmt: skip
    for uri, qpath in moves:
        try:
            artifacts.move_back(uri, qpath)
        except OSError:
            log.exception("could not move artifact %s back from quarantine", uri)
    return Release(run, checks)


def summary(result: RecordResult) -> Mapping[str, int]:
    return {
        "recorded": len(result.recorded),
        "unchanged": len(result.unchanged),
        "invalid": len({e.index for e in result.errors}),
    }
