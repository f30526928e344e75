"""Citations in an answer: `[kind:ref]` markers. Those that name a row of the grounding are kept
(and linked by the faces); any other is dropped from the text and counted."""

from __future__ import annotations

from riskops.server.assistant.grounding import Citable


def resolve(text: str, citable: dict[str, Citable]) -> tuple[str, list[dict[str, str]], int]:
    """(the text without invented citations, the citations kept as
    `{"kind", "ref", "label", "url"}` in order of first use, how many were dropped)."""
    raise NotImplementedError  # issue 13: h/grounding
