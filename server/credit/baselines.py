"""Baselines of scenarios: calculating one from healthy runs and the maker-checker update
(propose → approve or reject), manual baselines and their history. The weekly candidates are
`riskops.server.credit.candidates`.

The rules are `riskops.server.credit.baseline_rules`' (`baseline`, `is_healthy`,
`baseline_candidate_reasons`, `change_pct`, `needs_confirmation`); this module loads their inputs
and records the decisions:

    calculate  (run.read)          median, CV, sample of the healthy runs of the last N days
    propose    (baseline.propose)  a PROPOSED change with those numbers, one open per scenario
    approve    (baseline.approve)  not by the proposer; > 50% change needs explicit confirmation;
                                   refused (Conflict) when the baseline in force changed meanwhile
    reject     (baseline.approve)  with a reason
    manual     (baseline.approve)  "Baseline not found for scenario": a median set by hand,
                                   proposed like any change (another approver approves it)
    prerequisites (run.read)       seed 002's conditions of an update, as a checklist; the
                                   checks (`baseline_prerequisites`) run again in propose,
                                   manual and approve, which refuse (Conflict) naming the
                                   failed ones: the world may change between a proposal and
                                   its approval

Writes of one organization's baselines queue on its row lock (PostgreSQL; SQLite serializes
writers), so "one open proposal" and "the baseline in force is still the one proposed against"
hold under concurrency. Free text (rationales, reasons) stays in the BaselineChange row; the audit
chain gets only numbers, ids and keys.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server.core import approvals, validation
from riskops.server.core.approvals import ChangeStatus
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict, Invalid, not_found
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import lock_scoped, scoped
from riskops.server.credit import baseline_rules
from riskops.server.credit.baseline_prerequisites import (
    Prerequisites,
    change_prerequisites,
    check_prerequisites,
)
from riskops.server.credit.models import Baseline, BaselineChange, BaselineSource, Run, Scenario
from riskops.server.credit.policy import current_policy
from riskops.server.credit.terms import Policy, severity_of
from riskops.server.identity import users
from riskops.server.identity.orgs import lock_organization

MAX_DAYS = 365
MAX_RATIONALE = 2000
MAX_MEDIAN = 1e12  # credits: far above any real run, low enough to stay a sane number
# The ledger keeps credits to 6 decimals: a smaller median would make ratios overflow.
MIN_MEDIAN = 1e-6
MAX_HISTORY = 200


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calculation:
    """A baseline calculated from the healthy runs of `days` days before `window_end`."""

    scenario: Scenario
    days: int
    window_start: datetime
    window_end: datetime
    median: float
    cv: float | None
    sample_size: int
    credits_per_item: float | None  # median over the runs that report items processed
    prompt_tokens: float | None  # median over the runs that report prompt tokens
    current: Baseline | None
    change_pct: float | None  # None without a current baseline
    needs_confirmation: bool  # whether approving it would need confirm_large_change
    policy: Policy


@dataclass(frozen=True)
class BaselineInForce:
    scenario: Scenario
    baseline: Baseline


# --- input checks --------------------------------------------------------------------------------


def parse_scenario_key(raw: Any) -> str:
    """A scenario key as given (matched exactly, case and all; surrounding blanks dropped)."""
    return validation.scenario_key(raw, "scenario_key")


def _days(raw: Any, default: int) -> int:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_DAYS:
        raise Invalid(
            f"Days must be a whole number from 1 to {MAX_DAYS}, not {raw!r}.", field="days"
        )
    return raw


def free_text(raw: Any, name: str) -> str:
    """A rationale or reason: 1..2000 characters, line breaks allowed."""
    return validation.long_text(
        raw, name, max_len=MAX_RATIONALE, why="say why (it is kept with the baseline history)"
    )


def _median_value(raw: Any) -> float:
    ok = isinstance(raw, int | float) and not isinstance(raw, bool)
    if not ok or not math.isfinite(raw) or not MIN_MEDIAN <= raw <= MAX_MEDIAN:
        raise Invalid(
            f"Median credits must be greater than 0 (at least {MIN_MEDIAN:g}) and at most "
            f"{MAX_MEDIAN:g}, not {raw!r}.",
            field="median",
        )
    return float(raw)


def _flag(raw: Any, name: str) -> bool:
    if not isinstance(raw, bool):
        raise Invalid(f"{validation.label(name)} must be true or false.", field=name)
    return raw


# --- reads ---------------------------------------------------------------------------------------


async def get_scenario(
    principal: Principal, key: str, conn: BaseDBAsyncClient | None = None
) -> Scenario:
    """The scenario of the caller's organization with exactly this key (NotFound otherwise)."""
    q = scoped(Scenario, principal).filter(key=key)
    if conn is not None:
        q = q.using_db(conn)
    scenario = await q.first()
    if scenario is None:
        raise not_found("Scenario", key)
    return scenario


def _median_or_none(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


async def _calculate(
    principal: Principal,
    scenario: Scenario,
    days: int,
    end: datetime,
    policy: Policy,
    conn: BaseDBAsyncClient | None = None,
) -> Calculation:
    start = end - timedelta(days=days)
    q = scoped(Run, principal).filter(
        scenario_id=scenario.id,
        started_at__gte=start,
        started_at__lte=end,
        quarantined=False,  # quarantined runs never count; the severity rule is is_healthy's
    )
    if conn is not None:
        q = q.using_db(conn)
    rows = await q.values_list("credits_total", "items_processed", "prompt_tokens", "severity")
    healthy = [r for r in rows if baseline_rules.is_healthy(severity_of(r[3]), False)]
    stats = baseline_rules.baseline([float(r[0]) for r in healthy])
    if stats.median is None:
        raise Invalid(
            f"No healthy runs of {scenario.key} started in the last {days} days (runs that are "
            "not SEV0/SEV1 and not quarantined), so no baseline can be calculated from them. "
            'Choose more days, or set a manual baseline (runbook: "Baseline not found for '
            'scenario").',
            field="days",
        )
    per_item = [float(r[0]) / r[1] for r in healthy if r[1]]
    prompts = [float(r[2]) for r in healthy if r[2] is not None]
    bq = scoped(Baseline, principal).filter(scenario_id=scenario.id)
    if conn is not None:
        bq = bq.using_db(conn)
    current = await bq.first()
    old = current.median if current else None
    return Calculation(
        scenario=scenario,
        days=days,
        window_start=start,
        window_end=end,
        median=stats.median,
        cv=stats.cv,
        sample_size=stats.sample_size,
        credits_per_item=_median_or_none(per_item),
        prompt_tokens=_median_or_none(prompts),
        current=current,
        change_pct=baseline_rules.change_pct(old, stats.median) if old else None,
        needs_confirmation=baseline_rules.needs_confirmation(old, stats.median, policy),
        policy=policy,
    )


async def calculate_baseline(
    principal: Principal, scenario_key: str, days: int | None = None
) -> Calculation:
    """The baseline the healthy runs of the last `days` days (default: the policy's
    baseline_window_days) give, next to the one in force. Changes nothing."""
    principal.require(Perm.RUN_READ)
    key = parse_scenario_key(scenario_key)
    policy = (await current_policy(principal.org_id)).policy
    n = _days(days, policy.baseline_window_days)
    scenario = await get_scenario(principal, key)
    return await _calculate(principal, scenario, n, datetime.now(UTC), policy)


async def _propose_manual(
    principal: Principal,
    conn: BaseDBAsyncClient,
    scenario: Scenario,
    old: float | None,
    value: float,
    pct: float | None,
    text: str,
    confirmed: bool,
    now: datetime,
) -> BaselineChange:
    first = await open_proposal(principal, scenario.id, conn)
    if first is not None:
        raise Conflict(
            f"Baseline change {first.id} for {scenario.key} is still open: an approver must "
            "approve or reject it before another one is proposed.",
            field="scenario_key",
            change_id=first.id,
        )
    change = await BaselineChange.create(
        org_id=principal.org_id, scenario_id=scenario.id, old_median=old, new_median=value,
        change_pct=pct, sample_size=0, cv=None, source=BaselineSource.MANUAL, rationale=text,
        status=ChangeStatus.PROPOSED, confirmed_large_change=confirmed,
        proposed_by_id=principal.user_id or None, created_at=now, using_db=conn,
    )  # fmt: skip
    await record(
        principal, conn, "baseline.propose", "baseline_change", change.id,
        old={"median": old},
        new={"scenario": scenario.key, "median": value, "change_pct": pct, "source": "manual"},
    )  # fmt: skip
    return change


async def baseline_history(principal: Principal, scenario_key: str) -> list[BaselineChange]:
    """Every proposed and decided change of the scenario's baseline, newest first (at most 200)."""
    principal.require(Perm.RUN_READ)
    scenario = await get_scenario(principal, parse_scenario_key(scenario_key))
    return (
        await scoped(BaselineChange, principal)
        .filter(scenario_id=scenario.id)
        .order_by("-created_at", "-id")
        .limit(MAX_HISTORY)
    )


async def baselines_in_force(principal: Principal) -> list[BaselineInForce]:
    """The baseline in force of every scenario that has one, by scenario key."""
    principal.require(Perm.RUN_READ)
    rows = await scoped(Baseline, principal).prefetch_related("scenario")
    return sorted((BaselineInForce(b.scenario, b) for b in rows), key=lambda x: x.scenario.key)


async def proposal_to_decide(
    principal: Principal, scenario_key: str
) -> tuple[Scenario, BaselineChange | None]:
    """The scenario and its open proposal (None: nothing to decide), for an approver deciding
    by scenario key (the CLI): refused before anything is looked up for anyone else."""
    principal.require(Perm.BASELINE_APPROVE)
    scenario = await get_scenario(principal, parse_scenario_key(scenario_key))
    return scenario, await open_proposal(principal, scenario.id)


async def open_proposal(
    principal: Principal, scenario_id: int, conn: BaseDBAsyncClient | None = None
) -> BaselineChange | None:
    q = scoped(BaselineChange, principal).filter(
        scenario_id=scenario_id, status=ChangeStatus.PROPOSED
    )
    if conn is not None:
        q = q.using_db(conn)
    return await q.order_by("id").first()


def _window_basis(calc: Calculation) -> str:
    return f"{calc.sample_size} healthy runs of the last {calc.days} days"


async def baseline_prerequisites(
    principal: Principal, scenario_key: str, days: int | None = None, *, manual: bool = False
) -> Prerequisites:
    """Whether a baseline update of the scenario may be proposed now, condition by condition
    (the CV over the healthy runs of the last `days` days, default the policy's window), for
    the pages and the API to show before anyone submits. Changes nothing."""
    principal.require(Perm.RUN_READ)
    key = parse_scenario_key(scenario_key)
    manual = _flag(manual, "manual")
    policy = (await current_policy(principal.org_id)).policy
    n = _days(days, policy.baseline_window_days)
    scenario = await get_scenario(principal, key)
    now = datetime.now(UTC)
    try:
        calc = await _calculate(principal, scenario, n, now, policy)
        cv, basis = calc.cv, _window_basis(calc)
    except Invalid:
        cv, basis = None, f"no healthy runs in the last {n} days"
    return await check_prerequisites(
        principal, scenario, policy, now, None, cv=cv, cv_basis=basis, days=n, manual=manual
    )


async def approval_prerequisites(principal: Principal, scenario_key: str) -> Prerequisites | None:
    """The prerequisites the scenario's open proposal would be approved against now (None: no
    proposal is open), for the pages to say before an approver submits. Changes nothing."""
    principal.require(Perm.RUN_READ)
    scenario = await get_scenario(principal, parse_scenario_key(scenario_key))
    change = await open_proposal(principal, scenario.id)
    if change is None:
        return None
    policy = (await current_policy(principal.org_id)).policy
    return await change_prerequisites(principal, scenario, change, policy, datetime.now(UTC))


# --- changes -------------------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    return "none" if x is None else f"{x:.2f}"


def _confirmation_needed(old: float | None, new: float, policy: Policy) -> Invalid:
    pct = baseline_rules.change_pct(old or 0, new) if old else 0.0
    return Invalid(
        f"The new baseline {new:.2f} is {pct:+.1f}% from the baseline in force ({_fmt(old)}): "
        f"a change above {policy.confirm_change_above_pct:g}% needs explicit confirmation. "
        "Check the change, then confirm it (confirm_large_change).",
        field="confirm_large_change",
    )


async def _upsert_baseline(
    principal: Principal,
    conn: BaseDBAsyncClient,
    scenario_id: int,
    values: dict[str, Any],
) -> Baseline:
    row = await scoped(Baseline, principal).filter(scenario_id=scenario_id).using_db(conn).first()
    if row is None:
        return await Baseline.create(
            org_id=principal.org_id, scenario_id=scenario_id, **values, using_db=conn
        )
    await scoped(Baseline, principal).filter(id=row.id).using_db(conn).update(**values)
    for name, value in values.items():
        setattr(row, name, value)
    return row


async def propose_baseline_update(
    principal: Principal, scenario_key: str, days: int | None, rationale: str
) -> BaselineChange:
    """Propose the calculated baseline (as `calculate_baseline` gives it) for an approver to
    decide. One open proposal per scenario: a second one is a Conflict naming the first."""
    principal.require(Perm.BASELINE_PROPOSE)
    key = parse_scenario_key(scenario_key)
    text = free_text(rationale, "rationale")
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        await lock_organization(principal, conn)
        policy = (await current_policy(principal.org_id, conn)).policy
        n = _days(days, policy.baseline_window_days)
        scenario = await get_scenario(principal, key, conn)
        first = await open_proposal(principal, scenario.id, conn)
        if first is not None:
            raise Conflict(
                f"Baseline change {first.id} for {key} (new median {first.new_median:.2f}, "
                f"proposed by {await users.name_of(principal, first.proposed_by_id, conn)} at "
                f"{first.created_at:%Y-%m-%d %H:%M} UTC) is still open: an approver must approve "
                "or reject it before another one is proposed.",
                field="scenario_key",
                change_id=first.id,
            )
        calc = await _calculate(principal, scenario, n, now, policy, conn)
        pre = await check_prerequisites(
            principal, scenario, policy, now, conn,
            cv=calc.cv, cv_basis=_window_basis(calc), days=n, manual=False,
        )  # fmt: skip
        if not pre.met:
            raise pre.refusal("scenario_key")
        old = calc.current.median if calc.current else None
        change = await BaselineChange.create(
            org_id=principal.org_id,
            scenario_id=scenario.id,
            old_median=old,
            new_median=calc.median,
            change_pct=calc.change_pct,
            sample_size=calc.sample_size,
            cv=calc.cv,
            source=BaselineSource.CALCULATED,
            window_days=n,
            credits_per_item=calc.credits_per_item,
            prompt_tokens=calc.prompt_tokens,
            rationale=text,
            status=ChangeStatus.PROPOSED,
            proposed_by_id=principal.user_id or None,
            created_at=now,
            using_db=conn,
        )
        await record(
            principal, conn, "baseline.propose", "baseline_change", change.id,
            old={"median": old},
            new={"scenario": key, "median": calc.median, "change_pct": calc.change_pct,
                 "sample_size": calc.sample_size, "cv": calc.cv, "days": n},
        )  # fmt: skip
    return change


async def _locked_change(
    principal: Principal,
    conn: BaseDBAsyncClient,
    change_id: str | int,
    scenario_key: str | None = None,
) -> BaselineChange:
    """The change, locked; with `scenario_key` (a page acting on one scenario) it must be a
    change of that scenario, else it reads as not found."""
    narrower = {"scenario__key": scenario_key} if scenario_key is not None else {}
    change = await lock_scoped(
        BaselineChange, principal, conn, change_id, "BaselineChange", **narrower
    )
    if change.status is not ChangeStatus.PROPOSED:
        raise Conflict(
            f"Baseline change {change.id} was already {change.status.value} by "
            f"{await users.name_of(principal, change.decided_by_id, conn)}"
            + (f" at {change.decided_at:%Y-%m-%d %H:%M} UTC" if change.decided_at else "")
            + "; nothing to decide.",
            field="change_id",
            current_status=change.status.value,
        )
    return change


async def approve_baseline_update(
    principal: Principal,
    change_id: str | int,
    rationale: str,
    confirm_large_change: bool = False,
    *,
    scenario_key: str | None = None,
) -> BaselineChange:
    """Approve a proposal: the proposed median becomes the baseline in force (with the
    per-item and prompt-token medians of the same window). Not by the proposer; a change above
    the policy's confirm_change_above_pct needs `confirm_large_change`; refused when the baseline
    in force changed since the proposal."""
    principal.require(Perm.BASELINE_APPROVE)
    text = free_text(rationale, "rationale")
    confirm = _flag(confirm_large_change, "confirm_large_change")
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        await lock_organization(principal, conn)
        change = await _locked_change(principal, conn, change_id, scenario_key)
        approvals.require_checker(
            principal, change.proposed_by_id,
            f"baseline change {change.id} (you may reject it to withdraw it)",
        )  # fmt: skip
        scenario = (
            await scoped(Scenario, principal).filter(id=change.scenario_id).using_db(conn).get()
        )
        current = (
            await scoped(Baseline, principal).filter(scenario_id=scenario.id).using_db(conn).first()
        )
        in_force = current.median if current else None
        if in_force != change.old_median or (current and current.set_at > change.created_at):
            raise Conflict(
                f"The baseline of {scenario.key} changed since change {change.id} was proposed "
                f"(proposed against {_fmt(change.old_median)}, now {_fmt(in_force)}): reject "
                "it and propose again from the baseline in force.",
                field="change_id",
            )
        policy = (await current_policy(principal.org_id, conn)).policy
        # The prerequisites again, as they are now: a SEV0/SEV1 run, or a stricter policy,
        # since the proposal stops it (a manual change is held to the quiet period alone).
        pre = await change_prerequisites(principal, scenario, change, policy, now, conn)
        if not pre.met:
            raise pre.refusal(
                "change_id",
                prefix=f"Baseline change {change.id} cannot be approved now:",
                suffix="Reject it, or approve it once every prerequisite is met.",
            )
        needed = baseline_rules.needs_confirmation(change.old_median, change.new_median, policy)
        if needed and not confirm:
            raise _confirmation_needed(change.old_median, change.new_median, policy)
        await _upsert_baseline(principal, conn, scenario.id, {
            "median": change.new_median, "cv": change.cv, "sample_size": change.sample_size,
            "window_days": change.window_days, "credits_per_item": change.credits_per_item,
            "prompt_tokens": change.prompt_tokens,
            "source": change.source, "set_at": now,
        })  # fmt: skip
        await approvals.decide(
            conn, BaselineChange, change, ChangeStatus.APPROVED,
            what=f"Baseline change {change.id}", field="change_id",
            decided_by_id=principal.user_id or None, decided_at=now,
            confirmed_large_change=needed and confirm, decision_rationale=text,
        )  # fmt: skip
        await record(
            principal, conn, "baseline.approve", "baseline_change", change.id,
            old={"median": change.old_median},
            new={"scenario": scenario.key, "median": change.new_median,
                 "change_pct": change.change_pct, "sample_size": change.sample_size,
                 "cv": change.cv, "confirmed_large_change": needed and confirm},
            risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    return change


async def reject_baseline_update(
    principal: Principal, change_id: str | int, reason: str, *, scenario_key: str | None = None
) -> BaselineChange:
    """Reject a proposal with a reason (the proposer may reject their own to withdraw it)."""
    principal.require(Perm.BASELINE_APPROVE)
    text = free_text(reason, "reason")
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        await lock_organization(principal, conn)
        change = await _locked_change(principal, conn, change_id, scenario_key)
        await approvals.decide(
            conn, BaselineChange, change, ChangeStatus.REJECTED,
            what=f"Baseline change {change.id}", field="change_id",
            decided_by_id=principal.user_id or None, decided_at=now, decision_rationale=text,
        )  # fmt: skip
        key = (
            await scoped(Scenario, principal)
            .filter(id=change.scenario_id)
            .using_db(conn)
            .first()
            .values_list("key", flat=True)
        )
        await record(
            principal, conn, "baseline.reject", "baseline_change", change.id,
            old={"status": ChangeStatus.PROPOSED.value},
            new={"status": ChangeStatus.REJECTED.value, "scenario": key,
                 "median": change.new_median},
        )  # fmt: skip
    return change


async def set_manual_baseline(
    principal: Principal,
    scenario_key: str,
    median: float,
    rationale: str,
    confirm_large_change: bool = False,
) -> BaselineChange:
    """Propose a baseline set by hand (runbook: "Baseline not found for scenario", too few runs
    to calculate one). Like every baseline change it is PROPOSED and another approver must
    approve it (maker-checker), whether or not a baseline is in force: a first baseline decides
    which runs raise cases from then on, so one person alone does not set it."""
    principal.require(Perm.BASELINE_APPROVE)
    key = parse_scenario_key(scenario_key)
    value = _median_value(median)
    text = free_text(rationale, "rationale")
    confirm = _flag(confirm_large_change, "confirm_large_change")
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        await lock_organization(principal, conn)
        scenario = await get_scenario(principal, key, conn)
        policy = (await current_policy(principal.org_id, conn)).policy
        current = (
            await scoped(Baseline, principal).filter(scenario_id=scenario.id).using_db(conn).first()
        )
        old = current.median if current else None
        if old is not None and old == value:
            raise Invalid(
                f"median {value:g} is already the baseline of {scenario.key}: a manual baseline "
                "must change it.",
                field="median",
            )
        needed = baseline_rules.needs_confirmation(old, value, policy)
        if needed and not confirm:
            raise _confirmation_needed(old, value, policy)
        pre = await check_prerequisites(
            principal, scenario, policy, now, conn, cv=None, cv_basis="", days=0, manual=True
        )
        if not pre.met:
            raise pre.refusal("scenario_key")
        pct = baseline_rules.change_pct(old, value) if old else None
        return await _propose_manual(
            principal, conn, scenario, old, value, pct, text, needed and confirm, now
        )
