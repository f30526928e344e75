"""Every template obeys the Content-Security-Policy (`style-src 'self'`, `script-src 'self'`): no
inline style attribute or element, no inline script, no inline event handler. A browser blocks
them silently in production, so they are caught here, at the source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = sorted((Path(__file__).resolve().parents[2] / "ui" / "templates").rglob("*.html"))
FORBIDDEN = {
    "inline style attribute": re.compile(r"\sstyle\s*=", re.I),
    "inline <style>": re.compile(r"<style[\s>]", re.I),
    "inline script": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I),
    "inline event handler": re.compile(r"\son[a-z]+\s*=", re.I),
}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_template_has_nothing_inline(path: Path) -> None:
    text = re.sub(r"\{#.*?#\}", "", path.read_text(encoding="utf-8"), flags=re.S)  # comments
    found = [what for what, pattern in FORBIDDEN.items() if pattern.search(text)]
    assert not found, f"{path.relative_to(path.parents[2])}: {', '.join(found)}"


def test_there_are_templates() -> None:
    assert len(TEMPLATES) > 20
