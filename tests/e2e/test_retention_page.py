"""The retention page in a real (headless) Chromium against `riskops serve` with its demo data:
the admin opens it from the navigation, a bad period is shown under its field, saving and
enforcing show their messages and the run. No console errors (CSP). Screenshots:
test-artifacts/screenshots/retention-*.png."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    SHOTS,
    Server,
    launch_chromium,
    require_chromium,
    watch_console,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _sign_in(page: Any, server: Server, email: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", server.password_of(email))
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{server.url}/")


def test_admin_sets_and_enforces_retention(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        errors: list[str] = []
        watch_console(page, errors)
        _sign_in(page, server, ADMIN_EMAIL)
        page.click("nav[aria-label=Main] a[href='/admin/retention']")
        page.wait_for_url(f"{server.url}/admin/retention")
        page.fill("input[name=alerts_days]", "zero")
        page.click("button:has-text('Save retention periods')")
        page.wait_for_selector("#alerts_days-error")
        assert "'zero' is not a whole number of days" in page.locator("main").inner_text()
        page.screenshot(path=str(SHOTS / "retention-invalid.png"), full_page=True)

        page.fill("input[name=alerts_days]", "3650")
        page.fill("input[name=sessions_days]", "3650")
        page.click("button:has-text('Save retention periods')")
        page.wait_for_selector("text=Retention periods saved")
        page.click("button:has-text('Enforce now')")
        page.wait_for_selector("text=Retention enforced now")
        main = page.locator("main").inner_text()
        assert "alerts 0, sessions 0" in main
        page.screenshot(path=str(SHOTS / "retention-saved.png"), full_page=True)
        browser.close()
    # The browser logs the deliberately refused post's 422 itself; nothing else may show up.
    assert [e for e in errors if not re.search(r"status of 422 .*/admin/retention", e)] == []
