"""The credit-monitoring pages in a real (headless) Chromium against `riskops serve` with its demo
data (six scenarios, 60 days of runs, a SEV2 pattern, a SEV1 and a SEV0): the scenario page with
its SVG baseline band, the weekly report generated from its page with its charts and JSON
download, the policy and kill-switch pages, and the notifications outbox. No console errors (CSP).
Screenshots: test-artifacts/screenshots/credit-*.png."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import SHOTS, Server, launch_chromium, require_chromium, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.slow]

APPROVER = "approver@demo.riskops.local"


def test_credit_monitoring_pages_in_chromium(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        watch_console(page, problems)
        page.goto(f"{server.url}/login?next=/scenarios")
        page.fill("input[name=email]", APPROVER)
        page.fill("input[name=password]", server.password_of(APPROVER))
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_contain_text("Scenarios")
        expect(page.locator("body")).to_contain_text("CHARGEBACK_TRIAGE")
        page.screenshot(path=str(SHOTS / "credit-scenarios.png"), full_page=True)

        page.goto(f"{server.url}/scenarios/CHARGEBACK_TRIAGE")
        chart = page.locator("svg").first
        expect(chart).to_be_visible()
        assert page.locator("svg circle").count() > 50  # the runs of the last 90 days
        expect(page.locator("body")).to_contain_text("Initial baseline")
        page.screenshot(path=str(SHOTS / "credit-scenario.png"), full_page=True)

        page.goto(f"{server.url}/runs?severity=SEV2")
        expect(page.locator("body")).to_contain_text("CHARGEBACK_TRIAGE")
        page.screenshot(path=str(SHOTS / "credit-ledger-sev2.png"), full_page=True)

        # The last complete week: Monday to Monday, before today.
        today = datetime.now(UTC).date()
        start = today - timedelta(days=today.weekday() + 7)
        page.goto(f"{server.url}/reports")
        page.fill("input[name=period_start]", start.isoformat())
        page.locator("form[action='/reports'] button[type=submit]").click()
        expect(page.locator("body")).to_contain_text("SHA-256")
        expect(page.locator("body")).to_contain_text(
            "top_spike_runs".replace("_", " "), ignore_case=True
        )
        page.screenshot(path=str(SHOTS / "credit-report.png"), full_page=True)
        link = page.locator("a[href$='.json']").first
        with page.expect_download() as info:
            link.click()
        body = info.value.path().read_bytes()
        shown = page.locator("body").inner_text()
        assert hashlib.sha256(body).hexdigest() in shown

        page.goto(f"{server.url}/policy")
        expect(page.locator("body")).to_contain_text("sev1_multiplier")
        page.screenshot(path=str(SHOTS / "credit-policy.png"), full_page=True)

        page.goto(f"{server.url}/kill-switches")
        page.check("input[name=name][value=alert_suppression]")
        page.fill("form[action='/kill-switches'] textarea[name=reason]", "E2E: API outage storm")
        page.locator("form[action='/kill-switches'] button[type=submit]").click()
        expect(page.locator("body")).to_contain_text("E2E: API outage storm")
        page.screenshot(path=str(SHOTS / "credit-kill-switches.png"), full_page=True)

        page.goto(f"{server.url}/notifications")
        expect(page.locator("body")).to_contain_text("run.sev0")
        page.screenshot(path=str(SHOTS / "credit-notifications.png"), full_page=True)
        browser.close()
    assert not problems, problems
