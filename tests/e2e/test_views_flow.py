"""Saved views and their promotion in a real (headless) Chromium against `riskops serve` with its
demo data (jobs run in the server's process): a strategist filters the alert queue, saves it as a
view and requests its promotion; the compliance reviewer and the product reviewer each approve;
the view is standard for the second strategist, with the same rows; her edit of it is a draft
that goes through review again while the version in force stays; a decline shows its reason to
the requester. Fails on any console error (a CSP violation shows there). Screenshots go to
test-artifacts/screenshots/views-*.png."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from tests.e2e.conftest import (
    SHOTS,
    Server,
    launch_chromium,
    require_chromium,
    sign_in_as,
    sign_out,
    watch_console,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STRATEGIST = "strategist@demo.riskops.local"
STRATEGIST2 = "strategist2@demo.riskops.local"
COMPLIANCE = "compliance@demo.riskops.local"
PRODUCT = "product@demo.riskops.local"


def test_views_flow_in_chromium(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import Page, expect, sync_playwright

    problems: list[str] = []
    tag = uuid.uuid4().hex[:5]
    name = f"Critical {tag}"

    def sign_in(page: Page, email: str, then: str) -> None:
        sign_in_as(page, server, email, then)

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(SHOTS / f"views-{name}.png"), full_page=True)

    def rows(page: Page) -> list[str]:
        return [
            str(r.get_attribute("id"))
            for r in page.locator("#alerts-rows tr[id^=alert-row-]").all()
        ]

    def wait_for(page: Page, text: str, timeout: float = 30.0) -> None:
        """Reload until the page shows `text` (the promotion jobs run in the server)."""
        deadline = time.monotonic() + timeout
        while text not in page.locator("main").inner_text():
            assert time.monotonic() < deadline, f"{text!r} never showed on {page.url}"
            time.sleep(0.5)
            page.reload()

    def review(page: Page, who: str, request_path: str, decision: str, note: str = "") -> None:
        # From their home page: "View promotions to review" lists the request.
        sign_in(page, who, "/")
        expect(page.locator("main")).to_contain_text("View promotions to review")
        page.locator(f"main a[href='{request_path}']").first.click()
        expect(page.locator("h1")).to_contain_text("to standard")
        form = page.locator("form.review-form")
        if note:
            form.locator("textarea[name=note]").fill(note)
        form.locator(f"button[value={decision}]").click()
        expect(page.locator(".flash-ok[tabindex]")).to_be_visible()

    def request_promotion(page: Page, rationale: str) -> str:
        promote = page.locator("#promote")
        promote.locator("textarea[name=rationale]").fill(rationale)
        promote.locator("button:has-text('Request promotion')").click()
        expect(page).to_have_url(re.compile(r"/views/requests/\d+$"))
        return page.url.removeprefix(server.url)

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            watch_console(page, problems)

            # (1) The strategist filters the queue and saves it as a view.
            sign_in(page, STRATEGIST, "/alerts")
            filters = page.locator("#alert-filters")
            filters.locator("#filter-priority-critical").check()
            filters.locator("button:has-text('Apply')").click()
            expect(page).to_have_url(re.compile(r"/alerts\?.*priority=critical"))
            expect(page.locator("#alerts-count")).to_be_visible()
            save = page.locator("details.view-save")
            save.locator("summary").click()
            save.locator("input[name=name]").fill(name)
            save.locator("input[name=description]").fill("Critical alerts, for everyone.")
            save.locator("button:has-text('Save as view')").click()
            expect(page).to_have_url(re.compile(r"/alerts\?view=\d+$"))
            expect(page.locator(".flash-ok[tabindex]")).to_contain_text("View saved")
            expect(page.locator(".view-applied")).to_contain_text(name)
            view_id = page.url.rsplit("=", 1)[1]
            mine = rows(page)
            assert mine, "the demo has critical alerts"
            shot(page, "01-saved-on-queue")

            # ... and requests its promotion from the view's page.
            page.goto(f"{server.url}/views/{view_id}")
            expect(page.locator("h1")).to_have_text(name)
            expect(page.locator("main")).to_contain_text("Priority: critical")
            request1 = request_promotion(page, "Every analyst should start from these.")
            wait_for(page, "waiting for review")
            shot(page, "02-requested")
            sign_out(page)

            # (2) The compliance reviewer and the product reviewer each approve, from their home.
            review(page, COMPLIANCE, request1, "approve", "Fields are fine for everyone.")
            shot(page, "03-compliance-approved")
            sign_out(page)
            review(page, PRODUCT, request1, "approve")
            wait_for(page, "Published")
            shot(page, "04-published")
            sign_out(page)

            # (3) Standard for the second strategist, with the same rows.
            sign_in(page, STRATEGIST2, "/views")
            row = page.locator("#views-alerts tr", has_text=name)
            expect(row).to_contain_text("Standard")
            shot(page, "05-standard-for-sara")
            row.locator("a:has-text('Open on the queue')").click()
            expect(page).to_have_url(re.compile(rf"/alerts\?view={view_id}$"))
            assert rows(page) == mine

            # (4) Her edit goes through review again; the version in force stays.
            page.goto(f"{server.url}/views/{view_id}")
            page.locator("a:has-text('Edit the filters')").click()
            expect(page).to_have_url(re.compile(rf"edit={view_id}"))
            filters = page.locator("#alert-filters")
            expect(filters.locator("#filter-priority-critical")).to_be_checked()
            filters.locator("#filter-priority-high").check()
            filters.locator("button:has-text('Apply')").click()
            expect(page).to_have_url(re.compile(r"priority=high"))
            page.locator("details.view-save button:has-text('Save changes')").click()
            expect(page.locator(".flash-ok[tabindex]")).to_contain_text("draft")
            expect(page.locator("#draft")).to_contain_text("critical or high")
            in_force = page.locator("main .grid-2 section").first
            expect(in_force).to_contain_text("Priority: critical")
            expect(in_force).not_to_contain_text("critical or high")
            shot(page, "06-draft")
            request2 = request_promotion(page, "High ones are urgent too.")
            wait_for(page, "waiting for review")
            expect(page.locator("#diff")).to_contain_text("critical or high")
            shot(page, "07-draft-requested")
            page.goto(f"{server.url}/alerts?view={view_id}")
            assert rows(page) == mine  # still the version in force
            sign_out(page)
            review(page, COMPLIANCE, request2, "approve")
            sign_out(page)
            review(page, PRODUCT, request2, "approve")
            wait_for(page, "Published")
            page.goto(f"{server.url}/views/{view_id}/history")
            expect(page.locator(".version")).to_have_count(2)
            shot(page, "08-history")
            sign_out(page)

            # (5) A decline shows its reason to the requester.
            sign_in(page, STRATEGIST, "/alerts?all=1")
            filters = page.locator("#alert-filters")
            filters.locator("#filter-priority-low").check()
            filters.locator("button:has-text('Apply')").click()
            expect(page).to_have_url(re.compile(r"priority=low"))
            save = page.locator("details.view-save")
            save.locator("summary").click()
            save.locator("input[name=name]").fill(f"Low {tag}")
            save.locator("button:has-text('Save as view')").click()
            expect(page.locator(".flash-ok[tabindex]")).to_contain_text("View saved")
            low_id = page.url.rsplit("=", 1)[1]
            page.goto(f"{server.url}/views/{low_id}")
            request3 = request_promotion(page, "Low ones for everyone.")
            wait_for(page, "waiting for review")
            sign_out(page)
            reason = "Too broad: low alerts are not everyone's work."
            review(page, COMPLIANCE, request3, "decline", reason)
            sign_out(page)
            sign_in(page, STRATEGIST, "/views/requests")
            expect(page.locator("#mine")).to_contain_text(reason)
            page.goto(f"{server.url}{request3}")
            expect(page.locator("main")).to_contain_text(reason)
            shot(page, "09-declined")
        finally:
            browser.close()
    assert not problems, problems
