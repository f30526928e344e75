"""The weekly credit review (seed 002 "Weekly Review Procedure"): generate, store, list, view and
download the report of one week of an organization's runs.

A report covers [period_start 00:00 UTC, + 7 days); period_start is a Monday (another day is
refused, naming the Monday of its week, so weeks never overlap). Its payload is aggregated in
the database (GROUP BY / ORDER BY ... LIMIT over the week's runs; no run is loaded into Python):

    top_scenarios_by_total  top 10 scenarios by the sum of credits, with runs, average, the
                            baseline median in force and total / (runs x baseline) as multiplier
                            (above NOTABLE_VARIANCE the review looks at it, seed 002)
    top_spike_runs          top 10 runs by multiplier, with severity and case number
    policy_violations       SEV0/SEV1 runs without a case; stale cases (open or investigating,
                            no activity for 7 days); resolved cases without a root cause
    baseline_candidates     the scenarios eligible for a baseline update (credit.candidates)
    severity_counts         SEV0..SEV3, "none" (classified below SEV3), "no_baseline"
    pii_false_positives     seed 002's monthly check: of the runs flagged pii_exposure or
                            regulatory_data, how many an approver declassified as a false
                            positive (as of generation), for the week and its last 30 days

The payload is stored with the SHA-256 of its canonical JSON (sorted keys, no blanks, UTF-8):
the download is exactly those bytes, so `sha256sum` of the file equals the stored hash.
Generation is idempotent per (organization, "weekly", period_start): a second request, or a
concurrent one losing the race on the unique constraint, returns the stored report. In the
generating transaction: the report, the audit event `report.generate` and the review-channel
summary `report.weekly` on the outbox (written as suppressed while alert suppression is on).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.functions import Count, Max
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import Actor, Entry
from riskops.server.core import validation
from riskops.server.core.audit_trail import access
from riskops.server.core.errors import Invalid
from riskops.server.core.formatting import case_ref
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, scoped
from riskops.server.credit import candidates as baselines_candidates
from riskops.server.credit import kill_switches, pii_rate
from riskops.server.credit import policy as controls
from riskops.server.credit.models import Baseline, Report, Run, Scenario
from riskops.server.credit.terms import Severity
from riskops.server.identity import users
from riskops.server.identity.models import Organization
from riskops.server.notify import outbox
from riskops.server.triage.models import Case, CaseEvent, CaseStatus

KIND = "weekly"
PERIOD = timedelta(days=7)
TOP = 10  # top_scenarios_by_total, top_spike_runs
# Seed 002, weekly review step 2: a top scenario's "variance from baseline (>2x is notable)".
NOTABLE_VARIANCE = 2.0
SUMMARY_TOP = 5  # top scenarios in the review-channel summary
MAX_VIOLATIONS = 100  # per kind; the counts say how many there were in all
STALE_AFTER = timedelta(days=7)
MAX_PAGE = 100
SCHEDULER = "scheduler"  # the system actor of the Monday job
EARLIEST = date(2000, 1, 1)
_DIGITS = 4  # credits and multipliers are rounded to 4 decimals in the payload
_WORKING = (CaseStatus.OPEN.value, CaseStatus.INVESTIGATING.value)
_DONE = (CaseStatus.RESOLVED.value, CaseStatus.CLOSED.value)


@dataclass(frozen=True)
class ReportPage:
    items: list[Report]
    end_cursor: str | None
    has_next_page: bool


# --- periods and encoding -----------------------------------------------------------------------


def period_bounds(period_start: date) -> tuple[datetime, datetime]:
    start = datetime.combine(period_start, time(0), tzinfo=UTC)
    return start, start + PERIOD


def last_complete_week(now: datetime | None = None) -> date:
    """The Monday starting the most recent complete Monday-to-Monday week before `now`."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    this_monday = today - timedelta(days=today.weekday())
    return this_monday - PERIOD


def parse_period_start(raw: Any, now: datetime | None = None) -> date:
    """A Monday (a date or YYYY-MM-DD text) whose 7-day period has ended by `now`. Any other day
    is refused with the Monday of its week: a report's weeks never overlap."""
    if isinstance(raw, datetime):
        raw = raw.astimezone(UTC).date() if raw.tzinfo else raw.date()
    if isinstance(raw, str):
        try:
            raw = date.fromisoformat(raw.strip())
        except ValueError:
            raise Invalid(
                f"period_start '{raw[:40]}' is not a date; give it as YYYY-MM-DD "
                "(the first day of the week, e.g. a Monday).",
                field="period_start",
            ) from None
    if not isinstance(raw, date):
        raise Invalid("period_start must be a date (YYYY-MM-DD).", field="period_start")
    if raw.weekday() != 0:
        monday = raw - timedelta(days=raw.weekday())
        raise Invalid(
            f"{raw.isoformat()} is a {raw:%A}; weeks start on Monday: use {monday.isoformat()}.",
            field="period_start",
        )
    current = (now or datetime.now(UTC)).astimezone(UTC)
    latest = (current - PERIOD).date()  # the latest start whose period has ended
    if raw < EARLIEST:
        raise Invalid(
            f"period_start {raw.isoformat()} is before {EARLIEST.isoformat()}; "
            "choose a week with runs.",
            field="period_start",
        )
    if raw > latest or period_bounds(raw)[1] > current:
        raise Invalid(
            f"The week starting {raw.isoformat()} ends "
            f"{period_bounds(raw)[1]:%Y-%m-%d %H:%M} UTC, which is in the future; a report "
            f"covers a complete week. The last complete Monday-to-Monday week starts on "
            f"{last_complete_week(current).isoformat()}.",
            field="period_start",
        )
    return raw


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_of(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(payload)).hexdigest()


def _num(value: Any) -> float | None:
    """A float for the payload, rounded (so it survives a JSON round trip in any database)."""
    if value is None:
        return None
    f = float(value)
    if not math.isfinite(f):
        return None
    return round(f, _DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def filename_of(report: Report) -> str:
    return f"weekly_{report.period_start.astimezone(UTC).date().isoformat()}.json"


# --- the payload, aggregated in the database ----------------------------------------------------


def _week(org_id: int, start: datetime, end: datetime) -> Any:
    return scoped(Run, org_id=org_id).filter(started_at__gte=start, started_at__lt=end)


async def _top_scenarios(org_id: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
    rows = (
        await _week(org_id, start, end)
        .annotate(runs=Count("id"), total=baselines_candidates.credit_sum())
        .group_by("scenario_id")
        .order_by("-total", "scenario_id")
        .limit(TOP)
        .values("scenario_id", "runs", "total")
    )
    ids = [int(r["scenario_id"]) for r in rows]
    keys: dict[int, str] = {}
    medians: dict[int, float] = {}
    if ids:
        keys = dict(
            await scoped(Scenario, org_id=org_id).filter(id__in=ids).values_list("id", "key")
        )
        medians = dict(
            await scoped(Baseline, org_id=org_id)
            .filter(scenario_id__in=ids)
            .values_list("scenario_id", "median")
        )
    out = []
    for r in rows:
        # Sums in Decimal (NUMERIC on PostgreSQL): a week of large runs stays a number.
        sid, n = int(r["scenario_id"]), int(r["runs"])
        total = baselines_candidates.as_decimal(r["total"])
        median = medians.get(sid)
        expected = n * Decimal(str(median)) if median else None
        out.append(
            {
                "scenario": keys.get(sid, str(sid)),
                "runs": n,
                "total": _num(total),
                "avg": _num(total / n) if n else None,
                "baseline_median": _num(median),
                "variance_multiplier": _num(total / expected) if expected else None,
            }
        )
    return out


async def _top_spikes(org_id: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
    rows = (
        await _week(org_id, start, end)
        .filter(multiplier__isnull=False)
        .order_by("-multiplier", "id")
        .limit(TOP)
        .values(
            "id", "run_id", "credits_total", "multiplier", "severity",
            scenario_key="scenario__key", case_number="case__number",
        )
    )  # fmt: skip
    return [
        {
            "id": int(r["id"]),
            "run_id": r["run_id"],
            "scenario": r["scenario_key"],
            "credits": _num(r["credits_total"]),
            "multiplier": _num(r["multiplier"]),
            "severity": _sev(r["severity"]),
            "case_number": _case_number(r["case_number"]),
        }
        for r in rows
    ]


def _sev(value: Any) -> str | None:
    if value is None:
        return None
    return value.value if isinstance(value, Severity) else str(value)


def _case_number(number: Any) -> str | None:
    return None if number is None else case_ref(int(number))


async def _severity_counts(org_id: int, start: datetime, end: datetime) -> dict[str, int]:
    """One pass: per severity, and for the unclassified runs whether they had no baseline (no
    severity and no baseline median; they carry the no_baseline flag)."""
    counts = {s.value: 0 for s in Severity} | {"none": 0, "no_baseline": 0}
    rows = (
        await _week(org_id, start, end)
        .annotate(n=Count("id"), without=Count("id", _filter=Q(baseline_median__isnull=True)))
        .group_by("severity")
        .values_list("severity", "n", "without")
    )
    for sev, n, without in rows:
        if sev is not None:
            counts[_sev(sev) or "none"] += int(n)
        else:
            counts["no_baseline"] += int(without)
            counts["none"] += int(n) - int(without)
    return counts


def _cases_of_week(org_id: int, start: datetime, end: datetime) -> Subquery:
    return Subquery(
        _week(org_id, start, end).filter(case_id__isnull=False).distinct().values("case_id")
    )


async def _violations(
    org_id: int, start: datetime, end: datetime, now: datetime
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    out: list[dict[str, Any]] = []
    counts: dict[str, int] = {}

    uncased = _week(org_id, start, end).filter(
        severity__in=[Severity.SEV0, Severity.SEV1], case_id__isnull=True
    )
    counts["sev0_sev1_without_case"] = await uncased.count()
    for r in (
        await uncased.order_by("severity", "-multiplier", "id")
        .limit(MAX_VIOLATIONS)
        .values("id", "run_id", "severity", "multiplier", "started_at", scenario="scenario__key")
    ):
        out.append(
            {
                "kind": "sev0_sev1_without_case",
                "id": int(r["id"]),
                "run_id": r["run_id"],
                "scenario": r["scenario"],
                "severity": _sev(r["severity"]),
                "multiplier": _num(r["multiplier"]),
                "started_at": _ts(r["started_at"]),
            }
        )

    # Stale: still open or investigating and no case event (any change, note, link) for
    # STALE_AFTER before the report was generated; a case with no event counts from opening.
    linked = scoped(Case, org_id=org_id).filter(id__in=_cases_of_week(org_id, start, end))
    working = await (
        linked.filter(status__in=_WORKING)
        .order_by("number")
        .values("id", "number", "status", "opened_at")
    )
    last_event: dict[int, datetime] = {}
    if working:
        last_event = dict(
            await scoped(CaseEvent, org_id=org_id)
            .filter(case_id__in=[int(c["id"]) for c in working])
            .annotate(last=Max("at"))
            .group_by("case_id")
            .values_list("case_id", "last")
        )
    stale = []
    for c in working:
        last = max(x for x in (c["opened_at"], last_event.get(int(c["id"]))) if x is not None)
        if last <= now - STALE_AFTER:
            stale.append(
                {
                    "kind": "stale_case",
                    "case_id": int(c["id"]),
                    "case_number": _case_number(c["number"]),
                    "status": _status(c["status"]),
                    "last_activity_at": _ts(last),
                    "days_inactive": (now - last).days,
                }
            )
    counts["stale_case"] = len(stale)
    out.extend(stale[:MAX_VIOLATIONS])

    no_cause = linked.filter(status__in=_DONE, root_cause__isnull=True)
    counts["resolved_without_root_cause"] = await no_cause.count()
    for c in (
        await no_cause.order_by("number")
        .limit(MAX_VIOLATIONS)
        .values("id", "number", "status", "resolved_at")
    ):
        out.append(
            {
                "kind": "resolved_without_root_cause",
                "case_id": int(c["id"]),
                "case_number": _case_number(c["number"]),
                "status": _status(c["status"]),
                "resolved_at": _ts(c["resolved_at"]) if c["resolved_at"] else None,
            }
        )
    return out, counts


def _status(value: Any) -> str:
    return value.value if isinstance(value, CaseStatus) else str(value)


async def _candidates(org_id: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
    policy = (await controls.current_policy(org_id)).policy
    found = await baselines_candidates.candidates_in_period(org_id, start, end, policy)
    return [
        {
            "scenario": c.scenario_key,
            "runs": c.runs,
            "median": _num(c.median),
            "cv": _num(c.cv),
            "current_median": _num(c.current_median),
            "change_pct": _num(c.change_pct),
        }
        for c in found
        if c.is_candidate
    ]


# --- the PII false-positive rate, as the report shows it -----------------------------------------


def _rate_payload(r: pii_rate.FalsePositiveRate) -> dict[str, Any]:
    return {
        "period_start": _ts(r.period_start),
        "period_end": _ts(r.period_end),
        "flagged": r.flagged,
        "declassified": r.declassified,
        "rate": _num(r.rate),
    }


async def _pii_false_positives(org_id: int, start: datetime, end: datetime) -> dict[str, Any]:
    week = await pii_rate.false_positive_counts(org_id, start, end)
    days = timedelta(days=pii_rate.FALSE_POSITIVE_DAYS)
    month = await pii_rate.false_positive_counts(org_id, end - days, end)
    return {"week": _rate_payload(week), "last_30_days": _rate_payload(month)}


async def build_payload(org: Organization, period_start: date, now: datetime) -> dict[str, Any]:
    """The report's content for the week starting `period_start` (read-only)."""
    start, end = period_bounds(period_start)
    # Independent read-only aggregates: run them side by side (PostgreSQL serves them on
    # separate pooled connections; SQLite serializes them).
    (
        (violations, violation_counts),
        severities,
        top,
        spikes,
        candidates,
        false_positives,
    ) = await asyncio.gather(
        _violations(org.id, start, end, now),
        _severity_counts(org.id, start, end),
        _top_scenarios(org.id, start, end),
        _top_spikes(org.id, start, end),
        _candidates(org.id, start, end),
        _pii_false_positives(org.id, start, end),
    )
    return {
        "kind": KIND,
        "org": org.slug,
        "period_start": _ts(start),
        "period_end": _ts(end),
        "generated_at": _ts(now),
        "severity_counts": severities,
        "top_scenarios_by_total": top,
        "top_spike_runs": spikes,
        "policy_violations": violations,
        "policy_violation_counts": violation_counts,
        "baseline_candidates": candidates,
        "pii_false_positives": false_positives,
    }


def summary_of(report: Report) -> dict[str, Any]:
    """The review-channel message (and the CLI's summary) of a stored report."""
    p = report.payload
    return {
        "report_id": report.id,
        "period_start": p["period_start"],
        "period_end": p["period_end"],
        "severity_counts": p["severity_counts"],
        "top_scenarios": [
            {"scenario": s["scenario"], "total": s["total"]}
            for s in p["top_scenarios_by_total"][:SUMMARY_TOP]
        ],
        "violations": sum(p.get("policy_violation_counts", {}).values()),
        "candidates": len(p["baseline_candidates"]),
        "sha256": report.sha256,
    }


# --- generation ---------------------------------------------------------------------------------


async def _stored(org_id: int, period_start: date) -> Report | None:
    start, _ = period_bounds(period_start)
    return await scoped(Report, org_id=org_id).get_or_none(kind=KIND, period_start=start)


async def _generate(org_id: int, period_start: date, actor: Actor, created_by: str) -> Report:
    existing = await _stored(org_id, period_start)
    if existing is not None:
        return existing
    org = await scoped(Organization, org_id=org_id).get()
    now = datetime.now(UTC)
    payload = await build_payload(org, period_start, now)
    digest = sha256_of(payload)
    start, end = period_bounds(period_start)
    try:
        async with in_transaction() as conn:
            report = await Report.create(
                org_id=org_id, kind=KIND, period_start=start, period_end=end, payload=payload,
                sha256=digest, created_at=now, created_by=created_by, using_db=conn,
            )  # fmt: skip
            counts = payload["severity_counts"]
            await store.append(
                actor,
                Entry(
                    "report.generate",
                    "report",
                    report.id,
                    {},
                    {
                        "kind": KIND,
                        "period_start": payload["period_start"],
                        "period_end": payload["period_end"],
                        "sha256": digest,
                        "severity_counts": counts,
                    },
                ),
                conn,
            )
            suppressed = kill_switches.suppression_on(
                await kill_switches.active_switches(org_id, now, conn)
            )
            await outbox.add(
                conn, org_id, outbox.Channel.REVIEW, "report.weekly", summary_of(report),
                suppressed=suppressed, now=now,
            )  # fmt: skip
    except IntegrityError:
        # Someone generated the same week meanwhile (the unique constraint): theirs stands.
        raced = await _stored(org_id, period_start)
        if raced is None:
            raise
        return raced
    if not suppressed:
        await outbox.kick()
    return report


async def generate_weekly_report(principal: Principal, period_start: date | str) -> Report:
    """The report of the week starting `period_start` (00:00 UTC, 7 days); the stored one when
    it was generated before. The week must have ended."""
    principal.require(Perm.REPORT_GENERATE)
    day = parse_period_start(period_start)
    return await _generate(principal.org_id, day, principal.actor, principal.actor.actor)


async def generate_weekly_report_system(org_id: int, period_start: date | str) -> Report:
    """As `generate_weekly_report`, for the Monday job: audited as the system actor scheduler."""
    day = parse_period_start(period_start)
    actor = Actor(org_id=org_id, actor=SCHEDULER, actor_type="system")
    return await _generate(org_id, day, actor, SCHEDULER)


# --- reads --------------------------------------------------------------------------------------


def page_cursor(report: Report) -> str:
    return f"{report.period_start.astimezone(UTC).date().isoformat()}_{report.id}"


def _parse_cursor(raw: str) -> tuple[datetime, int]:
    try:
        day, _, pk = raw.partition("_")
        start, ident = period_bounds(date.fromisoformat(day))[0], int(pk)
    except (ValueError, OverflowError):
        start, ident = datetime.min.replace(tzinfo=UTC), 0
    if ident <= 0 or ident > 2**31 - 1:
        raise Invalid("after is not a cursor of this list; start from the first page.",
                      field="after")  # fmt: skip
    return start, ident


async def list_reports(
    principal: Principal, first: int = 20, after: str | None = None
) -> ReportPage:
    """The organization's reports, newest period first; `after` is the `end_cursor` of the page
    before."""
    principal.require(Perm.REPORT_READ)
    size = validation.page_size(first, MAX_PAGE)
    query = scoped(Report, principal)
    if after is not None and after != "":
        if not isinstance(after, str) or len(after) > 40:
            raise Invalid("after is not a cursor of this list; start from the first page.",
                          field="after")  # fmt: skip
        start, ident = _parse_cursor(after)
        query = query.filter(Q(period_start__lt=start) | Q(period_start=start, id__lt=ident))
    rows = await query.order_by("-period_start", "-id").limit(size + 1)
    items = rows[:size]
    more = len(rows) > size
    return ReportPage(items, page_cursor(items[-1]) if items and more else None, more)


async def get_report(principal: Principal, report_id: str | int) -> Report:
    """One report; viewing it writes the data-access audit event `report.view`."""
    principal.require(Perm.REPORT_READ)
    report = await get_scoped(Report, principal, report_id, "Report")
    await access(principal, "report.view", "report", report.id)
    return report


async def creators(principal: Principal, rows: list[Report]) -> dict[str, str]:
    """Who generated each report, as people read it (`created_by` is `user:N`, `token:N`,
    `cli` or `scheduler`): a name, "deleted user" or "system"."""
    return await users.actor_labels(principal.org_id, [r.created_by for r in rows])


@dataclass(frozen=True)
class ReportFile:
    filename: str  # weekly_<period start>.json
    body: bytes  # the canonical JSON, exactly
    sha256: str


async def report_file(principal: Principal, report_id: str | int) -> ReportFile:
    """The report as the file to download, audited as `report.export`."""
    principal.require(Perm.REPORT_READ)
    report = await get_scoped(Report, principal, report_id, "Report")
    body = canonical(report.payload)
    await access(principal, "report.export", "report", report.id, detail={"sha256": report.sha256})
    return ReportFile(filename_of(report), body, report.sha256)


async def report_json(principal: Principal, report_id: str | int) -> tuple[bytes, str]:
    """The stored canonical JSON of a report and its SHA-256, for download (`report.export`)."""
    f = await report_file(principal, report_id)
    return f.body, f.sha256
