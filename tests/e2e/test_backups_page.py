"""The Backups page in a real (headless) Chromium against `riskops serve` with its demo data: the
operator takes a backup on the machine (`riskops backup create` on the server's own SQLite
database, while it serves), and an admin finds it under Admin > Backups, verified, with the
backup age /health watches and the commands; a viewer has no such link. No console errors
(CSP). Screenshot: test-artifacts/screenshots/backups-admin.png."""

from __future__ import annotations

import os
import re

import pytest

from tests.e2e.conftest import SHOTS, Server, launch_chromium, require_chromium, watch_console
from tests.support import cli_runner

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def take_backup(server: Server) -> str:
    tmp = server.log.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    done = cli_runner.run(
        ["--database-url", f"sqlite://{tmp / 'e2e.sqlite3'}", "--var-dir", str(tmp / "var"),
         "backup", "create"],
        env=env, cwd=tmp, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return re.search(r"(riskops-backup-\S+\.tar)", done.stdout).group(1)  # type: ignore[union-attr]


def test_an_admin_sees_the_backup_taken_on_the_machine(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    archive = take_backup(server)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch_console(page, problems)
        from tests.e2e.conftest import sign_in_as

        sign_in_as(page, server, server.admin_email)
        page.click("nav >> text=Backups")
        expect(page).to_have_url(re.compile(r"/admin/backups$"))
        expect(page.locator("h1")).to_have_text("Backups")
        row = page.locator("tr", has_text=archive)
        expect(row).to_be_visible()
        expect(row).to_contain_text("verified")
        expect(row).to_contain_text("sqlite")
        expect(page.locator("text=The newest verified backup was taken")).to_be_visible()
        expect(page.locator("code", has_text="riskops backup restore").first).to_be_visible()
        page.screenshot(path=str(SHOTS / "backups-admin.png"), full_page=True)
        context.close()

        context = browser.new_context()
        page = context.new_page()
        sign_in_as(page, server, server.viewer_email)
        expect(page.locator("nav >> text=Backups")).to_have_count(0)
        context.close()
        browser.close()
    assert not problems, problems
