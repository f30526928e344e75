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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from riskops.server.assistant.models import AssistantResponse, ResponseKind, TargetType


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


@dataclass(frozen=True)
class Grounding:
    facts: dict[str, Any]  # what the prompt is built from, before redaction
    known_pii: dict[str, str]  # value -> kind ("CUSTOMER", "ACCOUNT", "NAME", ...)
    citable: dict[str, Citable]  # Citable.key -> Citable
    structured: Structured


async def gather(response: AssistantResponse) -> Grounding:
    """The grounding of `response` (its kind and target), read in its organization only."""
    raise NotImplementedError  # issue 13: h/grounding


async def structured(
    org_id: int, kind: ResponseKind, target_type: TargetType, target_id: int
) -> Structured:
    """The structured explanation alone (the panel shows it when the assistant is unavailable,
    without a job)."""
    raise NotImplementedError  # issue 13: h/grounding
