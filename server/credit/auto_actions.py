"""The automatic actions of a recorded run (PRODUCT.md): open or join a case, notify the
channel its severity calls for, use up an approved rerun request; and the side effects that
run after commit (quarantine moves, outbox delivery)."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from riskops.audit.types import RiskLevel
from riskops.server.core.audit_trail import record
from riskops.server.core.formatting import multiplier
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit import artifacts
from riskops.server.credit.classification import Classification
from riskops.server.credit.models import (
    RerunRequest,
    RerunStatus,
    Run,
    Scenario,
)
from riskops.server.credit.terms import AutoAction, Severity
from riskops.server.notify import outbox
from riskops.server.response import clocks as response_clocks
from riskops.server.triage.case_create import open_case
from riskops.server.triage.models import Case, CaseSeverity, CaseStatus

log = logging.getLogger("riskops.runs")


CASE_SEVERITY = {
    Severity.SEV0: CaseSeverity.CRITICAL,
    Severity.SEV1: CaseSeverity.HIGH,
    Severity.SEV2: CaseSeverity.MEDIUM,
}


CLOSED_CASE = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED})


@dataclass
class RunItem:
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
class AfterCommit:
    """Side effects to run once the transaction has committed."""

    quarantine: list[tuple[str, str]] = field(default_factory=list)  # (uri, quarantine path)
    notify: bool = False


@dataclass
class RunLinks:
    """The cases a batch's runs join, written with one UPDATE per case after the batch's
    actions; each scenario's SEV2 pattern case is looked up once per batch."""

    pattern: dict[int, tuple[Case, bool]] = field(default_factory=dict)  # scenario -> case, new
    runs: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))  # case -> runs
    clocks: list[response_clocks.RunClockInput] = field(
        default_factory=list
    )  # SEV0/SEV1 response clocks
    now: datetime | None = None

    async def write(self, principal: Principal, conn: BaseDBAsyncClient) -> None:
        for case_id, run_ids in self.runs.items():
            await (
                scoped(Run, principal).filter(id__in=run_ids).using_db(conn).update(case_id=case_id)
            )
        if self.clocks and self.now is not None:  # one bulk insert per recording call
            await response_clocks.open_run_clocks(principal.org_id, conn, self.clocks, self.now)


async def use_rerun_requests(
    principal: Principal, conn: BaseDBAsyncClient, items: list[RunItem]
) -> None:
    """An approved request allows one rerun: recording it uses the request up."""
    for item in items:
        req = item.rerun_request
        if req is None:
            continue
        await (
            scoped(RerunRequest, principal)
            .filter(id=req.id)
            .using_db(conn)
            .update(status=RerunStatus.USED, version=req.version + 1)
        )
        await record(
            principal, conn, "rerun.use", "rerun_request", req.id,
            old={"status": RerunStatus.APPROVED.value},
            new={"status": RerunStatus.USED.value, "rerun": item.data["run_id"]},
        )  # fmt: skip


async def _open_case_for_pattern(
    principal: Principal, conn: BaseDBAsyncClient, item: RunItem, now: datetime
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


def _notice(item: RunItem) -> dict[str, Any]:
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


async def apply_actions(
    principal: Principal,
    conn: BaseDBAsyncClient,
    item: RunItem,
    suppressed: bool,
    after: AfterCommit,
    links: RunLinks,
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
            title = (
                f"{sev.value}: {item.scenario.key} run {run.run_id} at {multiplier(run.multiplier)}"
            )
            item.case = await open_case(
                principal, conn, title[:300], CASE_SEVERITY[sev], now,
                source={"run_id": run.run_id, "reason": sev.value.lower()},
            )  # fmt: skip
        run.case_id = item.case.id
        links.runs[item.case.id].append(run.id)
    if sev in (Severity.SEV0, Severity.SEV1):  # its response clock (issue 16)
        links.clocks.append(
            response_clocks.RunClockInput(
                run.id, run.run_id, sev.value, item.case.id if item.case else None
            )
        )
        links.now = now
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


async def after_commit(after: AfterCommit) -> None:
    for uri, qpath in after.quarantine:
        try:
            if not artifacts.move_to_quarantine(uri, qpath):
                log.warning("artifact %s is not in the store; its quarantine is logical", uri)
        except OSError:
            log.exception("could not move artifact %s to quarantine", uri)
    if after.notify:
        await outbox.kick()
