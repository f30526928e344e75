"""The second step at login, through the pages as a browser does it: a code after the password
(`/login/code`: TOTP or a recovery code), enrolment first when the policy requires it
(`/login/enrol`), and each bad input: wrong, reused, expired-window and garbage codes, a
challenge cookie used twice or expired, too many wrong codes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from riskops.audit.models import AuditEvent
from riskops.server.identity import mfa
from riskops.server.identity.models import LoginChallenge, Session, User
from riskops.server.security import digest
from riskops.server.web import CHALLENGE_COOKIE
from tests.identity.mfa_support import code_at, enrol, steady


def cookie_of(r: httpx.Response, name: str) -> str | None:
    for header in r.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key == name:
            return rest.split(";", 1)[0]
    return None


async def password_step(browser: Any, user: Any, password: str, nxt: str = "/") -> Any:
    """A browser past the password step of `user` (waiting at the second step)."""
    b = await browser()
    r = await b.login(user.email, password, next=nxt)
    assert r.status_code == 303, r.text
    assert b.session_cookie is None
    return b, r


async def actions(org_id: int, action: str) -> list[AuditEvent]:
    return await AuditEvent.filter(org_id=org_id, action=action).order_by("seq")


async def test_a_code_after_the_password_signs_in(browser: Any, tenant: Any) -> None:
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    b, r = await password_step(browser, user, tenant.password, nxt="/sessions")

    assert r.headers["location"] == "/login/code?next=%2Fsessions"
    challenge = cookie_of(r, CHALLENGE_COOKIE)
    assert challenge and "Path=/login" in ";".join(r.headers.get_list("set-cookie"))
    assert not await Session.filter(user_id=user.id).exists()
    stored = await LoginChallenge.get(id=digest(challenge))
    assert stored.user_id == user.id and stored.stage == "mfa"

    page = await b.get(r.headers["location"])
    assert page.status_code == 200 and 'name="code"' in page.text
    assert 'autocomplete="one-time-code"' in page.text
    await steady()
    done = await b.post("/login/code", {"code": code_at(secret), "next": "/sessions"})
    assert done.status_code == 303 and done.headers["location"] == "/sessions"
    assert b.session_cookie
    assert cookie_of(done, CHALLENGE_COOKIE) == ""  # cleared
    assert (await LoginChallenge.get(id=digest(challenge))).used_at is not None
    logins = await actions(tenant.org_id, "auth.login")
    assert logins[-1].new_values == '{"via":"mfa"}'
    assert (await b.get("/sessions")).status_code == 200


async def test_a_wrong_code_is_refused_counted_and_audited(browser: Any, tenant: Any) -> None:
    user, me = await tenant.user("viewer")
    secret, codes = await enrol(me)
    b, _ = await password_step(browser, user, tenant.password)
    await steady()
    # Four: the fifth wrong code would reach the limit (5 per account) and refuse the right one.
    for bad in ("000000", "<script>", "x" * 500, code_at(secret, -3)):
        r = await b.post("/login/code", {"code": bad})
        assert r.status_code == 401, (bad, r.status_code)
        assert "That code is not right" in r.text
        assert b.session_cookie is None
    failed = await actions(tenant.org_id, "auth.login_failed")
    assert [e.new_values for e in failed] == ['{"reason":"bad_code"}'] * 4
    chain = " ".join(e.new_values + e.old_values for e in await AuditEvent.filter(
        org_id=tenant.org_id))  # fmt: skip
    assert secret not in chain and not any(c in chain for c in codes)
    # The challenge stays open: the right code still works.
    r = await b.post("/login/code", {"code": code_at(secret)})
    assert r.status_code == 303 and b.session_cookie


async def test_a_code_is_never_accepted_twice(browser: Any, tenant: Any) -> None:
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    first, _ = await password_step(browser, user, tenant.password)
    second, _ = await password_step(browser, user, tenant.password)
    await steady()
    code = code_at(secret)
    assert (await first.post("/login/code", {"code": code})).status_code == 303
    again = await second.post("/login/code", {"code": code})
    assert again.status_code == 401 and second.session_cookie is None
    # Nor an earlier step's code, once a later one was accepted.
    assert (await second.post("/login/code", {"code": code_at(secret, -1)})).status_code == 401
    assert (await second.post("/login/code", {"code": code_at(secret, 1)})).status_code == 303


async def test_the_same_code_in_parallel_signs_in_once(browser: Any, tenant: Any) -> None:
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    browsers = [(await password_step(browser, user, tenant.password))[0] for _ in range(5)]
    await steady()
    code = code_at(secret)
    answers = await asyncio.gather(*(b.post("/login/code", {"code": code}) for b in browsers))
    assert sorted(r.status_code for r in answers) == [303, 401, 401, 401, 401]
    assert await Session.filter(user_id=user.id).count() == 1


async def test_a_challenge_cookie_works_once(browser: Any, tenant: Any) -> None:
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    b, r = await password_step(browser, user, tenant.password)
    challenge = cookie_of(r, CHALLENGE_COOKIE)
    await steady()
    assert (await b.post("/login/code", {"code": code_at(secret)})).status_code == 303

    thief = await browser()
    await thief.get("/login")
    thief.http.cookies.set(CHALLENGE_COOKIE, challenge or "")
    replay = await thief.post("/login/code", {"code": code_at(secret, 1)})
    assert replay.status_code == 401
    assert "expired or was already used" in replay.text and 'name="password"' in replay.text
    assert thief.session_cookie is None
    assert await Session.filter(user_id=user.id).count() == 1


async def test_an_expired_or_unknown_challenge_asks_for_the_password(
    browser: Any, tenant: Any
) -> None:
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    b, r = await password_step(browser, user, tenant.password)
    challenge = cookie_of(r, CHALLENGE_COOKIE) or ""
    await LoginChallenge.filter(id=digest(challenge)).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    page = await b.get("/login/code")
    assert page.status_code == 401 and "expired or was already used" in page.text
    await steady()
    assert (await b.post("/login/code", {"code": code_at(secret)})).status_code == 401
    assert b.session_cookie is None

    stranger = await browser()
    await stranger.get("/login")
    for forged in ("", "x", "a" * 300, challenge.upper()):
        stranger.http.cookies.set(CHALLENGE_COOKIE, forged)
        r = await stranger.post("/login/code", {"code": code_at(secret)})
        assert r.status_code == 401 and "expired or was already used" in r.text
    nothing = await browser()
    assert (await nothing.get("/login/code")).status_code == 401


async def test_a_recovery_code_signs_in_once(browser: Any, tenant: Any) -> None:
    user, me = await tenant.user("viewer")
    _, codes = await enrol(me)
    b, _ = await password_step(browser, user, tenant.password)
    typed = " " + codes[3].upper().replace("-", " ") + " "  # as people copy it
    r = await b.post("/login/code", {"code": typed})
    assert r.status_code == 303 and b.session_cookie
    [used] = await actions(tenant.org_id, "mfa.recovery_code_used")
    assert used.new_values == '{"recovery_codes_left":9}'
    assert codes[3] not in used.new_values

    again, _ = await password_step(browser, user, tenant.password)
    assert (await again.post("/login/code", {"code": codes[3]})).status_code == 401
    status = await mfa.status(me)
    assert status.recovery_codes_left == 9


async def test_too_many_wrong_codes_are_rate_limited(browser: Any, tenant: Any, db: Any) -> None:
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    b, _ = await password_step(browser, user, tenant.password)
    limit = db.settings.login_max_failures_per_account
    answers = await asyncio.gather(
        *(b.post("/login/code", {"code": f"{i:06d}"}) for i in range(limit + 3))
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [401] * limit + [429] * 3, codes
    limited = next(r for r in answers if r.status_code == 429)
    assert 0 < int(limited.headers["retry-after"]) <= db.settings.login_failure_window_seconds
    assert "Too many wrong codes" in limited.text
    await steady()
    right = await b.post("/login/code", {"code": code_at(secret)})
    assert right.status_code == 429 and b.session_cookie is None
    reasons = [e.new_values for e in await actions(tenant.org_id, "auth.login_failed")]
    assert '{"reason":"rate_limited"}' in reasons


async def test_required_mfa_enrols_right_after_the_password(browser: Any, tenant: Any) -> None:
    await mfa.set_mfa_policy(tenant.admin, "privileged")
    user, _ = await tenant.user("approver")
    b, r = await password_step(browser, user, tenant.password, nxt="/sessions")
    assert r.headers["location"] == "/login/enrol?next=%2Fsessions"

    page = await b.get(r.headers["location"])
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "<svg" in page.text and 'id="mfa-secret"' in page.text
    secret = page.text.split('id="mfa-secret">', 1)[1].split("<", 1)[0]
    assert (await b.get("/login/enrol")).text.count(secret) == 1  # a reload shows the same key
    # Not yet signed in, and the code step is not open to an enrolment challenge.
    assert (await b.get("/sessions")).status_code == 303
    to_enrol = await b.get("/login/code")
    assert (to_enrol.status_code, to_enrol.headers["location"]) == (303, "/login/enrol")

    wrong = await b.post("/login/enrol", {"code": "000000", "next": "/sessions"})
    assert wrong.status_code == 422 and "not the code your app shows" in wrong.text
    assert b.session_cookie is None
    await steady()
    done = await b.post("/login/enrol", {"code": code_at(secret), "next": "/sessions"})
    assert done.status_code == 201 and done.headers["cache-control"] == "no-store"
    assert b.session_cookie
    assert done.text.count("<li><code>") == 10 and 'href="/sessions"' in done.text
    assert (await User.get(id=user.id)).mfa_enabled
    assert len(await actions(tenant.org_id, "mfa.enrolled")) == 1
    assert (await actions(tenant.org_id, "auth.login"))[-1].new_values == '{"via":"mfa"}'

    # The next sign-in asks for a code.
    _, r = await password_step(browser, user, tenant.password)
    assert r.headers["location"] == "/login/code"


@pytest.mark.parametrize("path", ["/login/code", "/login/enrol"])
async def test_a_second_step_post_needs_the_csrf_token(
    browser: Any, tenant: Any, path: str
) -> None:
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    b, _ = await password_step(browser, user, tenant.password)
    r = await b.post(path, {"code": code_at(secret)}, csrf=False)
    assert r.status_code == 403 and b.session_cookie is None
