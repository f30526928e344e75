"""How a channel's delivery log looks with something in it (issue 16): a PagerDuty channel with a
trigger sent, an acknowledgement waiting behind a retried trigger, a 400 and a suppressed message,
rendered by the app and shown in Debian's Chromium (the page's own stylesheet inlined). Screenshot:
test-artifacts/screenshots/channels-delivery-log.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tortoise.transactions import in_transaction

from riskops.server.notify import channels, outbox
from riskops.server.notify.channels import ChannelInput
from riskops.server.notify.delivery import deliver_due
from riskops.server.notify.outbox import Channel, PagerAction
from riskops.server.settings import get_settings
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, SHOTS
from tests.support.pagerduty_server import PagerDutyServer, routing_key
from tests.support.pagerduty_server import serving as pd_serving

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

CSS = Path(__file__).resolve().parents[2] / "ui" / "static" / "app.css"


@pytest.fixture
def pd() -> Iterator[PagerDutyServer]:
    yield from pd_serving()


async def _write(
    org_id: int, key: str, action: PagerAction, run: str, *, suppressed: bool = False
) -> None:
    async with in_transaction() as conn:
        await outbox.add(
            conn, org_id, Channel.CRITICAL, "run.sev0",
            {"severity": "SEV0", "run_id": run, "scenario": "BINDER_EXPORT_WEEKLY",
             "multiplier": 12.5, "acknowledged_by": "Ann Lee"},
            suppressed=suppressed, now=datetime.now(UTC), dedup_key=key, action=action,
        )  # fmt: skip


async def test_the_delivery_log_reads_well(tenant, browser, pd) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (`make browser`)")
    from playwright.async_api import async_playwright

    channel = await channels.create_channel(
        tenant.admin, "pagerduty",
        ChannelInput(name="PagerDuty on call", events=["critical"], secret=routing_key(),
                     events_url=pd.url),
    )  # fmt: skip
    settings = get_settings()
    await _write(tenant.org_id, "riskops-run-1", PagerAction.TRIGGER, "r-2026-12-06-001")
    await deliver_due(org_id=tenant.org_id, settings=settings)
    pd.script = ["fail"]
    await _write(tenant.org_id, "riskops-run-2", PagerAction.TRIGGER, "r-2026-12-06-002")
    await _write(tenant.org_id, "riskops-run-2", PagerAction.ACKNOWLEDGE, "r-2026-12-06-002")
    await deliver_due(org_id=tenant.org_id, settings=settings)
    pd.mode = "bad"
    await _write(tenant.org_id, "riskops-run-3", PagerAction.TRIGGER, "r-2026-12-06-003")
    await deliver_due(datetime.now(UTC) + timedelta(seconds=1), org_id=tenant.org_id,
                      settings=settings)  # fmt: skip
    # Written while the alert-suppression kill switch was on.
    await _write(tenant.org_id, "riskops-run-4", PagerAction.TRIGGER, "r-2026-12-06-004",
                 suppressed=True)  # fmt: skip
    b = await browser(tenant.admin_user, tenant.password)
    page = await b.get(f"/admin/channels/{channel.id}")
    assert page.status_code == 200
    for status in ("sent", "pending", "failed", "suppressed"):
        assert f'class="badge outbox-{status}"' in page.text
    assert "waits for the older message of its item to be sent" in page.text
    html = re.sub(r'<link rel="stylesheet" href="[^"]+">', f"<style>{CSS.read_text()}</style>",
                  page.text)  # fmt: skip
    html = re.sub(r"<script[^>]*></script>", "", html)
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        view = await chromium.new_page(viewport={"width": 1280, "height": 900})
        await view.set_content(html)
        log = view.locator("#deliveries")
        assert await log.locator("tbody tr").count() == 5
        await log.screenshot(path=str(SHOTS / "channels-delivery-log.png"))
        await chromium.close()
