"""What is waiting for one person (PRODUCT.md "Home: what is waiting for me"), for the home page
and the GraphQL `myWork`: each item a count and the page it links to.

- my alerts by status (assigned to me, not closed), and those past their SLA;
- my default and pinned views with their cached counts (`views.counts`);
- decisions waiting for me: case resolutions, baseline changes, policy changes, reruns,
  quarantine releases, view promotions to review: each only with the permission to decide, and
  never a request of my own (maker-checker: `approvals.decision_for`);
- my own requests and their state, a rejection with its reason;
- open SEV0/SEV1 runs for those who read the ledger: their case is not resolved or closed yet,
  or they are still quarantined;
- GDPR requests past their 30-day deadline, for those who decide them (admins, compliance
  reviewers): shown only when there is one.

A section appears only when the person's roles give it a meaning; an empty one says so in a few
words. Cost: a handful of small queries, each on an index, whatever the size of the queues; the
counts of views come from their cache.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from tortoise.expressions import Q

from riskops.server.core import approvals
from riskops.server.core.formatting import case_ref
from riskops.server.core.permissions import ROLE_TEXT, Perm, Role
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit.auto_actions import CLOSED_CASE
from riskops.server.credit.models import (
    BaselineChange,
    PolicyVersion,
    RerunRequest,
    RerunStatus,
    Run,
)
from riskops.server.credit.terms import Severity
from riskops.server.operations import gdpr
from riskops.server.response.work import response_section
from riskops.server.triage.models import Alert, AlertStatus, Case, CaseEvent, CaseStatus
from riskops.server.views import counts, preferences, promotion_reads
from riskops.server.views.definitions import QUEUES
from riskops.server.views.models import OPEN_PROMOTION, PromotionStatus
from riskops.server.work.items import MAX_ENTRIES, Entry, Item, Section

# Decided requests stay on their maker's home this long (a rejection and its reason included).
RECENT = timedelta(days=14)
MY_ALERTS_CAP = 500  # my open alerts read to count them (10 ms on 1,000,000 alerts)
SCAN_CAP = 1000  # rows read to count what waits for a decision (far more than anyone works)
OPEN_ALERT = (
    AlertStatus.NEW,
    AlertStatus.ASSIGNED,
    AlertStatus.ESCALATED,
    AlertStatus.PENDING_INFO,
)
OPEN_SEVERITIES = (Severity.SEV0, Severity.SEV1)


@dataclass(frozen=True)
class MyWork:
    sections: tuple[Section, ...]
    roles: tuple[tuple[str, str], ...] = field(default=())  # (role, what it may do, one line)

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)


def _href(path: str, **params: object) -> str:
    pairs = [(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])]
    return f"{path}?{urlencode(pairs)}" if pairs else path


async def my_work(principal: Principal, *, now: datetime | None = None) -> MyWork:
    now = now or datetime.now(UTC)
    sections: list[Section] = []
    if principal.can(Perm.ALERT_TRIAGE):
        sections.append(await _my_alerts(principal, now))
    if any(principal.can(spec.read) for spec in QUEUES.values()):
        sections.append(await _my_views(principal, now))
    if deciding := await _decisions(principal):
        sections.append(deciding)
    if requests := await _my_requests(principal, now):
        sections.append(requests)
    if principal.can(Perm.RUN_READ):
        sections.append(await _open_runs(principal))
    if overdue := await _gdpr_overdue(principal, now):
        sections.append(overdue)
    if response := await response_section(principal, now):  # issue 16: the most urgent, first
        sections.insert(0, response)
    roles = tuple((r.value, ROLE_TEXT[r]) for r in Role if r.value in principal.roles)
    return MyWork(tuple(sections), roles)


# --- GDPR requests past their deadline --------------------------------------------------------


async def _gdpr_overdue(principal: Principal, now: datetime) -> Section | None:
    late = await gdpr.overdue_requests(principal, now, limit=MAX_ENTRIES + 1)
    if not late:
        return None
    first = late[0]
    item = Item(
        "gdpr.overdue", "Overdue GDPR requests", len(late[:MAX_ENTRIES]), "/admin/gdpr",
        exact=len(late) <= MAX_ENTRIES,
        detail=f"oldest due {first.due_at:%Y-%m-%d} (request #{first.id}, {first.kind.value})",
    )  # fmt: skip
    return Section(
        "gdpr", "GDPR requests past their deadline", "No GDPR request is past its deadline.",
        (item,),
    )  # fmt: skip


# --- my alerts ---------------------------------------------------------------------------------


async def _my_alerts(principal: Principal, now: datetime) -> Section:
    """Counted from at most MY_ALERTS_CAP of my open alerts, read on the (org, assignee, score)
    index: a GROUP BY over everything assigned to one person reads every row they ever had
    (closed ones included), a second on a queue of millions. Past the cap, the counts are
    lower bounds ("more than")."""
    rows = await (
        scoped(Alert, principal)
        .filter(assignee_id=principal.user_id, status__in=[s.value for s in OPEN_ALERT])
        .order_by("-score", "-id").limit(MY_ALERTS_CAP + 1)
        .values_list("status", "due_at")
    )  # fmt: skip
    exact = len(rows) <= MY_ALERTS_CAP
    rows = rows[:MY_ALERTS_CAP]
    by_status = Counter(AlertStatus(status) for status, _ in rows)
    overdue = sum(1 for _, due in rows if due is not None and due < now)
    items = [
        Item(f"alerts.{s.value}", s.value.replace("_", " ").capitalize(), by_status[s],
             _href("/alerts", assignee="me", status=s.value), exact=exact)
        for s in OPEN_ALERT if by_status.get(s)
    ]  # fmt: skip
    if overdue:
        items.append(
            Item("alerts.overdue", "Past their SLA", overdue,
                 _href("/alerts", assignee="me", status=[s.value for s in OPEN_ALERT], sort="due"),
                 exact=exact, detail="oldest due first")
        )  # fmt: skip
    return Section("alerts", "Assigned to me", "No open alert is assigned to you.", tuple(items))


# --- my views ----------------------------------------------------------------------------------


async def _my_views(principal: Principal, now: datetime) -> Section:
    mine = await preferences.my_views(principal)
    views = [view for view, _ in mine]
    cached = await counts.counts_for(principal, views, now=now)
    items = []
    for view, pref in mine:
        info = cached[view.id]
        marks = [w for w, on in (("default", pref.is_default), ("pinned", pref.pinned)) if on]
        spec = QUEUES[view.queue]
        items.append(
            Item(f"views.{view.id}", view.name, info.count, _href(spec.path, view=view.id),
                 exact=info.exact, detail=f"{spec.label}, {' and '.join(marks)}")
        )  # fmt: skip
    return Section(
        "views", "My views",
        "No default or pinned view: open a queue, pick a view and pin it here.", tuple(items),
    )  # fmt: skip


# --- decisions waiting for me ------------------------------------------------------------------


def _waiting(principal: Principal, perm: Perm, makers: list[int | None]) -> list[int]:
    """The positions of the requests this person may decide (never their own)."""
    return [
        i for i, maker in enumerate(makers)
        if approvals.decision_for(principal, perm, maker).can_decide
    ]  # fmt: skip


async def _decisions(principal: Principal) -> Section | None:
    perms = (Perm.CASE_APPROVE, Perm.BASELINE_APPROVE, Perm.POLICY_MANAGE, Perm.RUN_APPROVE,
             Perm.VIEW_REVIEW)  # fmt: skip
    if not any(principal.can(p) for p in perms):
        return None
    items: list[Item] = []
    if principal.can(Perm.CASE_APPROVE):
        cases = await (
            scoped(Case, principal).filter(status=CaseStatus.PENDING_APPROVAL)
            .order_by("opened_at").limit(SCAN_CAP)
            .values("id", "number", "title", "requested_by_id")
        )  # fmt: skip
        mine = [cases[i] for i in _waiting(principal, Perm.CASE_APPROVE,
                                           [c["requested_by_id"] for c in cases])]  # fmt: skip
        items.append(_item(
            "decide.case_resolutions", "Case resolutions", "/cases?status=pending_approval",
            [Entry(f"{case_ref(c['number'])} {c['title']}", f"/cases/{c['id']}") for c in mine],
        ))  # fmt: skip
    if principal.can(Perm.BASELINE_APPROVE):
        changes = await (
            scoped(BaselineChange, principal).filter(status=approvals.ChangeStatus.PROPOSED)
            .order_by("created_at").limit(SCAN_CAP)
            .values("id", "proposed_by_id", "scenario__key")
        )  # fmt: skip
        mine = [changes[i] for i in _waiting(principal, Perm.BASELINE_APPROVE,
                                             [c["proposed_by_id"] for c in changes])]  # fmt: skip
        items.append(_item(
            "decide.baselines", "Baseline changes", "/scenarios",
            [Entry(f"Baseline of {c['scenario__key']}", f"/scenarios/{c['scenario__key']}")
             for c in mine],
        ))  # fmt: skip
    if principal.can(Perm.POLICY_MANAGE):
        versions = await (
            scoped(PolicyVersion, principal).filter(status=approvals.ChangeStatus.PROPOSED)
            .order_by("number").limit(SCAN_CAP).values("id", "number", "set_by_id")
        )  # fmt: skip
        mine = [versions[i] for i in _waiting(principal, Perm.POLICY_MANAGE,
                                              [v["set_by_id"] for v in versions])]  # fmt: skip
        items.append(_item(
            "decide.policy", "Policy changes", "/policy",
            [Entry(f"Policy version {v['number']}", "/policy") for v in mine],
        ))  # fmt: skip
    if principal.can(Perm.RUN_APPROVE):
        items.append(await _reruns_to_decide(principal))
        items.append(await _releases(principal))
    if principal.can(Perm.VIEW_REVIEW):
        waiting = await promotion_reads.waiting_for_review(principal)
        items.append(_item(
            "decide.view_promotions", "View promotions to review", "/views/requests",
            [Entry(f"Promotion of view {r.snapshot.get('name', r.view_id)}",
                   f"/views/requests/{r.id}") for r in waiting],
        ))  # fmt: skip
    shown = tuple(i for i in items if i.count)
    return Section(
        "decisions", "Waiting for my decision", "Nothing waits for your decision.", shown
    )


def _item(key: str, label: str, href: str, entries: list[Entry]) -> Item:
    """An item of `entries`: one entry links to itself, several to their list."""
    target = entries[0].href if len(entries) == 1 else href
    return Item(key, label, len(entries), target, entries=tuple(entries[:MAX_ENTRIES]))


async def _reruns_to_decide(principal: Principal) -> Item:
    asked = await (
        scoped(RerunRequest, principal).filter(status=RerunStatus.PENDING)
        .order_by("requested_at").limit(SCAN_CAP)
        .values("id", "run_id", "requested_by_id", "run__run_id")
    )  # fmt: skip
    mine = [asked[i] for i in _waiting(principal, Perm.RUN_APPROVE,
                                       [r["requested_by_id"] for r in asked])]  # fmt: skip
    return _item(
        "decide.reruns", "Reruns", "/runs",
        [Entry(f"Rerun of {r['run__run_id']}", f"/runs/{r['run_id']}") for r in mine],
    )  # fmt: skip


async def _releases(principal: Principal) -> Item:
    """Quarantined runs whose case is resolved or closed: the release may go ahead
    (`credit.quarantine.release_quarantine`). No maker: the system quarantined them."""
    held = await (
        scoped(Run, principal)
        .filter(quarantined=True, case__status__in=[s.value for s in CLOSED_CASE])
        .order_by("started_at").limit(SCAN_CAP).values("id", "run_id")
    )  # fmt: skip
    return _item(
        "decide.quarantine_releases", "Quarantine releases", "/runs?quarantined=1",
        [Entry(f"Run {r['run_id']}", f"/runs/{r['id']}") for r in held],
    )  # fmt: skip


# --- my own requests ---------------------------------------------------------------------------

_CHANGE_STATE = {
    approvals.ChangeStatus.PROPOSED: "waiting for an approver",
    approvals.ChangeStatus.APPROVED: "approved",
    approvals.ChangeStatus.REJECTED: "rejected",
}
_RERUN_STATE = {
    RerunStatus.PENDING: "waiting for an approver",
    RerunStatus.APPROVED: "approved",
    RerunStatus.DENIED: "denied",
    RerunStatus.USED: "approved and used",
}
_PROMOTION_STATE = {
    PromotionStatus.VALIDATING: "being validated",
    PromotionStatus.INVALID: "refused by the validation: see its problems",
    PromotionStatus.PENDING_REVIEW: "waiting for the reviewers",
    PromotionStatus.APPROVED: "approved, being published",
    PromotionStatus.PUBLISHED: "published",
    PromotionStatus.DECLINED: "declined",
    PromotionStatus.WITHDRAWN: "withdrawn",
}


async def _my_requests(principal: Principal, now: datetime) -> Section | None:
    perms = (Perm.CASE_WORK, Perm.BASELINE_PROPOSE, Perm.POLICY_MANAGE, Perm.RERUN_REQUEST,
             Perm.VIEW_SAVE)  # fmt: skip
    if not any(principal.can(p) for p in perms):
        return None
    since = now - RECENT
    items: list[Item] = []
    if principal.can(Perm.CASE_WORK):
        items.append(await _my_case_requests(principal, since))
    if principal.can(Perm.BASELINE_PROPOSE):
        changes = await (
            scoped(BaselineChange, principal)
            .filter(Q(status=approvals.ChangeStatus.PROPOSED) | Q(decided_at__gte=since),
                    proposed_by_id=principal.user_id)
            .order_by("-created_at").limit(MAX_ENTRIES)
            .values("status", "decision_rationale", "scenario__key")
        )  # fmt: skip
        items.append(_requests(
            "mine.baselines", "Baseline changes", "/scenarios",
            [Entry(f"Baseline of {c['scenario__key']}", f"/scenarios/{c['scenario__key']}",
                   _CHANGE_STATE[approvals.ChangeStatus(c["status"])],
                   _reason(c["status"] == approvals.ChangeStatus.REJECTED, c["decision_rationale"]))
             for c in changes],
        ))  # fmt: skip
    if principal.can(Perm.POLICY_MANAGE):
        versions = await (
            scoped(PolicyVersion, principal)
            .filter(Q(status=approvals.ChangeStatus.PROPOSED) | Q(decided_at__gte=since),
                    set_by_id=principal.user_id)
            .order_by("-number").limit(MAX_ENTRIES)
            .values("number", "status", "decision_reason")
        )  # fmt: skip
        items.append(_requests(
            "mine.policy", "Policy changes", "/policy",
            [Entry(f"Policy version {v['number']}", "/policy",
                   _CHANGE_STATE[approvals.ChangeStatus(v["status"])],
                   _reason(v["status"] == approvals.ChangeStatus.REJECTED, v["decision_reason"]))
             for v in versions],
        ))  # fmt: skip
    if principal.can(Perm.RERUN_REQUEST):
        asked = await (
            scoped(RerunRequest, principal)
            .filter(Q(status=RerunStatus.PENDING) | Q(decided_at__gte=since),
                    requested_by_id=principal.user_id)
            .order_by("-requested_at").limit(MAX_ENTRIES)
            .values("run_id", "status", "deny_reason", "run__run_id")
        )  # fmt: skip
        items.append(_requests(
            "mine.reruns", "Reruns", "/runs",
            [Entry(f"Rerun of {r['run__run_id']}", f"/runs/{r['run_id']}",
                   _RERUN_STATE[RerunStatus(r["status"])],
                   _reason(r["status"] == RerunStatus.DENIED, r["deny_reason"]))
             for r in asked],
        ))  # fmt: skip
    if principal.can(Perm.VIEW_SAVE):
        items.append(await _my_promotions(principal, since))
    shown = tuple(i for i in items if i.count)
    return Section("requests", "My requests", "You have no open or recently decided request.",
                   shown)  # fmt: skip


def _reason(rejected: bool, reason: str | None) -> str:
    return (reason or "") if rejected else ""


def _requests(key: str, label: str, href: str, entries: list[Entry]) -> Item:
    """My requests of one kind: the count is of those still waiting; all recent ones listed."""
    waiting = sum(1 for e in entries if e.state.startswith("waiting"))
    detail = f"{waiting} waiting" if waiting != len(entries) else ""
    return Item(key, label, len(entries), entries[0].href if len(entries) == 1 else href,
                detail=detail, entries=tuple(entries))  # fmt: skip


async def _my_case_requests(principal: Principal, since: datetime) -> Item:
    """Resolutions I requested: waiting, approved (resolved by another), or rejected: a
    rejection clears the case's requester and keeps the reason in its history."""
    pending = await (
        scoped(Case, principal)
        .filter(requested_by_id=principal.user_id, archived_at=None)  # archived: out of sight
        .filter(Q(status=CaseStatus.PENDING_APPROVAL) | Q(resolved_at__gte=since))
        .order_by("-opened_at").limit(MAX_ENTRIES)
        .values("id", "number", "title", "status")
    )  # fmt: skip
    entries = [
        Entry(f"{case_ref(c['number'])} {c['title']}", f"/cases/{c['id']}",
              "waiting for an approver" if c["status"] == CaseStatus.PENDING_APPROVAL
              else "approved")
        for c in pending
    ]  # fmt: skip
    rejections = await (
        scoped(CaseEvent, principal)
        .filter(action="reject_resolution", at__gte=since)
        .order_by("-at").limit(SCAN_CAP)
        .values("case_id", "data", "case__number", "case__title")
    )  # fmt: skip
    listed = {c["id"] for c in pending}
    for ev in rejections:
        data = ev["data"] if isinstance(ev["data"], dict) else {}
        if data.get("requested_by_id") not in principal.own_makers or ev["case_id"] in listed:
            continue  # another's request, or asked again since (listed above)
        listed.add(ev["case_id"])
        entries.append(
            Entry(f"{case_ref(ev['case__number'])} {ev['case__title']}", f"/cases/{ev['case_id']}",
                  "rejected", str(data.get("reason") or ""))
        )  # fmt: skip
    return _requests("mine.case_resolutions", "Case resolutions", "/cases", entries[:MAX_ENTRIES])


async def _my_promotions(principal: Principal, since: datetime) -> Item:
    asked = await promotion_reads.list_requests(principal, mine=True)
    recent = [
        r for r in asked
        if r.status in OPEN_PROMOTION or (r.decided_at or r.updated_at) >= since
    ]  # fmt: skip
    entries = [
        Entry(f"Promotion of view {r.snapshot.get('name', r.view_id)}", f"/views/requests/{r.id}",
              _PROMOTION_STATE[PromotionStatus(r.status)],
              (r.decline_reason or "") if r.status == PromotionStatus.DECLINED else "")
        for r in recent[:MAX_ENTRIES]
    ]  # fmt: skip
    return _requests("mine.view_promotions", "View promotions", "/views/requests", entries)


# --- open SEV0/SEV1 runs -----------------------------------------------------------------------


async def _open_runs(principal: Principal) -> Section:
    """Runs of severity SEV0/SEV1 still open: their case is neither resolved nor closed (or they
    have none yet), or they are still quarantined."""
    closed = [s.value for s in CLOSED_CASE]
    rows = await (
        scoped(Run, principal)
        .filter(severity__in=[s.value for s in OPEN_SEVERITIES])
        .filter(Q(case_id__isnull=True) | ~Q(case__status__in=closed) | Q(quarantined=True))
        .limit(SCAN_CAP).values_list("severity", flat=True)
    )  # fmt: skip
    by = Counter(str(s) for s in rows)
    items = tuple(
        Item(f"runs.{s.value}", f"Open {s.value} runs", by[s.value],
             _href("/runs", severity=s.value), exact=len(rows) < SCAN_CAP)
        for s in OPEN_SEVERITIES if by[s.value]
    )  # fmt: skip
    return Section("runs", "Open SEV0/SEV1 runs", "No SEV0 or SEV1 run is open.", items)
