"""What the assistant may use, and only that: the facts of one alert, case or run gathered in
SQL (scoped to the response's organization), the rows an answer may cite, the PII values the
redactor must hide, and the deterministic structured explanation shown when the assistant is
unavailable.

- explain_alert: the alert's rule hits, signal contributions and transaction summary.
- similar_cases: the most similar closed alerts and the cases they belong to (triage.similar's
  structured similarity, closed only) with how they were resolved.
- escalation_draft: an alert (with its hits, signals, history) or a case (its alerts, notes,
  status, root cause).
- explain_run: a SEV0 to SEV2 run with its flags, multiplier, baseline and the recent runs of its
  scenario.

Facts name people by role ("strategist"), never by name; the names and e-mail addresses of the
people involved are still handed to the redactor (`known_pii`), as notes may mention them. The
structured explanations are built in `structured` (pure), from the rows read here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from riskops.server.assistant import structured as st
from riskops.server.assistant.models import AssistantResponse, ResponseKind, TargetType
from riskops.server.assistant.redaction import known_in
from riskops.server.assistant.structured import Citable as Citable
from riskops.server.assistant.structured import Structured as Structured
from riskops.server.core import formatting as fmt
from riskops.server.core.errors import Invalid, not_found
from riskops.server.core.scoping import scoped
from riskops.server.credit.models import Baseline, Run
from riskops.server.credit.runs import classified_under
from riskops.server.identity.models import User
from riskops.server.triage.models import (
    Alert,
    AlertEvent,
    Case,
    CaseAlert,
    CaseEvent,
    CaseNote,
    InfoRequest,
    RuleHit,
    SignalContribution,
)
from riskops.server.triage.queue import rule_hits_of, signals_of
from riskops.server.triage.similar import SimilarAlert, similar_closed_alerts

MAX_HITS = 20  # rule hits and signals of one alert in the facts (strongest first)
MAX_CASE_ALERTS = 10  # the alerts of a case an escalation draft looks at
CASE_ALERT_HITS = 5  # rule hits and signals of each of them
MAX_NOTES = 5  # the last notes of a case
MAX_NOTE_CHARS = 1500
MAX_HISTORY = 15
MAX_TEXT = 600  # a question, answer, summary or transaction value in the facts
MAX_TX_KEYS = 16
RECENT_RUNS = 10
CASE_RUNS = 5  # the newest runs linked to a case, in its escalation draft

KINDS_OF_TARGET: dict[ResponseKind, frozenset[TargetType]] = {
    ResponseKind.EXPLAIN_ALERT: frozenset({TargetType.ALERT}),
    ResponseKind.SIMILAR_CASES: frozenset({TargetType.ALERT, TargetType.CASE}),
    ResponseKind.ESCALATION_DRAFT: frozenset({TargetType.ALERT, TargetType.CASE}),
    ResponseKind.EXPLAIN_RUN: frozenset({TargetType.RUN}),
}


@dataclass(frozen=True)
class Grounding:
    facts: dict[str, Any]  # what the prompt is built from, before redaction
    known_pii: dict[str, str]  # value -> kind ("CUSTOMER", "ACCOUNT", "NAME", ...)
    citable: dict[str, Citable]  # Citable.key -> Citable
    structured: Structured


@dataclass
class _Builder:
    """What one gathering collects besides the facts."""

    org_id: int
    known: dict[str, str] = field(default_factory=dict)
    citable: dict[str, Citable] = field(default_factory=dict)
    roles: dict[int, str] = field(default_factory=dict)  # user id -> role word for facts

    def cite(self, c: Citable) -> str:
        self.citable.setdefault(c.key, c)
        return c.key

    def pii(self, value: Any, kind: str) -> None:
        if isinstance(value, str) and value.strip():
            self.known.setdefault(value.strip(), kind)

    async def people(self, ids: set[int | None]) -> None:
        """Learn the roles of these users for the facts, and hide their names and e-mails."""
        wanted = {i for i in ids if i and i not in self.roles}
        if not wanted:
            return
        for user in await scoped(User, org_id=self.org_id).filter(id__in=sorted(wanted)):
            self.roles[user.id] = _role(user.roles)
            self.pii(user.name, "NAME")
            self.pii(user.email, "EMAIL")

    def role(self, user_id: int | None) -> str | None:
        return self.roles.get(user_id) if user_id else None


_ROLE_ORDER = ("strategist", "approver", "operator", "admin", "viewer")


def _role(roles: Any) -> str:
    held = [str(r) for r in roles or []]
    return next((r for r in _ROLE_ORDER if r in held), held[0] if held else "user")


def _actor_id(actor: str) -> int | None:
    kind, _, ident = (actor or "").partition(":")
    return int(ident) if kind == "user" and ident.isdigit() else None


def _short(value: Any, limit: int = MAX_TEXT) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    return value


def _when(value: Any) -> str | None:
    return fmt.when(value) if value else None


def _bounded(value: Any, depth: int = 2) -> Any:
    """A copy small enough for a prompt: nested at most `depth`, texts cut, lists and objects
    at most MAX_TX_KEYS items."""
    if isinstance(value, dict):
        if depth <= 0:
            return "…"
        return {str(k): _bounded(v, depth - 1) for k, v in list(value.items())[:MAX_TX_KEYS]}
    if isinstance(value, list):
        if depth <= 0:
            return "…"
        return [_bounded(v, depth - 1) for v in value[:MAX_TX_KEYS]]
    return _short(value, 200)


# --- alerts ------------------------------------------------------------------------------------


@dataclass
class _AlertRows:
    alert: Alert
    hits: list[RuleHit]
    signals: list[SignalContribution]


async def _alerts(org_id: int, ids: list[int]) -> list[_AlertRows]:
    """The organization's alerts among `ids` with their hits and signals, in `ids` order."""
    if not ids:
        return []
    found = {a.id: a for a in await scoped(Alert, org_id=org_id).filter(id__in=ids)}
    keep = [i for i in ids if i in found]
    hits, signals = await rule_hits_of(keep), await signals_of(keep)
    return [_AlertRows(found[i], hits.get(i, []), signals.get(i, [])) for i in keep]


async def _alert(org_id: int, alert_id: int) -> _AlertRows:
    rows = await _alerts(org_id, [alert_id])
    if not rows:
        raise not_found("alert", alert_id)
    return rows[0]


def _transaction(alert: Alert) -> dict[str, Any]:
    tx = alert.transaction if isinstance(alert.transaction, dict) else {}
    summary: dict[str, Any] = {}
    if alert.amount is not None:
        summary["amount"] = fmt.money(float(alert.amount), alert.currency)
    summary.update(_bounded(tx))
    return summary


def _alert_facts(r: _AlertRows, b: _Builder, n_hits: int = MAX_HITS) -> dict[str, Any]:
    a = r.alert
    b.pii(a.customer_ref, "CUSTOMER")
    b.pii(a.account_ref, "ACCOUNT")
    known_in(a.transaction, b.known)
    hits = []
    for h in r.hits[:n_hits]:
        known_in(h.matched_values, b.known)
        hits.append(
            {
                "cite": b.cite(st.rule_citable(a.id, h)),
                "name": h.name,
                "version": h.version,
                "score_contribution": round(h.score_contribution, 2),
                "matched_values": _bounded(h.matched_values),
            }
        )
    known_in({s.signal: s.value for s in r.signals[:n_hits]}, b.known)  # payee_name, ...
    signals = [
        {
            "cite": b.cite(st.signal_citable(a.id, s)),
            "value": _bounded(s.value),
            "model_points": round(s.contribution, 2),
            "direction": "raises the risk" if s.direction.value == "up" else "lowers the risk",
        }
        for s in r.signals[:n_hits]
    ]
    return {
        "cite": b.cite(st.alert_citable(a)),
        "external_id": a.external_id,
        "title": a.title,
        "source": a.source,
        "score": round(a.score, 1),
        "priority": a.priority.value,
        "status": a.status.value,
        "disposition": a.disposition.value if a.disposition else None,
        "received": _when(a.created_at),
        "customer": a.customer_ref,
        "account": a.account_ref,
        "transaction": _transaction(a),
        "rule_hits": hits,
        "more_rule_hits": max(0, len(r.hits) - n_hits),
        "signals": signals,
        "more_signals": max(0, len(r.signals) - n_hits),
    }


async def _cases_of(org_id: int, alert_ids: list[int]) -> dict[int, list[Case]]:
    """The cases each alert belongs to (of the organization), oldest link first."""
    out: dict[int, list[Case]] = {}
    if not alert_ids:
        return out
    links = await CaseAlert.filter(alert_id__in=alert_ids).order_by("linked_at", "id")
    cases = {
        c.id: c for c in await scoped(Case, org_id=org_id).filter(id__in={x.case_id for x in links})
    }
    for link in links:
        if link.case_id in cases:
            out.setdefault(link.alert_id, []).append(cases[link.case_id])
    return out


def _case_brief(c: Case, b: _Builder) -> dict[str, Any]:
    return {
        "cite": b.cite(st.case_citable(c)),
        "title": c.title,
        "status": c.status.value,
        "severity": c.severity.value,
        "root_cause": c.root_cause.value if c.root_cause else None,
        "resolution_summary": _short(c.resolution_summary),
        "resolved": _when(c.resolved_at),
    }


# --- each kind ---------------------------------------------------------------------------------


async def _explain_alert(b: _Builder, alert_id: int) -> tuple[dict[str, Any], Structured]:
    r = await _alert(b.org_id, alert_id)
    facts = {"alert": _alert_facts(r, b)}
    return facts, st.explain_alert(r.alert, r.hits, r.signals)


async def _first_alert_of(org_id: int, case_id: int) -> int | None:
    await _case(org_id, case_id)
    link = await CaseAlert.filter(case_id=case_id).order_by("linked_at", "id").first()
    return link.alert_id if link else None


async def _similar(
    b: _Builder, target_type: TargetType, target_id: int
) -> tuple[dict[str, Any], Structured]:
    if target_type is TargetType.CASE:
        first = await _first_alert_of(b.org_id, target_id)
        if first is None:
            return {"alert": None, "similar_closed_alerts": []}, st.similar_cases(None, [])
        alert_id = first
    else:
        alert_id = target_id
    r = await _alert(b.org_id, alert_id)
    found: list[SimilarAlert] = await similar_closed_alerts(r.alert)
    cases = await _cases_of(b.org_id, [s.alert.id for s in found])
    if target_type is TargetType.CASE:  # the case's own alerts are not look-alikes of it
        found = [s for s in found if all(c.id != target_id for c in cases.get(s.alert.id, []))]
    hits = await rule_hits_of([s.alert.id for s in found])
    similar = []
    for s in found:
        o = s.alert
        b.pii(o.customer_ref, "CUSTOMER")
        b.pii(o.account_ref, "ACCOUNT")
        known_in(o.transaction, b.known)
        similar.append(
            {
                "cite": b.cite(st.alert_citable(o)),
                "title": o.title,
                "score": round(o.score, 1),
                "received": _when(o.created_at),
                "closed": _when(o.closed_at),
                "disposition": o.disposition.value if o.disposition else None,
                "why_similar": s.reasons or ["close signal profile"],
                "similarity_score": s.score,
                "rules": [h.rule_id for h in hits.get(o.id, [])[:CASE_ALERT_HITS]],
                "cases": [_case_brief(c, b) for c in cases.get(o.id, [])],
            }
        )
    facts = {"alert": _alert_facts(r, b, CASE_ALERT_HITS), "similar_closed_alerts": similar}
    structured = st.similar_cases(r.alert, [(s, cases.get(s.alert.id, [])) for s in found])
    return facts, structured


async def _alert_escalation(b: _Builder, alert_id: int) -> tuple[dict[str, Any], Structured]:
    r = await _alert(b.org_id, alert_id)
    a = r.alert
    events = list(
        await scoped(AlertEvent, org_id=b.org_id)
        .filter(alert_id=a.id)
        .order_by("-at", "-id")
        .limit(MAX_HISTORY)
    )
    events.reverse()
    info = list(await InfoRequest.filter(alert_id=a.id).order_by("asked_at", "id"))
    cases = (await _cases_of(b.org_id, [a.id])).get(a.id, [])
    await b.people(
        {a.assignee_id}
        | {_actor_id(e.actor) for e in events}
        | {i.asked_by_id for i in info}
        | {i.answerer_id for i in info}
    )
    facts = {
        "alert": _alert_facts(r, b),
        "assignee": b.role(a.assignee_id),
        "history": [
            {
                "action": e.action,
                "from": e.from_status,
                "to": e.to_status,
                "by": b.role(_actor_id(e.actor)) or ("system" if e.actor else None),
                "at": _when(e.at),
                **{
                    k: _short(v)
                    for k, v in (e.data or {}).items()
                    if k in ("comment", "reason", "disposition")  # questions: below
                },
            }
            for e in events
        ],
        "information_requests": [
            {
                "question": _short(i.question),
                "asked_by": b.role(i.asked_by_id),
                "answerer": b.role(i.answerer_id),
                "asked": _when(i.asked_at),
                "answer": _short(i.answer),
                "answered": _when(i.answered_at),
            }
            for i in info
        ],
        "cases": [_case_brief(c, b) for c in cases],
    }
    open_questions = sum(1 for i in info if i.answered_at is None)
    return facts, st.escalation_alert(a, r.hits, r.signals, cases, open_questions)


async def _case(org_id: int, case_id: int) -> Case:
    case = await scoped(Case, org_id=org_id).get_or_none(id=case_id)
    if case is None:
        raise not_found("Case", case_id)
    return case


async def _case_escalation(b: _Builder, case_id: int) -> tuple[dict[str, Any], Structured]:
    case = await _case(b.org_id, case_id)
    links = await CaseAlert.filter(case_id=case.id).order_by("linked_at", "id")
    rows = await _alerts(b.org_id, [x.alert_id for x in links][:MAX_CASE_ALERTS])
    notes = list(
        await CaseNote.filter(case_id=case.id).order_by("-created_at", "-id").limit(MAX_NOTES)
    )
    notes.reverse()
    events = list(
        await scoped(CaseEvent, org_id=b.org_id)
        .filter(case_id=case.id)
        .order_by("-at", "-id")
        .limit(MAX_HISTORY)
    )
    events.reverse()
    await b.people(
        {case.assignee_id, case.opened_by_id, case.requested_by_id, case.approved_by_id}
        | {n.author_id for n in notes}
        | {_actor_id(e.actor) for e in events}
    )
    facts = {
        "case": {
            **_case_brief(case, b),
            "opened": _when(case.opened_at),
            "assignee": b.role(case.assignee_id),
            "alert_count": len(links),
        },
        "alerts": [_alert_facts(r, b, CASE_ALERT_HITS) for r in rows],
        "more_alerts": max(0, len(links) - len(rows)),
        "notes": [
            {
                "by": b.role(n.author_id),
                "at": _when(n.created_at),
                "text": _short(n.body, MAX_NOTE_CHARS),
            }
            for n in notes
        ],
        "history": [
            {
                "action": e.action,
                "from": e.from_status,
                "to": e.to_status,
                "by": b.role(_actor_id(e.actor)) or ("system" if e.actor else None),
                "at": _when(e.at),
            }
            for e in events
        ],
    }
    # a case a run opened (SEV0, SEV1) may have no alert: its runs say what it is about
    runs = list(
        await scoped(Run, org_id=b.org_id)
        .filter(case_id=case.id)
        .order_by("-started_at", "-id")
        .limit(CASE_RUNS)
    )
    facts["runs"] = [_run_brief(r, b) for r in runs]
    triples = [(r.alert, r.hits, r.signals) for r in rows]
    return facts, st.escalation_case(case, triples, len(links), notes, runs)


def _run_brief(r: Run, b: _Builder) -> dict[str, Any]:
    return {
        "cite": b.cite(st.run_citable(r)),
        "started": _when(r.started_at),
        "credits_total": round(r.credits_total, 2),
        "multiplier": round(r.multiplier, 2) if r.multiplier is not None else None,
        "severity": r.severity.value if r.severity else None,
        "flags": [str(f) for f in r.flags or []],
    }


def _flag_reasons(run: Run) -> dict[str, str]:
    flags = [str(f) for f in run.flags or []]
    sentences = [str(s) for s in run.explanations or []]
    return {f: sentences[i + 1] for i, f in enumerate(flags) if i + 1 < len(sentences)}


async def _explain_run(b: _Builder, run_pk: int) -> tuple[dict[str, Any], Structured]:
    run = (
        await scoped(Run, org_id=b.org_id).select_related("scenario", "case").get_or_none(id=run_pk)
    )
    if run is None:
        raise not_found("Run", run_pk)
    scenario = run.scenario
    baseline = await scoped(Baseline, org_id=b.org_id).get_or_none(scenario_id=scenario.id)
    under = await classified_under(run)
    recent = list(
        await scoped(Run, org_id=b.org_id)
        .filter(scenario_id=scenario.id, started_at__lte=run.started_at)
        .exclude(id=run.id)
        .order_by("-started_at", "-id")
        .limit(RECENT_RUNS)
    )
    reasons = _flag_reasons(run)
    p = under.policy
    facts: dict[str, Any] = {
        "run": {
            "cite": b.cite(st.run_citable(run)),
            "scenario": scenario.key,
            "scenario_name": scenario.name,
            "job_type": run.job_type,
            "started": _when(run.started_at),
            "finished": _when(run.finished_at),
            "credits_total": round(run.credits_total, 2),
            "baseline_median": run.baseline_median,
            "multiplier": round(run.multiplier, 2) if run.multiplier is not None else None,
            "severity": run.severity.value if run.severity else None,
            "why_this_severity": (run.explanations or [None])[0],
            "misconfig_likelihood": run.misconfig_likelihood,
            "items_processed": run.items_processed,
            "retry_count": run.retry_count,
            "prompt_tokens": run.prompt_tokens,
            "completion_tokens": run.completion_tokens,
            "has_max_items_config": run.has_max_items_config,
            "deployment": run.deployment_ref,
            "deployed": _when(run.deployed_at),
            "data_classification": run.data_classification,
            "quarantined": run.quarantined,
            "dispatch_blocked": run.dispatch_blocked,
            "rerun_gate": run.rerun_gate,
            "case": b.cite(st.case_citable(run.case)) if run.case else None,
        },
        "flags": [
            {"cite": b.cite(st.flag_citable(run, str(f))), "why": reasons.get(str(f))}
            for f in run.flags or []
        ],
        "baseline": (
            {
                "cite": b.cite(st.baseline_citable(scenario)),
                "median_now": baseline.median,
                "cv": baseline.cv,
                "sample_size": baseline.sample_size,
                "window_days": baseline.window_days,
                "source": baseline.source.value,
                "set": _when(baseline.set_at),
            }
            if baseline is not None
            else None
        ),
        "policy": {
            "version": under.number or "defaults",
            "sev0_multiplier": p.sev0_multiplier,
            "sev0_needs": "PII or regulatory data",
            "sev1_multiplier": p.sev1_multiplier,
            "sev2_multiplier": p.sev2_multiplier,
            "sev3_multiplier": p.sev3_multiplier,
            "backfill_relax": p.backfill_relax,
        },
        "recent_runs_of_scenario": [_run_brief(r, b) for r in recent],
    }
    if baseline is None and run.baseline_median is not None:
        b.cite(st.baseline_citable(scenario))
    structured = st.explain_run(run, scenario, baseline, under.number, p, recent, reasons)
    return facts, structured


# --- the contract ------------------------------------------------------------------------------


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _check(
    kind: ResponseKind | str, target_type: TargetType | str
) -> tuple[ResponseKind, TargetType]:
    k, t = ResponseKind(kind), TargetType(target_type)
    if t not in KINDS_OF_TARGET[k]:
        allowed = " or ".join(_a(x.value) for x in sorted(KINDS_OF_TARGET[k]))
        raise Invalid(f"{k.value} is asked of {allowed}, not of {_a(t.value)}.", field="target")
    return k, t


async def _build(
    org_id: int, kind: ResponseKind | str, target_type: TargetType | str, target_id: int
) -> tuple[_Builder, dict[str, Any], Structured]:
    k, t = _check(kind, target_type)
    b = _Builder(org_id)
    if k is ResponseKind.EXPLAIN_ALERT:
        facts, structured = await _explain_alert(b, target_id)
    elif k is ResponseKind.SIMILAR_CASES:
        facts, structured = await _similar(b, t, target_id)
    elif k is ResponseKind.ESCALATION_DRAFT and t is TargetType.ALERT:
        facts, structured = await _alert_escalation(b, target_id)
    elif k is ResponseKind.ESCALATION_DRAFT:
        facts, structured = await _case_escalation(b, target_id)
    else:
        facts, structured = await _explain_run(b, target_id)
    return b, {"kind": k.value, **facts}, structured


async def gather(response: AssistantResponse) -> Grounding:
    """The grounding of `response` (its kind and target), read in its organization only."""
    b, facts, structured = await _build(
        response.org_id, response.kind, response.target_type, response.target_id
    )
    return Grounding(facts, b.known, b.citable, structured)


async def structured(
    org_id: int, kind: ResponseKind, target_type: TargetType, target_id: int
) -> Structured:
    """The structured explanation alone (the panel shows it when the assistant is unavailable,
    without a job)."""
    _, _, result = await _build(org_id, kind, target_type, target_id)
    return result
