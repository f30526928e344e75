"""The checks of a chosen period (`/reports/checks`) in a real (headless) Chromium against
`riskops serve` with its demo data: a viewer follows the link from Weekly reports, sees the
default periods, asks for the PII false-positive rate and the baseline candidates of other
periods (htmx swaps the section, the address keeps both periods), and a period the service
refuses shows its message next to Period start. A strategist is refused. No console errors (CSP).
Screenshots: test-artifacts/screenshots/checks-*.png."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import (
    SHOTS,
    Server,
    launch_chromium,
    require_chromium,
    sign_in_as,
    watch_console,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWER = "viewer@demo.riskops.local"
STRATEGIST = "strategist@demo.riskops.local"


def test_checks_of_a_chosen_period_in_chromium(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    today = datetime.now(UTC).date()
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        watch_console(page, problems)
        sign_in_as(page, server, VIEWER, "/reports")
        page.click("a[href='/reports/checks']")
        expect(page.locator("h1")).to_have_text("Checks for a period")
        pii = page.locator("#pii-rate")
        cands = page.locator("#baseline-candidates")
        expect(pii.locator("input[name=pii_start]")).to_have_value(
            (today - timedelta(days=30)).isoformat()
        )
        expect(cands).to_contain_text("Runs started in the 7 days up to now")
        page.screenshot(path=str(SHOTS / "checks-defaults.png"), full_page=True)

        # The demo's 60 days: the PII rate of the 60 days, the candidates of two weeks.
        pii.locator("input[name=pii_start]").fill((today - timedelta(days=60)).isoformat())
        pii.locator("button[type=submit]").click()
        expect(page.locator("#pii-rate table")).to_contain_text(
            f"{today - timedelta(days=60)} 00:00 UTC"
        )
        start = (today - timedelta(days=14)).isoformat()
        cands.locator("input[name=candidates_start]").fill(start)
        cands.locator("input[name=candidates_end]").fill(today.isoformat())
        cands.locator("button[type=submit]").click()
        expect(page.locator("#baseline-candidates")).to_contain_text(
            f"Runs started from {start} 00:00 to before {today} 00:00"
        )
        assert page.locator("#baseline-candidates table a[href^='/scenarios/']").count() >= 1
        assert f"pii_start={today - timedelta(days=60)}" in page.url  # both periods in the address
        assert f"candidates_start={start}" in page.url
        page.screenshot(path=str(SHOTS / "checks-chosen.png"), full_page=True)

        # A year and a half: the service's refusal next to Period start.
        pii.locator("input[name=pii_start]").fill((today - timedelta(days=540)).isoformat())
        page.locator("#pii-rate button[type=submit]").click()
        error = page.locator("#pii_start-error")
        expect(error).to_contain_text("the limit is 366 days")
        expect(page.locator("#pii-rate input[name=pii_start]")).to_have_attribute(
            "aria-invalid", "true"
        )
        page.screenshot(path=str(SHOTS / "checks-refused-period.png"), full_page=True)

        # Reloaded, the address reproduces what was asked.
        page.reload()
        expect(page.locator("#pii_start-error")).to_contain_text("the limit is 366 days")
        expect(page.locator("#baseline-candidates")).to_contain_text(f"from {start}")

        page.set_viewport_size({"width": 390, "height": 844})  # a phone: one field a line
        page.screenshot(path=str(SHOTS / "checks-phone.png"), full_page=True)

        other = browser.new_page(viewport={"width": 1280, "height": 900})
        sign_in_as(other, server, STRATEGIST)
        assert other.locator("a[href='/reports/checks']").count() == 0
        other.goto(f"{server.url}/reports/checks")
        expect(other.locator("h1")).to_have_text("Not allowed")
        browser.close()
    # The browser logs the deliberate mistake's 422 itself (the period over the limit, asked
    # and reloaded); nothing else may show up there.
    deliberate = re.compile(r"status of 422 \(Unprocessable Entity\) \(\S+/reports/checks\?")
    assert [p for p in problems if not deliberate.search(p)] == [], problems
