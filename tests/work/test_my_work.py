""" "My work" through the service on SQLite and PostgreSQL: each section for each role, counts
that never include another organization's rows, and maker-checker (a request of one's own never
waits for one's own decision: it is listed under one's requests instead)."""

from __future__ import annotations

from typing import Any

from riskops.server.core import approvals
from riskops.server.core.principal import Principal
from riskops.server.credit.models import RerunStatus
from riskops.server.credit.terms import Severity
from riskops.server.triage import case_create, case_resolution
from riskops.server.triage.models import AlertStatus, CaseStatus
from riskops.server.views import service as views
from riskops.server.views.models import PromotionStatus
from riskops.server.work.service import MyWork, my_work
from tests.work.world import (
    alert,
    baseline_change,
    case,
    policy_version,
    promotion_request,
    rerun_request,
    run,
)


def items(work: MyWork, section: str) -> dict[str, Any]:
    found = work.section(section)
    assert found is not None, f"no section {section}: {[s.key for s in work.sections]}"
    return {i.key: i for i in found.items}


def keys(work: MyWork) -> list[str]:
    return [s.key for s in work.sections]


async def test_each_role_gets_the_sections_its_work_needs(tenant: Any) -> None:
    expected = {
        # "response" (issue 16): unacknowledged SEV0/SEV1 for whoever may acknowledge, first
        ("strategist",): ["response", "alerts", "views", "requests"],
        ("operator",): ["response", "views", "requests", "runs"],
        ("approver",): ["response", "views", "decisions", "requests", "runs"],
        ("compliance_reviewer",): ["decisions"],
        ("product_reviewer",): ["decisions"],
        ("viewer",): ["views", "runs"],
        ("admin",): [],
    }
    for roles, sections in expected.items():
        _, me = await tenant.user(*roles)
        work = await my_work(me)
        assert keys(work) == sections, roles
        # Empty sections say so in words; each held role is one line.
        assert all(not s.items and s.empty for s in work.sections), roles
        assert [r for r, _ in work.roles] == list(roles)


async def test_my_alerts_by_status_and_past_their_sla(tenant: Any, other_tenant: Any) -> None:
    user, me = await tenant.user("strategist")
    other, _ = await tenant.user("strategist")
    for status, overdue in [(AlertStatus.ASSIGNED, False), (AlertStatus.ASSIGNED, True),
                            (AlertStatus.ESCALATED, True), (AlertStatus.PENDING_INFO, False),
                            (AlertStatus.NEW, False)]:  # fmt: skip
        await alert(tenant.org_id, assignee=user.id, status=status, overdue=overdue)
    await alert(tenant.org_id, assignee=user.id, status=AlertStatus.CLOSED, overdue=True)
    await alert(tenant.org_id, assignee=other.id, status=AlertStatus.ASSIGNED, overdue=True)
    # The same user id on another organization's alert is never counted.
    await alert(other_tenant.org_id, assignee=user.id, status=AlertStatus.ASSIGNED, overdue=True)
    mine = items(await my_work(me), "alerts")
    assert {k: i.count for k, i in mine.items()} == {
        "alerts.new": 1, "alerts.assigned": 2, "alerts.escalated": 1, "alerts.pending_info": 1,
        "alerts.overdue": 2,
    }  # fmt: skip
    assert mine["alerts.assigned"].href == "/alerts?assignee=me&status=assigned"
    assert mine["alerts.overdue"].href.startswith("/alerts?assignee=me&status=new&status=assigned")
    assert "sort=due" in mine["alerts.overdue"].href
    assert "closed" not in mine["alerts.overdue"].href


async def test_decisions_wait_for_others_never_for_their_maker(
    tenant: Any, other_tenant: Any
) -> None:
    a_user, a = await tenant.user("approver")
    b_user, b = await tenant.user("approver")
    org = tenant.org_id
    # A's own requests of every kind, and one of B's each.
    for maker in (a_user.id, b_user.id):
        await case(org, status=CaseStatus.PENDING_APPROVAL, requested_by=maker)
        await baseline_change(org, maker)
        await rerun_request(org, maker)
    await policy_version(org, a_user.id, 1)
    # Released by nobody yet: a quarantined run whose case is resolved (may be released), and
    # one whose case is still open (may not).
    resolved = await case(org, status=CaseStatus.RESOLVED)
    still_open = await case(org, status=CaseStatus.INVESTIGATING)
    held = await run(org, Severity.SEV1, case_id=resolved.id, quarantined=True)
    await run(org, Severity.SEV1, case_id=still_open.id, quarantined=True)
    # Another organization's pending items are never counted.
    await case(other_tenant.org_id, status=CaseStatus.PENDING_APPROVAL)
    await baseline_change(other_tenant.org_id, None)
    await policy_version(other_tenant.org_id, None, 1)
    await rerun_request(other_tenant.org_id, None)

    for me, policy in ((a, 0), (b, 1)):
        got = items(await my_work(me), "decisions")
        counts = {k: i.count for k, i in got.items()}
        assert counts == {
            "decide.case_resolutions": 1, "decide.baselines": 1, "decide.reruns": 1,
            "decide.quarantine_releases": 1, **({"decide.policy": 1} if policy else {}),
        }, me  # fmt: skip
        assert got["decide.quarantine_releases"].href == f"/runs/{held.id}"
    # A's own requests are A's requests, waiting for another approver.
    mine = items(await my_work(a), "requests")
    for key in ("mine.case_resolutions", "mine.baselines", "mine.policy", "mine.reruns"):
        assert mine[key].count == 1, key
        assert mine[key].entries[0].state == "waiting for an approver", key


async def test_a_service_account_request_is_its_minters_own(tenant: Any) -> None:
    """Maker-checker compares people: a request made through a service account whose token the
    approver minted does not wait for that approver's decision."""
    bot_user, _ = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    await case(tenant.org_id, status=CaseStatus.PENDING_APPROVAL, requested_by=bot_user.id)
    minted = Principal(
        user_id=approver.user_id, org_id=approver.org_id, roles=approver.roles,
        own_makers=frozenset({approver.user_id, bot_user.id}),
    )  # fmt: skip
    assert approvals.decision_for(minted, approvals.Perm.CASE_APPROVE, bot_user.id).own
    assert (await my_work(minted)).section("decisions").items == ()  # type: ignore[union-attr]
    assert items(await my_work(approver), "decisions")["decide.case_resolutions"].count == 1


async def test_a_rejected_resolution_shows_its_reason_to_the_requester(tenant: Any) -> None:
    _, strategist = await tenant.user("strategist")
    _, approver = await tenant.user("approver")
    ids = [await alert(tenant.org_id, assignee=None, status=AlertStatus.NEW)]
    made = await case_create.create_case(strategist, title="Card testing", alert_ids=ids)
    c = made.case
    asked = await case_resolution.request_case_resolution(
        strategist, c.id, expected_version=c.version, summary="Legit load", root_cause="legit_load"
    )
    waiting = items(await my_work(approver), "decisions")["decide.case_resolutions"]
    assert waiting.count == 1 and waiting.href == f"/cases/{c.id}"
    assert "decisions" not in keys(await my_work(strategist))
    await case_resolution.reject_case_resolution(
        approver, c.id, expected_version=asked.case.version, reason="Root cause is fraud"
    )
    mine = items(await my_work(strategist), "requests")["mine.case_resolutions"]
    assert [(e.state, e.detail, e.href) for e in mine.entries] == [
        ("rejected", "Root cause is fraud", f"/cases/{c.id}")
    ]
    assert (await my_work(approver)).section("decisions").items == ()  # type: ignore[union-attr]


async def test_decided_requests_show_their_outcome(tenant: Any) -> None:
    user, me = await tenant.user("approver")
    org, now = tenant.org_id, approvals_now()
    rejected, denied = approvals.ChangeStatus.REJECTED, RerunStatus.DENIED
    await baseline_change(org, user.id, status=rejected, decision_rationale="Too few runs",
                          decided_at=now)  # fmt: skip
    await rerun_request(org, user.id, status=denied, deny_reason="Not fixed yet", decided_at=now)
    await policy_version(org, user.id, 1, status=approvals.ChangeStatus.APPROVED, decided_at=now)
    mine = items(await my_work(me), "requests")
    assert [(e.state, e.detail) for e in mine["mine.baselines"].entries] == [
        ("rejected", "Too few runs")
    ]
    assert [(e.state, e.detail) for e in mine["mine.reruns"].entries] == [
        ("denied", "Not fixed yet")
    ]
    assert [(e.state, e.detail) for e in mine["mine.policy"].entries] == [("approved", "")]


def approvals_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def test_view_promotions_wait_for_reviewers_not_for_their_requester(tenant: Any) -> None:
    maker_user, maker = await tenant.user("strategist", "compliance_reviewer")
    _, reviewer = await tenant.user("product_reviewer")
    saved = await views.save_view(
        maker, queue="alerts", name="High risk", definition={"filters": {"score_min": 80}}
    )
    await promotion_request(tenant.org_id, saved.view.id, maker_user.id)
    await promotion_request(tenant.org_id, saved.view.id, maker_user.id,
                            status=PromotionStatus.DECLINED, decline_reason="Too broad",
                            decided_at=approvals_now())  # fmt: skip
    waiting = items(await my_work(reviewer), "decisions")["decide.view_promotions"]
    assert waiting.count == 1 and waiting.href.startswith("/views/requests/")
    assert (await my_work(maker)).section("decisions").items == ()  # type: ignore[union-attr]
    mine = items(await my_work(maker), "requests")["mine.view_promotions"]
    assert sorted((e.state, e.detail) for e in mine.entries) == [
        ("declined", "Too broad"), ("waiting for the reviewers", ""),
    ]  # fmt: skip


async def test_open_sev0_and_sev1_runs(tenant: Any, other_tenant: Any) -> None:
    _, operator = await tenant.user("operator")
    org = tenant.org_id
    open_case = await case(org, status=CaseStatus.INVESTIGATING)
    done = await case(org, status=CaseStatus.RESOLVED)
    await run(org, Severity.SEV0, case_id=open_case.id)  # open: its case is not resolved
    await run(org, Severity.SEV1)  # open: no case yet
    await run(org, Severity.SEV1, case_id=done.id, quarantined=True)  # open: still held
    await run(org, Severity.SEV1, case_id=done.id)  # resolved and released: not open
    await run(org, Severity.SEV2)  # not SEV0/SEV1
    await run(other_tenant.org_id, Severity.SEV0)
    got = items(await my_work(operator), "runs")
    assert {k: i.count for k, i in got.items()} == {"runs.SEV0": 1, "runs.SEV1": 2}
    assert got["runs.SEV0"].href == "/runs?severity=SEV0"


async def test_my_alerts_past_the_cap_are_lower_bounds(tenant: Any, monkeypatch: Any) -> None:
    from riskops.server.work import service

    monkeypatch.setattr(service, "MY_ALERTS_CAP", 2)
    user, me = await tenant.user("strategist")
    for _ in range(3):
        await alert(tenant.org_id, assignee=user.id, status=AlertStatus.ASSIGNED)
    got = items(await my_work(me), "alerts")["alerts.assigned"]
    assert (got.count, got.exact, got.count_words) == (2, False, "more than 2")
