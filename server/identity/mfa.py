"""Multi-factor authentication with TOTP (RFC 6238, pyotp): enrolment with a QR code drawn as SVG
on the server and confirmed with a first code, ten one-time recovery codes stored hashed, the
second step at login (rate-limited per account with the same atomic counter as passwords; a code
is never accepted twice in its window), the organization's policy (enrol right after the
password step when required), and an admin's reset (audited, revokes sessions)."""

from __future__ import annotations

from riskops.server.identity.models import ChallengeStage, User
from riskops.server.identity.sessions import ClientInfo, LoginResult


async def stage_after_password(user: User) -> ChallengeStage | None:
    """The step a right password leads to: MFA when the user has a confirmed factor, ENROL when
    the organization requires MFA of this user and there is none, else None (a session)."""
    return None  # issue 14: h/mfa


async def open_challenge(
    user: User, stage: ChallengeStage, client: ClientInfo, *, via: str = "password"
) -> LoginResult:
    """A `LoginChallenge` for `user` at `stage` (its cookie value in `challenge_secret`)."""
    raise NotImplementedError  # issue 14: h/mfa
