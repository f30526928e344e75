"""axe-core (pinned in tests/node, `make node`) in the browser tests: WCAG 2.0/2.1 A and AA.

The CSP allows no inline script, so axe runs in a browser context of the test's own made with
`bypass_csp=True`. `let_axe_in(context)` registers axe once as the context's init script: every
page the context opens then has it, without sending the 500 kB script again for each page (a
third of the audit's time when each page got it by `add_script_tag`). `violations(page)` runs it
and reports violations only (`resultTypes`: axe then skips building a selector for every node
that passes, which is most of its own time; the violations are the same, every node of each)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.templates import ROOT

AXE = ROOT / "tests" / "node" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
_RUN = """tags => axe.run(document, {
  runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'],
})"""


def require_axe() -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make node`")


def let_axe_in(context: Any) -> Any:
    """Every page of `context` (made with `bypass_csp=True`) has axe from now on."""
    require_axe()
    context.add_init_script(path=str(AXE))
    return context


def violations(page: Any) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now (axe added first if its context lacks it)."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        require_axe()
        page.add_script_tag(path=str(AXE))
    return list(page.evaluate(_RUN, AXE_TAGS)["violations"])


def described(page: Any, where: str) -> list[str]:
    """One line per violating node: `where: rule at target`."""
    return [f"{where}: {v['id']} at {n['target']}" for v in violations(page) for n in v["nodes"]]
