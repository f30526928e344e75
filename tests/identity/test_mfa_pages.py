"""One's own MFA page (`/account/mfa`), the admin's "Reset MFA" on the users page, the MFA
policy on `/admin/security`, the owner's MFA next to API tokens, and the GraphQL mutations; an
API token keeps working whatever the MFA of its owner."""

from __future__ import annotations

from typing import Any

from riskops.audit.models import AuditEvent
from riskops.server.identity import mfa
from riskops.server.identity.models import MfaFactor, MfaPolicy, Session, User
from tests.identity.mfa_support import code_at, enrol, steady
from tests.support.pages import flash_code

ME = "{ me { user { id mfaEnabled } } }"


async def test_account_page_sets_up_mfa(browser: Any, tenant: Any) -> None:
    user, _ = await tenant.user("viewer")
    b = await browser(user, tenant.password)
    page = await b.get("/account/mfa")
    assert page.status_code == 200 and "off" in page.text
    assert "Set up multi-factor authentication" in page.text

    started = await b.post("/account/mfa/enrol")
    assert started.status_code == 200 and started.headers["cache-control"] == "no-store"
    assert "<svg" in started.text and 'action="/account/mfa/confirm"' in started.text
    secret = started.text.split('id="mfa-secret">', 1)[1].split("<", 1)[0]

    wrong = await b.post("/account/mfa/confirm", {"code": "111111"})
    assert wrong.status_code == 422 and "not the code your app shows" in wrong.text
    assert secret in wrong.text  # the same key, to try again
    await steady()
    done = await b.post("/account/mfa/confirm", {"code": code_at(secret)})
    assert done.status_code == 201 and done.text.count("<li><code>") == 10
    assert done.headers["cache-control"] == "no-store"
    assert (await User.get(id=user.id)).mfa_enabled
    page = await b.get("/account/mfa")
    assert "10</strong> of 10" in page.text and "Turn off" in page.text


async def test_account_page_regenerates_codes_and_turns_it_off(browser: Any, tenant: Any) -> None:
    user, me = await tenant.user("viewer")
    b = await browser(user, tenant.password)  # signed in before MFA was on
    secret, old = await enrol(me)  # with the code of the step before now
    await steady()
    await b.get("/account/mfa")

    wrong = await b.post("/account/mfa/recovery-codes", {"code": "123456"})
    assert wrong.status_code == 422 and 'aria-invalid="true"' in wrong.text
    fresh = await b.post("/account/mfa/recovery-codes", {"code": code_at(secret)})
    assert fresh.status_code == 201 and not any(c in fresh.text for c in old)

    await b.get("/account/mfa")
    refused = await b.post("/account/mfa/disable", {"code": code_at(secret)})  # used
    assert refused.status_code == 422 and "not the code" in refused.text
    await mfa.set_mfa_policy(tenant.admin, MfaPolicy.EVERYONE)
    page = await b.get("/account/mfa")
    assert "cannot be turned off" in page.text and 'action="/account/mfa/disable"' not in page.text
    await mfa.set_mfa_policy(tenant.admin, MfaPolicy.OPTIONAL)
    await b.get("/account/mfa")
    off = await b.post("/account/mfa/disable", {"code": code_at(secret, 1)})
    assert off.status_code == 303 and flash_code(off) == "mfa.disabled"
    assert not (await User.get(id=user.id)).mfa_enabled


async def test_admin_resets_a_users_mfa_from_the_users_page(
    browser: Any, tenant: Any, other_tenant: Any
) -> None:
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    victim = await browser()
    await victim.login(user.email, tenant.password)
    await steady()
    await victim.post("/login/code", {"code": code_at(secret)})
    assert victim.session_cookie

    admin = await browser(tenant.admin_user, tenant.password)
    page = await admin.get("/admin/users")
    assert f'action="/admin/users/{user.id}/mfa/reset"' in page.text
    r = await admin.post(f"/admin/users/{user.id}/mfa/reset")
    assert r.status_code == 303 and flash_code(r) == "user.mfa_reset"
    assert not (await User.get(id=user.id)).mfa_enabled
    assert not await Session.filter(user_id=user.id, revoked_at=None).exists()
    assert (await victim.get("/sessions")).status_code == 303  # signed out
    page = await admin.get("/admin/users")
    assert f'action="/admin/users/{user.id}/mfa/reset"' not in page.text

    # Another organization's admin: not found, like a missing user.
    other = await browser(other_tenant.admin_user, other_tenant.password)
    await other.get("/admin/users")
    foreign = await other.post(f"/admin/users/{user.id}/mfa/reset")
    missing = await other.post("/admin/users/2147483000/mfa/reset")
    assert foreign.status_code == missing.status_code == 404
    # Someone without user.manage: refused.
    analyst, _ = await tenant.user("viewer")
    a = await browser(analyst, tenant.password)
    assert (await a.post(f"/admin/users/{user.id}/mfa/reset")).status_code == 403


async def test_security_page_sets_the_mfa_policy(browser: Any, tenant: Any) -> None:
    admin = await browser(tenant.admin_user, tenant.password)
    page = await admin.get("/admin/security")
    assert page.status_code == 200 and 'value="optional" checked' in page.text
    r = await admin.post("/admin/security/mfa", {"policy": "privileged"})
    assert r.status_code == 303 and flash_code(r) == "security.mfa_policy"
    assert 'value="privileged" checked' in (await admin.get("/admin/security")).text
    bad = await admin.post("/admin/security/mfa", {"policy": "sometimes"})
    assert bad.status_code == 422 and "choose optional, privileged" in bad.text
    assert await mfa.mfa_policy(tenant.admin) == MfaPolicy.PRIVILEGED
    [event] = await AuditEvent.filter(org_id=tenant.org_id, action="security.mfa_policy")
    assert event.new_values == '{"mfa_policy":"privileged"}'

    # An approver must now enrol first; someone signed in without security.manage is refused.
    viewer, _ = await tenant.user("viewer")
    v = await browser(viewer, tenant.password)
    assert (await v.get("/admin/security")).status_code == 403


async def test_token_lists_show_the_owners_mfa(browser: Any, tenant: Any, api: Any) -> None:
    user, me = await tenant.user("viewer")
    await api.token(tenant, user)
    b = await browser(user, tenant.password)
    assert 'id="my-mfa"' in (await b.get("/tokens")).text
    await enrol(me)
    admin = await browser(tenant.admin_user, tenant.password)
    page = await admin.get("/admin/tokens")
    assert "MFA on" in page.text


async def test_graphql_enrols_regenerates_disables_and_tokens_keep_working(
    api: Any, tenant: Any
) -> None:
    user, _ = await tenant.user("viewer")
    token = await api.token(tenant, user)
    started = (await api.data(token, "mutation { startMfaEnrolment { otpauthUri qrSvg secret "
                                     "errors { code } } }"))["startMfaEnrolment"]  # fmt: skip
    assert started["errors"] == [] and started["qrSvg"].startswith("<svg")
    secret = started["secret"]
    confirm = "mutation($c: String!) { confirmMfaEnrolment(code: $c) { recoveryCodes errors { code field message } } }"  # noqa: E501
    wrong = (await api.data(token, confirm, {"c": "000000"}))["confirmMfaEnrolment"]
    assert wrong["recoveryCodes"] is None and wrong["errors"][0]["field"] == "code"
    await steady()
    done = (await api.data(token, confirm, {"c": code_at(secret)}))["confirmMfaEnrolment"]
    assert len(done["recoveryCodes"]) == 10
    # The token is not affected by MFA: no second step for the API.
    assert (await api.data(token, ME))["me"]["user"]["mfaEnabled"] is True

    regen = "mutation($c: String!) { regenerateRecoveryCodes(code: $c) { recoveryCodes errors { code } } }"  # noqa: E501
    reused = (await api.data(token, regen, {"c": code_at(secret)}))["regenerateRecoveryCodes"]
    assert reused["errors"][0]["code"] == "INVALID"
    disable = "mutation($c: String!) { disableMfa(code: $c) { mfaEnabled errors { code } } }"
    off = (await api.data(token, disable, {"c": code_at(secret, 1)}))["disableMfa"]
    assert off == {"mfaEnabled": False, "errors": []}
    assert not await MfaFactor.filter(user_id=user.id).exists()


async def test_graphql_reset_and_policy_are_for_admins(
    api: Any, tenant: Any, other_tenant: Any
) -> None:
    user, me = await tenant.user("viewer")
    await enrol(me)
    reset = (
        "mutation($u: ID!) { resetUserMfa(userId: $u) { user { id mfaEnabled } errors { code } } }"
    )
    analyst = await api.token(tenant, user)
    refused = (await api.data(analyst, reset, {"u": str(user.id)}))["resetUserMfa"]
    assert refused["errors"][0]["code"] == "FORBIDDEN"
    other = await api.token(other_tenant, other_tenant.admin_user)
    foreign = (await api.data(other, reset, {"u": str(user.id)}))["resetUserMfa"]
    assert foreign["errors"][0]["code"] == "NOT_FOUND"
    admin = await api.token(tenant, tenant.admin_user)
    done = (await api.data(admin, reset, {"u": str(user.id)}))["resetUserMfa"]
    assert done == {"user": {"id": str(user.id), "mfaEnabled": False}, "errors": []}

    policy = "mutation($p: MfaPolicy!) { setMfaPolicy(policy: $p) { policy errors { code } } }"
    assert (await api.data(analyst, policy, {"p": "EVERYONE"}))["setMfaPolicy"]["errors"][0][
        "code"
    ] == "FORBIDDEN"
    set_ = (await api.data(admin, policy, {"p": "EVERYONE"}))["setMfaPolicy"]
    assert set_ == {"policy": "EVERYONE", "errors": []}
    # Tokens still work for people the policy now requires to enrol.
    assert (await api.data(analyst, ME))["me"]["user"]["mfaEnabled"] is False
