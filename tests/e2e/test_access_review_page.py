"""The access review page in a real (headless) Chromium against `riskops serve` with its demo
data: the admin creates a leaver, opens the review from the navigation, decides keep for one
person and suspend for the leaver, records it (the leaver is suspended, the review is listed),
and downloads the evidence zip; a bad period is explained where it was typed. No console
errors (CSP). Screenshots: test-artifacts/screenshots/access-review-*.png."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pytest

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    SHOTS,
    Server,
    launch_chromium,
    require_chromium,
    sign_in_as,
    watch_console,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LEAVER = "leaver-review@demo.riskops.local"


def _create_leaver(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/admin/users")
    page.fill("input[name=email]", LEAVER)
    page.fill("input[name=name]", "Lee Leaver")
    page.check("form[action='/admin/users'] input[name=roles][value=viewer]")
    page.click("button:has-text('Create user')")
    page.wait_for_selector(f"text={LEAVER}")


def test_review_record_and_evidence(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
        errors: list[str] = []
        watch_console(page, errors)
        sign_in_as(page, server, ADMIN_EMAIL)
        _create_leaver(page, server)

        page.click("nav[aria-label=Main] a[href='/access-review']")
        page.wait_for_url(f"{server.url}/access-review")
        main = page.locator("main").inner_text()
        assert "Access review" in main and "Lee Leaver" in main and "Chloe Compliance" in main
        assert "privileged (admin, approver)" in main.lower()
        page.screenshot(path=str(SHOTS / "access-review-findings.png"), full_page=True)

        leaver = page.locator("tr", has_text="Lee Leaver")
        viewer = page.locator("tr", has_text="Victor Viewer")
        viewer.locator("select").select_option("keep")
        leaver.locator("select").select_option("suspend")
        # Suspending without a note is refused in the form; the choices are kept.
        page.click("button:has-text('Record review')")
        page.wait_for_selector(".form-feedback")
        assert "Note is required" in page.locator(".form-feedback").inner_text()
        assert leaver.locator("select").input_value() == "suspend"
        leaver.locator("input[type=text]").fill("left the company")
        page.fill("input[name=note]", "Quarterly review")
        page.click("button:has-text('Record review')")
        page.wait_for_selector("text=Access review recorded")
        history = page.locator("tr[id^=review-]").first.inner_text()
        assert "Lee Leaver: suspend" in history and "Victor Viewer: keep" in history
        assert "suspended" in page.locator("tr", has_text="Lee Leaver").first.inner_text()
        page.screenshot(path=str(SHOTS / "access-review-recorded.png"), full_page=True)

        page.fill("input[name=period]", "last quarter")
        page.click("button:has-text('Download evidence')")
        page.wait_for_selector("text=is not a quarter")
        page.locator("input[name=period]").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "access-review-bad-period.png"))
        page.fill("input[name=period]", "2026-Q4")
        with page.expect_download() as caught:
            page.click("button:has-text('Download evidence')")
        download = caught.value
        assert download.suggested_filename == "evidence-2026-Q4.zip"
        with zipfile.ZipFile(io.BytesIO(download.path().read_bytes())) as z:
            names = sorted(z.namelist())
            assert "evidence-2026-Q4/manifest.json" in names
            assert "evidence-2026-Q4/access_reviews.csv" in names
        browser.close()
    # The browser logs the deliberate mistakes' 422 itself (the suspension without a note, the
    # bad period); nothing else may show up there.
    deliberate = re.compile(r"status of 422 \(Unprocessable Entity\) \(\S+/access-review")
    assert [e for e in errors if not deliberate.search(e)] == [], errors
