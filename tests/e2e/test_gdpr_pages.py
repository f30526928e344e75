"""GDPR requests in a real (headless) Chromium against `riskops serve` with its demo data: the
compliance reviewer downloads the export of a demo customer and asks for its erasure (received
40 days ago: overdue), sees it waiting for another approver; the admin finds it on the "My work"
home and on the page (highlighted) and rejects it with a reason, which erases nothing. No console
errors (CSP) but the 422 of the deliberate mistake.
Screenshots: test-artifacts/screenshots/gdpr-*.png."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    SHOTS,
    Server,
    launch_chromium,
    require_chromium,
    watch_console,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COMPLIANCE = "compliance@demo.riskops.local"
CUSTOMER = "CUST-000001"  # the demo's customers follow a power law: the first recurs most


def _sign_in(page: Any, server: Server, email: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", server.password_of(email))
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{server.url}/")


def test_export_download_overdue_erasure_and_its_rejection(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1366, "height": 900}, accept_downloads=True)
        errors: list[str] = []
        watch_console(page, errors)
        _sign_in(page, server, COMPLIANCE)
        page.click("nav[aria-label=Main] a[href='/admin/gdpr']")
        page.wait_for_url(f"{server.url}/admin/gdpr")

        export = page.locator("section[aria-labelledby=gdpr-export-title]")
        export.locator("input[name=subject]").fill(CUSTOMER)
        with page.expect_download() as got:
            export.locator("button:has-text('Download JSON')").click()
        download = got.value
        assert download.suggested_filename.startswith("gdpr-export-")
        doc = json.loads(Path(download.path()).read_text(encoding="utf-8"))
        assert doc["subject"] == {"kind": "customer", "value": CUSTOMER} and doc["alerts"]

        erase = page.locator("section[aria-labelledby=gdpr-erase-title]")
        erase.locator("input[name=subject]").fill("not an e-mail@")
        erase.locator("button:has-text('Request erasure')").click()
        assert (
            "is not an e-mail address (like name@example.com)"
            in page.locator("section[aria-labelledby=gdpr-erase-title]").inner_text()
        )
        page.screenshot(path=str(SHOTS / "gdpr-invalid-subject.png"), full_page=True)
        erase = page.locator("section[aria-labelledby=gdpr-erase-title]")
        erase.locator("input[name=subject]").fill(CUSTOMER)
        received = (datetime.now(UTC) - timedelta(days=40)).strftime("%Y-%m-%d")
        erase.locator("input[name=received]").fill(received)
        erase.locator("button:has-text('Request erasure')").click()
        page.wait_for_url(f"{server.url}/admin/gdpr")
        main = page.locator("main").inner_text()
        assert "Erasure requested" in main and "Waiting for another approver" in main
        assert page.locator("tr.row-overdue").count() >= 1
        page.screenshot(path=str(SHOTS / "gdpr-requested-overdue.png"), full_page=True)

        admin = browser.new_page(viewport={"width": 1366, "height": 900})
        watch_console(admin, errors)
        _sign_in(admin, server, ADMIN_EMAIL)
        item = admin.locator("[data-key='gdpr.overdue']")
        assert "Overdue GDPR requests" in item.inner_text()
        admin.screenshot(path=str(SHOTS / "gdpr-home-overdue.png"), full_page=True)
        item.click()
        admin.wait_for_url(f"{server.url}/admin/gdpr")
        row = admin.locator("tr.row-overdue").first
        assert "Approve and erase" in row.inner_text()
        admin.screenshot(path=str(SHOTS / "gdpr-admin-decides.png"), full_page=True)
        row.locator("input[name=reason]").fill("Open chargeback dispute: legal hold")
        row.locator("button:has-text('Reject')").click()
        admin.wait_for_url(f"{server.url}/admin/gdpr")
        assert "Erasure rejected; nothing was erased." in admin.locator("main").inner_text()
        assert admin.locator("tr.row-overdue").count() == 0
        admin.screenshot(path=str(SHOTS / "gdpr-rejected.png"), full_page=True)
        browser.close()
    # The deliberate mistake (a malformed subject) is answered 422; nothing else may show up.
    assert [e for e in errors if not re.search(r"status of 422 .*/admin/gdpr/erase", e)] == []
