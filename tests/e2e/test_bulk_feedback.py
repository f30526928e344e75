"""Bulk actions name what they refuse, in the page's words (issue 11, items 16 and 17), in a
real (headless) Chromium against `riskops serve --demo`:

- "Close selected" without a disposition is an error of the Disposition field (its label, the
  choices by their display names), not "2 of 2 alerts cannot be changed";
- a bulk close where one alert was closed meanwhile in another session names that alert by its
  external id and says why, the selection kept.

Screenshots: test-artifacts/screenshots/bulk-*.png."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import SHOTS, Server, launch_chromium, require_chromium, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STRATEGIST = "strategist@demo.riskops.local"
# An internal name in a message the user reads: snake_case, or a field name with a colon.
INTERNAL = re.compile(r"\b[a-z]+_[a-z_]+\b")


def test_bulk_refusals_name_each_alert_and_field(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import Browser, Page, expect, sync_playwright

    problems: list[str] = []

    def session(browser: Browser) -> Page:
        page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        watch_console(page, problems)
        page.goto(f"{server.url}/login?next=/alerts")
        page.fill("input[name=email]", STRATEGIST)
        page.fill("input[name=password]", server.password_of(STRATEGIST))
        page.click("button:has-text('Sign in')")
        expect(page).to_have_url(re.compile(r"/alerts$"))
        return page

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(SHOTS / f"bulk-{name}.png"))

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            me = session(browser)
            me.goto(f"{server.url}/alerts?status=new&sort=created")
            rows = me.locator("#alerts-rows tr")
            expect(rows.first).to_be_visible()
            picks = [rows.nth(i) for i in (0, 1)]
            externals = [r.locator("td").nth(1).inner_text().strip() for r in picks]
            hrefs = [r.locator("a[href^='/alerts/']").first.get_attribute("href") for r in picks]

            # Item 16/17: no disposition is the Disposition field's error, in its words.
            for row in picks:
                row.locator("input[name=alert_id]").check()
            me.locator("#bulk-form input[name=comment]").fill("Bulk close from the browser.")
            me.locator("#bulk-form button:has-text('Close selected')").click()
            disposition = me.locator("#bulk-form select[name=disposition]")
            expect(disposition).to_have_attribute("aria-invalid", "true")
            error = me.locator("#bulk-form .field-error").first
            expect(error).to_contain_text("Disposition")
            text = error.inner_text()
            assert "cannot be changed" not in text and not INTERNAL.search(text), text
            for row in picks:  # the selection is kept
                expect(row.locator("input[name=alert_id]")).to_be_checked()
            shot(me, "01-no-disposition")

            # Someone else closes the second alert meanwhile.
            other = session(browser)
            other.goto(f"{server.url}{hrefs[1]}")
            close = other.locator("#action-close")
            close.locator("select[name=disposition]").select_option("false_positive")
            close.locator("textarea[name=comment]").fill("Closed from another session.")
            close.locator("button[type=submit]").click()
            expect(other.locator(".flash-ok")).to_have_text("Alert closed.")

            # Item 16: the refusal names that alert by its external id, and why.
            me.locator("#bulk-form select[name=disposition]").select_option("false_positive")
            me.locator("#bulk-form input[name=comment]").fill("Bulk close from the browser.")
            me.locator("#bulk-form button:has-text('Close selected')").click()
            refusal = me.locator("#alerts-results .flash-error").first
            expect(refusal).to_contain_text(externals[1])
            expect(refusal).to_contain_text("changed by someone else")
            expect(refusal).to_be_in_viewport()
            shot(me, "02-one-changed-meanwhile")
            # Nothing was closed: the first alert is still new.
            me.goto(f"{server.url}{hrefs[0]}")
            expect(me.locator(".alert-meta")).to_contain_text("new")
        finally:
            browser.close()
    # The browser logs the refused posts' 409 and 422 itself; nothing else may show up there.
    assert [p for p in problems if not re.search(r"status of (409|422)", p)] == [], problems
