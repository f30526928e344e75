"""The prompt templates, one per kind, each with a version stored on the response (a change of
wording is a new version, so answers stay comparable).

A prompt is two messages: the system message says what to write, that only the facts given may
be used, which `[kind:ref]` citations exist (and that no other may be made up), and that
placeholders such as `<CUSTOMER_1>` stand for hidden values and must be kept as they are; the
user message holds the facts as compact JSON. Both are built from facts already redacted.
"""

from __future__ import annotations

import json
from typing import Any

from riskops.server.assistant.models import ResponseKind

TEMPLATE_VERSION: dict[ResponseKind, str] = {
    ResponseKind.EXPLAIN_ALERT: "explain-alert/1",
    ResponseKind.SIMILAR_CASES: "similar-cases/1",
    ResponseKind.ESCALATION_DRAFT: "escalation-draft/1",
    ResponseKind.EXPLAIN_RUN: "explain-run/1",
}

MAX_CITABLE_LISTED = 80  # the keys listed in the system message (the facts hold the rest)

_COMMON = (
    "You are the assistant of riskops, a risk operations platform, writing for a fraud and risk "
    "strategist. Use ONLY the facts in the user message: do not guess, do not add outside "
    "knowledge, and say so when the facts do not tell. "
    "{citing} "
    "Values written like <CUSTOMER_1> are placeholders for hidden personal data (customers, "
    "names, e-mails, phone, IBAN, account and card numbers): keep them exactly as they are, "
    "never guess what they stand for. "
    "Plain text, no headings, no preamble."
)

_TASK: dict[ResponseKind, str] = {
    ResponseKind.EXPLAIN_ALERT: (
        "Task: explain in 2 to 4 sentences why this alert fired, starting with the rules and "
        "signals that contributed most (their contributions are points of the 0-100 score), "
        "then what in the transaction summary stands out."
    ),
    ResponseKind.SIMILAR_CASES: (
        "Task: in up to 5 short bullet points, say what happened to the most similar closed "
        "alerts and the cases they belong to: why each is similar, how it was closed "
        "(disposition, root cause, resolution) and what that suggests for this alert. "
        "If there are none, say so in one sentence."
    ),
    ResponseKind.ESCALATION_DRAFT: (
        "Task: draft an escalation note a strategist would send to the escalation team, in at "
        "most 8 lines: what was detected, the strongest evidence (rules and signals), what was "
        "done so far, and the decision or help needed. Write it as the note itself, no "
        "greeting or signature."
    ),
    ResponseKind.EXPLAIN_RUN: (
        "Task: explain in 2 to 4 sentences why this run's credit use spiked: its multiplier "
        "against the scenario baseline and the severity thresholds it was classified under, "
        "its flags, and how it compares with the recent runs of its scenario."
    ),
}


def compact_json(value: Any) -> str:
    """JSON without spaces, non-ASCII kept (what the user message holds)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def build(kind: ResponseKind, facts: dict[str, Any], citable: list[str]) -> list[dict[str, str]]:
    """The chat messages for `kind` from the (already redacted) `facts`; `citable` are the keys
    the answer may cite (`rule:R-101`, ...), which the system message lists."""
    kind = ResponseKind(kind)
    keys = list(dict.fromkeys(citable))[:MAX_CITABLE_LISTED]
    if keys:
        citing = (
            "Cite the facts you rely on with the citation keys listed below, written exactly as "
            f"shown in square brackets, e.g. [{keys[0]}]. Cite only those keys: never invent one."
        )
        listed = "Citation keys: " + " ".join(f"[{k}]" for k in keys)
    else:
        citing = "There is nothing to cite: write no citations."
        listed = "Citation keys: none."
    system = "\n".join([_COMMON.format(citing=citing), _TASK[kind], listed])
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": compact_json(facts)},
    ]
