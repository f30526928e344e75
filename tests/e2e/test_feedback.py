"""Feedback where the user acted (issue 11, items 14 and 15), in a real (headless) Chromium
against `riskops serve --demo`:

- a stale Escalate at the bottom of a long alert page (someone else closed the alert meanwhile)
  shows its message in view, in the form, which keeps what was typed;
- a success message is shown once: the address has no `?ok=`, a reload shows nothing, with and
  without JavaScript.

Screenshots: test-artifacts/screenshots/feedback-*.png."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import SHOTS, Server, launch_chromium, require_chromium, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STRATEGIST = "strategist@demo.riskops.local"
REASON = "Card testing across three merchants: needs the fraud team tonight."


def test_feedback_is_shown_where_the_user_acted(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import Browser, Page, expect, sync_playwright

    problems: list[str] = []

    def session(browser: Browser, email: str, *, js: bool = True) -> Page:
        context = browser.new_context(
            viewport={"width": 1366, "height": 768}, java_script_enabled=js
        )
        page = context.new_page()
        watch_console(page, problems)
        page.goto(f"{server.url}/login?next=/alerts")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", server.password_of(email))
        page.click("button:has-text('Sign in')")
        expect(page).to_have_url(re.compile(r"/alerts$"))
        return page

    def shot(page: Page, name: str) -> None:
        # The viewport only: what the user sees where they are, not the whole page.
        page.screenshot(path=str(SHOTS / f"feedback-{name}.png"))

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            me = session(browser, STRATEGIST)
            me.goto(f"{server.url}/alerts?status=new")
            links = me.locator("#alerts-results tbody a[href^='/alerts/']")
            expect(links.first).to_be_visible()
            hrefs = [links.nth(i).get_attribute("href") for i in range(3)]
            stale_url, ok_url, nojs_url = (f"{server.url}{h}" for h in hrefs)

            # Item 14: fill in Escalate at the bottom of the page ...
            me.goto(stale_url)
            form = me.locator("#action-escalate")
            form.scroll_into_view_if_needed()
            form.locator("textarea[name=reason]").fill(REASON)
            team = form.locator("select[name=team_id] option").nth(1).get_attribute("value")
            assert team
            form.locator("select[name=team_id]").select_option(team)
            scrolled = me.evaluate("window.scrollY")
            assert scrolled > 700, scrolled  # far below the page's header

            # ... while someone else closes the alert in another session.
            other = session(browser, STRATEGIST)
            other.goto(stale_url)
            close = other.locator("#action-close")
            close.locator("select[name=disposition]").select_option("false_positive")
            close.locator("textarea[name=comment]").fill("Closed from another session.")
            close.locator("button[type=submit]").click()
            expect(other.locator(".flash-ok")).to_have_text("Alert closed.")

            form.locator("button[type=submit]").click()
            message = me.locator("#action-escalate .form-feedback")
            expect(message).to_contain_text("Nothing was changed.")
            expect(message).to_be_in_viewport()
            expect(message).to_be_focused()
            expect(message).to_have_attribute("role", "alert")
            # The form is still there, with what was typed, on the alert as it is now.
            expect(form.locator("textarea[name=reason]")).to_have_value(REASON)
            expect(form.locator("select[name=team_id]")).to_have_value(team)
            expect(me.locator(".alert-meta")).to_contain_text("closed")
            shot(me, "01-stale-escalate")

            # Item 15: a success is shown once, in view, and never from the address.
            me.goto(ok_url)
            form = me.locator("#action-escalate")
            form.scroll_into_view_if_needed()
            form.locator("textarea[name=reason]").fill(REASON)
            form.locator("select[name=team_id]").select_option(team)
            form.locator("button[type=submit]").click()
            flash = me.locator(".flash-ok")
            expect(flash).to_have_text("Alert escalated.")
            expect(flash).to_be_in_viewport()
            expect(flash).to_be_focused()
            assert "ok=" not in me.url
            shot(me, "02-escalated")
            me.reload()
            expect(me.locator(".alert-meta")).to_contain_text("escalated")
            expect(me.locator(".flash-ok")).to_have_count(0)
            shot(me, "03-reloaded")

            # Without JavaScript: a plain form post, a 303 and the flash once.
            plain = session(browser, STRATEGIST, js=False)
            plain.goto(nojs_url)
            assign = plain.locator("#action-assign")
            assign.locator("button[type=submit]").click()
            expect(plain.locator(".flash-ok")).to_have_text("Alert assigned.")
            assert plain.url == nojs_url, plain.url
            shot(plain, "04-no-js-assigned")
            plain.reload()
            expect(plain.locator(".flash-ok")).to_have_count(0)
            plain.goto(f"{nojs_url}?ok=alert.assign")  # an old shared link: nothing stale
            expect(plain.locator(".flash-ok")).to_have_count(0)
        finally:
            browser.close()
    # The browser logs the refused Escalate's 409 itself; nothing else may show up there.
    assert [p for p in problems if "status of 409 (Conflict)" not in p] == [], problems
