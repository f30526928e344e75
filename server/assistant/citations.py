"""Citations in an answer: `[kind:ref]` markers. Those that name a row of the grounding are kept
(and linked by the faces); any other is dropped from the text and counted."""

from __future__ import annotations

import re

from riskops.server.assistant.grounding import Citable

# A marker as the prompts ask for it: `[rule:VEL-001]`, `[case:CASE-000004]`. A bracketed list
# of them (`[rule:A, signal:b]`, `[rule:A][rule:B]`) is read marker by marker.
MARKER = re.compile(r"\[([a-z_]+:[^\[\]\s,;]+)((?:\s*[,;]\s*[a-z_]+:[^\[\]\s,;]+)*)\]")
_MORE = re.compile(r"[a-z_]+:[^\[\]\s,;]+")
# The space a dropped marker leaves: before punctuation, doubled, or inside brackets.
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([.,;:!?)])")
_DOUBLE_SPACE = re.compile(r"[ \t]{2,}")
_EMPTY_PARENS = re.compile(r"\(\s*\)")


def _tidy(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        line = _EMPTY_PARENS.sub("", line)
        line = _DOUBLE_SPACE.sub(" ", line)
        line = _SPACE_BEFORE_PUNCT.sub(r"\1", line)
        lines.append(line.rstrip())
    return "\n".join(lines).strip()


def resolve(text: str, citable: dict[str, Citable]) -> tuple[str, list[dict[str, str]], int]:
    """(the text without invented citations, the citations kept as
    `{"kind", "ref", "label", "url"}` in order of first use, how many were dropped)."""
    used: dict[str, Citable] = {}
    dropped = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal dropped
        keys = [m.group(1), *_MORE.findall(m.group(2) or "")]
        kept = []
        for key in keys:
            found = citable.get(key)
            if found is None:
                dropped += 1
                continue
            used.setdefault(key, found)
            kept.append(f"[{key}]")
        return "".join(kept)

    if not text:
        return text or "", [], 0
    cleaned = MARKER.sub(repl, text)
    if dropped:
        cleaned = _tidy(cleaned)
    citations = [
        {"kind": c.kind, "ref": c.ref, "label": c.label, "url": c.url or ""} for c in used.values()
    ]
    return cleaned, citations, dropped
