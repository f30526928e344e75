"""The dev-only GraphiQL in a real (headless) browser: sign in through the login page, open
/graphql with a query in the URL, run it, and read the admin's name in the result pane. Fails on
any console error or CSP violation: the page runs under `script-src 'self'`, from vendored files.

Runs `riskops serve` (dev mode, demo seed) as a subprocess on a free port with a throwaway SQLite
database, and Debian's Chromium (never a downloaded browser build), like tests/e2e/test_browser.py.
The screenshot goes to test-artifacts/screenshots/10-graphiql.png.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from tests.e2e.conftest import SHOTS, Server, launch_chromium, require_chromium, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.slow]
QUERY = "{ me { user { name } roles } }"

# Collects CSP violations in the page (an init script, which the page's CSP does not govern).
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


def test_graphiql_runs_a_query_in_chromium(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.add_init_script(WATCH_CSP)
            watch_console(page, problems)
            page.on(
                "requestfailed",
                lambda r: (
                    None  # a navigation cancels the previous page's favicon fetch: not a problem
                    if r.url.endswith("/favicon.svg") and r.failure == "net::ERR_ABORTED"
                    else problems.append(f"request failed: {r.url} {r.failure}")
                ),
            )
            page.on(
                "request",
                lambda r: (
                    None if r.url.startswith((server.url, "data:")) else outside.append(r.url)
                ),
            )

            page.goto(f"{server.url}/login")
            page.fill("input[name=email]", server.admin_email)
            page.fill("input[name=password]", server.admin_password)
            page.click("button:has-text('Sign in')")
            expect(page.locator("h1")).to_contain_text("Welcome, Ada Admin")

            # The query comes from the URL; the init script hands it to GraphiQL.
            page.goto(f"{server.url}/graphql?query={quote(QUERY)}")
            editor = page.locator(".graphiql-query-editor .CodeMirror")
            expect(editor).to_be_visible(timeout=15_000)
            expect(editor).to_contain_text("me { user { name } roles }")
            # Introspection ran (through the fetcher, with the session cookie and CSRF header).
            page.get_by_role("button", name="Show Documentation Explorer").click()
            expect(page.locator(".graphiql-doc-explorer")).to_contain_text("Query")

            # Run it: a cookie-authenticated POST, which needs the page's X-CSRF-Token.
            with page.expect_response(
                lambda r: r.url == f"{server.url}/graphql" and r.request.method == "POST"
            ) as answered:
                page.locator(".graphiql-execute-button").click()
            assert answered.value.status == 200, answered.value.text()
            assert answered.value.request.headers.get("x-csrf-token")
            result = page.locator(".graphiql-response .CodeMirror")
            expect(result).to_contain_text('"name": "Ada Admin"')
            expect(result).to_contain_text('"admin"')
            assert "errors" not in result.inner_text()
            page.screenshot(path=str(SHOTS / "10-graphiql.png"))

            # The settings dialog opens, and Radix's scroll lock (a <style> element, allowed by
            # the response's nonce) applies without tripping the CSP.
            page.get_by_role("button", name="Open settings dialog").click()
            expect(page.get_by_role("dialog")).to_contain_text("Settings")
            assert page.evaluate("getComputedStyle(document.body).overflow") == "hidden"
            page.keyboard.press("Escape")
            expect(page.get_by_role("dialog")).to_have_count(0)

            # Typing into the editor works, and the URL follows it.
            editor.click()
            page.keyboard.press("Control+End")
            page.keyboard.type("\n# edited")
            expect(page).to_have_url(re.compile(r"query=.*edited"))

            problems.extend(page.evaluate("window.__cspViolations"))
        finally:
            browser.close()

    assert not outside, f"requests left the site: {outside}"
    assert not problems, "\n".join(problems)
