"""Expired login state goes (issue 14, left open until session 12): the daily retention job
removes the second-step challenges and single sign-on attempts that expired more than a day ago,
in every organization, whatever its retention policy; live ones, and ones expired less than a
day ago, stay. On SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from riskops.server.identity import expiry
from riskops.server.identity.models import ChallengeStage, LoginChallenge, SsoLogin
from riskops.server.operations.retention_jobs import retention_enforce

NOW = datetime.now(UTC)


async def challenge(tenant, user_id: int, expires: datetime) -> str:
    key = secrets.token_hex(32)
    await LoginChallenge.create(
        id=key, user_id=user_id, org_id=tenant.org_id, stage=ChallengeStage.MFA,
        created_at=expires - timedelta(minutes=5), expires_at=expires, ip="10.0.0.9",
        user_agent="test",
    )  # fmt: skip
    return key


async def attempt(tenant, expires: datetime) -> str:
    key = secrets.token_hex(32)
    await SsoLogin.create(
        id=key, org_id=tenant.org_id, nonce="n" * 32, code_verifier="v" * 64,
        browser_hash="b" * 64, created_at=expires - timedelta(minutes=10), expires_at=expires,
    )  # fmt: skip
    return key


async def test_the_daily_job_removes_login_state_expired_a_day_ago(tenant, other_tenant) -> None:
    kept, gone = [], []
    for t in (tenant, other_tenant):  # neither has a retention policy
        user, _ = await t.user("strategist")
        gone.append(await challenge(t, user.id, NOW - timedelta(days=2)))
        kept.append(await challenge(t, user.id, NOW - timedelta(hours=3)))
        kept.append(await challenge(t, user.id, NOW + timedelta(minutes=5)))
        gone.append(await attempt(t, NOW - timedelta(days=1, minutes=1)))
        kept.append(await attempt(t, NOW + timedelta(minutes=10)))
    result = await retention_enforce({})
    assert result["expired"]["login_challenges"] >= 2 and result["expired"]["sso_attempts"] >= 2
    left = {c.id for c in await LoginChallenge.all()} | {a.id for a in await SsoLogin.all()}
    assert set(kept) <= left
    assert not set(gone) & left
    assert await expiry.purge() == {"login_challenges": 0, "sso_attempts": 0}  # nothing twice
