"""The per-account limit of failed logins holds under concurrency (issue 11, item 2): an attempt
is reserved, atomically per account, before its password is checked, so 50 parallel attempts
cannot all be counted as the first one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from riskops.server.core.errors import RateLimited, Unauthenticated
from riskops.server.identity import auth
from riskops.server.identity.auth import ClientInfo, login
from riskops.server.identity.models import LoginFailure, Session

ATTEMPTS = 50


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password check `login` makes (the real check, counted)."""
    seen: list[str] = []
    real = auth.verify_password

    def counting(password_hash: str | None, password: str) -> bool:
        seen.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", counting)
    return seen


async def test_fifty_parallel_wrong_passwords_through_the_login_form(
    browser: Any, tenant: Any, db: Any, checks: list[str]
) -> None:
    limit = db.settings.login_max_failures_per_account
    user, _ = await tenant.user("viewer")
    browsers = [await browser() for _ in range(ATTEMPTS)]  # each from its own address
    for b in browsers:
        await b.get("/login")
    checks.clear()

    answers = await asyncio.gather(
        *(b.post("/login", {"email": user.email, "password": "wrong password!"}) for b in browsers)
    )

    codes = sorted(r.status_code for r in answers)
    assert codes.count(401) <= limit, codes
    assert codes.count(401) + codes.count(429) == ATTEMPTS, codes
    assert len(checks) <= limit
    for r in answers:
        if r.status_code == 429:
            assert 0 < int(r.headers["retry-after"]) <= db.settings.login_failure_window_seconds
    # The right password is refused too until the window passes.
    late = await browser()
    r = await late.login(user.email, tenant.password)
    assert r.status_code == 429
    assert late.session_cookie is None
    assert not await Session.filter(user_id=user.id).exists()


async def test_fifty_parallel_wrong_passwords_through_the_service(
    tenant: Any, db: Any, checks: list[str]
) -> None:
    limit = db.settings.login_max_failures_per_account
    user, _ = await tenant.user("viewer")

    async def attempt(i: int) -> str:
        try:
            await login(db.settings, user.email, "wrong password!", ClientInfo(ip=f"192.0.2.{i}"))
        except RateLimited as exc:
            assert exc.retry_after > 0
            return "429"
        except Unauthenticated:
            return "401"
        return "200"

    results = await asyncio.gather(*(attempt(i) for i in range(ATTEMPTS)))

    assert results.count("401") <= limit, results
    assert results.count("401") + results.count("429") == ATTEMPTS
    assert len(checks) <= limit
    assert await LoginFailure.filter(account=user.email).count() <= limit
    with pytest.raises(RateLimited):
        await login(db.settings, user.email, tenant.password, ClientInfo(ip="192.0.2.200"))
