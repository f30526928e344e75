"""The HTMX pages, driven like a browser would: sign in through the form, post forms with the
page's CSRF token, and check both what is shown and what changed in the database."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from riskops.audit.models import AuditEvent
from riskops.audit.verify import Verification
from riskops.server.identity import teams as team_service
from riskops.server.identity import tokens as token_service
from riskops.server.identity import users as user_service
from riskops.server.identity.models import ApiToken, Session, Team, User, UserStatus
from riskops.server.triage import case_create, ingest
from riskops.ui.common.rendering import env
from riskops.ui.routes import routes
from tests.support.gql import changes_head
from tests.support.pages import flash_code

UI = Path(__file__).resolve().parents[2] / "ui"


def has_nav(html: str, href: str) -> bool:
    nav = html.split('<nav class="nav"', 1)[1].split("</nav>", 1)[0] if "<nav" in html else ""
    return f'href="{href}"' in nav


async def audit_seq(org_id: int) -> int:
    head = await changes_head(org_id)
    return head.seq if head else 0


# ----------------------------------------------------------------------------- assets


def test_vendored_htmx_matches_its_checksum() -> None:
    sums = (UI / "static/vendor/SHA256SUMS").read_text().split()
    digest, name = sums[0], sums[1]
    assert re.fullmatch(r"htmx-2\.0\.\d+\.min\.js", name)
    assert hashlib.sha256((UI / "static/vendor" / name).read_bytes()).hexdigest() == digest


async def test_pages_load_htmx_from_this_site_with_integrity(client: httpx.AsyncClient) -> None:
    r = await client.get("/login")
    script = re.search(r'<script src="([^"]+)" integrity="([^"]+)"', r.text)
    assert script and script.group(1).startswith("/static/vendor/htmx-2.0.")
    js = await client.get(script.group(1))
    assert js.status_code == 200
    assert "htmx" in js.text[:2000]
    assert '"includeIndicatorStyles": false' in r.text
    css = re.search(r'<link rel="stylesheet" href="([^"]+)"', r.text)
    assert css and (await client.get(css.group(1))).status_code == 200


async def test_no_inline_styles_or_scripts(browser: Any, tenant: Any) -> None:
    """CSP is style-src/script-src 'self': an inline style or script would be blocked."""
    admin = await browser(tenant.admin_user, tenant.password)
    for path in ["/", "/admin/users", "/admin/teams", "/admin/tokens", "/audit", "/sessions"]:
        html = (await admin.get(path)).text
        assert " style=" not in html and "<style" not in html, path
        assert re.findall(r"<script(?![^>]*\ssrc=)", html) == [], path
        assert not re.search(r"<[^>]+\son[a-z]+=", html), path


async def test_security_headers(client: httpx.AsyncClient) -> None:
    r = await client.get("/login")
    assert r.headers["x-request-id"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "style-src 'self'" in r.headers["content-security-policy"]


async def test_body_over_the_limit_is_refused(browser: Any, tenant: Any, db: Any) -> None:
    admin = await browser(tenant.admin_user, tenant.password)
    before = await User.filter(org_id=tenant.org_id).count()
    big = "x" * (db.settings.max_body_bytes + 1)
    r = await admin.post(
        "/admin/users", {"email": "big@example.test", "name": big, "roles": "viewer"}
    )
    assert r.status_code == 413
    assert await User.filter(org_id=tenant.org_id).count() == before


# ----------------------------------------------------------------------------- signing in


async def test_login_sets_a_httponly_samesite_session_cookie(browser: Any, tenant: Any) -> None:
    b = await browser()
    await b.get("/login")
    r = await b.post(
        "/login",
        {"email": tenant.admin_user.email, "password": tenant.password, "next": "/audit?x=1"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/audit?x=1"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("riskops_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    home = await b.get("/")
    assert home.status_code == 200
    assert "Welcome, Admin" in home.text
    assert "admin" in home.text


async def test_login_refuses_to_redirect_off_site(browser: Any, tenant: Any) -> None:
    for target in ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"]:
        b = await browser()
        r = await b.login(tenant.admin_user.email, tenant.password, next=target)
        assert r.status_code == 303
        assert r.headers["location"] == "/", target


async def test_wrong_password_is_401_with_a_message(browser: Any, tenant: Any) -> None:
    b = await browser()
    r = await b.login(tenant.admin_user.email, "not the password")
    assert r.status_code == 401
    assert "Wrong e-mail address or password." in r.text
    assert tenant.admin_user.email in r.text  # the address is kept in the form
    assert b.session_cookie is None


async def test_sixth_failure_for_an_account_is_rate_limited(browser: Any, tenant: Any) -> None:
    user, _ = await tenant.user("viewer")
    for _ in range(5):
        b = await browser()  # each from another address: the account limit is what trips
        assert (await b.login(user.email, "wrong password!")).status_code == 401
    b = await browser()
    r = await b.login(user.email, tenant.password)  # even the right password now
    assert r.status_code == 429
    retry = int(r.headers["retry-after"])
    assert 0 < retry <= 900
    assert "try again in" in r.text and "UTC" in r.text
    assert b.session_cookie is None


async def test_suspended_account_cannot_sign_in(browser: Any, tenant: Any) -> None:
    user, _ = await tenant.user("viewer")
    await User.filter(id=user.id).update(status=UserStatus.SUSPENDED)
    r = await (await browser()).login(user.email, tenant.password)
    assert r.status_code == 403
    assert "suspended" in r.text


async def test_logout_revokes_the_session(browser: Any, tenant: Any) -> None:
    b = await browser(tenant.admin_user, tenant.password)
    cookie = b.session_cookie
    r = await b.post("/logout")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    # Replaying the old cookie from another client does not work: the session is revoked.
    stolen = await browser()
    stolen.http.cookies.set("riskops_session", cookie)
    r = await stolen.get("/")
    assert r.status_code == 303
    assert r.headers["location"] == "/login"


async def test_anonymous_is_sent_to_login(client: httpx.AsyncClient) -> None:
    r = await client.get("/admin/users?x=1")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fadmin%2Fusers%3Fx%3D1"
    r = await client.get("/audit", headers={"HX-Request": "true"})
    assert r.headers["hx-redirect"] == "/login?next=%2Faudit"
    login = await client.get("/login?next=%2Fadmin%2Fusers")
    assert 'name="next" value="/admin/users"' in login.text
    assert "<nav" not in login.text


async def test_unknown_page_is_a_friendly_404(browser: Any, tenant: Any) -> None:
    b = await browser(tenant.admin_user, tenant.password)
    r = await b.get("/no/such/page")
    assert r.status_code == 404
    assert "There is no page at /no/such/page." in r.text and "<nav" in r.text
    assert (await b.get("/static/no-such.css")).status_code == 404


# ----------------------------------------------------------------------------- permissions


async def test_viewer_gets_403_on_admin_pages_and_no_admin_nav(browser: Any, tenant: Any) -> None:
    viewer, _ = await tenant.user("viewer")
    b = await browser(viewer, tenant.password)
    home = await b.get("/")
    assert home.status_code == 200
    assert not has_nav(home.text, "/admin/users")
    assert not has_nav(home.text, "/audit")
    assert has_nav(home.text, "/sessions")
    assert "Admin" not in home.text.split('<nav class="nav"', 1)[1].split("</nav>")[0]
    for path in ["/admin/users", "/admin/teams", "/admin/tokens", "/audit"]:
        r = await b.get(path)
        assert r.status_code == 403, path
        assert "Not allowed" in r.text and "viewer" in r.text
    before = await User.filter(org_id=tenant.org_id).count()
    r = await b.post("/admin/users", {"email": "x@example.test", "name": "X", "roles": "viewer"})
    assert r.status_code == 403
    assert await User.filter(org_id=tenant.org_id).count() == before


async def test_admin_sees_admin_nav(browser: Any, tenant: Any) -> None:
    b = await browser(tenant.admin_user, tenant.password)
    home = await b.get("/")
    for href in ["/admin/users", "/admin/teams", "/admin/tokens", "/audit", "/sessions"]:
        assert has_nav(home.text, href), href


# ----------------------------------------------------------------------------- users


async def test_admin_creates_a_user_through_the_form(browser: Any, tenant: Any) -> None:
    b = await browser(tenant.admin_user, tenant.password)
    await b.get("/admin/users")
    r = await b.post(
        "/admin/users",
        {"email": "New.Person@Example.test", "name": "New Person", "roles": ["operator", "viewer"],
         "password": "velvet harbour quartz"},
    )  # fmt: skip
    # With a password (without one, an invitation: tests/identity/test_password_pages.py).
    assert r.status_code == 303
    assert (r.headers["location"], flash_code(r)) == ("/admin/users", "user.created")
    user = await User.get(email="new.person@example.test")
    assert user.org_id == tenant.org_id  # type: ignore[attr-defined]
    assert user.roles == ["operator", "viewer"]
    assert await AuditEvent.filter(
        org_id=tenant.org_id, action="user.create", entity_id=str(user.id)
    ).exists()
    page = await b.get(r.headers["location"])
    assert "User created." in page.text and "New Person" in page.text


async def test_bad_email_is_shown_inline_and_nothing_is_created(browser: Any, tenant: Any) -> None:
    b = await browser(tenant.admin_user, tenant.password)
    await b.get("/admin/users")
    before = await User.filter(org_id=tenant.org_id).count()
    seq = await audit_seq(tenant.org_id)
    r = await b.post("/admin/users", {"email": "not-an-address", "name": "N", "roles": "viewer"})
    assert r.status_code == 422
    assert "is not an e-mail address" in r.text
    assert 'class="field-error" id="email-error"' in r.text
    assert 'value="not-an-address"' in r.text  # what was typed is kept
    assert await User.filter(org_id=tenant.org_id).count() == before
    assert await audit_seq(tenant.org_id) == seq


async def test_htmx_form_post_gets_the_main_block_only(browser: Any, tenant: Any) -> None:
    b = await browser(tenant.admin_user, tenant.password)
    await b.get("/admin/users")
    r = await b.post(
        "/admin/users",
        {"email": "", "name": "N", "roles": "viewer"},
        headers={"HX-Request": "true", "HX-Target": "main"},
    )
    assert r.status_code == 422
    assert "<html" not in r.text and "<h1>Users</h1>" in r.text
    assert "Email is required." in r.text


async def test_stale_roles_change_is_a_conflict(browser: Any, tenant: Any) -> None:
    user, _ = await tenant.user("viewer")
    b = await browser(tenant.admin_user, tenant.password)
    await b.get("/admin/users")
    # Someone else changes the user first (version 1 -> 2).
    r = await b.post(f"/admin/users/{user.id}/roles", {"roles": ["operator"],
                                                       "expected_version": "1"})  # fmt: skip
    assert r.status_code == 303
    r = await b.post(f"/admin/users/{user.id}/roles", {"roles": ["admin"], "expected_version": "1"})
    assert r.status_code == 409
    assert "changed by someone else" in r.text
    assert "Current roles: operator." in r.text
    assert (await User.get(id=user.id)).roles == ["operator"]


async def test_suspend_ends_the_users_session_at_once(browser: Any, tenant: Any) -> None:
    user, _ = await tenant.user("viewer")
    victim = await browser(user, tenant.password)
    assert (await victim.get("/")).status_code == 200
    admin = await browser(tenant.admin_user, tenant.password)
    await admin.get("/admin/users")
    r = await admin.post(f"/admin/users/{user.id}/suspend", {"reason": ""})
    assert r.status_code == 422 and "Reason is required." in r.text
    assert (await victim.get("/")).status_code == 200
    r = await admin.post(f"/admin/users/{user.id}/suspend", {"reason": "left the company"})
    assert r.status_code == 303
    assert (await User.get(id=user.id)).status == UserStatus.SUSPENDED
    r = await victim.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = await admin.post(f"/admin/users/{user.id}/reactivate")
    assert r.status_code == 303
    assert (await User.get(id=user.id)).status == UserStatus.ACTIVE


async def test_admin_revokes_a_users_sessions(browser: Any, tenant: Any) -> None:
    user, _ = await tenant.user("viewer")
    victim = await browser(user, tenant.password)
    admin = await browser(tenant.admin_user, tenant.password)
    await admin.get("/admin/users")
    r = await admin.post(f"/admin/users/{user.id}/sessions/revoke")
    assert r.status_code == 303 and flash_code(r) == "user.sessions"
    assert (await victim.get("/")).status_code == 303
    assert (await admin.get("/")).status_code == 200


async def test_other_organizations_user_is_404_and_unchanged(
    browser: Any, tenant: Any, other_tenant: Any
) -> None:
    stranger = other_tenant.admin_user
    b = await browser(tenant.admin_user, tenant.password)
    await b.get("/admin/users")
    seq = await audit_seq(other_tenant.org_id)
    for path, data in [
        (f"/admin/users/{stranger.id}/roles", {"roles": ["viewer"], "expected_version": "1"}),
        (f"/admin/users/{stranger.id}/suspend", {"reason": "x"}),
        (f"/admin/users/{stranger.id}/sessions/revoke", {}),
    ]:
        r = await b.post(path, data)
        assert r.status_code == 404, path
        assert "Not found" in r.text
    missing = await b.post("/admin/users/999999999/roles", {"roles": ["viewer"]})
    garbage = await b.post("/admin/users/abc/roles", {"roles": ["viewer"]})
    assert missing.status_code == garbage.status_code == 404
    fresh = await User.get(id=stranger.id)
    assert fresh.roles == ["admin"] and fresh.status == UserStatus.ACTIVE
    assert await audit_seq(other_tenant.org_id) == seq


# ----------------------------------------------------------------------------- teams


async def test_teams_create_and_change_members(browser: Any, tenant: Any) -> None:
    u1, _ = await tenant.user("viewer", name="Ann")
    u2, _ = await tenant.user("operator", name="Bob")
    b = await browser(tenant.admin_user, tenant.password)
    await b.get("/admin/teams")
    r = await b.post("/admin/teams", {"name": "Fraud desk", "members": [str(u1.id)]})
    assert r.status_code == 303
    team = await Team.get(org_id=tenant.org_id, name="Fraud desk")
    r = await b.post("/admin/teams", {"name": "Fraud desk"})
    assert r.status_code == 409 and "exists already" in r.text
    r = await b.post(f"/admin/teams/{team.id}/members", {"members": [str(u1.id), str(u2.id)]})
    assert r.status_code == 303
    assert sorted(m.id for m in await team.members.all()) == sorted([u1.id, u2.id])
    page = await b.get("/admin/teams")
    assert "Fraud desk" in page.text and "Bob" in page.text


# ----------------------------------------------------------------------------- API tokens


async def test_token_secret_shown_once_works_and_revoked_token_is_refused(
    browser: Any, tenant: Any, client: httpx.AsyncClient
) -> None:
    # An admin mints tokens for service accounts only (a person creates their own).
    owner = await user_service.create_service_account(
        tenant.admin, name="Integrator", roles=["operator", "viewer"]
    )
    b = await browser(tenant.admin_user, tenant.password)
    await b.get("/admin/tokens")
    r = await b.post(
        "/admin/tokens",
        {"owner": str(owner.id), "name": "SIEM", "roles": ["viewer"], "expires_in_days": "30"},
    )
    assert r.status_code == 201
    assert r.headers["cache-control"] == "no-store"
    secret = re.search(r'id="new-token-secret">(rko_[^<]+)<', r.text)
    assert secret, r.text
    secret_value = secret.group(1)
    assert "only time it is shown" in r.text
    listing = await b.get("/admin/tokens")
    assert secret_value not in listing.text  # never again
    assert secret_value[:10] in listing.text  # the prefix identifies it

    bearer = {"Authorization": f"Bearer {secret_value}"}
    me = await client.get("/graphql", params={"query": "{ me { user { id } viaApiToken } }"},
                          headers=bearer)  # fmt: skip
    assert me.status_code == 200, me.text
    assert me.json()["data"]["me"] == {"user": {"id": str(owner.id)}, "viaApiToken": True}

    token = await ApiToken.get(prefix=secret_value[:10])
    r = await b.post(f"/admin/tokens/{token.id}/revoke")
    assert r.status_code == 303
    assert (await ApiToken.get(id=token.id)).revoked_at is not None
    r = await client.get("/graphql", params={"query": "{ me { user { id } } }"}, headers=bearer)
    assert r.status_code == 401


async def test_token_errors_are_inline(browser: Any, tenant: Any) -> None:
    owner = await user_service.create_service_account(tenant.admin, name="Bot", roles=["viewer"])
    b = await browser(tenant.admin_user, tenant.password)
    await b.get("/admin/tokens")
    before = await ApiToken.filter(org_id=tenant.org_id).count()
    r = await b.post("/admin/tokens", {"owner": str(owner.id), "name": "x", "roles": ["admin"]})
    assert r.status_code == 422 and "may only carry roles Bot has; not admin" in r.text
    r = await b.post("/admin/tokens", {"owner": str(owner.id), "name": "x", "roles": ["viewer"],
                                       "expires_in_days": "999"})  # fmt: skip
    assert r.status_code == 422 and 'id="expires_in_days-error"' in r.text
    r = await b.post("/admin/tokens", {"owner": str(owner.id), "name": "x", "roles": ["viewer"],
                                       "expires_in_days": "soon"})  # fmt: skip
    assert r.status_code == 422 and "whole number" in r.text
    assert await ApiToken.filter(org_id=tenant.org_id).count() == before


# ----------------------------------------------------------------------------- CSRF


async def test_every_post_route_refuses_a_missing_csrf_token(browser: Any, tenant: Any) -> None:
    victim, victim_p = await tenant.user("viewer", name="Victim")
    team = await team_service.create_team(tenant.admin, name="csrf-team", member_ids=[])
    issued = await token_service.create_api_token(victim_p, name="csrf", roles=["viewer"])

    _, strategist = await tenant.user("strategist")
    ingested = await ingest.ingest_alerts(
        strategist,
        [{"external_id": "csrf-1", "source": "s", "title": "t", "score": 1, "priority": "low"}],
    )
    alert_id = ingested.created[0].alert_id
    case = (await case_create.create_case(strategist, title="csrf", alert_ids=[alert_id])).case
    from riskops.server.credit import recording as run_service

    recorded = await run_service.record_runs(
        tenant.admin, [{"run_id": "CSRF-1", "scenario": "CSRF_SCENARIO", "credits_total": 1.0}]
    )
    run_pk = recorded.recorded[0].pk
    ids = {"user_id": victim.id, "team_id": team.id, "token_id": issued.token.id,
           "alert_id": alert_id, "case_id": case.id, "key": "CSRF_SCENARIO", "run_id": run_pk,
           "run_pk": run_pk, "pk": run_pk}  # fmt: skip
    form = {"email": "csrf@example.test", "name": "CSRF", "roles": "admin", "reason": "x",
            "owner": str(victim.id), "members": str(victim.id), "expires_in_days": "5",
            "password": tenant.password}  # fmt: skip

    admin = await browser(tenant.admin_user, tenant.password)
    anonymous = await browser()
    await anonymous.get("/login")
    sessions_before = await Session.filter(user_id=tenant.admin_user.id, revoked_at=None).count()
    seq = await audit_seq(tenant.org_id)
    post_paths = [
        # Ids the test does not create (a report, a rerun request) need not exist: the token is
        # checked before anything is looked up.
        re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(ids.get(m.group(1), 1)), route.path)
        for route in routes
        if "POST" in (route.methods or set())
    ]
    assert len(post_paths) >= 13
    for path in post_paths:
        data = {**form, "email": tenant.admin_user.email} if path == "/login" else form
        for who in (admin, anonymous):
            r = await who.post(path, data, csrf=False)
            assert r.status_code == 403, (path, r.status_code)
            assert "security token" in r.text
            wrong = await who.post(path, {**data, "csrf_token": "0" * 64}, csrf=False)
            assert wrong.status_code == 403, path
    assert await audit_seq(tenant.org_id) == seq, "a POST without a valid token changed something"
    assert await Session.filter(user_id=tenant.admin_user.id, revoked_at=None).count() == (
        sessions_before
    )
    assert not await User.filter(email="csrf@example.test").exists()
    fresh = await User.get(id=victim.id)
    assert fresh.roles == ["viewer"] and fresh.status == UserStatus.ACTIVE
    assert (await ApiToken.get(id=issued.token.id)).revoked_at is None
    assert (await admin.get("/")).status_code == 200
    assert anonymous.session_cookie is None


async def test_htmx_header_token_is_accepted(browser: Any, tenant: Any) -> None:
    b = await browser(tenant.admin_user, tenant.password)
    page = await b.get("/admin/users")
    header_token = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', page.text)
    assert header_token
    r = await b.http.post(
        "/admin/users",
        data={"email": "hx@example.test", "name": "Hx", "roles": "viewer"},
        headers={"X-CSRF-Token": header_token.group(1), "HX-Request": "true"},
    )
    assert r.status_code == 201  # no password: the invitation's link, shown once
    assert await User.filter(email="hx@example.test").exists()


# ----------------------------------------------------------------------------- audit


async def test_audit_filters_by_action_and_pages_by_cursor(browser: Any, tenant: Any) -> None:
    b = await browser(tenant.admin_user, tenant.password)
    await b.get("/admin/users")
    for i in range(3):
        r = await b.post("/admin/users", {"email": f"a{i}-{tenant.slug}@example.test",
                                          "name": f"Audited {i}", "roles": "viewer"})  # fmt: skip
        assert r.status_code == 201  # invited (no password)
    page = await b.get("/audit", params={"action": "user.create", "first": "2"})
    assert page.status_code == 200
    assert page.text.count("<code>user.create</code>") == 2
    assert "<code>auth.login</code>" not in page.text
    actor = f'Admin<br><span class="muted small">user:{tenant.admin_user.id}</span>'
    assert actor in page.text  # the actor user:N is shown with its name
    more = re.search(r'id="audit-more".*?hx-get="([^"]+)"', page.text, re.S)
    assert more
    more_url = more.group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(more_url).query)["action"] == ["user.create"]
    seqs = [int(s) for s in re.findall(r'<td class="num">(\d+)</td>', page.text)]
    assert seqs == sorted(seqs, reverse=True)

    # htmx "Load more": only the rows (and no further button: 3 events, pages of 2).
    rest = await b.get(more_url, headers={"HX-Request": "true", "HX-Target": "audit-more"})
    assert rest.status_code == 200
    assert "<html" not in rest.text and "<table" not in rest.text
    later = [int(s) for s in re.findall(r'<td class="num">(\d+)</td>', rest.text)]
    assert len(later) == 1 and later[0] < seqs[-1]
    assert 'id="audit-more"' not in rest.text

    # The filter form's htmx request gets the results table only.
    part = await b.get("/audit", params={"action": "user.create"},
                       headers={"HX-Request": "true", "HX-Target": "audit-results"})  # fmt: skip
    assert "<table" in part.text and "<html" not in part.text and "<form" not in part.text
    assert part.text.count("<code>user.create</code>") == 3


async def test_audit_bad_filter_is_inline(browser: Any, tenant: Any) -> None:
    b = await browser(tenant.admin_user, tenant.password)
    r = await b.get("/audit", params={"since": "yesterday"})
    assert r.status_code == 422 and "Since: not a date and time" in r.text
    r = await b.get("/audit", params={"after": "garbage"})
    assert r.status_code == 422 and "not a cursor" in r.text


async def test_verify_chain_partial_says_ok(browser: Any, tenant: Any) -> None:
    b = await browser(tenant.admin_user, tenant.password)
    await b.get("/audit")
    r = await b.post("/audit/verify", headers={"HX-Request": "true", "HX-Target": "verify-result"})
    assert r.status_code == 200
    assert "<html" not in r.text
    assert "<strong>OK</strong>" in r.text and "events verified" in r.text
    full = await b.post("/audit/verify")  # without JavaScript: a page of its own
    assert "<html" in full.text and "<strong>OK</strong>" in full.text
    assert await AuditEvent.filter(org_id=tenant.org_id, action="audit.verify").count() == 2


async def test_viewer_may_verify_the_chain_from_home(browser: Any, tenant: Any) -> None:
    viewer, _ = await tenant.user("viewer")
    b = await browser(viewer, tenant.password)
    home = await b.get("/")
    assert 'action="/audit/verify"' in home.text
    r = await b.post("/audit/verify")
    assert r.status_code == 200 and "<strong>OK</strong>" in r.text
    assert 'href="/audit"' not in r.text  # no link to a page the viewer cannot read


def test_a_broken_chain_is_named_with_its_seq() -> None:
    broken = Verification(
        org_id=1, ok=False, events_checked=6, head_seq=6, head_hash="0" * 64,
        first_bad_seq=7, reason="content does not match its hash (edited)",
    )  # fmt: skip
    html = env.get_template("operations/audit/_verify.html").render(verification=broken)
    assert "BROKEN at seq 7" in html and "content does not match its hash (edited)" in html
    assert "verify-broken" in html


# ----------------------------------------------------------------------------- sessions


async def test_my_sessions_and_sign_out_everywhere(browser: Any, tenant: Any) -> None:
    user, _ = await tenant.user("viewer")
    laptop = await browser(user, tenant.password)
    phone = await browser(user, tenant.password)
    page = await laptop.get("/sessions")
    assert page.status_code == 200
    assert page.text.count("<tr>") - 1 == 2  # two sessions (header row excluded)
    assert "this browser" in page.text
    r = await laptop.post("/sessions/revoke")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert (await phone.get("/")).status_code == 303
    assert (await laptop.get("/")).status_code == 303
