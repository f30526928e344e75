"""The SEV0 runbook in a real (headless) Chromium against `riskops serve` with its demo data:
automation records a run that spent 15x its scenario's baseline on PII data (GraphQL
`recordRuns` with an API token, after an approver set the baseline with `setManualBaseline`);
an operator finds it in the ledger with its SEV0 badge, opens it (quarantined, dispatch blocked,
a case opened), works the case (root cause, resolution requested); an approver, another person,
approves the resolution and releases the quarantine on the run page, which verifies the held
artifact's SHA-256 and shows the run released. Fails on any unexpected console error (a CSP
violation shows there). Screenshots go to test-artifacts/screenshots/sev0-*.png."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    SHOTS,
    Server,
    issue_token,
    launch_chromium,
    require_chromium,
    sign_in_as,
    sign_out,
    watch_console,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OPERATOR = "operator@demo.riskops.local"
APPROVER = "approver@demo.riskops.local"
APPROVER2 = "approver2@demo.riskops.local"
RECORD = """mutation($input: [RunInput!]!) {
  recordRuns(input: $input) {
    recorded { runId id severity actions caseNumber }
    itemErrors { index field message }
    errors { message }
  }
}"""
APPROVE_BASELINE = """mutation($id: ID!) {
  approveBaselineUpdate(changeId: $id, rationale: "E2E: agreed, the export's usual spend") {
    change { id status }
    errors { message }
  }
}"""
BASELINE = """mutation($scenario: String!) {
  setManualBaseline(scenario: $scenario, median: 100, rationale: "E2E: the export's usual spend") {
    change { id }
    errors { message }
  }
}"""


def graphql(server: Server, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert "errors" not in body, body
    return dict(body["data"])


def held_artifact(server: Server, run_id: str) -> dict[str, str]:
    """A file in the server's artifact store (its var dir sits next to its log), so the
    quarantine moves it aside and the release verifies its SHA-256."""
    var = server.log.parent / "var"
    # The demo's SEV0 run is quarantined already: its folder names the demo organization.
    org = next(p.name for p in (var / "quarantine").iterdir() if p.is_dir())
    rel = f"{org}/{run_id}/export.csv"
    path: Path = var / "artifacts" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"customer_id,email\nC-2001,pat@example.test\n")
    return {"uri": f"artifact:{rel}", "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def test_sev0_flow_in_chromium(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import Page, expect, sync_playwright

    problems: list[str] = []
    scenario = f"E2E_EXPORT_{uuid.uuid4().hex[:6].upper()}"
    run_id = f"E2E-SEV0-{uuid.uuid4().hex[:6]}"

    def sign_in(page: Page, email: str, then: str) -> None:
        sign_in_as(page, server, email, then)

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(SHOTS / f"sev0-{name}.png"), full_page=True)

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            watch_console(page, problems)

            # Automation: an admin's token records runs, an approver's sets the baseline.
            sign_in(page, server.admin_email, "/tokens")
            recorder = issue_token(page, server, "admin")
            sign_out(page)
            sign_in(page, APPROVER, "/tokens")
            approver_token = issue_token(page, server, "approver")
            sign_out(page)
            # A manual baseline is a proposal (maker-checker): another approver approves it.
            sign_in(page, APPROVER2, "/tokens")
            checker_token = issue_token(page, server, "approver")
            sign_out(page)
            started = datetime.now(UTC) - timedelta(minutes=10)
            first = graphql(server, recorder, RECORD, {"input": [{
                "runId": f"{run_id}-warmup", "scenario": scenario, "creditsTotal": 95.0,
                "startedAt": (started - timedelta(days=1)).isoformat(),
            }]})["recordRuns"]  # fmt: skip
            assert first["itemErrors"] == [] and first["recorded"][0]["severity"] is None
            made = graphql(server, approver_token, BASELINE, {"scenario": scenario})
            assert made["setManualBaseline"]["errors"] == [], made
            change_id = made["setManualBaseline"]["change"]["id"]
            approved = graphql(server, checker_token, APPROVE_BASELINE, {"id": change_id})
            assert approved["approveBaselineUpdate"]["errors"] == [], approved
            result = graphql(server, recorder, RECORD, {"input": [{
                "runId": run_id, "scenario": scenario, "creditsTotal": 1500.0,
                "jobType": "batch", "startedAt": started.isoformat(), "itemsProcessed": 12000,
                "retryCount": 5, "hasMaxItemsConfig": False, "dataClassification": "PII",
                "artifacts": [held_artifact(server, run_id)],
            }]})["recordRuns"]  # fmt: skip
            assert result["itemErrors"] == [] and result["errors"] == [], result
            recorded = result["recorded"][0]
            assert recorded["severity"] == "SEV0", recorded
            assert {"quarantine", "block_dispatch", "open_case"} <= set(recorded["actions"])
            case_number = recorded["caseNumber"]
            assert case_number

            # The operator sees it in the ledger with the SEV0 badge.
            sign_in(page, OPERATOR, "/runs")
            expect(page.locator("h1")).to_have_text("Runs ledger")
            filters = page.locator("form.run-filters")
            filters.locator("input[name=severity][value=SEV0]").check()
            filters.locator("button:has-text('Apply')").click()
            expect(page).to_have_url(re.compile(r"/runs\?.*severity=SEV0"))
            row = page.locator("#runs-results tbody tr", has_text=run_id)
            expect(row).to_be_visible()
            expect(row.locator(".run-sev-SEV0")).to_have_text("SEV0")
            expect(row).to_contain_text("quarantined")
            expect(row).to_contain_text(case_number)
            shot(page, "01-ledger")

            # It opens it: why SEV0, quarantined, dispatch blocked, a case opened.
            row.locator(f"a:has-text('{run_id}')").click()
            expect(page.locator("h1")).to_contain_text(run_id)
            head = page.locator(".run-head")
            expect(head.locator(".run-sev-SEV0")).to_be_visible()
            expect(head).to_contain_text("quarantined")
            expect(head).to_contain_text("dispatch blocked")
            expect(page.locator("#why")).to_contain_text("\u00d715")
            expect(page.locator("#flags")).to_contain_text("pii_exposure")
            expect(page.locator("#artifacts")).to_contain_text("export.csv")
            expect(page.locator("#quarantine")).to_contain_text("An approver releases")
            run_url = page.url
            shot(page, "02-run")

            # It works the case: root cause and a resolution request.
            page.locator("#links").locator(f"a:has-text('{case_number}')").click()
            expect(page.locator("h1")).to_contain_text(case_number)
            expect(page.locator("#runs")).to_contain_text(run_id)
            case_url = page.url
            resolution = page.locator("#resolution")
            resolution.locator("select[name=root_cause]").select_option(index=1)
            resolution.locator("textarea[name=summary]").fill(
                "Unbounded iterator on the PII export; max_items set to 1000. The export "
                "held test customers only: no real exposure."
            )
            resolution.locator("button:has-text('Request resolution')").click()
            expect(page.locator("#resolution")).to_contain_text("waiting for another approver")
            shot(page, "03-case-requested")
            sign_out(page)

            # An approver approves the resolution, then releases the quarantine.
            sign_in(page, APPROVER, case_url.removeprefix(server.url))
            page.locator("#resolution button:has-text('Approve resolution')").click()
            expect(page.locator(".flash-ok")).to_contain_text("approved")
            expect(page.locator("h1").locator("..")).to_contain_text("resolved")
            shot(page, "04-case-approved")

            page.goto(run_url)
            release = page.locator("form.run-release")
            release.locator("textarea[name=reason]").fill(
                "False positive: test customers only; case resolved."
            )
            release.locator("button:has-text('Release quarantine')").click()
            expect(page.locator(".flash-ok")).to_contain_text("Quarantine released")
            expect(page).to_have_url(re.compile(r"/runs/\d+$"))
            expect(page.locator(".run-checks")).to_contain_text("verified")
            expect(page.locator("#quarantine .run-state-released")).to_be_visible()
            expect(page.locator(".run-head")).not_to_contain_text("quarantined")
            expect(page.locator(".run-head")).not_to_contain_text("dispatch blocked")
            shot(page, "05-released")

            # A reload shows the run, released (the pushed address is a page, not the POST).
            page.reload()
            expect(page.locator("#quarantine .run-state-released")).to_be_visible()
        finally:
            browser.close()
    assert problems == [], problems
