"""The real server in a real (headless) browser: sign in, create a user, filter the audit log,
verify the chain. Fails on any console error, which is how a CSP violation shows up.

Runs `riskops serve` (migrations + demo seed) as a subprocess on a free port with a throwaway
SQLite database, and Debian's Chromium (never a downloaded browser build).
Screenshots go to test-artifacts/screenshots/.
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

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ADMIN_EMAIL = "admin@demo.riskops.local"
VIEWER_EMAIL = "viewer@demo.riskops.local"


@dataclass
class Server:
    url: str
    admin_email: str
    admin_password: str
    viewer_email: str
    viewer_password: str


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
    tmp = tmp_path_factory.mktemp("e2e")
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
        yield Server(
            url,
            ADMIN_EMAIL,
            _demo_password(log, ADMIN_EMAIL),
            VIEWER_EMAIL,
            _demo_password(log, VIEWER_EMAIL),
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_admin_flow_in_chromium(server: Server) -> None:
    if not CHROMIUM.exists():
        message = "Debian's chromium is not installed (`make browser` / apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
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
                "requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}")
            )

            # Anonymous: sent to the login page.
            page.goto(f"{server.url}/audit")
            expect(page).to_have_url(re.compile(r"/login\?next=%2Faudit$"))
            page.screenshot(path=str(SHOTS / "01-login.png"))
            assert page.evaluate("typeof htmx") == "object", "htmx did not load"

            page.fill("input[name=email]", server.admin_email)
            page.fill("input[name=password]", "wrong password")
            page.click("button:has-text('Sign in')")
            expect(page.locator(".flash-error")).to_contain_text("Wrong e-mail address")
            page.fill("input[name=password]", server.admin_password)
            page.click("button:has-text('Sign in')")
            expect(page).to_have_url(f"{server.url}/audit")  # back where we were going
            page.click("nav >> text=Home")
            expect(page.locator("h1")).to_contain_text("Welcome, Ada Admin")
            page.screenshot(path=str(SHOTS / "02-home.png"), full_page=True)

            # Create a user: first a mistake (inline error, swapped in by htmx), then right.
            page.click("nav >> text=Users")
            expect(page.locator("h1")).to_have_text("Users")
            form = page.locator("form[action='/admin/users']")
            form.locator("input[name=email]").fill("not-an-address")
            form.locator("input[name=name]").fill("Erin Example")
            form.locator("input[value=operator]").check()
            form.locator("button[type=submit]").click()
            expect(page.locator("#email-error")).to_contain_text("is not an e-mail address")
            expect(page.locator("form[action='/admin/users'] input[name=name]")).to_have_value(
                "Erin Example"
            )
            page.screenshot(path=str(SHOTS / "03-create-user-error.png"), full_page=True)
            form = page.locator("form[action='/admin/users']")
            form.locator("input[name=email]").fill("erin@demo.riskops.local")
            form.locator("button[type=submit]").click()
            expect(page.locator(".flash-ok")).to_have_text("User created.")
            row = page.locator("tr", has_text="erin@demo.riskops.local")
            expect(row).to_contain_text("operator")
            row.locator("summary").click()
            page.screenshot(path=str(SHOTS / "04-users.png"), full_page=True)

            # Teams and tokens render (and a token's secret is shown once).
            page.click("nav >> text=Teams")
            expect(page.locator("h1")).to_have_text("Teams")
            page.screenshot(path=str(SHOTS / "05-teams.png"), full_page=True)
            page.click("nav >> text=API tokens")
            form = page.locator("form[action='/admin/tokens']")
            form.locator("select[name=owner]").select_option(
                label=f"Ada Admin — {server.admin_email}"
            )
            form.locator("input[name=name]").fill("SIEM export")
            form.locator("input[value=admin]").check()
            form.locator("button[type=submit]").click()
            expect(page.locator("#new-token-secret")).to_contain_text("rko_")
            page.screenshot(path=str(SHOTS / "06-token-created.png"), full_page=True)

            # The audit log: filter by action (htmx, URL pushed), open details, verify the chain.
            page.click("nav >> text=Audit log")
            expect(page.locator("h1")).to_have_text("Audit log")
            page.fill("input[name=action]", "user.create")
            page.click("button:has-text('Apply')")
            expect(page).to_have_url(re.compile(r"/audit\?.*action=user\.create"))
            actions = page.locator("#audit-rows td:nth-child(4)")
            expect(actions.first).to_have_text("user.create")
            texts = actions.all_inner_texts()
            assert texts and set(texts) == {"user.create"}, texts
            page.locator("#audit-rows details summary").first.click()
            expect(page.locator("#audit-rows details[open]").first).to_contain_text("operator")
            page.click("button:has-text('Verify chain')")
            expect(page.locator("#verify-result .verify-ok")).to_contain_text("OK")
            page.screenshot(path=str(SHOTS / "07-audit-verified.png"), full_page=True)

            page.click("nav >> text=My sessions")
            expect(page.locator("table")).to_contain_text("this browser")
            page.screenshot(path=str(SHOTS / "08-sessions.png"), full_page=True)

            # Sign out: back to the login page, and the pages are closed again.
            page.click("button:has-text('Sign out')")
            expect(page.locator(".flash-ok")).to_have_text("You are signed out.")
            page.goto(f"{server.url}/admin/users")
            expect(page).to_have_url(re.compile(r"/login\?next="))

            # A viewer: no admin navigation, and the admin page is a friendly 403.
            page.fill("input[name=email]", server.viewer_email)
            page.fill("input[name=password]", server.viewer_password)
            page.click("button:has-text('Sign in')")
            expect(page.locator("h1")).to_have_text("Not allowed")
            expect(page.locator("nav")).not_to_contain_text("Users")
            page.screenshot(path=str(SHOTS / "09-viewer-forbidden.png"), full_page=True)
        finally:
            browser.close()

    # The deliberate mistakes answer 401 (wrong password), 422 (bad e-mail address) and 403 (the
    # viewer on an admin page); anything else (a CSP violation, a script error) is a failure.
    expected = re.compile(
        r"status of (401 \(Unauthorized\) \(\S+/login|422 \(Unprocessable \S+ \(\S+/admin/users"
        r"|403 \(Forbidden\) \(\S+/admin/users)\)$"
    )
    unexpected = [p for p in problems if not expected.search(p)]
    assert not unexpected, "\n".join(unexpected)
