"""Item 25 of issue 11 in a real browser: signed in, the database goes away (the TCP proxy of
tests/audit/_outage.py between `riskops serve` and PostgreSQL is cut), and the page the user
reloads is the styled 503 page that says what happened; once the database is back, the same
address works again with no restart. Screenshots: test-artifacts/screenshots/outage-*.png.

Runs `riskops serve --demo` on a throwaway PostgreSQL database (the machine's server itself is
never touched) and Debian's Chromium.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.audit._outage import Proxy
from tests.conftest import PG_ADMIN_URL, _pg_admin, pg_url, require_service
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    SHOTS,
    _demo_password,
    launch_chromium,
    require_chromium,
)
from tests.support import templates
from tests.support.served import demo_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class ThreadedProxy:
    """The outage proxy on an event loop of its own thread (the browser API here is sync)."""

    def __init__(self, host: str, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.proxy = Proxy(host, port)
        self.port: int = self.run(self.proxy.start())

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def cut(self) -> None:
        async def cut() -> None:
            self.proxy.cut()

        self.run(cut())

    def restore(self) -> None:
        async def restore() -> None:
            self.proxy.restore()

        self.run(restore())

    def close(self) -> None:
        self.run(self.proxy.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class Proxied:
    url: str
    proxy: ThreadedProxy
    log: Path


@pytest.fixture
def proxied_server(tmp_path: Path) -> Iterator[Proxied]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    proxy = ThreadedProxy("127.0.0.1", int(PG_ADMIN_URL.rsplit(":", 1)[1].split("/")[0]))
    dbname = f"riskops_outage_{uuid.uuid4().hex[:10]}"
    templates.create_pg(dbname)  # migrated already: `serve` finds nothing to apply
    direct = pg_url(dbname)
    through = direct.replace(direct.split("@", 1)[1].split("/", 1)[0], f"127.0.0.1:{proxy.port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env.update(PYTHONUNBUFFERED="1", RISKOPS_ENV="dev", RISKOPS_LOG_LEVEL="WARNING")
    log = tmp_path / "server.log"
    options = ("--database-url", through, "--var-dir", str(tmp_path / "var"))
    try:
        with demo_server(cwd=tmp_path, env=env, log=log, options=options, timeout=120) as url:
            yield Proxied(url, proxy, log)
    finally:
        proxy.close()
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))


def test_the_outage_page_in_chromium(proxied_server: Proxied) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    server = proxied_server
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 800})
            page.goto(f"{server.url}/login")
            page.fill("input[name=email]", ADMIN_EMAIL)
            page.fill("input[name=password]", _demo_password(server.log, ADMIN_EMAIL))
            page.click("button:has-text('Sign in')")
            page.goto(f"{server.url}/admin/users")
            expect(page.locator("h1")).to_have_text("Users")

            server.proxy.cut()
            response = page.goto(f"{server.url}/admin/users")
            assert response is not None and response.status == 503
            assert (response.header_value("retry-after") or "").isdigit()
            expect(page.locator("h1")).to_have_text("Database not reachable")
            expect(page.locator(".error-card")).to_contain_text("retries on its own")
            # styled: the stylesheet loaded (the card has its own background and padding)
            padding = page.locator(".error-card").evaluate("e => getComputedStyle(e).paddingTop")
            assert padding not in ("", "0px"), padding
            page.screenshot(path=str(SHOTS / "outage-503.png"), full_page=True)

            server.proxy.restore()
            # riskops reconnects on its own: /health is 200 again without a restart
            deadline = time.monotonic() + 20
            while httpx.get(f"{server.url}/health", timeout=5).status_code != 200:
                assert time.monotonic() < deadline, server.log.read_text()[-3000:]
                time.sleep(0.3)
            # the page's own "Try again" link: the same address, now served
            with page.expect_navigation():
                page.get_by_role("link", name="Try again").click()
            expect(page.locator("h1")).to_have_text("Users")
            expect(page).to_have_url(re.compile(r"/admin/users$"))
            page.screenshot(path=str(SHOTS / "outage-recovered.png"))
        finally:
            browser.close()
