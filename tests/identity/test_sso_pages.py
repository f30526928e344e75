"""Single sign-on through the pages and the API: the login page's button, finding one's
organization, the whole sign-in through the loopback provider (with the browser-binding cookie),
the admin's settings page (write-only secret, "Test connection", bad input, wrong role), "SSO
only" on the security page, and the GraphQL fields (errors as data, another organization's id
answered like a missing one)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from riskops.server.identity import sso
from riskops.server.identity.models import OrgSecurity, SsoConfig, User
from tests.identity.sso_provider import (
    CLIENT_SECRET,
    OidcProvider,
    app_path,
)
from tests.support.pages import flash_code


def domain() -> str:
    return f"{uuid.uuid4().hex[:8]}.pages.test"


async def configure(tenant: Any, provider: OidcProvider, dom: str) -> SsoConfig:
    return await sso.save_config(tenant.admin, sso.ConfigInput(
        issuer=provider.issuer, client_id=provider.client_id, client_secret=CLIENT_SECRET,
        scopes="openid email profile groups", allowed_domain=dom, role_claim="groups",
        role_mapping={"risk-analysts": ["operator"]}, default_roles=[],
    ))  # fmt: skip


async def test_signing_in_through_the_provider_from_the_login_page(
    tenant, browser, oidc_server, provider_browser
):
    dom = domain()
    await configure(tenant, oidc_server, dom)
    email, pw = await oidc_server.add_account(f"ana@{dom}", groups=["risk-analysts"])
    b = await browser()
    login = await b.get("/login?next=/cases")
    assert 'href="/login/sso?next=/cases"' in login.text and "Sign in with SSO" in login.text

    finder = await b.get(f"/login/sso?email={email}&next=/cases")
    assert finder.status_code == 200
    assert f'href="/login/sso/{tenant.slug}?next=/cases"' in finder.text

    start = await b.get(f"/login/sso/{tenant.slug}?next=/cases")
    assert start.status_code == 303 and start.headers["location"].startswith(oidc_server.issuer)
    cookie = next(h for h in start.headers.get_list("set-cookie") if h.startswith("riskops_sso="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie

    back = await oidc_server.authorize(provider_browser, start.headers["location"], email, pw)
    done = await b.get(app_path(back))
    assert done.status_code == 303 and done.headers["location"] == "/cases"
    assert b.session_cookie
    assert (await b.get("/sessions")).status_code == 200  # signed in: no redirect to /login
    assert (await User.get(email=email)).roles == ["operator"]

    # The same callback again is a replay: the login page says what happened.
    again = await b.get(app_path(back))
    assert again.status_code == 401 and "already used or has expired" in again.text


async def test_a_callback_from_another_browser_or_an_unknown_org_is_refused(
    tenant, browser, oidc_server, provider_browser
):
    dom = domain()
    await configure(tenant, oidc_server, dom)
    email, pw = await oidc_server.add_account(f"ana@{dom}", groups=["risk-analysts"])
    mine, stranger = await browser(), await browser()
    start = await mine.get(f"/login/sso/{tenant.slug}")
    back = await oidc_server.authorize(provider_browser, start.headers["location"], email, pw)
    r = await stranger.get(app_path(back))
    assert r.status_code == 401 and "started in another browser" in r.text
    assert stranger.session_cookie is None

    unknown = await mine.get("/login/sso/no-such-organization")
    assert unknown.status_code == 404 and "not set up for this organization" in unknown.text
    nobody = await mine.get(f"/login/sso?email=someone@{uuid.uuid4().hex[:6]}.nowhere.test")
    assert nobody.status_code == 404 and "No organization signs in" in nobody.text


async def test_the_admin_page_saves_with_a_write_only_secret_and_tests_the_connection(
    tenant, browser, oidc_server
):
    dom = domain()
    b = await browser(tenant.admin_user, tenant.password)
    page = await b.get("/admin/sso")
    assert page.status_code == 200 and "/login/sso/callback" in page.text
    form = {
        "issuer": oidc_server.issuer, "client_id": "riskops", "client_secret": CLIENT_SECRET,
        "scopes": "openid email groups", "allowed_domain": dom, "role_claim": "groups",
        "role_mapping": "risk-analysts = operator\nrisk-approvers = approver, viewer",
        "default_roles": "viewer", "enabled": "on", "version": "",
    }  # fmt: skip
    r = await b.post("/admin/sso", form)
    assert r.status_code == 303 and flash_code(r) == "sso.saved"
    config = await SsoConfig.get(org_id=tenant.org_id)
    assert config.role_mapping == {"risk-analysts": ["operator"],
                                   "risk-approvers": ["approver", "viewer"]}  # fmt: skip
    page = await b.get("/admin/sso")
    assert CLIENT_SECRET not in page.text and "stored; enter a new one to replace it" in page.text
    assert 'name="client_secret" value=""' in page.text

    tested = await b.post("/admin/sso/test", {})
    assert tested.status_code == 200 and tested.text.count(">passed<") == 5

    bad = await b.post("/admin/sso", {**form, "client_secret": "", "version": "1",
                                      "role_mapping": "no equals sign here"})  # fmt: skip
    assert bad.status_code == 422 and "Role mapping, line 1" in bad.text
    bad = await b.post("/admin/sso", {**form, "version": "1", "issuer": "http://idp.example.com"})
    assert bad.status_code == 422 and "https://" in bad.text
    assert (await SsoConfig.get(org_id=tenant.org_id)).version == 1


async def test_the_sso_pages_refuse_a_non_admin(tenant, browser):
    viewer, _ = await tenant.user("operator")
    b = await browser(viewer, tenant.password)
    for path in ("/admin/sso", "/admin/security"):
        assert (await b.get(path)).status_code == 403
    r = await b.post("/admin/sso", {"issuer": "https://x.example.com", "client_id": "x"})
    assert r.status_code == 403
    assert not await SsoConfig.filter(org_id=tenant.org_id).exists()
    r = await b.post("/admin/security/sso-only", {"sso_only": "on"})
    assert r.status_code == 403


async def test_the_security_page_turns_sso_only_on_with_a_break_glass_admin(
    tenant, other_tenant, browser, oidc_server
):
    await configure(tenant, oidc_server, domain())
    b = await browser(tenant.admin_user, tenant.password)
    page = await b.get("/admin/security")
    assert page.status_code == 200 and tenant.admin_user.email in page.text
    r = await b.post("/admin/security/sso-only", {"sso_only": "on", "break_glass": ""})
    assert r.status_code == 422 and "Break-glass admin: choose" in r.text
    theirs = str(other_tenant.admin_user.id)
    r = await b.post("/admin/security/sso-only", {"sso_only": "on", "break_glass": theirs})
    assert r.status_code == 422 and "not found" in r.text
    r = await b.post("/admin/security/sso-only",
                     {"sso_only": "on", "break_glass": str(tenant.admin_user.id)})  # fmt: skip
    assert r.status_code == 303 and flash_code(r) == "sso.only_on"
    policy = await OrgSecurity.get(org_id=tenant.org_id)
    assert policy.sso_only and policy.break_glass_user_id == tenant.admin_user.id

    viewer, _ = await tenant.user("viewer")
    refused = await (await browser()).login(viewer.email, tenant.password)
    assert refused.status_code == 403 and "Sign in with SSO" in refused.text


SAVE = """mutation($issuer: String!, $domain: String!, $secret: String, $roles: [String!]) {
  saveSsoConfig(issuer: $issuer, clientId: "riskops", clientSecret: $secret,
      allowedDomain: $domain, scopes: "openid email groups",
      roleMapping: [{value: "risk-analysts", roles: ["operator"]}], defaultRoles: $roles) {
    config { issuer clientId clientSecretSet allowedDomain roleMapping { value roles } version }
    errors { code field message }
  }
}"""


async def test_the_api_saves_reads_and_tests_sso_without_ever_returning_the_secret(
    tenant, api, oidc_server
):
    dom = domain()
    admin = await api.token(tenant, tenant.admin_user)
    vars_ = {"issuer": oidc_server.issuer, "domain": dom, "secret": CLIENT_SECRET}
    saved = (await api.data(admin, SAVE, vars_))["saveSsoConfig"]
    assert saved["errors"] == [] and saved["config"]["clientSecretSet"] is True
    assert saved["config"]["roleMapping"] == [{"value": "risk-analysts", "roles": ["operator"]}]
    body = await api.gql(admin, "{ ssoConfig { issuer clientId clientSecretSet version } }")
    assert body["data"]["ssoConfig"]["issuer"] == oidc_server.issuer
    assert CLIENT_SECRET not in str(body)

    bad = (await api.data(admin, SAVE, {**vars_, "roles": ["emperor"]}))["saveSsoConfig"]
    assert bad["config"] is None and bad["errors"][0]["code"] == "INVALID"
    assert bad["errors"][0]["field"] == "defaultRoles"

    tested = await api.data(admin, "mutation { testSsoConnection { ok checks { name ok } } }")
    assert tested["testSsoConnection"]["ok"] is True


async def test_the_api_refuses_non_admins_and_other_organizations_users(
    tenant, other_tenant, api, oidc_server
):
    operator, _ = await tenant.user("operator")
    secret = await api.token(tenant, operator)
    r = await api.data(secret, SAVE, {"issuer": oidc_server.issuer, "domain": domain()})
    assert r["saveSsoConfig"]["errors"][0]["code"] == "FORBIDDEN"
    body = await api.gql(secret, "{ ssoConfig { issuer } }")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    await configure(tenant, oidc_server, domain())
    admin = await api.token(tenant, tenant.admin_user)
    only = """mutation($id: ID) { setSsoOnly(on: true, breakGlassUserId: $id) {
      ssoOnly breakGlassUserId errors { code field message } } }"""
    theirs = (await api.data(admin, only, {"id": str(other_tenant.admin_user.id)}))["setSsoOnly"]
    missing = (await api.data(admin, only, {"id": "99999999"}))["setSsoOnly"]
    assert theirs["errors"][0]["code"] == missing["errors"][0]["code"] == "NOT_FOUND"
    assert theirs["errors"][0]["message"].replace(str(other_tenant.admin_user.id), "N") == (
        missing["errors"][0]["message"].replace("99999999", "N")
    )
    ok = (await api.data(admin, only, {"id": str(tenant.admin_user.id)}))["setSsoOnly"]
    assert ok == {"ssoOnly": True, "breakGlassUserId": str(tenant.admin_user.id), "errors": []}
    assert urlsplit(oidc_server.issuer).hostname == "127.0.0.1"


async def test_the_mfa_step_follows_single_sign_on(tenant, browser, oidc_server, provider_browser):
    from riskops.server.identity import mfa
    from riskops.server.identity.models import LoginChallenge

    dom = domain()
    await configure(tenant, oidc_server, dom)
    await mfa.set_mfa_policy(tenant.admin, "everyone")
    email, pw = await oidc_server.add_account(f"mia@{dom}", groups=["risk-analysts"])
    b = await browser()
    start = await b.get(f"/login/sso/{tenant.slug}?next=/cases")
    back = await oidc_server.authorize(provider_browser, start.headers["location"], email, pw)
    r = await b.get(app_path(back))
    assert r.status_code == 303 and r.headers["location"].startswith("/login/enrol")
    assert b.session_cookie is None  # no session before the second step
    user = await User.get(email=email)
    challenge = await LoginChallenge.get(user_id=user.id)
    assert (challenge.via, challenge.stage.value) == ("sso", "enrol")
