"""Login state that has outlived its use (issue 14): a second step's challenge (`LoginChallenge`)
and a single sign-on attempt in flight (`SsoLogin`) live minutes. Once expired for a day, they
only hold an IP address, a user agent and spent secrets, for nobody: the daily retention job
(`retention.enforce`) removes them for every organization, whatever its retention policy, since
they are not records anyone keeps (the audit trail says what happened at each login)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from riskops.server.identity.models import LoginChallenge, SsoLogin

log = logging.getLogger("riskops.identity")

KEEP = timedelta(days=1)  # after expiry: a login of yesterday can still be looked into


async def purge(now: datetime | None = None) -> dict[str, int]:
    """Remove the challenges and SSO attempts that expired more than KEEP ago; how many."""
    cutoff = (now or datetime.now(UTC)) - KEEP
    removed = {
        "login_challenges": await LoginChallenge.filter(expires_at__lt=cutoff).delete(),
        "sso_attempts": await SsoLogin.filter(expires_at__lt=cutoff).delete(),
    }
    if any(removed.values()):
        log.info(
            "removed %(login_challenges)d expired login challenge(s) and %(sso_attempts)d "
            "expired SSO attempt(s)", removed,
        )  # fmt: skip
    return removed
