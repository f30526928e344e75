"""Issue 11 item 10: no page, GraphQL field or history shows a raw actor reference ("By
user:4"): a person's name, "deleted user" for a removed one, "system" for the Monday job or the
CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from riskops.server.credit import reports as svc
from riskops.server.identity.models import User

WEEK = "2026-01-05"
LATER = "2026-01-12"
EARLIER = "2025-12-29"
LIST = "{ reports(first: 10) { edges { node { periodStart createdBy } } } }"


async def test_reports_and_the_audit_log_name_people(api: Any, browser: Any, tenant: Any) -> None:
    maker, maker_p = await tenant.user("operator")
    gone, gone_p = await tenant.user("operator")
    mine = await svc.generate_weekly_report(maker_p, WEEK)
    theirs = await svc.generate_weekly_report(gone_p, LATER)
    system = await svc.generate_weekly_report_system(tenant.org_id, EARLIER)
    await User.filter(id=gone.id).update(deleted_at=datetime.now(UTC))

    viewer, _ = await tenant.user("viewer", "compliance_reviewer")
    b = await browser(viewer, tenant.password)
    listed = (await b.get("/reports")).text
    for text in (maker.name, "deleted user", "system"):
        assert text in listed
    assert f"user:{maker.id}" not in listed and "scheduler" not in listed
    detail = (await b.get(f"/reports/{mine.id}")).text
    assert f"by {maker.name}" in detail and f"user:{maker.id}" not in detail
    assert "by deleted user" in (await b.get(f"/reports/{theirs.id}")).text
    assert "by system" in (await b.get(f"/reports/{system.id}")).text

    token = str(await api.token(tenant, viewer))
    nodes = [e["node"] for e in (await api.data(token, LIST))["reports"]["edges"]]
    assert [n["createdBy"] for n in nodes] == ["deleted user", maker.name, "system"]

    audit = await b.get("/audit?action=report.generate")
    if audit.status_code == 200:
        assert maker.name in audit.text and "deleted user" in audit.text


async def test_graphql_audit_events_carry_a_readable_actor(api: Any, tenant: Any) -> None:
    maker, maker_p = await tenant.user("operator")
    await svc.generate_weekly_report(maker_p, WEEK)
    await svc.generate_weekly_report_system(tenant.org_id, LATER)
    reader, _ = await tenant.user("compliance_reviewer")
    token = str(await api.token(tenant, reader))
    q = """{ auditEvents(filter: {action: "report.generate"}) {
      edges { node { actor actorName } } } }"""
    nodes = [e["node"] for e in (await api.data(token, q))["auditEvents"]["edges"]]
    assert {(n["actor"], n["actorName"]) for n in nodes} == {
        (f"user:{maker.id}", maker.name),
        ("scheduler", "system"),
    }
