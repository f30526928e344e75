"""Sessions and access in a real (headless) Chromium against `riskops serve` with its demo data:
the admin opens their own "Sessions and tokens" page from the user manager (this browser's
session marked), an approver opens the approval trail from the navigation and filters it by
kind. No console errors (CSP). Screenshots: test-artifacts/screenshots/access-*.png."""

from __future__ import annotations

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

APPROVER = "approver@demo.riskops.local"


def _sign_in(page: Any, server: Server, email: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", server.password_of(email))
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{server.url}/")


def test_admin_sees_sessions_and_approver_reads_the_trail(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        errors: list[str] = []
        watch_console(page, errors)
        _sign_in(page, server, ADMIN_EMAIL)
        page.goto(f"{server.url}/admin/users")
        link = page.locator("main a:has-text('Sessions and tokens')").first
        href = link.get_attribute("href")
        assert href and href.endswith("/access")
        page.goto(f"{server.url}{href}")
        main = page.locator("main").inner_text()
        assert "Sessions and tokens of" in main and "Active sessions" in main
        page.screenshot(path=str(SHOTS / "access-user-sessions.png"), full_page=True)

        approver = browser.new_page(viewport={"width": 1366, "height": 900})
        watch_console(approver, errors)
        _sign_in(approver, server, APPROVER)
        approver.click("nav[aria-label=Main] a[href='/audit/approvals']")
        approver.wait_for_url(f"{server.url}/audit/approvals")
        assert "Approval trail" in approver.locator("main").inner_text()
        approver.screenshot(path=str(SHOTS / "access-approval-trail.png"), full_page=True)
        approver.select_option("select[name=kind]", "case_resolution")
        approver.click("button:has-text('Apply')")
        approver.wait_for_url("**/audit/approvals?kind=case_resolution**")
        approver.screenshot(path=str(SHOTS / "access-approval-trail-cases.png"), full_page=True)
        browser.close()
    assert not errors, errors
