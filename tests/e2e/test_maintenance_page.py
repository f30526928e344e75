"""Maintenance mode in a real (headless) Chromium against `riskops serve` with its demo data: the
admin starts it from the Admin navigation with a reason, every page shows the banner, a viewer's
change (a new API token) is refused with the reason while reading works, the admin ends it; and
the Platform status page. No console errors (CSP). Screenshots:
test-artifacts/screenshots/maintenance-*.png."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    SHOTS,
    VIEWER_EMAIL,
    Server,
    launch_chromium,
    require_chromium,
    sign_in_as,
    watch_console,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REASON = "Database upgrade, back at 18:00 UTC."


def test_maintenance_from_start_to_end_in_a_browser(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        admin = browser.new_page(viewport={"width": 1366, "height": 900})
        errors: list[str] = []
        watch_console(admin, errors)
        sign_in_as(admin, server, ADMIN_EMAIL)
        admin.click("nav[aria-label=Main] a[href='/admin/maintenance']")
        admin.wait_for_url(f"{server.url}/admin/maintenance")
        admin.fill("textarea[name=reason]", REASON)
        admin.click("button:has-text('Start maintenance')")
        try:
            banner = admin.locator(".maintenance-banner")
            expect(banner).to_contain_text(REASON)
            expect(admin.locator("main")).to_contain_text("your organization is read-only")
            admin.screenshot(path=str(SHOTS / "maintenance-on.png"), full_page=True)

            viewer = browser.new_page(viewport={"width": 1366, "height": 900})
            watch_console(viewer, errors)
            sign_in_as(viewer, server, VIEWER_EMAIL)  # signing in works during maintenance
            expect(viewer.locator(".maintenance-banner")).to_contain_text(REASON)
            viewer.goto(f"{server.url}/tokens")  # reading works
            viewer.fill("input[name=name]", "during maintenance")
            with viewer.expect_response(lambda r: r.request.method == "POST") as answer:
                viewer.locator("main form button[type=submit]").first.click()
            assert answer.value.status == 503
            expect(viewer.locator("main")).to_contain_text("Read-only: maintenance")
            expect(viewer.locator("main")).to_contain_text(REASON)
            viewer.screenshot(path=str(SHOTS / "maintenance-refused.png"), full_page=True)
        finally:
            admin.goto(f"{server.url}/admin/maintenance")
            if admin.locator("button:has-text('End maintenance')").count():
                admin.click("button:has-text('End maintenance')")
        expect(admin.locator("main")).to_contain_text("Maintenance is off")
        expect(admin.locator(".maintenance-banner")).to_have_count(0)
        admin.screenshot(path=str(SHOTS / "maintenance-off.png"), full_page=True)

        admin.click("nav[aria-label=Main] a[href='/admin/status']")
        admin.wait_for_url(f"{server.url}/admin/status")
        main = admin.locator("main").inner_text()
        assert "Platform status" in main and "last backup" in main and "maintenance" in main
        admin.screenshot(path=str(SHOTS / "maintenance-status.png"), full_page=True)
        browser.close()
    # The refused POST is a 503 on purpose: the browser and htmx log that answer, nothing else.
    assert [e for e in errors if "503" not in e] == [], errors
    assert len(errors) <= 2, errors
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
