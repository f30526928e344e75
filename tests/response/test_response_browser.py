"""The response loop in a real (headless) Chromium against `riskops serve --demo`: the demo's
SEV0 run (recorded at start, so its 15-minute target is running) shows on the operator's "My
work" as unacknowledged, its run page shows the target and time left with an Acknowledge button,
its case the incident record; the operator acknowledges the case (the run with it), takes
command and writes a timeline entry. Fails on any console error (a CSP violation shows there).
Screenshots: test-artifacts/screenshots/response-*.png."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import (
    SHOTS,
    Server,
    launch_chromium,
    require_chromium,
    server,  # noqa: F401  (the demo server fixture)
    sign_in_as,
    watch_console,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OPERATOR = "operator@demo.riskops.local"


def test_acknowledge_and_incident_in_chromium(server: Server) -> None:  # noqa: F811
    require_chromium()
    from playwright.sync_api import Page, expect, sync_playwright

    problems: list[str] = []

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(SHOTS / f"response-{name}.png"), full_page=True)

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            watch_console(page, problems)
            sign_in_as(page, server, OPERATOR, "/")
            work = page.locator("#work-response")
            expect(work).to_contain_text("Incidents waiting for you")
            expect(work).to_contain_text("Unacknowledged SEV0/SEV1")
            expect(work).to_contain_text("DEMO-SEV0-0001")
            expect(work).to_contain_text(re.compile(r"min left|overdue by"))
            shot(page, "01-my-work")

            page.goto(f"{server.url}/runs?severity=SEV0")
            row = page.locator("#runs-results tbody tr", has_text="DEMO-SEV0-0001")
            expect(row.locator(".response-clock")).to_contain_text(re.compile(r"min left|overdue"))
            shot(page, "01b-ledger")
            page.locator("#runs-results a:has-text('DEMO-SEV0-0001')").first.click()
            expect(page.locator("h1")).to_contain_text("DEMO-SEV0-0001")
            block = page.locator("#response")
            expect(block).to_contain_text("Response target")
            expect(block).to_contain_text(re.compile(r"min left|overdue by"))
            expect(block.locator("button:has-text('Acknowledge')")).to_be_visible()
            shot(page, "02-run")

            page.locator("#links a", has_text="CASE-").first.click()
            expect(page.locator("h1")).to_contain_text("CASE-")
            expect(page.locator("#incident")).to_contain_text("Incident record")
            shot(page, "03-case")
            page.locator("#response button:has-text('Acknowledge')").click()
            expect(page.locator(".flash-ok")).to_contain_text("Acknowledged")
            expect(page.locator("#response .response-acked")).to_contain_text("by")
            page.locator("#incident button:has-text('Take command')").click()
            expect(page.locator("#incident .incident-commander")).not_to_contain_text("nobody")
            page.locator("#incident textarea[name=text]").fill(
                "Paused the weekly export; checking who received the file."
            )
            page.locator("#incident button:has-text('Add entry')").click()
            expect(page.locator("#incident .timeline")).to_contain_text("Paused the weekly export")
            shot(page, "04-case-acknowledged")

            page.goto(f"{server.url}/")
            expect(page.locator("#work-response")).not_to_contain_text("DEMO-SEV0-0001")
            shot(page, "05-my-work-after")
        finally:
            browser.close()
    assert problems == [], problems
