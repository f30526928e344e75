"""GDPR requests over GraphQL: the export document in the payload, the maker-checker erasure, the
list with deadlines, and expected errors as data (the same service as the CLI and the page)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from riskops.server.operations.gdpr_models import GdprRequest
from tests.operations.test_gdpr_service import world

FIELDS = "id kind subjectKind subject status dueAt overdue legalReview summary rejectReason"
EXPORT = f"""mutation($s: String!) {{ exportGdprSubject(subject: $s) {{
  gdprRequest {{ {FIELDS} }} document errors {{ code field message }} }} }}"""
ERASE = f"""mutation($s: String!, $r: DateTime) {{ requestGdprErasure(subject: $s, receivedAt: $r)
  {{ gdprRequest {{ {FIELDS} }} errors {{ code field message }} }} }}"""
APPROVE = f"""mutation($id: ID!) {{ approveGdprErasure(requestId: $id) {{
  gdprRequest {{ {FIELDS} }} errors {{ code field message }} }} }}"""
REJECT = f"""mutation($id: ID!, $why: String!) {{ rejectGdprErasure(requestId: $id, reason: $why)
  {{ gdprRequest {{ {FIELDS} }} errors {{ code field message }} }} }}"""
LIST = f"query($o: Boolean!) {{ gdprRequests(overdue: $o) {{ {FIELDS} }} }}"


async def test_export_then_erase_through_graphql(api, tenant):
    w = await world(tenant)
    officer, _ = await tenant.user("compliance_reviewer")
    maker = await api.token(tenant, officer)
    checker = await api.token(tenant, tenant.admin_user)

    out = (await api.data(maker, EXPORT, {"s": w.ref}))["exportGdprSubject"]
    assert out["errors"] == []
    assert out["document"]["subject"] == {"kind": "customer", "value": w.ref}
    assert len(out["document"]["alerts"]) == 3
    assert (out["gdprRequest"]["kind"], out["gdprRequest"]["status"]) == ("EXPORT", "COMPLETED")

    received = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    asked = (await api.data(maker, ERASE, {"s": w.ref, "r": received}))["requestGdprErasure"]
    req = asked["gdprRequest"]
    assert (req["status"], req["overdue"], req["subjectKind"]) == ("REQUESTED", True, "CUSTOMER")
    listed = (await api.data(checker, LIST, {"o": True}))["gdprRequests"]
    assert [r["id"] for r in listed] == [req["id"]]

    own = (await api.data(maker, APPROVE, {"id": req["id"]}))["approveGdprErasure"]
    assert own["gdprRequest"] is None
    assert [e["code"] for e in own["errors"]] == ["FORBIDDEN"]
    assert "nobody decides their own request" in own["errors"][0]["message"]

    done = (await api.data(checker, APPROVE, {"id": req["id"]}))["approveGdprErasure"]
    assert done["errors"] == []
    assert done["gdprRequest"]["status"] == "COMPLETED"
    assert done["gdprRequest"]["subject"].startswith("ERASED-")
    assert done["gdprRequest"]["summary"]["alerts"] == 3 and not done["gdprRequest"]["overdue"]
    again = (await api.data(checker, REJECT, {"id": req["id"], "why": "x"}))["rejectGdprErasure"]
    assert [e["code"] for e in again["errors"]] == ["CONFLICT"]


async def test_errors_are_data_and_another_organizations_request_is_not_found(
    api, tenant, other_tenant
):
    w = await world(other_tenant)
    theirs = await GdprRequest.create(
        org_id=other_tenant.org_id, kind="erase", subject_kind="customer", subject=w.ref,
        subject_digest="0" * 64, status="requested", requested_at=datetime.now(UTC),
        received_at=datetime.now(UTC), due_at=datetime.now(UTC) + timedelta(days=30),
    )  # fmt: skip
    secret = await api.token(tenant, tenant.admin_user)
    answers = []
    for ident in (str(theirs.id), "2000000000"):
        r = (await api.data(secret, APPROVE, {"id": ident}))["approveGdprErasure"]
        answers.append([(e["code"], e["message"].replace(ident, "N")) for e in r["errors"]])
    assert answers[0] == answers[1] == [("NOT_FOUND", "GDPR request N not found.")]
    assert (await GdprRequest.get(id=theirs.id)).status == "requested"

    bad = (await api.data(secret, EXPORT, {"s": "jane@"}))["exportGdprSubject"]
    assert bad["document"] is None
    assert [(e["code"], e["field"]) for e in bad["errors"]] == [("INVALID", "subject")]
    unknown = (await api.data(secret, ERASE, {"s": w.ref, "r": None}))["requestGdprErasure"]
    assert [(e["code"], e["field"]) for e in unknown["errors"]] == [("NOT_FOUND", "subject")]
    assert await GdprRequest.filter(org_id=tenant.org_id).count() == 0
