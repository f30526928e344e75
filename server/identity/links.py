"""One-time links (`OneTimeLink`): invitations (a user created without a password sets one) and
password resets (self-service "forgot password", or forced by an admin). Only the token's
SHA-256 is stored; a link is used once, expires (invitations after `invitation_hours`, resets
after `reset_link_minutes`), and a newer link of the same purpose revokes the older ones. Links go
out through the outbox (e-mail when RISKOPS_SMTP_URL is set, else the `review` webhook) and are
also shown once to the admin and printed by the CLI. Every step is audited, never the token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from riskops.server.core.principal import Principal
from riskops.server.identity.models import LinkPurpose
from riskops.server.identity.sessions import ClientInfo, LoginResult
from riskops.server.settings import Settings


@dataclass(frozen=True)
class IssuedLink:
    url: str  # shown once to the admin, printed by the CLI
    purpose: LinkPurpose
    user_id: int
    expires_at: datetime
    delivered_by: str  # "email", "webhook" or "none" (the admin passes the link on)


@dataclass(frozen=True)
class LinkInfo:
    """What the landing page shows before the password is chosen."""

    purpose: LinkPurpose
    name: str
    email: str
    organization: str
    expires_at: datetime


async def invite(principal: Principal, user_id: str | int) -> IssuedLink:
    """(Re)send an invitation to a user who has not set a password yet (`user.manage`)."""
    raise NotImplementedError  # issue 14: h/passwords


async def force_reset(principal: Principal, user_id: str | int) -> IssuedLink:
    """An admin forces a password reset: the password stops working, sessions are revoked."""
    raise NotImplementedError  # issue 14: h/passwords


async def forgot_password(settings: Settings, email: str, client: ClientInfo) -> None:
    """Self-service: the same answer whether or not the account exists; rate-limited."""
    raise NotImplementedError  # issue 14: h/passwords


async def link_info(token: str) -> LinkInfo:
    """The link's purpose and person, or NotFound "This link is not valid: ..." (used, expired,
    revoked or unknown look alike)."""
    raise NotImplementedError  # issue 14: h/passwords


async def redeem(settings: Settings, token: str, password: str, client: ClientInfo) -> LoginResult:
    """Set the password through the link (the policy of `passwords.check_policy`), use the link,
    revoke the user's sessions (a reset), and sign in (or open the second step)."""
    raise NotImplementedError  # issue 14: h/passwords


async def change_password(principal: Principal, current: str, new: str) -> None:
    """A signed-in person changes their password: the current one is needed; other sessions
    are revoked."""
    raise NotImplementedError  # issue 14: h/passwords
