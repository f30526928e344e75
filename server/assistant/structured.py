"""The deterministic explanations of the assistant, without an LLM: what the panel shows when
the assistant is unavailable, in the words the alert, case and run pages use, each line with the
rows it rests on. Also the rows an answer may cite (`Citable`), so an answer's citations and the
structured lines link to the same places. Pure: the rows are read by `grounding`.

`grounding` re-exports `Citable` and `Structured` (the names the other modules use).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from riskops.server.core import formatting as fmt
from riskops.server.credit.models import Baseline, Run, Scenario
from riskops.server.credit.terms import Policy
from riskops.server.triage.models import Alert, Case, CaseNote, RuleHit, SignalContribution
from riskops.server.triage.similar import SimilarAlert

TOP = 5  # rules or signals named in one line before "and N more"


@dataclass(frozen=True)
class Citable:
    """One row an answer may cite as `[kind:ref]`, e.g. `[rule:R-101]`, `[signal:velocity_24h]`,
    `[alert:123]`, `[case:CASE-000004]`, `[run:RUN-42]`, `[flag:volume_spike]`."""

    kind: str
    ref: str
    label: str  # what the panel shows for it
    url: str | None = None  # the page of the row (an anchor on the target's page for a hit)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.ref}"


@dataclass(frozen=True)
class Structured:
    """The deterministic explanation (no LLM): a title and lines in the page's words, each with
    the rows it rests on."""

    title: str
    lines: list[tuple[str, list[Citable]]] = field(default_factory=list)


# --- the rows an answer may cite ---------------------------------------------------------------


def _anchor(value: str) -> str:
    return quote(value, safe="-_.~")


def rule_citable(alert_id: int, hit: RuleHit) -> Citable:
    return Citable(
        "rule", hit.rule_id, f"{hit.rule_id} {hit.name}",
        f"/alerts/{alert_id}#rule-{_anchor(hit.rule_id)}",
    )  # fmt: skip


def signal_citable(alert_id: int, sig: SignalContribution) -> Citable:
    return Citable(
        "signal", sig.signal, fmt.field_label(sig.signal),
        f"/alerts/{alert_id}#signal-{_anchor(sig.signal)}",
    )  # fmt: skip


def alert_citable(alert: Alert) -> Citable:
    return Citable("alert", str(alert.id), f"Alert {alert.external_id}", f"/alerts/{alert.id}")


def case_citable(case: Case) -> Citable:
    return Citable(
        "case", case.display_number, f"{case.display_number} {case.title}", f"/cases/{case.id}"
    )


def run_citable(run: Run) -> Citable:
    return Citable("run", run.run_id, f"Run {run.run_id}", f"/runs/{run.id}")


def flag_citable(run: Run, flag: str) -> Citable:
    return Citable("flag", flag, f"Risk flag {flag}", f"/runs/{run.id}#flag-{_anchor(flag)}")


def baseline_citable(scenario: Scenario) -> Citable:
    return Citable(
        "baseline", scenario.key, f"Baseline of {scenario.key}",
        f"/scenarios/{quote(scenario.key, safe='')}",
    )  # fmt: skip


# --- words -------------------------------------------------------------------------------------


def points(value: float) -> str:
    """A contribution as the pages write it: signed, two decimals."""
    return f"{value:+.2f}"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _more(n: int) -> str:
    return f", and {n} more" if n > 0 else ""


def _plural(n: int, word: str) -> str:
    return f"{fmt.count(n)} {word}{'' if n == 1 else 's'}"


def _label(value: Any) -> str:
    return str(value).replace("_", " ")


def merchant_text(transaction: dict[str, Any]) -> str | None:
    merchant = transaction.get("merchant")
    if isinstance(merchant, dict):
        name = merchant.get("name") or merchant.get("id")
        extra = [
            f"MCC {merchant['mcc']}" if merchant.get("mcc") else "",
            str(merchant.get("country") or ""),
        ]
        details = ", ".join(e for e in extra if e)
        return f"{name} ({details})" if name and details else (str(name) if name else None)
    return str(merchant) if isinstance(merchant, str | int) and merchant != "" else None


def transaction_line(alert: Alert) -> str:
    tx = alert.transaction if isinstance(alert.transaction, dict) else {}
    parts = []
    if alert.amount is not None:
        parts.append(fmt.money(float(alert.amount), alert.currency))
    merchant = merchant_text(tx)
    if merchant:
        parts.append(f"at {merchant}")
    if tx.get("channel"):
        parts.append(f"by {_label(tx['channel'])}")
    if tx.get("country"):
        parts.append(f"from {tx['country']}")
    return "Transaction: " + (" ".join(parts) if parts else "no summary was sent") + "."


def rules_line(alert: Alert, hits: Sequence[RuleHit]) -> tuple[str, list[Citable]]:
    if not hits:
        return "No rule hits were sent with this alert.", []
    shown = list(hits[:TOP])
    named = ", ".join(f"{h.rule_id} {h.name} ({points(h.score_contribution)})" for h in shown)
    text = f"Fired on {_plural(len(hits), 'rule')}: {named}{_more(len(hits) - len(shown))}."
    return text, [rule_citable(alert.id, h) for h in shown]


def signals_line(alert: Alert, signals: Sequence[SignalContribution]) -> tuple[str, list[Citable]]:
    if not signals:
        return "No signal contributions were sent with this alert.", []
    shown = list(signals[:TOP])
    named = ", ".join(
        f"{s.signal} = {_value(s.value)} ({points(s.contribution)}, "
        f"{'raises' if s.direction.value == 'up' else 'lowers'} the risk)"
        for s in shown
    )
    more = _more(len(signals) - len(shown))
    return f"Strongest signals: {named}{more}.", [signal_citable(alert.id, s) for s in shown]


def _alert_head(alert: Alert) -> str:
    return (
        f"Alert {alert.external_id}: {alert.title}, score {fmt.score(alert.score)} "
        f"({alert.priority.value}), {_label(alert.status.value)}"
    )


# --- the explanations --------------------------------------------------------------------------


def explain_alert(
    alert: Alert, hits: Sequence[RuleHit], signals: Sequence[SignalContribution]
) -> Structured:
    return Structured(
        f"Why alert {alert.external_id} fired",
        [
            (
                f"Score {fmt.score(alert.score)} ({alert.priority.value}), "
                f"{_label(alert.status.value)}.",
                [alert_citable(alert)],
            ),
            rules_line(alert, hits),
            signals_line(alert, signals),
            (transaction_line(alert), []),
        ],
    )


def _closed_line(s: SimilarAlert, cases: Sequence[Case]) -> tuple[str, list[Citable]]:
    a = s.alert
    how = f"closed as {_label(a.disposition.value)}" if a.disposition else "closed"
    if a.closed_at:
        how += f" on {fmt.day(a.closed_at)}"
    why = ", ".join(s.reasons) or "a close signal profile"
    text = f"Alert {a.external_id} ({a.title}): {how}; {why}."
    cites = [alert_citable(a)]
    for c in cases:
        resolved = f"{_label(c.status.value)}"
        if c.root_cause:
            resolved += f", root cause {_label(c.root_cause.value)}"
        summary = f": {c.resolution_summary.strip()}" if c.resolution_summary else ""
        text += f" Case {c.display_number} {resolved}{summary}."
        cites.append(case_citable(c))
    return text, cites


def similar_cases(
    alert: Alert | None, similar: Sequence[tuple[SimilarAlert, list[Case]]]
) -> Structured:
    if alert is None:
        return Structured("Similar closed alerts", [("This case has no alerts to compare.", [])])
    title = f"Closed alerts like alert {alert.external_id}"
    if not similar:
        return Structured(
            title,
            [("No closed alert shares its customer, account, merchant, rules or signals.", [])],
        )
    head: tuple[str, list[Citable]] = (
        f"{_plural(len(similar), 'similar closed alert')}, most similar first.",
        [],
    )
    return Structured(title, [head, *(_closed_line(s, cases) for s, cases in similar)])


def escalation_alert(
    alert: Alert,
    hits: Sequence[RuleHit],
    signals: Sequence[SignalContribution],
    cases: Sequence[Case],
    open_questions: int,
) -> Structured:
    lines = [
        (_alert_head(alert) + ".", [alert_citable(alert)]),
        rules_line(alert, hits),
        signals_line(alert, signals),
        (transaction_line(alert), []),
    ]
    if cases:
        refs = ", ".join(c.display_number for c in cases)
        lines.append(
            (f"In {_plural(len(cases), 'case')}: {refs}.", [case_citable(c) for c in cases])
        )
    if open_questions:
        lines.append((f"{_plural(open_questions, 'information request')} open.", []))
    return Structured(f"Escalation facts for alert {alert.external_id}", lines)


def escalation_case(
    case: Case,
    alerts: Sequence[tuple[Alert, Sequence[RuleHit], Sequence[SignalContribution]]],
    alert_count: int,
    notes: Sequence[CaseNote],
    runs: Sequence[Run] = (),
) -> Structured:
    head = (
        f"{case.display_number} {case.title}: {_label(case.status.value)}, severity "
        f"{case.severity.value}"
        + (f", root cause {_label(case.root_cause.value)}" if case.root_cause else "")
        + f", {_plural(alert_count, 'alert')}."
    )
    lines: list[tuple[str, list[Citable]]] = [(head, [case_citable(case)])]
    for alert, hits, _signals in alerts:
        rules = ", ".join(f"{h.rule_id} ({points(h.score_contribution)})" for h in hits[:3])
        text = _alert_head(alert) + (f"; rules {rules}" if rules else "") + "."
        lines.append((text, [alert_citable(alert), *(rule_citable(alert.id, h) for h in hits[:3])]))
    if alert_count > len(alerts):
        lines.append((f"{_plural(alert_count - len(alerts), 'more alert')} not listed.", []))
    for run in runs:
        sev = run.severity.value if run.severity else "no severity"
        text = f"Run {run.run_id}: {sev}, {fmt.multiplier(run.multiplier)} the baseline"
        flags = [str(f) for f in run.flags or []]
        text += f"; flags: {', '.join(flags)}." if flags else "."
        lines.append((text, [run_citable(run)]))
    if notes:
        last = notes[-1]
        lines.append(
            (f"{_plural(len(notes), 'recent note')}, the last on {fmt.when(last.created_at)}.", [])
        )
    return Structured(f"Escalation facts for {case.display_number}", lines)


def explain_run(
    run: Run,
    scenario: Scenario,
    baseline: Baseline | None,
    policy_number: int,
    policy: Policy,
    recent: Sequence[Run],
    flag_reasons: dict[str, str],
) -> Structured:
    sev = run.severity.value if run.severity else "No severity"
    if run.multiplier is not None and run.baseline_median is not None:
        head = (
            f"{sev}: {fmt.multiplier(run.multiplier)} the baseline of "
            f"{fmt.credits(run.baseline_median)} credits ({fmt.credits(run.credits_total)} used)"
        )
    else:
        head = f"{sev}: no baseline when it was recorded ({fmt.credits(run.credits_total)} used)"
    flags = [str(f) for f in run.flags or []]
    head += f"; flags: {', '.join(flags)}." if flags else "; no risk flags."
    cites = [run_citable(run)] + (
        [baseline_citable(scenario)] if baseline or run.baseline_median else []
    )
    lines: list[tuple[str, list[Citable]]] = [(head, cites)]
    version = f"version {policy_number}" if policy_number else "defaults"
    lines.append(
        (
            f"Thresholds of policy {version}: SEV0 ≥ {fmt.multiplier(policy.sev0_multiplier)} and "
            f"PII or regulatory data, SEV1 ≥ {fmt.multiplier(policy.sev1_multiplier)}, SEV2 ≥ "
            f"{fmt.multiplier(policy.sev2_multiplier)}, SEV3 ≥ "
            f"{fmt.multiplier(policy.sev3_multiplier)}.",
            [],
        )
    )
    for flag in flags:
        reason = flag_reasons.get(flag) or ""
        lines.append((f"{flag}: {reason}." if reason else f"{flag}.", [flag_citable(run, flag)]))
    if recent:
        mults = [r.multiplier for r in recent if r.multiplier is not None]
        spiked = sum(1 for r in recent if r.severity is not None)
        typical = sorted(mults)[len(mults) // 2] if mults else None
        text = (
            f"The last {_plural(len(recent), 'run')} of {scenario.key}: {spiked} with a severity"
            + (f", median {fmt.multiplier(typical)} the baseline" if typical is not None else "")
            + "."
        )
        lines.append((text, [run_citable(r) for r in recent[:3]]))
    else:
        lines.append((f"No earlier runs of {scenario.key}.", []))
    title = f"Why run {run.run_id} is {sev}" if run.severity else f"Run {run.run_id}: no severity"
    return Structured(title, lines)
