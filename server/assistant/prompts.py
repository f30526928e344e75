"""The prompt templates, one per kind, each with a version stored on the response (a change of
wording is a new version, so answers stay comparable)."""

from __future__ import annotations

from typing import Any

from riskops.server.assistant.models import ResponseKind

TEMPLATE_VERSION: dict[ResponseKind, str] = {
    ResponseKind.EXPLAIN_ALERT: "explain-alert/1",
    ResponseKind.SIMILAR_CASES: "similar-cases/1",
    ResponseKind.ESCALATION_DRAFT: "escalation-draft/1",
    ResponseKind.EXPLAIN_RUN: "explain-run/1",
}


def build(kind: ResponseKind, facts: dict[str, Any], citable: list[str]) -> list[dict[str, str]]:
    """The chat messages for `kind` from the (already redacted) `facts`; `citable` are the keys
    the answer may cite (`rule:R-101`, ...), which the system message lists."""
    raise NotImplementedError  # issue 13: h/grounding
