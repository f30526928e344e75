"""The real server for browser tests: `riskops serve` (migrations + demo seed) as a subprocess
on a free port with a throwaway SQLite database, shared by the browser tests of one run, and
Debian's Chromium (never a downloaded browser build)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.served import demo_server

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ADMIN_EMAIL = "admin@demo.riskops.local"
VIEWER_EMAIL = "viewer@demo.riskops.local"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Server:
    url: str
    admin_email: str
    admin_password: str
    viewer_email: str
    viewer_password: str
    log: Path

    def password_of(self, email: str) -> str:
        """The printed demo password of any demo login (strategist@, approver@, ...)."""
        return _demo_password(self.log, email)


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = "Debian's chromium is not installed (`make browser` / apt-get install chromium)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def launch_chromium(pw: Any) -> Any:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def watch_console(page: Any, problems: list[str]) -> None:
    """Collect console errors and warnings (a CSP violation shows up there) and page errors."""
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text} ({m.location.get('url')})")
            if m.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))


def _demo_password(log: Path, email: str) -> str:
    """The password `riskops serve` printed (once) for a demo login."""
    # Between the columns: spaces and box-drawing, never "-" (a password may start with one).
    found = re.search(re.escape(email) + r"[^\w-]+([A-Za-z0-9_-]{12,})", log.read_text())
    assert found, f"no demo login for {email} in the output:\n{log.read_text()}"
    return found.group(1)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("e2e")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env.update(PYTHONUNBUFFERED="1", RISKOPS_ENV="dev", RISKOPS_LOG_LEVEL="WARNING")
    log = tmp / "server.log"
    options = ("--database-url", f"sqlite://{tmp / 'e2e.sqlite3'}", "--var-dir", str(tmp / "var"))
    with demo_server(cwd=tmp, env=env, log=log, options=options) as url:
        yield Server(
            url,
            ADMIN_EMAIL,
            _demo_password(log, ADMIN_EMAIL),
            VIEWER_EMAIL,
            _demo_password(log, VIEWER_EMAIL),
            log,
        )


def sign_in_as(page: Any, server: Server, email: str, then: str = "/") -> None:
    """Sign in through the login form as a demo person and land on `then`."""
    from playwright.sync_api import expect

    page.goto(f"{server.url}/login?next={then}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", server.password_of(email))
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(re.compile(re.escape(then) + "$"))


def sign_out(page: Any) -> None:
    """Sign out with the header's button and land on the login page."""
    from playwright.sync_api import expect

    page.click("button:has-text('Sign out')")
    expect(page).to_have_url(re.compile(r"/login"))


def issue_token(page: Any, server: Server, role: str) -> str:
    """The signed-in person's own API token with `role` (nobody mints a person's token for
    them), from the tokens page; its secret, shown once."""
    from playwright.sync_api import expect

    page.goto(f"{server.url}/tokens")
    form = page.locator("form[action='/tokens']")
    form.locator("input[name=name]").fill(f"e2e {role} automation")
    form.locator(f"input[name=roles][value={role}]").check()
    form.locator("button[type=submit]").click()
    secret = page.locator("#new-token-secret")
    expect(secret).to_contain_text("rko_")
    return secret.inner_text().strip()
