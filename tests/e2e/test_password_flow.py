"""Passwords in a real (headless) Chromium against `riskops serve --demo` (issue 14): an admin
creates a user without a password and sees the invitation's link once; the invited person opens
it, is told what is wrong with a weak password, sets a good one and lands signed in; then
changes it on Account → Password. "Forgot password" answers its one page. axe finds no WCAG A
or AA violation on these pages; no console error.

Screenshots go to test-artifacts/screenshots/password-*.png."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import (
    SHOTS,
    Server,
    launch_chromium,
    require_chromium,
    watch_console,
)
from tests.support.axe import described as axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIRST = "plum anvil orbit lantern"
SECOND = "velvet harbour quartz sky"


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"password-{name}.png"), full_page=True)


def test_an_invited_person_sets_a_password_then_changes_it(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    found: list[str] = []
    email = f"ivy-{uuid.uuid4().hex[:6]}@demo.riskops.local"
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            admin = browser.new_page(viewport={"width": 1366, "height": 900}, bypass_csp=False)
            watch_console(admin, problems)
            admin.goto(f"{server.url}/login")
            admin.fill("input[name=email]", server.admin_email)
            admin.fill("input[name=password]", server.admin_password)
            admin.click("button:has-text('Sign in')")
            admin.goto(f"{server.url}/admin/users")
            form = admin.locator("form[action='/admin/users']")
            form.locator("input[name=email]").fill(email)
            form.locator("input[name=name]").fill("Ivy Invitee")
            form.locator("input[value=viewer]").check()
            form.locator("button[type=submit]").click()
            link = admin.locator("#one-time-link")
            expect(link).to_contain_text("/invite/")
            expect(admin.locator(".secret-card")).to_contain_text("Invitation for Ivy Invitee")
            shot(admin, "1-invitation-shown-once")
            url = link.inner_text().strip()

            context = browser.new_context(viewport={"width": 390, "height": 844})
            page = context.new_page()
            watch_console(page, problems)
            page.goto(url)
            expect(page.locator("h1")).to_have_text("Welcome, Ivy Invitee")
            shot(page, "2-invitation-landing")
            page.fill("input[name=password]", "password1")
            page.fill("input[name=password_again]", "password1")
            page.click("button[type=submit]")
            expect(page.locator("#password-error")).to_contain_text("use at least 12")
            shot(page, "3-weak-password")
            page.fill("input[name=password]", FIRST)
            page.fill("input[name=password_again]", FIRST)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{server.url}/")
            expect(page.locator("h1")).to_contain_text("Ivy Invitee")

            page.goto(f"{server.url}/account/password")
            shot(page, "4-account-password")
            page.fill("input[name=current]", FIRST)
            page.fill("input[name=new]", SECOND)
            page.fill("input[name=new_again]", SECOND)
            page.click("button:has-text('Change password')")
            expect(page.locator(".flash-ok")).to_contain_text("Password changed")
            shot(page, "5-password-changed")
            context.close()

            anonymous = browser.new_context(viewport={"width": 1366, "height": 800},
                                            bypass_csp=True)  # fmt: skip
            page = anonymous.new_page()
            page.goto(f"{server.url}/login")
            page.click("text=Forgot your password?")
            expect(page.locator("h1")).to_have_text("Forgot your password?")
            found += axe_violations(page, "/forgot-password")
            page.fill("input[name=email]", email)
            page.click("button:has-text('Send me a link')")
            expect(page.locator(".flash-ok")).to_contain_text("is on its way")
            shot(page, "6-forgot-sent")
            found += axe_violations(page, "/forgot-password sent")
            page.goto(url)  # used: not valid any more
            expect(page.locator("main")).to_contain_text("This link is not valid")
            shot(page, "7-link-used")
            found += axe_violations(page, "used link")
            anonymous.close()

            # axe on the signed-in pages and a fresh invitation's landing page.
            audited = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=True)
            page = audited.new_page()
            page.goto(f"{server.url}/login")
            page.fill("input[name=email]", email)
            page.fill("input[name=password]", SECOND)
            page.click("button:has-text('Sign in')")
            page.goto(f"{server.url}/account/password")
            found += axe_violations(page, "/account/password")
            audited.close()
            admin.goto(f"{server.url}/admin/users")
            row = admin.locator("tr", has_text=email)
            row.locator("summary").click()
            row.locator("button:has-text('Force password reset')").click()
            expect(admin.locator(".secret-card")).to_contain_text("Password reset link for Ivy")
            shot(admin, "8-reset-shown-once")
            reset_url = admin.locator("#one-time-link").inner_text().strip()
            landing = browser.new_context(bypass_csp=True).new_page()
            landing.goto(reset_url)
            expect(landing.locator("h1")).to_have_text("Choose a new password")
            found += axe_violations(landing, "/reset-password/<token>")
            shot(landing, "9-reset-landing")
        finally:
            browser.close()

    assert not found, "\n".join(found)
    # The deliberate mistakes: the weak password (422) and the used link (404).
    expected = re.compile(r"status of (422|404) ")
    unexpected = [p for p in problems if not expected.search(p)]
    assert not unexpected, "\n".join(unexpected)
