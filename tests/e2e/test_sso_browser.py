"""Single sign-on in a real (headless) Chromium against `riskops serve` and a real OpenID provider
on loopback (oidc-provider, tests/node): the demo admin sets SSO up on /admin/sso and tests the
connection; then a person of the allowed domain signs in from the login page ("Sign in with
SSO", their work e-mail, the provider's own login form) and lands signed in, provisioned with the
mapped role. No console errors (CSP: starting the sign-in is a link, not a form). Screenshots:
test-artifacts/screenshots/sso-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import SHOTS, Server, launch_chromium, require_chromium, watch_console
from tests.identity.sso_provider import CLIENT_SECRET, running_provider

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOMAIN = "sso-e2e.test"


def test_a_person_signs_in_through_the_loopback_provider(server: Server, tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    with running_provider(tmp_path, f"{server.url}/login/sso/callback") as provider, \
            sync_playwright() as pw:  # fmt: skip
        email, password = provider.add_account_now(f"pat@{DOMAIN}", ["risk-analysts"])
        browser = launch_chromium(pw)
        problems: list[str] = []

        # The admin sets single sign-on up and tests the connection.
        admin = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        watch_console(admin, problems)
        admin.goto(f"{server.url}/login")
        admin.fill("input[name=email]", server.admin_email)
        admin.fill("input[name=password]", server.admin_password)
        admin.click("button:has-text('Sign in')")
        admin.wait_for_url(f"{server.url}/")
        admin.goto(f"{server.url}/admin/sso")
        admin.fill("input[name=issuer]", provider.issuer)
        admin.fill("input[name=client_id]", provider.client_id)
        admin.fill("input[name=client_secret]", CLIENT_SECRET)
        admin.fill("input[name=scopes]", "openid email profile groups")
        admin.fill("input[name=allowed_domain]", DOMAIN)
        admin.fill("textarea[name=role_mapping]", "risk-analysts = operator")
        admin.click("button:has-text('Save')")
        expect(admin.locator(".flash").first).to_contain_text("Single sign-on saved")
        expect(admin.locator("input[name=client_secret]")).to_have_value("")
        admin.click("button:has-text('Test connection')")
        expect(admin.locator("table[aria-label='Connection checks'] tbody tr")).to_have_count(5)
        expect(admin.locator("text=failed")).to_have_count(0)
        admin.screenshot(path=str(SHOTS / "sso-admin.png"), full_page=True)
        admin.goto(f"{server.url}/admin/security")
        expect(admin.locator("#sso-only")).to_contain_text("Break-glass admin")
        admin.screenshot(path=str(SHOTS / "sso-security.png"), full_page=True)

        # A person of the allowed domain signs in from the login page.
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        watch_console(page, problems)
        page.goto(f"{server.url}/login")
        page.screenshot(path=str(SHOTS / "sso-login.png"), full_page=True)
        page.click("a:has-text('Sign in with SSO')")
        page.fill("input[name=email]", email)
        page.click("button:has-text('Find my organization')")
        page.click("a:has-text('Continue to')")
        page.wait_for_url(f"{provider.issuer}/interaction/**")
        page.fill("input[name=login]", email)
        page.fill("input[name=password]", password)
        page.screenshot(path=str(SHOTS / "sso-provider.png"), full_page=True)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(f"{server.url}/")
        expect(page.locator("body")).to_contain_text("pat")
        page.screenshot(path=str(SHOTS / "sso-signed-in.png"), full_page=True)
        page.goto(f"{server.url}/sessions")
        expect(page.locator("main")).to_contain_text("My sessions")
        browser.close()
    assert not [p for p in problems if provider.issuer not in p], problems
