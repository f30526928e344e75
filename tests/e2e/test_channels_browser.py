"""Notification channels in a real (headless) Chromium against `riskops serve` (issue 16): the
demo admin opens Admin → Notification channels, adds a PagerDuty channel pointed at the loopback
Events API v2 receiver and a Slack channel pointed at a loopback webhook, sends a test to each
(the answers "202 accepted" and "200 accepted" on the page, the PagerDuty test incident opened
and resolved), sees a refused routing key's answer, and a bad URL's message under its field.
The routing key is never in any page. No console errors. Screenshots:
test-artifacts/screenshots/channels-*.png."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import SHOTS, Server, launch_chromium, require_chromium, watch_console
from tests.support.pagerduty_server import PagerDutyServer, routing_key
from tests.support.webhook_server import WebhookServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_admin_sets_up_and_tests_channels(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    key = routing_key("e2e")
    with PagerDutyServer() as pd, WebhookServer() as hooks, sync_playwright() as pw:
        browser = launch_chromium(pw)
        problems: list[str] = []
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        watch_console(page, problems)
        page.goto(f"{server.url}/login")
        page.fill("input[name=email]", server.admin_email)
        page.fill("input[name=password]", server.admin_password)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(f"{server.url}/")
        page.click("nav a:has-text('Notification channels')")
        page.wait_for_url(f"{server.url}/admin/channels")
        page.screenshot(path=str(SHOTS / "channels-empty.png"), full_page=True)

        # A PagerDuty channel on the loopback Events API.
        page.click("a:has-text('New channel')")
        page.click("a:has-text('PagerDuty (Events API v2)')")
        page.fill("input[name=name]", "PagerDuty on call")
        page.fill("input[name=secret]", key)
        page.fill("input[name=events_url]", pd.url)
        page.check("input[name=events][value=critical]")
        page.check("input[name=events][value=escalation]")
        page.screenshot(path=str(SHOTS / "channels-new-pagerduty.png"), full_page=True)
        page.click("button:has-text('Add channel')")
        expect(page.locator(".flash").first).to_contain_text("Channel added")
        expect(page.locator("input[name=secret]")).to_have_value("")
        page.click("button:has-text('Send test')")
        expect(page.locator(".test-outcome").first).to_contain_text("Test sent: 202 accepted")
        assert [i.state for i in pd.incidents.values()] == ["resolved"]
        page.screenshot(path=str(SHOTS / "channels-test-ok.png"), full_page=True)
        pd.mode = "bad"
        page.click("button:has-text('Send test')")
        expect(page.locator(".test-outcome").first).to_contain_text(
            "Test failed: 400: Event object is invalid; Invalid routing key"
        )
        page.screenshot(path=str(SHOTS / "channels-test-refused.png"), full_page=True)
        assert key not in page.content()

        # A Slack channel: a bad URL is refused under its field, then fixed.
        page.goto(f"{server.url}/admin/channels/new?kind=slack")
        page.fill("input[name=name]", "ops-critical")
        page.fill("input[name=url]", "ftp://hooks.example/x")
        page.check("input[name=events][value=critical]")
        page.click("button:has-text('Add channel')")
        expect(page.locator("#url-error")).to_contain_text("http:// or https://")
        page.screenshot(path=str(SHOTS / "channels-bad-url.png"), full_page=True)
        page.fill("input[name=url]", hooks.url("/slack"))
        page.click("button:has-text('Add channel')")
        expect(page.locator(".flash").first).to_contain_text("Channel added")
        page.click("button:has-text('Send test')")
        expect(page.locator(".test-outcome").first).to_contain_text("Test sent: 200 accepted")
        assert "Test message from riskops" in hooks.bodies("/slack")[0]["text"]

        page.goto(f"{server.url}/admin/channels")
        expect(page.locator("table.channels tbody tr")).to_have_count(2)
        page.screenshot(path=str(SHOTS / "channels-list.png"), full_page=True)
        assert key not in page.content()
        browser.close()
    # The browser logs the deliberate mistake's 422 itself (the bad URL); nothing else may show.
    deliberate = re.compile(r"status of 422 \(Unprocessable Entity\) \(\S+/admin/channels\)")
    assert not [p for p in problems if not deliberate.search(p)], problems
