"""The control pages, driven like a browser: the policy (values with meanings, history, the
change form proposing only changed fields with the expected number, the open proposal's diff,
approve / reject by another approver, withdraw by the proposer), kill switches (set, countdown,
clear, history) and the notification outbox. Refused actions change nothing; CSRF is required."""

from __future__ import annotations

import html
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from riskops.server.core.approvals import ChangeStatus
from riskops.server.credit import kill_switches
from riskops.server.credit import policy as controls
from riskops.server.credit.models import KillSwitch, PolicyVersion, Scenario
from riskops.server.notify import outbox
from riskops.server.notify.models import OutboxMessage
from riskops.server.notify.outbox import Channel
from riskops.ui.credit.controls import countdown
from tests.support.gql import changes_head
from tests.support.pages import flash_code


async def state(org_id: int) -> tuple[Any, ...]:
    head = await changes_head(org_id)
    return (
        await PolicyVersion.filter(org_id=org_id)
        .order_by("id")
        .values_list("id", "status", "decided_by_id", "decision_reason"),
        await KillSwitch.filter(org_id=org_id).order_by("id").values_list("id", "cleared_at"),
        head.seq if head else 0,
    )


async def signed_in(browser: Any, tenant: Any, *roles: str, name: str | None = None) -> Any:
    user, principal = await tenant.user(*roles, name=name)
    b = await browser(user, tenant.password)
    b.user, b.principal = user, principal
    return b


def text(r: Any) -> str:
    return html.unescape(r.text)


# ----------------------------------------------------------------------------- policy


async def test_policy_page_proposes_only_edited_fields_and_another_approver_approves(
    browser, tenant
) -> None:
    b = await signed_in(browser, tenant, "approver", name="Ada")
    page = await b.get("/policy")
    assert page.status_code == 200
    assert "the built-in defaults (version 0)" in page.text
    assert 'name="sev1_multiplier"' in page.text and 'value="5"' in page.text
    assert "SEV1 at this many times the baseline." in page.text
    assert 'name="expected_number" value="0"' in page.text

    # The browser posts every field; only the edited one differs from the version in force.
    form = {k: f"{v:g}" for k, v in controls.Policy().to_dict().items()}
    r = await b.post("/policy", {**form, "sev1_multiplier": "6", "reason": "fewer pages",
                                 "expected_number": "0"})  # fmt: skip
    assert r.status_code == 303 and (r.headers["location"], flash_code(r)) == (
        "/policy",
        "policy.proposed",
    )
    v = await PolicyVersion.get(org_id=tenant.org_id)
    assert v.number == 1 and v.data["sev1_multiplier"] == 6.0 and v.reason == "fewer pages"
    assert v.status is ChangeStatus.PROPOSED
    page = await b.get("/policy")
    body = text(page)
    assert "Policy change proposed" in body and "Proposed: version 1" in body
    assert "the built-in defaults (version 0)" in body  # still in force
    assert '<code>sev1_multiplier</code></th><td class="num">5</td><td class="num">6</td>' in (
        page.text
    )
    assert "another approver must approve it. You may reject it to withdraw it." in body
    assert 'action="/policy/approve"' not in page.text  # not for the proposer
    assert 'action="/policy/reject"' in page.text and "Withdraw version 1" in body
    assert 'action="/policy"' not in page.text  # no second proposal while one is open

    checker = await signed_in(browser, tenant, "approver", name="Bob")
    page = await checker.get("/policy")
    assert 'action="/policy/approve"' in page.text and "Reject version 1" in text(page)
    r = await checker.post("/policy/approve", {"number": "1", "reason": "agreed"})
    assert r.status_code == 303 and (r.headers["location"], flash_code(r)) == (
        "/policy",
        "policy.approved",
    )
    page = await checker.get("/policy")
    body = text(page)
    assert "In force: version 1" in body and "Policy change approved" in body
    assert "Proposed: version" not in body
    assert "sev1_multiplier</code> 5 → 6" in body and "Ada" in body and "Bob" in body
    assert "approved (in force)" in body


async def test_self_approval_and_bad_decisions_are_refused_and_change_nothing(
    browser, tenant, other_tenant
) -> None:
    maker = await signed_in(browser, tenant, "approver")
    checker = await signed_in(browser, tenant, "approver", name="Bob")
    viewer = await signed_in(browser, tenant, "viewer")
    outsider = await signed_in(browser, other_tenant, "approver")
    await controls.change_policy(maker.principal, {"retry_limit": 5}, "try", 0)
    await maker.get("/policy")
    await checker.get("/policy")
    await viewer.get("/policy")
    await outsider.get("/policy")
    before = await state(tenant.org_id)
    for who, path, data, code, says in [
        (maker, "/policy/approve", {"number": "1", "reason": "me"}, 403,
         "another approver must (maker-checker)"),
        (checker, "/policy/approve", {"number": "1", "reason": ""}, 422, "Reason is required"),
        (checker, "/policy/reject", {"number": "1", "reason": ""}, 422, "Reason is required"),
        (checker, "/policy/approve", {"number": "x", "reason": "ok"}, 422, "whole number"),
        (checker, "/policy/approve", {"number": "7", "reason": "ok"}, 404, None),
        (outsider, "/policy/approve", {"number": "1", "reason": "ok"}, 404, None),
        (viewer, "/policy/approve", {"number": "1", "reason": "ok"}, 403, None),
        (viewer, "/policy/reject", {"number": "1", "reason": "ok"}, 403, None),
    ]:  # fmt: skip
        r = await who.post(path, data)
        assert r.status_code == code, (path, data, r.status_code)
        if says:
            assert says in text(r), (says, data)
    assert await state(tenant.org_id) == before

    # Stale: another version came in force after the proposal.
    await PolicyVersion.create(
        org_id=tenant.org_id, number=2, data={"retry_limit": 8}, reason="direct",
        created_at=datetime.now(UTC),
    )  # fmt: skip
    before = await state(tenant.org_id)
    r = await checker.post("/policy/approve", {"number": "1", "reason": "ok"})
    assert r.status_code == 409 and "propose the change again from version 2" in text(r)
    assert await state(tenant.org_id) == before

    r = await checker.post("/policy/reject", {"number": "1", "reason": "stale"})
    assert r.status_code == 303 and (r.headers["location"], flash_code(r)) == (
        "/policy",
        "policy.rejected",
    )
    page = await checker.get("/policy")
    assert "Policy change rejected" in text(page) and "rejected" in page.text
    assert (await PolicyVersion.get(org_id=tenant.org_id, number=1)).status is (
        ChangeStatus.REJECTED
    )


async def test_the_proposer_withdraws_their_change(browser, tenant) -> None:
    maker = await signed_in(browser, tenant, "approver")
    await maker.get("/policy")
    form = {k: f"{v:g}" for k, v in controls.Policy().to_dict().items()}
    r = await maker.post("/policy", {**form, "retry_limit": "5", "reason": "try",
                                     "expected_number": "0"})  # fmt: skip
    assert r.status_code == 303
    r = await maker.post("/policy/reject", {"number": "1", "reason": "changed my mind"})
    assert r.status_code == 303
    v = await PolicyVersion.get(org_id=tenant.org_id)
    assert v.status is ChangeStatus.REJECTED and v.decided_by_id == maker.user.id
    page = await maker.get("/policy")
    assert 'action="/policy"' in page.text  # a new change can be proposed again


async def test_refused_policy_changes_show_inline_and_change_nothing(browser, tenant) -> None:
    b = await signed_in(browser, tenant, "approver")
    await b.get("/policy")
    form = {k: f"{v:g}" for k, v in controls.Policy().to_dict().items()}
    before = await state(tenant.org_id)
    for data, code, says in [
        ({"retry_limit": "lots", "reason": "r", "expected_number": "0"}, 422,
         "retry_limit must be a whole number, not 'lots'."),
        ({"reason": "r", "expected_number": "0"}, 422,
         "values change nothing: every value given equals the policy in force"),
        ({"retry_limit": "5", "reason": "", "expected_number": "0"}, 422, "Reason is required"),
        ({"sev3_multiplier": "3", "reason": "r", "expected_number": "0"}, 422, "sev2 > sev3"),
        ({"retry_limit": "5", "reason": "r", "expected_number": "3"}, 409,
         "version 0 is in force (you had version 3)"),
    ]:  # fmt: skip
        r = await b.post("/policy", {**form, **data})
        assert r.status_code == code, (data, r.status_code)
        assert says in text(r), (says, data)
    assert await state(tenant.org_id) == before

    _, other = await tenant.user("approver", name="Ada")
    await controls.change_policy(other, {"retry_limit": 4}, "first", 0)
    before = await state(tenant.org_id)
    r = await b.post("/policy", {**form, "retry_limit": "6", "reason": "r", "expected_number": "0"})
    assert r.status_code == 409 and "Policy version 1 proposed by Ada" in text(r)
    assert await state(tenant.org_id) == before


async def test_viewers_read_the_policy_but_cannot_change_it(browser, tenant) -> None:
    b = await signed_in(browser, tenant, "viewer")
    page = await b.get("/policy")
    assert page.status_code == 200 and 'action="/policy"' not in page.text
    before = await state(tenant.org_id)
    r = await b.post("/policy", {"retry_limit": "5", "reason": "r", "expected_number": "0"})
    assert r.status_code == 403
    assert await state(tenant.org_id) == before


# ----------------------------------------------------------------------------- kill switches


async def test_set_and_clear_a_backfill_switch(browser, tenant) -> None:
    b = await signed_in(browser, tenant, "approver", name="Grace")
    key = f"SCN_{uuid.uuid4().hex[:6].upper()}"
    await Scenario.create(org_id=tenant.org_id, key=key, name=key, created_at=datetime.now(UTC))
    page = await b.get("/kill-switches")
    assert page.status_code == 200 and f'<option value="{key}"' in page.text
    assert "No switch is in force" in page.text
    until = (datetime.now(UTC) + timedelta(hours=3, minutes=5)).strftime("%Y-%m-%dT%H:%M")
    data = {"name": "backfill", "scope": key, "reason": "reprocess January", "expires_at": until}
    r = await b.post("/kill-switches", data)
    assert r.status_code == 303, text(r)
    s = await KillSwitch.get(org_id=tenant.org_id)
    assert (s.name, s.scope) == ("backfill", key) and s.expires_at is not None
    page = await b.get("/kill-switches")
    assert "reprocess January" in page.text and "in 3 h" in page.text and "Grace" in page.text
    assert f'name="switch_id" value="{s.id}"' in page.text

    before = await state(tenant.org_id)
    r = await b.post("/kill-switches/clear", {"switch_id": str(s.id), "reason": ""})
    assert r.status_code == 422 and "Reason is required" in text(r)
    assert await state(tenant.org_id) == before
    r = await b.post("/kill-switches/clear", {"switch_id": str(s.id), "reason": "done"})
    assert r.status_code == 303 and (r.headers["location"], flash_code(r)) == (
        "/kill-switches",
        "kill_switch.cleared",
    )
    page = await b.get("/kill-switches")
    assert "No switch is in force" in page.text and "switch-state-cleared" in page.text
    r = await b.post("/kill-switches/clear", {"switch_id": str(s.id), "reason": "again"})
    assert r.status_code == 409 and "already cleared by Grace" in text(r)


async def test_refused_switches_show_inline_and_change_nothing(
    browser, tenant, other_tenant
) -> None:
    b = await signed_in(browser, tenant, "approver", name="Lin")
    await b.get("/kill-switches")
    await kill_switches.set_kill_switch(b.principal, "alert_suppression", "", "storm", None)
    mine = await KillSwitch.get(org_id=tenant.org_id)
    _, outsider = await other_tenant.user("approver")
    theirs = await kill_switches.set_kill_switch(outsider, "alert_suppression", "", "theirs", None)
    before = await state(tenant.org_id)
    past = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    for data, code, says in [
        ({"name": "alert_suppression", "reason": "again"}, 409, "already in force: set by Lin"),
        ({"name": "backfill", "scope": "", "reason": "r"}, 422, "backfill needs a scope"),
        ({"name": "alert_suppression", "reason": "r", "expires_at": "soon"}, 422,
         "Expires at: not a date and time"),
        ({"name": "backfill", "scope": "X", "reason": "r", "expires_at": past}, 422,
         "not in the future"),
        ({"name": "", "reason": "r"}, 422, "Switch is required"),
    ]:  # fmt: skip
        r = await b.post("/kill-switches", data)
        assert r.status_code == code, (data, r.status_code)
        assert says in text(r), (says, data)
    r = await b.post("/kill-switches/clear", {"switch_id": str(theirs.id), "reason": "x"})
    assert r.status_code == 404 and f"KillSwitch {theirs.id} not found." in text(r)
    r = await b.post("/kill-switches/clear", {"switch_id": "nope", "reason": "x"})
    assert r.status_code == 404
    assert await state(tenant.org_id) == before
    assert (await KillSwitch.get(id=mine.id)).cleared_at is None
    assert (await KillSwitch.get(id=theirs.id)).cleared_at is None


async def test_operators_see_switches_without_forms(browser, tenant) -> None:
    b = await signed_in(browser, tenant, "operator")
    page = await b.get("/kill-switches")
    assert page.status_code == 200 and 'id="set-switch"' not in page.text
    before = await state(tenant.org_id)
    r = await b.post("/kill-switches", {"name": "alert_suppression", "reason": "r"})
    assert r.status_code == 403
    assert await state(tenant.org_id) == before


async def test_post_routes_need_the_csrf_token(browser, tenant) -> None:
    b = await signed_in(browser, tenant, "approver")
    s = await kill_switches.set_kill_switch(b.principal, "alert_suppression", "", "storm", None)
    before = await state(tenant.org_id)
    for path, data in [
        ("/policy", {"retry_limit": "5", "reason": "r", "expected_number": "0"}),
        ("/kill-switches", {"name": "alert_suppression", "reason": "r"}),
        ("/kill-switches/clear", {"switch_id": str(s.id), "reason": "r"}),
    ]:
        r = await b.post(path, data, csrf=False)
        assert r.status_code == 403, path
        r = await b.post(path, {**data, "csrf_token": "0" * 64}, csrf=False)
        assert r.status_code == 403, path
    assert await state(tenant.org_id) == before


def test_countdown() -> None:
    now = datetime(2024, 1, 23, 10, 0, tzinfo=UTC)
    assert countdown(None, now) == "no expiry"
    assert countdown(now - timedelta(seconds=1), now) == "now"
    assert countdown(now + timedelta(seconds=20), now) == "in 1 min"
    assert countdown(now + timedelta(minutes=42), now) == "in 42 min"
    assert countdown(now + timedelta(hours=3, minutes=5), now) == "in 3 h 5 min"
    assert countdown(now + timedelta(days=2, hours=4), now) == "in 2 d 4 h"


# ----------------------------------------------------------------------------- notifications


async def test_notifications_page_lists_the_outbox_with_status_badges(
    browser, tenant, other_tenant
) -> None:
    b = await signed_in(browser, tenant, "viewer")
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        sent = await outbox.add(conn, tenant.org_id, Channel.ALERTS, "run.sev1",
                                {"run_id": "r-77", "case_number": "CASE-000009"},
                                suppressed=False, now=now - timedelta(minutes=2))  # fmt: skip
        await outbox.add(conn, tenant.org_id, Channel.CRITICAL, "run.sev0", {"run_id": "r-78"},
                         suppressed=True, now=now - timedelta(minutes=1))  # fmt: skip
        await outbox.add(conn, other_tenant.org_id, Channel.REVIEW, "report.weekly",
                         {"report_id": 1}, suppressed=False, now=now)  # fmt: skip
    await OutboxMessage.filter(id=sent.id).update(
        status="failed", attempts=3, last_error="refused by the webhook (HTTP 410)"
    )
    page = await b.get("/notifications")
    assert page.status_code == 200
    assert "outbox-suppressed" in page.text and "outbox-failed" in page.text
    assert "refused by the webhook (HTTP 410)" in page.text and "CASE-000009" in page.text
    assert "report.weekly" not in page.text  # another organization's
    # newest first (matched as the row shows the run id: a random e-mail like "user-77ab…" on the
    # page contains "r-77" too)
    assert page.text.index("· r-78<") < page.text.index("· r-77<")
    only = await b.get("/notifications", params={"status": "suppressed"})
    assert "· r-78<" in only.text and "· r-77<" not in only.text
    bad = await b.get("/notifications", params={"status": "lost"})
    assert bad.status_code == 422 and "status 'lost' is unknown" in text(bad)


async def test_the_policy_form_shows_values_exactly(browser, tenant) -> None:
    """An untouched field is sent back as shown: shown rounded, it would propose the rounding."""
    from tests.credit.test_controls_service import propose_and_approve

    await propose_and_approve(tenant, {"sev3_multiplier": 1.2345678, "retry_limit": 1000000}, 0)
    b = await signed_in(browser, tenant, "approver")
    page = (await b.get("/policy")).text
    assert 'name="sev3_multiplier" aria-label="sev3_multiplier" value="1.2345678"' in page
    assert 'name="retry_limit" aria-label="retry_limit" value="1000000"' in page
