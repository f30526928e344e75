"""The admin's "Sessions and tokens" page of a user and the approval trail page, driven like a
browser, and the same over GraphQL (`userAccess`, `revokeSession`, `approvalTrail`)."""

from __future__ import annotations

import html
from typing import Any

from riskops.audit.models import AuditEvent
from riskops.server.identity import auth, tokens
from riskops.server.identity.models import ApiToken, Session
from riskops.server.identity.sessions import ClientInfo
from riskops.server.security import digest
from riskops.server.triage import case_resolution
from tests.support.pages import flash_code
from tests.triage.test_cases_service import new_case


def text(r: Any) -> str:
    return html.unescape(r.text)


async def test_the_admin_sees_and_revokes_a_users_session_and_token(browser, tenant):
    user, me = await tenant.user("operator", name="Ana")
    theirs = await browser(user, tenant.password)
    issued = await tokens.create_api_token(me, name="laptop", roles=["operator"])
    await auth.from_bearer(issued.secret, ClientInfo(ip="192.0.2.9", user_agent="curl/8.5"))
    admin = await browser(tenant.admin_user, tenant.password)

    users_page = await admin.get("/admin/users")
    assert f'href="/admin/users/{user.id}/access"' in users_page.text
    page = await admin.get(f"/admin/users/{user.id}/access")
    assert page.status_code == 200
    body = text(page)
    assert "Sessions and tokens of Ana" in body
    short = digest(theirs.session_cookie)[:16]
    assert short in body and digest(theirs.session_cookie) not in body
    assert theirs.session_cookie not in body
    assert "laptop" in body and "192.0.2.9" in body and "curl/8.5" in body
    assert issued.secret not in body

    done = await admin.post(f"/admin/users/{user.id}/access/sessions/{short}/revoke")
    assert done.status_code == 303 and flash_code(done) == "session.revoked"
    assert (await theirs.get("/sessions")).status_code in (302, 303)  # signed out
    gone = await admin.post(f"/admin/users/{user.id}/access/tokens/{issued.token.id}/revoke")
    assert gone.status_code == 303 and flash_code(gone) == "token.revoked"
    assert (await ApiToken.get(id=issued.token.id)).revoked_at is not None
    after = text(await admin.get(f"/admin/users/{user.id}/access"))
    assert "No active sessions." in after and "No live API tokens." in after


async def test_wrong_role_other_org_and_garbled_ids_on_the_access_page(
    browser, tenant, other_tenant
):
    user, _ = await tenant.user("operator")
    analyst = await browser(user, tenant.password)
    stranger, _ = await other_tenant.user("operator")
    them = await browser(stranger, other_tenant.password)
    admin = await browser(tenant.admin_user, tenant.password)

    refused = await analyst.get(f"/admin/users/{tenant.admin_user.id}/access")
    assert refused.status_code == 403 and "user.manage" in refused.text
    # One's own page is readable.
    assert (await analyst.get(f"/admin/users/{user.id}/access")).status_code == 200

    other = await admin.get(f"/admin/users/{stranger.id}/access")
    missing = await admin.get("/admin/users/2147483647/access")
    assert other.status_code == missing.status_code == 404
    assert "not found" in other.text
    for bad in ("abc", "-1", "99999999999999"):
        assert (await admin.get(f"/admin/users/{bad}/access")).status_code == 404

    short = digest(them.session_cookie)[:16]
    await admin.get(f"/admin/users/{user.id}/access")
    r = await admin.post(f"/admin/users/{user.id}/access/sessions/{short}/revoke")
    assert r.status_code == 404
    r = await admin.post(f"/admin/users/{user.id}/access/sessions/not-a-session/revoke")
    assert r.status_code == 404
    assert (await Session.get(id=digest(them.session_cookie))).revoked_at is None
    # Without the CSRF token nothing happens.
    mine = digest(analyst.session_cookie)[:16]
    r = await admin.post(f"/admin/users/{user.id}/access/sessions/{mine}/revoke", csrf=False)
    assert r.status_code == 403
    assert (await Session.get(id=digest(analyst.session_cookie))).revoked_at is None


async def test_the_approval_trail_page_for_approvers(browser, tenant):
    _, lead = await tenant.user("operator", name="Olga")
    checker, approver = await tenant.user("approver", name="Abe")
    case = await new_case(lead)
    await case_resolution.request_case_resolution(
        lead, case.id, expected_version=1, summary="s", root_cause="legit_load"
    )
    await case_resolution.approve_case_resolution(approver, case.id, expected_version=2)

    b = await browser(checker, tenant.password)
    home = await b.get("/")
    assert 'href="/audit/approvals"' in home.text and 'href="/audit"' not in home.text
    assert (await b.get("/audit")).status_code == 403
    page = await b.get("/audit/approvals")
    assert page.status_code == 200
    body = text(page)
    assert "Approval trail" in body and "Case resolution" in body
    assert "Olga" in body and "Abe" in body and "user:" not in body

    filtered = await b.get("/audit/approvals?kind=policy")
    assert "No approvals match these filters." in text(filtered)
    bad = await b.get("/audit/approvals?kind=everything")
    assert bad.status_code == 422 and "is not a kind of approval" in text(bad)
    bad_time = await b.get("/audit/approvals?since=yesterday")
    assert bad_time.status_code == 422 and "not a date and time" in text(bad_time)
    assert (await b.get("/audit/approvals?after=garbage")).status_code == 422

    viewer, _ = await tenant.user("viewer")
    v = await browser(viewer, tenant.password)
    assert (await v.get("/audit/approvals")).status_code == 403


# ----------------------------------------------------------------------------- GraphQL

ACCESS = """query($id: ID!) { userAccess(userId: $id) { mfaEnabled user { name }
  sessions { id ip userAgent current } apiTokens { name lastIp lastUserAgent } } }"""
REVOKE = """mutation($id: ID!) { revokeSession(sessionId: $id) { session { id }
  errors { code message field } } }"""
TRAIL = """query($kind: String, $after: String) { approvalTrail(kind: $kind, first: 1,
  after: $after) { edges { node { kind step actorName requestedByName } }
  pageInfo { hasNextPage endCursor } } }"""


async def test_graphql_user_access_and_revoke_session(api, browser, tenant, other_tenant):
    user, _ = await tenant.user("operator", name="Ana")
    theirs = await browser(user, tenant.password)
    admin = await api.token(tenant, tenant.admin_user)
    data = await api.data(admin, ACCESS, {"id": str(user.id)})
    seen = data["userAccess"]
    assert seen["user"]["name"] == "Ana" and seen["mfaEnabled"] is False
    short = digest(theirs.session_cookie)[:16]
    assert [s["id"] for s in seen["sessions"]] == [short]

    stranger, _ = await other_tenant.user("operator")
    assert (await api.data(admin, ACCESS, {"id": str(stranger.id)}))["userAccess"] is None
    assert (await api.data(admin, ACCESS, {"id": "garbled"}))["userAccess"] is None
    mine = await api.token(tenant, user)
    denied = await api.gql(mine, ACCESS, {"id": str(tenant.admin_user.id)})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    bad = (await api.data(admin, REVOKE, {"id": "0" * 16}))["revokeSession"]
    assert bad["session"] is None and bad["errors"][0]["code"] == "NOT_FOUND"
    done = (await api.data(admin, REVOKE, {"id": short}))["revokeSession"]
    assert done == {"session": {"id": short}, "errors": []}
    assert (await Session.get(id=digest(theirs.session_cookie))).revoked_at is not None
    event = await AuditEvent.filter(org_id=tenant.org_id, action="session.revoke").get()
    assert event.entity_id == short


async def test_graphql_approval_trail_pages_and_refuses_others(api, tenant):
    _, lead = await tenant.user("operator", name="Olga")
    checker, approver = await tenant.user("approver", name="Abe")
    case = await new_case(lead)
    await case_resolution.request_case_resolution(
        lead, case.id, expected_version=1, summary="s", root_cause="legit_load"
    )
    await case_resolution.reject_case_resolution(
        approver, case.id, expected_version=2, reason="more evidence"
    )
    secret = await api.token(tenant, checker)
    first = (await api.data(secret, TRAIL, {}))["approvalTrail"]
    assert [e["node"] for e in first["edges"]] == [
        {"kind": "case_resolution", "step": "rejected", "actorName": "Abe",
         "requestedByName": "Olga"}
    ]  # fmt: skip
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await api.data(secret, TRAIL, {"after": first["pageInfo"]["endCursor"]})
    assert rest["approvalTrail"]["edges"][0]["node"]["step"] == "requested"
    bad = await api.gql(secret, TRAIL, {"kind": "everything"})
    assert bad["errors"][0]["extensions"]["code"] == "INVALID"
    viewer, _ = await tenant.user("viewer")
    refused = await api.gql(await api.token(tenant, viewer), TRAIL, {})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
