"""The GDPR requests page: the export download, the erasure requested by one person and approved
by another, overdue requests highlighted, and every refusal where the user acted (the same
service as the CLI and GraphQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from riskops.server.operations import gdpr
from riskops.server.operations.gdpr_models import GdprRequest
from riskops.server.triage.models import Alert
from tests.operations.test_gdpr_service import world
from tests.support.pages import flash_code


async def test_export_download_then_erasure_by_two_people(browser, tenant):
    w = await world(tenant)
    officer, _ = await tenant.user("compliance_reviewer")
    maker = await browser(officer, tenant.password)
    checker = await browser(tenant.admin_user, tenant.password)

    page = await maker.get("/admin/gdpr")
    assert page.status_code == 200 and "No GDPR requests yet." in page.text
    assert 'href="/admin/gdpr"' in page.text  # in the navigation

    got = await maker.post("/admin/gdpr/export", {"subject": w.ref})
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/json")
    assert got.headers["content-disposition"].startswith('attachment; filename="gdpr-export-')
    doc = json.loads(got.text)
    assert doc["subject"]["value"] == w.ref and len(doc["alerts"]) == 3

    asked = await maker.post(
        "/admin/gdpr/erase",
        {"subject": w.ref, "received": (datetime.now(UTC) - timedelta(days=35)).date().isoformat()},
    )
    assert asked.status_code == 303 and flash_code(asked) == "gdpr.erase_requested"
    req = await GdprRequest.get(org_id=tenant.org_id, kind="erase")
    listed = (await maker.get("/admin/gdpr")).text
    assert f'id="gdpr-{req.id}" class="row-overdue"' in listed and "Overdue" in listed
    assert "1 overdue" in listed and "Waiting for another approver (you asked)" in listed

    own = await maker.post(f"/admin/gdpr/{req.id}/approve")
    assert own.status_code == 403 and "nobody decides their own request" in own.text
    assert await Alert.filter(org_id=tenant.org_id, customer_ref=w.ref).count() == 3

    listed = (await checker.get("/admin/gdpr")).text
    assert f'action="/admin/gdpr/{req.id}/approve"' in listed
    done = await checker.post(f"/admin/gdpr/{req.id}/approve")
    assert done.status_code == 303 and flash_code(done) == "gdpr.erased"
    assert await Alert.filter(org_id=tenant.org_id, customer_ref=w.ref).count() == 0
    after = (await checker.get("/admin/gdpr")).text
    assert "row-overdue" not in after and w.ref not in after and "ERASED-" in after

    again = await checker.post(f"/admin/gdpr/{req.id}/reject", {"reason": "late"})
    assert again.status_code == 409 and "already completed" in again.text


async def test_refusals_show_where_the_user_acted_and_change_nothing(browser, tenant, other_tenant):
    w = await world(tenant)
    admin = await browser(tenant.admin_user, tenant.password)
    viewer_user, _ = await tenant.user("viewer")
    viewer = await browser(viewer_user, tenant.password)

    for url in ("/admin/gdpr", "/admin/gdpr/export"):
        r = await (viewer.get(url) if url == "/admin/gdpr" else viewer.post(url, {"subject": "x"}))
        assert r.status_code == 403 and "gdpr.request" in r.text

    bad = await admin.post("/admin/gdpr/erase", {"subject": "jane@"})
    assert bad.status_code == 422 and "is not an e-mail address" in bad.text
    assert 'value="jane@"' in bad.text  # what was typed is kept
    unknown = await admin.post("/admin/gdpr/export", {"subject": "NO-SUCH-REF"})
    assert unknown.status_code == 422
    assert "No alert of your organization has the customer reference NO-SUCH-REF" in unknown.text
    when = await admin.post("/admin/gdpr/erase", {"subject": w.ref, "received": "soon"})
    assert when.status_code == 422 and "not a date and time" in when.text
    legal = await admin.post("/admin/gdpr/erase", {"subject": w.ref, "legal_review": "on"})
    assert legal.status_code == 422 and "Legal note is required" in legal.text
    assert await GdprRequest.filter(org_id=tenant.org_id).count() == 0

    _, theirs_maker = await other_tenant.user("compliance_reviewer")
    other = await world(other_tenant)
    theirs = await gdpr.request_erasure(theirs_maker, other.ref)
    for ident in (theirs.id, 999_999_999):
        r = await admin.post(f"/admin/gdpr/{ident}/approve")
        assert r.status_code == 404 and f"GDPR request {ident} not found." in r.text
    assert (await GdprRequest.get(id=theirs.id)).status == "requested"

    mine = await gdpr.request_erasure(tenant.admin, w.ref)
    no_reason = await admin.post(f"/admin/gdpr/{mine.id}/reject", {"reason": ""})
    assert no_reason.status_code == 422 and "Reason is required" in no_reason.text
    assert (await GdprRequest.get(id=mine.id)).status == "requested"
