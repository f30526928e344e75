"""One-time links (issue 14): invitations, forced and self-service password resets, and the
change of one's own password, through the services. Each step is audited without the token or
the password; used, expired, revoked and unknown links look alike; another organization's user
reads like a missing one."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.core.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from riskops.server.core.principal import Principal
from riskops.server.identity import auth, links, users
from riskops.server.identity.auth import ClientInfo
from riskops.server.identity.models import LinkPurpose, OneTimeLink, Session, User
from riskops.server.identity.sessions import start_session
from riskops.server.security import digest, verify_password

NEW_PASSWORD = "plum anvil orbit lantern"
CLIENT = ClientInfo(ip="192.0.2.10", user_agent="test-browser")


def token_of(issued: links.IssuedLink) -> str:
    return issued.url.rsplit("/", 1)[1]


def email(tenant: Any, who: str = "new") -> str:
    return f"{who}-{uuid.uuid4().hex[:8]}@{tenant.slug}.example"


async def invited(tenant: Any, **kw: Any) -> tuple[User, links.IssuedLink]:
    created = await links.create_user(
        tenant.admin, email=kw.pop("email", None) or email(tenant), name=kw.pop("name", "Nina New"),
        roles=kw.pop("roles", ["viewer"]), origin="https://riskops.test",
    )  # fmt: skip
    assert created.invitation is not None
    return created.user, created.invitation


async def audit_text(org_id: int) -> str:
    rows = await AuditEvent.filter(org_id=org_id).values_list("old_values", "new_values")
    return " ".join(f"{a} {b}" for a, b in rows)


async def actions(org_id: int, user_id: int) -> list[str]:
    return list(
        await AuditEvent.filter(
            org_id=org_id, entity_type="user", entity_id=str(user_id), action__startswith="user."
        )
        .order_by("seq")
        .values_list("action", flat=True)
    )


# ----------------------------------------------------------------------------- invitations


async def test_a_user_created_without_a_password_is_invited_and_sets_one(tenant, db) -> None:
    user, issued = await invited(tenant)
    token = token_of(issued)
    assert issued.url == f"https://riskops.test/invite/{token}"
    assert issued.purpose == LinkPurpose.INVITATION and issued.delivered_by == "none"
    hours = db.settings.invitation_hours
    assert abs(issued.expires_at - datetime.now(UTC) - timedelta(hours=hours)) < timedelta(
        minutes=1
    )
    row = await OneTimeLink.get(user_id=user.id)
    assert row.token_hash == digest(token) and row.created_by_id == tenant.admin.user_id
    assert user.password_hash is None

    info = await links.link_info(token)
    assert (info.purpose, info.name, info.email) == (LinkPurpose.INVITATION, "Nina New", user.email)

    result = await links.redeem(db.settings, token, NEW_PASSWORD, CLIENT)
    assert result.session_secret and result.principal and result.principal.user_id == user.id
    fresh = await User.get(id=user.id)
    assert verify_password(fresh.password_hash, NEW_PASSWORD) and fresh.password_changed_at
    assert (await OneTimeLink.get(id=row.id)).used_at is not None
    # Used: the same link again is not valid, and reads like an unknown one.
    with pytest.raises(NotFound) as used:
        await links.redeem(db.settings, token, NEW_PASSWORD, CLIENT)
    with pytest.raises(NotFound) as unknown:
        await links.link_info("x" * 43)
    assert used.value.message == unknown.value.message == links.NOT_VALID
    # The password works at the login.
    assert (await auth.login(db.settings, user.email, NEW_PASSWORD, CLIENT)).session_secret

    assert await actions(tenant.org_id, user.id) == ["user.create", "user.invite",
                                                      "user.password_set"]  # fmt: skip
    text = await audit_text(tenant.org_id)
    assert token not in text and digest(token) not in text and NEW_PASSWORD not in text
    set_event = await AuditEvent.get(org_id=tenant.org_id, action="user.password_set",
                                     entity_id=str(user.id))  # fmt: skip
    assert set_event.actor == f"user:{user.id}" and '"via":"invitation"' in set_event.new_values


async def test_sending_again_revokes_the_older_invitation(tenant, db) -> None:
    user, first = await invited(tenant)
    again = await links.invite(tenant.admin, user.id)
    assert token_of(again) != token_of(first)
    with pytest.raises(NotFound, match="not valid"):
        await links.link_info(token_of(first))
    assert (await links.link_info(token_of(again))).email == user.email
    event = await AuditEvent.filter(org_id=tenant.org_id, action="user.invite").order_by("-seq")
    assert '"resent":true' in event[0].new_values


async def test_an_invitation_for_someone_with_a_password_is_stale(tenant) -> None:
    user, _ = await tenant.user("viewer")
    with pytest.raises(Conflict, match="already set a password"):
        await links.invite(tenant.admin, user.id)


async def test_invitations_and_resets_refuse_what_they_cannot_do(tenant, other_tenant) -> None:
    viewer, as_viewer = await tenant.user("viewer")
    stranger, _ = await other_tenant.user("viewer")
    for call in (links.invite, links.force_reset):
        with pytest.raises(Forbidden):
            await call(as_viewer, viewer.id)
        with pytest.raises(NotFound) as theirs:
            await call(tenant.admin, stranger.id)
        with pytest.raises(NotFound) as missing:
            await call(tenant.admin, 2**31 - 2)
        assert theirs.value.message.replace(str(stranger.id), "N") == missing.value.message.replace(
            str(2**31 - 2), "N"
        )
    account = await users.create_service_account(tenant.admin, name="Importer", roles=["viewer"])
    with pytest.raises(Invalid, match="service account"):
        await links.force_reset(tenant.admin, account.id)
    with pytest.raises(Invalid, match="your own password"):
        await links.force_reset(tenant.admin, tenant.admin.user_id)
    assert not await OneTimeLink.filter(org_id=tenant.org_id).exists()


# ----------------------------------------------------------------------------- forced reset


async def test_a_forced_reset_stops_the_password_and_the_sessions(tenant, db) -> None:
    user, _ = await tenant.user("operator")
    first = await auth.login(db.settings, user.email, tenant.password, CLIENT)
    issued = await links.force_reset(tenant.admin, user.id)
    assert issued.purpose == LinkPurpose.PASSWORD_RESET
    assert abs(issued.expires_at - datetime.now(UTC)) < timedelta(
        minutes=db.settings.reset_link_minutes, seconds=30
    )
    assert await auth.from_session(first.session_secret or "", CLIENT) is None
    with pytest.raises(auth.Unauthenticated):
        await auth.login(db.settings, user.email, tenant.password, CLIENT)
    event = await AuditEvent.get(org_id=tenant.org_id, action="user.password_reset_forced")
    assert event.risk_level == "high" and '"sessions_revoked":1' in event.new_values

    result = await links.redeem(db.settings, token_of(issued), NEW_PASSWORD, CLIENT)
    assert result.session_secret
    assert await actions(tenant.org_id, user.id) == [
        "user.password_reset_forced", "user.password_set"
    ]  # fmt: skip
    assert (
        '"via":"reset"'
        in (await AuditEvent.get(org_id=tenant.org_id, action="user.password_set")).new_values
    )
    assert token_of(issued) not in await audit_text(tenant.org_id)


async def test_redeeming_a_reset_revokes_the_sessions_it_did_not_start(tenant, db) -> None:
    user, _ = await tenant.user("viewer")
    issued = await links.force_reset(tenant.admin, user.id)
    # A session begun after the reset was forced (single sign-on, say) ends with the redeeming.
    elsewhere = await start_session(db.settings, user, CLIENT, via="sso")
    result = await links.redeem(db.settings, token_of(issued), NEW_PASSWORD, CLIENT)
    assert await auth.from_session(elsewhere.session_secret or "", CLIENT) is None
    assert await auth.from_session(result.session_secret or "", CLIENT) is not None
    event = await AuditEvent.get(org_id=tenant.org_id, action="user.password_set")
    assert '"sessions_revoked":1' in event.new_values


# ----------------------------------------------------------------------------- bad links


async def test_expired_revoked_and_unknown_links_look_alike(tenant, db) -> None:
    user, first = await invited(tenant)
    second = await links.invite(tenant.admin, user.id)
    await OneTimeLink.filter(token_hash=digest(token_of(second))).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    messages = set()
    for token in (token_of(first), token_of(second), "nope", "a" * 43, "", "b" * 500):
        with pytest.raises(NotFound) as exc:
            await links.redeem(db.settings, token, NEW_PASSWORD, CLIENT)
        messages.add(exc.value.message)
    assert messages == {links.NOT_VALID}
    assert (await User.get(id=user.id)).password_hash is None


async def test_two_tabs_redeeming_one_link_set_one_password(tenant, db) -> None:
    user, issued = await invited(tenant)
    results = await asyncio.gather(
        links.redeem(db.settings, token_of(issued), NEW_PASSWORD, CLIENT),
        links.redeem(db.settings, token_of(issued), NEW_PASSWORD + " two", CLIENT),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["LoginResult", "NotFound"]
    assert await Session.filter(user_id=user.id).count() == 1
    assert await AuditEvent.filter(org_id=tenant.org_id, action="user.password_set").count() == 1


async def test_a_suspended_user_cannot_use_their_link(tenant, db) -> None:
    user, issued = await invited(tenant)
    await users.suspend_user(tenant.admin, user.id, reason="left")
    with pytest.raises(Invalid, match="suspended"):
        await links.redeem(db.settings, token_of(issued), NEW_PASSWORD, CLIENT)
    assert (await User.get(id=user.id)).password_hash is None


# ----------------------------------------------------------------------------- forgot password


async def test_forgot_password_answers_alike_and_audits_only_real_accounts(tenant, db) -> None:
    user, _ = await tenant.user("viewer")
    head = await AuditEvent.filter(org_id=tenant.org_id).count()
    platform = await AuditEvent.filter(org_id=0).count()
    assert await links.forgot_password(db.settings, f"nobody@{tenant.slug}.example", CLIENT) is None
    assert await AuditEvent.filter(org_id=tenant.org_id).count() == head
    assert await AuditEvent.filter(org_id=0).count() == platform
    assert await links.forgot_password(db.settings, user.email.upper(), CLIENT) is None
    [link] = await OneTimeLink.filter(user_id=user.id)
    assert link.purpose == LinkPurpose.PASSWORD_RESET and link.created_by_id is None
    event = await AuditEvent.get(org_id=tenant.org_id, action="user.password_reset_requested")
    assert event.actor == f"user:{user.id}" and event.ip == CLIENT.ip
    # The password still works until the link is used: anyone may type an address.
    assert (await auth.login(db.settings, user.email, tenant.password, CLIENT)).session_secret


async def test_forgot_password_is_limited_per_account_and_per_ip(tenant, db) -> None:
    limit = db.settings.forgot_password_per_hour
    user, _ = await tenant.user("viewer")
    unknown = f"ghost-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
    for address in (user.email, unknown):  # the limit does not tell a real account either
        for i in range(limit):
            await links.forgot_password(db.settings, address, ClientInfo(ip=f"198.18.{i}.1"))
        with pytest.raises(RateLimited) as exc:
            await links.forgot_password(db.settings, address, ClientInfo(ip="198.18.99.1"))
        assert 0 < exc.value.retry_after <= 3600
    ip = f"198.19.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    for i in range(limit):
        await links.forgot_password(db.settings, f"x{i}-{unknown}", ClientInfo(ip=ip))
    with pytest.raises(RateLimited):
        await links.forgot_password(db.settings, f"y-{unknown}", ClientInfo(ip=ip))
    assert await OneTimeLink.filter(user_id=user.id).count() == limit


async def test_parallel_forgot_requests_cannot_pass_the_limit(tenant, db) -> None:
    limit = db.settings.forgot_password_per_hour
    address = f"burst-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"

    async def ask(i: int) -> str:
        try:
            await links.forgot_password(db.settings, address, ClientInfo(ip=f"198.20.{i}.9"))
        except RateLimited:
            return "429"
        return "200"

    answers = await asyncio.gather(*(ask(i) for i in range(limit + 10)))
    assert answers.count("200") == limit


async def test_nobody_without_a_password_login_gets_a_reset(tenant, db) -> None:
    account = await users.create_service_account(tenant.admin, name="Bot", roles=["viewer"])
    suspended, _ = await tenant.user("viewer")
    await users.suspend_user(tenant.admin, suspended.id, reason="gone")
    for address in (account.email, suspended.email):
        await links.forgot_password(db.settings, address, CLIENT)
    assert not await OneTimeLink.filter(org_id=tenant.org_id).exists()


# ----------------------------------------------------------------------------- change


async def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(
    tenant, db
) -> None:
    user, _ = await tenant.user("viewer")
    here = await auth.login(db.settings, user.email, tenant.password, CLIENT)
    there = await auth.login(db.settings, user.email, tenant.password, CLIENT)
    me = here.principal
    assert me is not None
    with pytest.raises(Invalid) as wrong:
        await links.change_password(me, "not my password", NEW_PASSWORD)
    assert wrong.value.field == "current"
    with pytest.raises(Invalid) as weak:
        await links.change_password(me, tenant.password, "short")
    assert weak.value.field == "new"
    with pytest.raises(Invalid, match="is the current one"):
        await links.change_password(me, tenant.password, tenant.password)

    assert await links.change_password(me, tenant.password, NEW_PASSWORD) == 1
    assert await auth.from_session(here.session_secret or "", CLIENT) is not None
    assert await auth.from_session(there.session_secret or "", CLIENT) is None
    assert verify_password((await User.get(id=user.id)).password_hash, NEW_PASSWORD)
    event = await AuditEvent.get(org_id=tenant.org_id, action="user.password_changed")
    assert event.actor == f"user:{user.id}" and '"sessions_revoked":1' in event.new_values
    assert NEW_PASSWORD not in await audit_text(tenant.org_id)


async def test_wrong_current_passwords_count_as_failed_logins(tenant, db) -> None:
    user, _ = await tenant.user("viewer")
    me = Principal(user_id=user.id, org_id=tenant.org_id, roles=frozenset({"viewer"}),
                   ip=f"198.21.{uuid.uuid4().int % 250}.1")  # fmt: skip
    for _ in range(db.settings.login_max_failures_per_account):
        with pytest.raises(Invalid):
            await links.change_password(me, "guess guess guess", NEW_PASSWORD)
    with pytest.raises(RateLimited):
        await links.change_password(me, tenant.password, NEW_PASSWORD)


# ----------------------------------------------------------------------------- GraphQL

ERRORS = "errors { code message field }"
LINK = "url purpose userId expiresAt deliveredBy"
CREATE = f"""mutation($email: String!) {{
  createUser(email: $email, name: "Gil Graph", roles: ["viewer"]) {{
    user {{ id }} invitation {{ {LINK} }} {ERRORS}
  }}
}}"""
RESEND = f"""mutation($id: ID!) {{
  resendInvitation(userId: $id) {{ invitation {{ {LINK} }} {ERRORS} }}
}}"""
FORCE = f"""mutation($id: ID!) {{
  forcePasswordReset(userId: $id) {{ reset {{ {LINK} }} {ERRORS} }}
}}"""
CHANGE = f"""mutation($current: String!, $new: String!) {{
  changePassword(current: $current, new: $new) {{ changed sessionsRevoked {ERRORS} }}
}}"""


async def test_graphql_invites_resends_and_forces_a_reset(tenant, other_tenant, api, db) -> None:
    secret = await api.token(tenant, tenant.admin_user)
    data = await api.data(secret, CREATE, {"email": email(tenant)})
    created = data["createUser"]
    invitation = created["invitation"]
    assert created["errors"] == [] and invitation["purpose"] == "INVITATION"
    assert invitation["url"].startswith("http://testserver/invite/")
    assert invitation["deliveredBy"] == "none" and invitation["userId"] == created["user"]["id"]
    user_id = created["user"]["id"]

    again = (await api.data(secret, RESEND, {"id": user_id}))["resendInvitation"]
    assert again["errors"] == [] and again["invitation"]["url"] != invitation["url"]
    await links.redeem(db.settings, again["invitation"]["url"].rsplit("/", 1)[1], NEW_PASSWORD,
                       CLIENT)  # fmt: skip
    stale = (await api.data(secret, RESEND, {"id": user_id}))["resendInvitation"]
    assert stale["invitation"] is None and stale["errors"][0]["code"] == "CONFLICT"

    reset = (await api.data(secret, FORCE, {"id": user_id}))["forcePasswordReset"]
    assert reset["errors"] == [] and reset["reset"]["purpose"] == "PASSWORD_RESET"
    assert "/reset-password/" in reset["reset"]["url"]

    stranger, _ = await other_tenant.user("viewer")
    for query, name in ((RESEND, "resendInvitation"), (FORCE, "forcePasswordReset")):
        theirs = (await api.data(secret, query, {"id": str(stranger.id)}))[name]
        missing = (await api.data(secret, query, {"id": "2147483000"}))[name]
        assert theirs["errors"][0]["code"] == missing["errors"][0]["code"] == "NOT_FOUND"
    viewer, _ = await tenant.user("viewer")
    weak = await api.token(tenant, viewer)
    refused = (await api.data(weak, FORCE, {"id": user_id}))["forcePasswordReset"]
    assert refused["errors"][0]["code"] == "FORBIDDEN"
    refusal = await AuditEvent.filter(org_id=tenant.org_id, action__startswith="permission.denied")
    assert any("forcePasswordReset" in e.new_values for e in refusal)


async def test_graphql_changes_ones_own_password(tenant, api, db) -> None:
    user, _ = await tenant.user("viewer")
    elsewhere = await auth.login(db.settings, user.email, tenant.password, CLIENT)
    secret = await api.token(tenant, user)
    wrong = await api.data(secret, CHANGE, {"current": "nope", "new": NEW_PASSWORD})
    assert wrong["changePassword"]["errors"] == [{
        "code": "INVALID", "message": "The current password is wrong; type it again.",
        "field": "current",
    }]  # fmt: skip
    weak = await api.data(secret, CHANGE, {"current": tenant.password, "new": "abc"})
    assert weak["changePassword"]["errors"][0]["field"] == "new"
    done = await api.data(secret, CHANGE, {"current": tenant.password, "new": NEW_PASSWORD})
    assert done["changePassword"] == {"changed": True, "sessionsRevoked": 1, "errors": []}
    assert await auth.from_session(elsewhere.session_secret or "", CLIENT) is None
