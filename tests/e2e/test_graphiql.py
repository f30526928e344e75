"""The dev-only GraphiQL in a real (headless) browser: sign in through the login page, open
/graphql with a query in the URL, run it, and read the admin's name in the result pane. Fails on
any console error or CSP violation: the page runs under `script-src 'self'`, from vendored files.

Runs `riskops serve` (dev mode, demo seed) as a subprocess on a free port with a throwaway SQLite
database, and Debian's Chromium (never a downloaded browser build), like tests/e2e/test_browser.py.
The screenshot goes to test-artifacts/screenshots/10-graphiql.png.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ADMIN_EMAIL = "admin@demo.riskops.local"
QUERY = "{ me { user { name } roles } }"

# Collects CSP violations in the page (an init script, which the page's CSP does not govern).
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


@dataclass
class Server:
    url: str
    admin_email: str
    admin_password: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], log: Path, url: str) -> None:
    """Wait until /health answers."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"riskops serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        pytest.fail(f"riskops serve did not become healthy:\n{log.read_text()}")


def _demo_password(log: Path, email: str) -> str:
    """The password `riskops serve` printed (once) for a demo login."""
    # Between the columns: spaces and box-drawing, never "-" (a password may start with one).
    found = re.search(re.escape(email) + r"[^\w-]+([A-Za-z0-9_-]{12,})", log.read_text())
    assert found, f"no demo login for {email} in the output:\n{log.read_text()}"
    return found.group(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("e2e-graphiql")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env.update(PYTHONUNBUFFERED="1", RISKOPS_ENV="dev", RISKOPS_LOG_LEVEL="WARNING")
    log = tmp / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "riskops.server.cli",
                "--database-url",
                f"sqlite://{tmp / 'e2e.sqlite3'}",
                "--var-dir",
                str(tmp / "var"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--demo",
            ],
            cwd=tmp,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(proc, log, url)
        yield Server(url, ADMIN_EMAIL, _demo_password(log, ADMIN_EMAIL))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_graphiql_runs_a_query_in_chromium(server: Server) -> None:
    if not CHROMIUM.exists():
        message = "Debian's chromium is not installed (`make browser` / apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.add_init_script(WATCH_CSP)
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text} ({m.location.get('url')})")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
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
