"""Issue 16's browser flow in a real (headless) Chromium against `riskops serve --demo`, with a
real PagerDuty Events API v2 receiver on loopback (tests/support/pagerduty_server.py):

1. an admin adds the organization's PagerDuty channel (routed for escalations) on
   /admin/channels;
2. the approvers put a policy in force whose SEV0 target is immediate and whose escalation
   step is one minute (maker-checker, GraphQL), so the test need not wait fifteen (and the
   minute itself is skipped: the level-1 clock is moved to its next escalation);
3. automation records a SEV0 run: its case opens, nobody acknowledges;
4. the escalation pass runs (`riskops escalate`, beside the server's own every-minute job):
   level 1 at once, then, a step later, the last level triggers the PagerDuty incident of the
   case (its dedup_key) — once, though two passes ran;
5. an approver opens the case from "My work" and acknowledges it: the PagerDuty incident is
   acknowledged;
6. an operator requests the resolution, another approver approves it: the incident is resolved.

Screenshots: test-artifacts/screenshots/response-flow-*.png. Fails on any console error."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import (
    SHOTS,
    Server,
    _demo_password,
    issue_token,
    launch_chromium,
    require_chromium,
    sign_in_as,
    sign_out,
    watch_console,
)
from tests.e2e.test_sev0_flow import APPROVE_BASELINE, BASELINE, RECORD, graphql
from tests.support import cli_runner
from tests.support.pagerduty_server import PagerDutyServer, routing_key
from tests.support.served import demo_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN = "admin@demo.riskops.local"
VIEWER = "viewer@demo.riskops.local"
OPERATOR = "operator@demo.riskops.local"
APPROVER = "approver@demo.riskops.local"
APPROVER2 = "approver2@demo.riskops.local"
POLICY = "{ policy { number } }"
CHANGE_POLICY = """mutation($values: JSON!, $n: Int!) {
  changePolicy(values: $values, reason: "E2E: escalate at once, one-minute steps",
               expectedNumber: $n) {
    policy { number status }
    errors { message }
  }
}"""
APPROVE_POLICY = """mutation($n: Int!) {
  approvePolicyChange(number: $n, reason: "E2E: agreed for the drill") {
    policy { number status }
    errors { message }
  }
}"""


def wait_for(check: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def test_escalation_to_pagerduty_acknowledged_and_resolved(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    require_chromium()
    from playwright.sync_api import Page, expect, sync_playwright

    tmp = tmp_path_factory.mktemp("response-flow")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env.update(PYTHONUNBUFFERED="1", RISKOPS_ENV="dev", RISKOPS_LOG_LEVEL="WARNING")
    log = tmp / "server.log"
    options = ("--database-url", f"sqlite://{tmp / 'flow.sqlite3'}", "--var-dir", str(tmp / "var"))
    problems: list[str] = []
    scenario = f"E2E_RESPONSE_{uuid.uuid4().hex[:6].upper()}"
    run_id = f"E2E-PAGE-{uuid.uuid4().hex[:6]}"

    def cli(*args: str) -> str:
        # a process of its own per command, forked from a preloaded CLI (tests/support/
        # cli_runner.py): the flow runs `escalate` and `outbox deliver` half a dozen times
        done = cli_runner.run([*options, *args], env=env, cwd=tmp, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(SHOTS / f"response-flow-{name}.png"), full_page=True)

    with PagerDutyServer() as pd, demo_server(cwd=tmp, env=env, log=log, options=options) as url:
        server = Server(url, ADMIN, _demo_password(log, ADMIN), VIEWER,
                        _demo_password(log, VIEWER), log)  # fmt: skip

        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                watch_console(page, problems)

                # 1. The admin adds the PagerDuty channel, routed for escalations.
                sign_in_as(page, server, ADMIN, "/admin/channels")
                page.goto(f"{url}/admin/channels/new?kind=pagerduty")
                page.fill("input[name=name]", "PagerDuty on call")
                page.fill("input[name=secret]", routing_key("riskops"))
                page.fill("input[name=events_url]", pd.url)
                page.check("input[name=events][value=escalation]")
                page.click("button:has-text('Add channel')")
                expect(page.locator(".flash").first).to_contain_text("Channel added")
                shot(page, "01-pagerduty-channel")
                recorder = issue_token(page, server, "admin")
                sign_out(page)

                # 2. Two approvers: a policy with an immediate SEV0 target and one-minute steps,
                # and the scenario's baseline (both maker-checker).
                sign_in_as(page, server, APPROVER, "/tokens")
                maker = issue_token(page, server, "approver")
                sign_out(page)
                sign_in_as(page, server, APPROVER2, "/tokens")
                checker = issue_token(page, server, "approver")
                sign_out(page)
                number = graphql(server, maker, POLICY, {})["policy"]["number"]
                proposed = graphql(server, maker, CHANGE_POLICY, {
                    "values": {"ack_sev0_minutes": 0, "escalation_step_minutes": 1},
                    "n": number,
                })["changePolicy"]  # fmt: skip
                assert proposed["errors"] == [], proposed
                n = proposed["policy"]["number"]
                approved = graphql(server, checker, APPROVE_POLICY, {"n": n})
                assert approved["approvePolicyChange"]["errors"] == [], approved
                started = datetime.now(UTC) - timedelta(minutes=5)
                first = graphql(server, recorder, RECORD, {"input": [{
                    "runId": f"{run_id}-warmup", "scenario": scenario, "creditsTotal": 95.0,
                    "startedAt": (started - timedelta(days=1)).isoformat(),
                }]})["recordRuns"]  # fmt: skip
                assert first["itemErrors"] == [], first
                made = graphql(server, maker, BASELINE, {"scenario": scenario})
                assert made["setManualBaseline"]["errors"] == [], made
                change_id = made["setManualBaseline"]["change"]["id"]
                agreed = graphql(server, checker, APPROVE_BASELINE, {"id": change_id})
                assert agreed["approveBaselineUpdate"]["errors"] == [], agreed

                # 3. A SEV0 arrives (15x the baseline on PII data); nobody acknowledges.
                result = graphql(server, recorder, RECORD, {"input": [{
                    "runId": run_id, "scenario": scenario, "creditsTotal": 1500.0,
                    "startedAt": started.isoformat(), "dataClassification": "PII",
                }]})["recordRuns"]  # fmt: skip
                assert result["itemErrors"] == [] and result["errors"] == [], result
                recorded = result["recorded"][0]
                assert recorded["severity"] == "SEV0", recorded
                case_number = recorded["caseNumber"]
                assert case_number

                # 4. Escalation: level 1 now, PagerDuty a step (one minute) later. The server's
                # own every-minute job runs too; each level is sent once all the same.
                out = cli("escalate")
                assert "Escalated" in out, out
                sign_in_as(page, server, APPROVER, "/")
                work = page.locator("#work-response")
                expect(work).to_contain_text(run_id)
                expect(work).to_contain_text(re.compile(r"overdue by|min left"))
                shot(page, "02-my-work-unacknowledged")
                # The step's minute, not waited for: the level-1 clock is moved to its next
                # escalation now (the column it was escalated at, already past), as if the
                # minute had gone by. The pass and the delivery are the real ones.
                with contextlib.closing(sqlite3.connect(tmp / "flow.sqlite3")) as db, db:
                    moved = db.execute(
                        "UPDATE response_clock SET next_escalation_at = escalated_at "
                        "WHERE level = 1 AND next_escalation_at IS NOT NULL"
                    ).rowcount
                assert moved >= 1, "no clock at level 1"
                deadline = time.monotonic() + 150
                while not pd.incidents and time.monotonic() < deadline:
                    cli("escalate")
                    cli("outbox", "deliver")
                    if not pd.incidents:
                        time.sleep(1)
                assert pd.incidents, f"PagerDuty got nothing: {pd.events}"
                [key] = list(pd.incidents)
                assert key.endswith(f"-case-{int(case_number.split('-')[-1])}"), key
                assert pd.state_of(key) == "triggered"
                assert pd.incidents[key].severity == "critical"

                # 5. The approver opens the case from "My work" and acknowledges it.
                page.reload()
                page.locator("#work-response a", has_text=case_number).first.click()
                expect(page.locator("h1")).to_contain_text(case_number)
                response = page.locator("#response")
                expect(response).to_contain_text(re.compile(r"overdue by"))
                shot(page, "03-case-escalated")
                response.locator("button:has-text('Acknowledge')").click()
                expect(page.locator(".flash-ok")).to_contain_text("Acknowledged")
                expect(page.locator("#response .response-acked")).to_contain_text("by")
                shot(page, "04-case-acknowledged")
                case_url = page.url.removeprefix(url)
                wait_for(lambda: cli("outbox", "deliver") is not None
                         and pd.state_of(key) == "acknowledged",
                         "the PagerDuty incident to be acknowledged", 60)  # fmt: skip
                sign_out(page)

                # 6. The operator requests the resolution; the other approver approves it.
                sign_in_as(page, server, OPERATOR, case_url)
                resolution = page.locator("#resolution")
                resolution.locator("select[name=root_cause]").select_option(index=1)
                resolution.locator("textarea[name=summary]").fill(
                    "Unbounded iterator on the PII export; max_items set to 1000. Test "
                    "customers only: no real exposure."
                )
                resolution.locator("button:has-text('Request resolution')").click()
                expect(page.locator("#resolution")).to_contain_text("waiting for another")
                sign_out(page)
                sign_in_as(page, server, APPROVER2, case_url)
                page.locator("#resolution button:has-text('Approve resolution')").click()
                expect(page.locator(".flash-ok")).to_contain_text("approved")
                wait_for(lambda: cli("outbox", "deliver") is not None
                         and pd.state_of(key) == "resolved",
                         "the PagerDuty incident to be resolved", 60)  # fmt: skip
                page.reload()
                shot(page, "05-case-resolved")
                assert pd.actions(key) == ["trigger", "acknowledge", "resolve"], pd.actions(key)
            finally:
                browser.close()
    assert problems == [], problems
