"""How the assistant's answers read on the pages: the capabilities' names, an answer with its
`[kind:ref]` citations turned into links to the rows they cite, and a latency in words. Pure
functions of what the service returns; no rule of the assistant lives here."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import Markup, escape

from riskops.server.assistant.models import ResponseKind, ResponseStatus

# The button that asks for each kind, and the heading of its answer.
ASK: dict[str, str] = {
    ResponseKind.EXPLAIN_ALERT.value: "Explain this alert",
    ResponseKind.SIMILAR_CASES.value: "Similar cases",
    ResponseKind.ESCALATION_DRAFT.value: "Draft an escalation",
    ResponseKind.EXPLAIN_RUN.value: "Explain this run",
}
HEADING: dict[str, str] = {
    ResponseKind.EXPLAIN_ALERT.value: "Explanation",
    ResponseKind.SIMILAR_CASES.value: "Similar cases",
    ResponseKind.ESCALATION_DRAFT.value: "Escalation draft",
    ResponseKind.EXPLAIN_RUN.value: "Run explanation",
}
STATUS_TEXT: dict[str, str] = {
    ResponseStatus.PENDING.value: "asking",
    ResponseStatus.SUCCEEDED.value: "answered",
    ResponseStatus.FAILED.value: "failed",
    ResponseStatus.UNAVAILABLE.value: "unavailable",
}

# A citation as the answer writes it: `[rule:R-101]` (the same form `citations.resolve` reads).
CITE = re.compile(r"\[([a-z_]+):([^\]\s]+)\]")


def value_of(x: Any) -> str:
    """An enum's value, or the text itself."""
    return str(getattr(x, "value", x))


def linked(text: str | None, citations: Iterable[Mapping[str, Any]]) -> Markup:
    """The answer, escaped, with each citation it kept as a link to the row it cites (its label
    shown, its `kind:ref` in the title). A marker that names no kept citation stays as text."""
    if not text:
        return Markup("")
    known = {f"{c.get('kind')}:{c.get('ref')}": c for c in citations}
    out: list[Markup] = []
    pos = 0
    for m in CITE.finditer(text):
        out.append(escape(text[pos : m.start()]))
        cite = known.get(f"{m.group(1)}:{m.group(2)}")
        out.append(escape(m.group(0)) if cite is None else cite_link(cite))
        pos = m.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def plain(text: str | None, citations: Iterable[Mapping[str, Any]]) -> str:
    """The answer as plain text (a draft to edit into a case note): each citation it kept
    written as its label, so the note reads without `[kind:ref]` markers."""
    if not text:
        return ""
    known = {f"{c.get('kind')}:{c.get('ref')}": c for c in citations}

    def label(m: re.Match[str]) -> str:
        cite = known.get(f"{m.group(1)}:{m.group(2)}")
        return str(cite.get("label") or m.group(0)) if cite else m.group(0)

    return CITE.sub(label, text)


def _field(cite: Any, name: str) -> Any:
    return cite.get(name) if isinstance(cite, Mapping) else getattr(cite, name, None)


def cite_link(cite: Any) -> Markup:
    """One citation (a stored `{"kind", "ref", "label", "url"}` or a grounding `Citable`): a
    link when the row has a page, its label otherwise."""
    key = f"{_field(cite, 'kind')}:{_field(cite, 'ref')}"
    label = _field(cite, "label") or key
    url = _field(cite, "url")
    if url and _local(str(url)):
        return Markup('<a class="cite" href="{}" title="{}">{}</a>').format(url, key, label)
    return Markup('<span class="cite" title="{}">{}</span>').format(key, label)


def _local(url: str) -> bool:
    """A link on this site only (the grounding builds them; never an outside address)."""
    return url.startswith("/") and not url.startswith("//") and "\\" not in url


def latency(ms: int | None) -> str:
    """ "850 ms", "1.2 s", "2 min 5 s"; "—" when unknown."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds} s"
