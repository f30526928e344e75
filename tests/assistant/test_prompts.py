"""Prompt templates (issue 13): one per kind with its version; the system message restricts the
answer to the facts, lists the citation keys and keeps placeholders; the user message is the
facts as compact JSON. Pure."""

from __future__ import annotations

import json

import pytest

from riskops.server.assistant.models import ResponseKind
from riskops.server.assistant.prompts import TEMPLATE_VERSION, build

FACTS = {
    "kind": "explain_alert",
    "alert": {"cite": "alert:7", "customer": "<CUSTOMER_1>", "title": "Café spike", "score": 87.5},
}


@pytest.mark.parametrize("kind", list(ResponseKind))
def test_each_kind_has_a_versioned_template(kind):
    messages = build(kind, FACTS, ["rule:VEL-001", "signal:velocity_1h"])

    system, user = messages
    assert TEMPLATE_VERSION[kind].startswith(kind.value.replace("_", "-") + "/")
    assert (system["role"], user["role"]) == ("system", "user")
    text = system["content"]
    assert "Use ONLY the facts" in text
    assert "Citation keys: [rule:VEL-001] [signal:velocity_1h]" in text
    assert "never invent one" in text
    assert "<CUSTOMER_1>" in text and "keep them exactly as they are" in text
    assert "Task: " in text
    assert json.loads(user["content"]) == FACTS
    assert user["content"] == json.dumps(FACTS, separators=(",", ":"), ensure_ascii=False)


def test_the_escalation_draft_is_written_as_a_note():
    system = build(ResponseKind.ESCALATION_DRAFT, FACTS, ["case:CASE-000004"])[0]["content"]

    assert "draft an escalation note" in system
    assert "[case:CASE-000004]" in system


def test_without_citable_rows_nothing_may_be_cited():
    system = build(ResponseKind.SIMILAR_CASES, {"kind": "similar_cases"}, [])[0]["content"]

    assert "write no citations" in system
    assert "Citation keys: none." in system
    assert "[" not in system  # nothing a model could copy as a citation


def test_duplicate_keys_are_listed_once():
    system = build(ResponseKind.EXPLAIN_RUN, FACTS, ["run:R-1", "run:R-1", "flag:retry_loop"])[0]

    assert system["content"].count("[run:R-1]") == 2  # the example and the list
