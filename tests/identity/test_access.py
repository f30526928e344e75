"""Sessions and access an admin can see (issue 14): a user's sessions, tokens and MFA status, and
revoking one session; who may, and what another organization's ids answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.core.errors import Forbidden, NotFound
from riskops.server.identity import access, auth, tokens, users
from riskops.server.identity.models import ApiToken, Session
from riskops.server.identity.sessions import ClientInfo, start_session
from riskops.server.security import digest


async def signed_in(db: Any, user: Any, ip: str = "198.51.100.4", agent: str = "Firefox/140"):
    result = await start_session(db.settings, user, ClientInfo(ip=ip, user_agent=agent))
    assert result.session_secret and result.principal
    return result.session_secret, result.principal


async def test_the_admin_sees_a_users_sessions_tokens_and_mfa_status(db, tenant):
    user, me = await tenant.user("operator", name="Ana")
    secret, _ = await signed_in(db, user)
    await signed_in(db, user, ip="198.51.100.5", agent="Chromium/131")
    issued = await tokens.create_api_token(me, name="laptop", roles=["operator"])
    used = await auth.from_bearer(issued.secret, ClientInfo(ip="192.0.2.9", user_agent="curl/8"))
    assert used is not None
    revoked = await tokens.create_api_token(me, name="old", roles=["operator"])
    await tokens.revoke_api_token(me, revoked.token.id)

    seen = await access.user_access(tenant.admin, user.id)
    assert seen.user.id == user.id and seen.mfa_enabled is False
    assert [(s.ip, s.user_agent) for s in seen.sessions] == [
        ("198.51.100.5", "Chromium/131"),
        ("198.51.100.4", "Firefox/140"),
    ]
    ids = {s.id for s in seen.sessions}
    assert digest(secret)[:16] in ids and all(len(i) == 16 for i in ids)  # never the digest
    assert [(t.name, t.last_ip, t.last_user_agent) for t in seen.tokens] == [
        ("laptop", "192.0.2.9", "curl/8")
    ]
    assert seen.tokens[0].last_used_at is not None


async def test_a_person_sees_their_own_and_nobody_elses(db, tenant):
    user, me = await tenant.user("operator")
    other, _ = await tenant.user("operator")
    await signed_in(db, user)
    assert len((await access.user_access(me, user.id)).sessions) == 1
    with pytest.raises(Forbidden, match=r"user\.manage"):
        await access.user_access(me, other.id)


async def test_revoking_one_session_ends_it_and_is_audited_without_the_secret(db, tenant):
    user, _ = await tenant.user("operator")
    secret, _ = await signed_in(db, user)
    keep, _ = await signed_in(db, user, ip="198.51.100.9")
    short = digest(secret)[:16]

    row = await access.revoke_session(tenant.admin, short.upper())  # case does not matter
    assert row.id == short
    assert await auth.from_session(secret, ClientInfo()) is None
    assert await auth.from_session(keep, ClientInfo()) is not None
    event = await AuditEvent.filter(org_id=tenant.org_id, action="session.revoke").get()
    assert event.entity_type == "session" and event.entity_id == short
    assert json.loads(event.new_values) == {"user_id": user.id, "sessions_revoked": 1}
    assert secret not in event.new_values and digest(secret) not in event.new_values

    # Again: nothing more to do, no second event.
    await access.revoke_session(tenant.admin, short)
    assert await AuditEvent.filter(org_id=tenant.org_id, action="session.revoke").count() == 1


async def test_a_person_revokes_their_own_session_not_anothers(db, tenant):
    user, _ = await tenant.user("operator")
    other, _ = await tenant.user("operator")
    mine, me = await signed_in(db, user)
    theirs, _ = await signed_in(db, other)
    with pytest.raises(Forbidden, match=r"user\.manage"):
        await access.revoke_session(me, digest(theirs)[:16])
    assert await auth.from_session(theirs, ClientInfo()) is not None
    row = await access.revoke_session(me, digest(mine)[:16])
    assert row.current is True
    assert await auth.from_session(mine, ClientInfo()) is None


@pytest.mark.parametrize(
    "garbled", ["", "abc", "zzzzzzzzzzzzzzzz", "1" * 64, "../../etc", "ü" * 16]
)
async def test_garbled_session_ids_are_not_found(tenant, garbled):
    with pytest.raises(NotFound, match=r"Session .* not found"):
        await access.revoke_session(tenant.admin, garbled)


async def test_another_organizations_user_and_session_read_as_missing(db, tenant, other_tenant):
    stranger, _ = await other_tenant.user("operator")
    secret, _ = await signed_in(db, stranger)
    for ident in (stranger.id, 2**31 - 1):
        with pytest.raises(NotFound) as exc:
            await access.user_access(tenant.admin, ident)
        assert str(exc.value.message) == f"User {ident} not found."
    short = digest(secret)[:16]
    with pytest.raises(NotFound) as exc:
        await access.revoke_session(tenant.admin, short)
    missing = "0" * 16
    with pytest.raises(NotFound) as exc2:
        await access.revoke_session(tenant.admin, missing)
    assert exc.value.message.replace(short, "X") == exc2.value.message.replace(missing, "X")
    assert await auth.from_session(secret, ClientInfo()) is not None
    # Another organization's token reads as missing too (tokens.revoke_api_token is reused).
    issued = await tokens.create_api_token(other_tenant.admin, name="t", roles=["admin"])
    with pytest.raises(NotFound):
        await tokens.revoke_api_token(tenant.admin, issued.token.id)
    assert (await ApiToken.get(id=issued.token.id)).revoked_at is None


async def test_expired_sessions_and_tokens_are_not_listed_and_cannot_be_revoked(db, tenant):
    user, me = await tenant.user("operator")
    secret, _ = await signed_in(db, user)
    issued = await tokens.create_api_token(me, name="t", roles=["operator"])
    past = datetime.now(UTC) - timedelta(minutes=1)
    await Session.filter(id=digest(secret)).update(expires_at=past)
    await ApiToken.filter(id=issued.token.id).update(expires_at=past)
    seen = await access.user_access(tenant.admin, user.id)
    assert seen.sessions == [] and seen.tokens == []
    with pytest.raises(NotFound):
        await access.revoke_session(tenant.admin, digest(secret)[:16])


async def test_a_suspended_users_access_is_empty(db, tenant):
    user, me = await tenant.user("operator")
    await signed_in(db, user)
    await tokens.create_api_token(me, name="t", roles=["operator"])
    await users.suspend_user(tenant.admin, user.id, reason="left")
    seen = await access.user_access(tenant.admin, user.id)
    assert seen.sessions == [] and seen.tokens == []
