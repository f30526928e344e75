"""Multi-factor authentication in a real (headless) Chromium against `riskops serve`: a person
sets it up on Account → Multi-factor (QR code drawn on the server, the key as text, a first code,
the ten recovery codes once), signs out, signs in again with a code, and an admin resets it from
the users page (which leaves the shared demo login as it was). No console errors (CSP).
Screenshots: test-artifacts/screenshots/mfa-*.png."""

from __future__ import annotations

import time

import pyotp
import pytest

from tests.e2e.conftest import SHOTS, Server, launch_chromium, require_chromium, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PERSON = "product@demo.riskops.local"


def _code(secret: str, steps: int = 0) -> str:
    left = 30 - time.time() % 30
    if left < 4:  # the code must still be of this step when the server checks it
        time.sleep(left + 0.1)
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


def _password_step(page: object, server: Server, email: str) -> None:
    page.goto(f"{server.url}/login")  # type: ignore[attr-defined]
    page.fill("input[name=email]", email)  # type: ignore[attr-defined]
    page.fill("input[name=password]", server.password_of(email))  # type: ignore[attr-defined]
    page.click("button:has-text('Sign in')")  # type: ignore[attr-defined]


def test_set_up_mfa_sign_in_with_a_code_and_an_admin_reset(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch_console(page, problems)

        _password_step(page, server, PERSON)
        page.wait_for_url(f"{server.url}/")
        page.goto(f"{server.url}/account/mfa")
        page.click("button:has-text('Set up multi-factor authentication')")
        expect(page.locator(".qr svg")).to_be_visible()
        secret = page.locator("#mfa-secret").inner_text().strip()
        page.screenshot(path=str(SHOTS / "mfa-enrol.png"), full_page=True)
        page.fill("input[name=code]", "000000")
        page.click("button:has-text('Turn on multi-factor authentication')")
        expect(page.locator("#code-error")).to_contain_text("not the code your app shows")
        page.fill("input[name=code]", _code(secret, -1))
        page.click("button:has-text('Turn on multi-factor authentication')")
        codes = page.locator("#recovery-codes li")
        expect(codes).to_have_count(10)
        page.screenshot(path=str(SHOTS / "mfa-recovery-codes.png"), full_page=True)
        page.click("form[action='/logout'] button")
        page.wait_for_url("**/login")

        _password_step(page, server, PERSON)
        page.wait_for_url("**/login/code")
        page.fill("input[name=code]", "123456")
        page.click("button:has-text('Verify')")
        expect(page.locator(".flash-error")).to_contain_text("That code is not right")
        page.screenshot(path=str(SHOTS / "mfa-login-code.png"), full_page=True)
        page.fill("input[name=code]", _code(secret))
        page.click("button:has-text('Verify')")
        page.wait_for_url(f"{server.url}/")
        page.goto(f"{server.url}/account/mfa")
        expect(page.locator("main")).to_contain_text("10 of 10")
        page.screenshot(path=str(SHOTS / "mfa-account.png"), full_page=True)
        context.close()

        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch_console(page, problems)
        page.on("dialog", lambda d: d.accept())
        _password_step(page, server, server.admin_email)
        page.wait_for_url(f"{server.url}/")
        page.goto(f"{server.url}/admin/security")
        expect(page.locator("#mfa-policy")).to_contain_text("Privileged roles")
        page.screenshot(path=str(SHOTS / "mfa-admin-security.png"), full_page=True)
        page.goto(f"{server.url}/admin/users")
        row = page.locator("tr", has_text=PERSON)
        expect(row).to_contain_text("on")
        row.locator("summary:has-text('Manage')").click()
        page.screenshot(path=str(SHOTS / "mfa-admin-users.png"), full_page=True)
        row.locator("button:has-text('Reset MFA')").click()
        expect(page.locator("main")).to_contain_text("MFA was reset")
        expect(
            page.locator("tr", has_text=PERSON).locator("button:has-text('Reset MFA')")
        ).to_have_count(0)
        context.close()
        browser.close()
    # The wrong codes are answered 422 (enrolment) and 401 (sign-in) on purpose.
    expected = ("status of 422 (Unprocessable Entity)", "status of 401 (Unauthorized)")
    assert [p for p in problems if not any(e in p for e in expected)] == [], problems
