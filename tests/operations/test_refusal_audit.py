"""Permission refusals are audited (issue 11, item 4): a FORBIDDEN mutation or page POST is an
event naming the missing permission, the operation and the caller, one per caller, operation
and minute, with the count of the minute carried into the chain once the minute is over; the
chain still verifies and the export holds them. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from riskops.audit.models import AuditEvent, AuditRefusal
from riskops.audit.refusals import DENIED, SUMMARY, flush_refusals, minute_of, record_refusal
from riskops.audit.verify import verify_org
from riskops.server.operations import audit_log
from riskops.server.triage import case_resolution
from riskops.server.triage.models import Alert
from tests.triage.test_alert_pages import ingest, item, signed_in
from tests.triage.test_cases_service import new_case

ASSIGN = """
mutation($id: ID!, $to: ID!) {
  assignAlert(alertId: $id, assigneeId: $to, expectedVersion: 1) { errors { code message } }
}"""
APPROVE = """
mutation($id: ID!) {
  approveCaseResolution(caseId: $id, expectedVersion: 2) { errors { code message } }
}"""


async def events(org_id: int, action: str) -> list[dict[str, Any]]:
    rows = await AuditEvent.filter(org_id=org_id, action=action).order_by("seq")
    return [
        {"actor": r.actor, "entity_id": r.entity_id, "risk": r.risk_level,
         "seq": r.seq, **json.loads(r.new_values)}
        for r in rows
    ]  # fmt: skip


async def test_a_viewers_forbidden_mutation_is_one_event_naming_the_permission(
    tenant, api, db
) -> None:
    (alert_id,) = await ingest(tenant, item())
    viewer_user, _ = await tenant.user("viewer")
    secret = await api.token(tenant, viewer_user)
    out = await api.data(secret, ASSIGN, {"id": str(alert_id), "to": str(viewer_user.id)})
    assert [e["code"] for e in out["assignAlert"]["errors"]] == ["FORBIDDEN"]
    assert (await Alert.get(id=alert_id)).version == 1  # the refusal changed nothing else

    (event,) = await events(tenant.org_id, DENIED)
    assert event["actor"].startswith("token:") and event["risk"] == "medium"
    assert event["entity_id"] == event["operation"] == "mutation assignAlert"
    assert event["permission"] == "alert.triage" and event["attempts"] == 1
    assert event["maker_checker"] is False
    assert (await verify_org(tenant.org_id, db.settings.key)).ok

    lines: list[str] = []
    await audit_log.export_chain(tenant.admin, None, None, lines.append)
    assert any(json.loads(x)["action"] == DENIED for x in lines)


async def test_a_viewers_forbidden_page_post_is_one_event_naming_the_permission(
    browser, tenant, db
) -> None:
    (alert_id,) = await ingest(tenant, item())
    b, viewer = await signed_in(browser, tenant, "viewer")
    await b.get(f"/alerts/{alert_id}")
    r = await b.post(f"/alerts/{alert_id}/assign", {"version": "1", "assignee_id": "1"})
    assert r.status_code == 403

    (event,) = await events(tenant.org_id, DENIED)
    assert event["actor"] == f"user:{viewer.user_id}"
    assert event["operation"] == "POST /alerts/{alert_id}/assign"
    assert event["permission"] == "alert.triage"
    # A GET the viewer may not see is not an attempt at anything: not audited.
    await b.get("/admin/users")
    assert len(await events(tenant.org_id, DENIED)) == 1
    assert (await verify_org(tenant.org_id, db.settings.key)).ok


async def test_a_maker_checker_refusal_is_audited_too(tenant, api) -> None:
    maker_user, maker = await tenant.user("strategist", "approver")
    case = await new_case(maker)
    await case_resolution.request_case_resolution(
        maker, case.id, expected_version=1, summary="s", root_cause="unknown"
    )
    secret = await api.token(tenant, maker_user)
    out = await api.data(secret, APPROVE, {"id": str(case.id)})
    assert [e["code"] for e in out["approveCaseResolution"]["errors"]] == ["FORBIDDEN"]
    (event,) = await events(tenant.org_id, DENIED)
    assert event["operation"] == "mutation approveCaseResolution"
    assert event["maker_checker"] is True and event["permission"] is None


async def test_20_attempts_are_one_event_and_a_count_of_20_in_the_chain(tenant, api, db) -> None:
    (alert_id,) = await ingest(tenant, item())
    viewer_user, _ = await tenant.user("viewer")
    secret = await api.token(tenant, viewer_user)
    await api.data(secret, "{ me { roles } }")  # the token's first use is recorded once
    variables = {"id": str(alert_id), "to": str(viewer_user.id)}
    answers = await asyncio.gather(*(api.data(secret, ASSIGN, variables) for _ in range(20)))
    assert all(a["assignAlert"]["errors"][0]["code"] == "FORBIDDEN" for a in answers)

    buckets = await AuditRefusal.filter(org_id=tenant.org_id)
    # Within one minute (two, if the test ran across a minute's end): one event per minute.
    assert len(buckets) in (1, 2) and sum(b.attempts for b in buckets) == 20
    assert len(await events(tenant.org_id, DENIED)) == len(buckets)

    # Once the minute is over, the count reaches the chain.
    later = datetime.now(UTC) + timedelta(minutes=2)
    await flush_refusals(later)
    summaries = await events(tenant.org_id, SUMMARY)
    assert len(summaries) == sum(b.attempts > 1 for b in buckets)
    # A bucket of one attempt is its `permission.denied` event alone.
    assert sum(s["attempts"] for s in summaries) + sum(b.attempts == 1 for b in buckets) == 20
    denied = {e["minute"]: e["seq"] for e in await events(tenant.org_id, DENIED)}
    for s in summaries:
        assert s["first_seq"] == denied[s["minute"]] and s["permission"] == "alert.triage"
    await flush_refusals(later)
    assert len(await events(tenant.org_id, SUMMARY)) == len(summaries)  # nothing twice
    assert (await verify_org(tenant.org_id, db.settings.key)).ok
    lines: list[str] = []
    await audit_log.export_chain(tenant.admin, None, None, lines.append)
    assert any(json.loads(x)["action"] == SUMMARY for x in lines)


async def test_concurrent_refusals_and_flushers_count_exactly(tenant, db) -> None:
    _, viewer = await tenant.user("viewer")
    now = datetime(2026, 12, 5, 12, 30, 15, tzinfo=UTC)
    await asyncio.gather(
        *(record_refusal(viewer.actor, "mutation x", "alert.triage", now=now) for _ in range(20))
    )
    (bucket,) = await AuditRefusal.filter(org_id=tenant.org_id)
    assert (bucket.attempts, bucket.minute) == (20, minute_of(now))
    (first,) = await events(tenant.org_id, DENIED)
    assert bucket.first_seq == first["seq"]

    later = now + timedelta(minutes=1)
    await asyncio.gather(*(flush_refusals(later) for _ in range(4)))
    (summary,) = await events(tenant.org_id, SUMMARY)
    assert summary["attempts"] == 20 and summary["first_seq"] == first["seq"]

    # A late attempt counted in the same bucket leads to a later summary with the new total.
    await record_refusal(viewer.actor, "mutation x", "alert.triage", now=now)
    await flush_refusals(later)
    assert [s["attempts"] for s in await events(tenant.org_id, SUMMARY)] == [20, 21]
    assert (await verify_org(tenant.org_id, db.settings.key)).ok


async def test_a_maker_checker_refusal_on_a_page_is_audited_where_it_is_shown(
    browser, tenant
) -> None:
    maker_user, maker = await tenant.user("strategist", "approver")
    case = await new_case(maker)
    await case_resolution.request_case_resolution(
        maker, case.id, expected_version=1, summary="s", root_cause="unknown"
    )
    b = await browser(maker_user, tenant.password)
    await b.get(f"/cases/{case.id}")
    r = await b.post(f"/cases/{case.id}/approve", {"expected_version": "2"})
    assert r.status_code == 403 and "maker-checker" in r.text  # inline, on the case page
    (event,) = await events(tenant.org_id, DENIED)
    assert event["operation"] == "POST /cases/{case_id}/approve"
    assert event["actor"] == f"user:{maker_user.id}" and event["maker_checker"] is True


async def test_summaries_are_not_starved_and_old_reported_buckets_go(tenant) -> None:
    _, viewer = await tenant.user("viewer")
    now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    for n in range(3):  # reported buckets (one attempt each) ahead of the one that is due
        await record_refusal(viewer.actor, f"mutation done{n}", "alert.triage", now=now)
    for _ in range(2):
        await record_refusal(viewer.actor, "mutation due", "alert.triage", now=now)
    await flush_refusals(now + timedelta(minutes=1), limit=1)
    (summary,) = await events(tenant.org_id, SUMMARY)
    assert (summary["operation"], summary["attempts"]) == ("mutation due", 2)

    await flush_refusals(now + timedelta(days=1, minutes=1))
    assert not await AuditRefusal.filter(org_id=tenant.org_id).exists()
    assert len(await events(tenant.org_id, DENIED)) == 4  # the chain keeps them all
