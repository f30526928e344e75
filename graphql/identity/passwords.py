"""Invitations, password resets and password changes (`riskops.server.identity.links`). Every
resolver calls one service; expected errors are data (`as_payload`). Self-service "forgot
password" and redeeming a link are pages only: the API answers signed-in callers (docs/API.md)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from riskops.graphql.core.context import Info, principal
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.core.ids import as_id
from riskops.server.identity import links


@strawberry.enum(description="What a one-time link is for.")
class LinkPurpose(Enum):
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"  # noqa: S105  (a purpose, not a secret)


@strawberry.type(
    description="A one-time link, shown this once: the person opens it to choose a password."
)
class IssuedLink:
    url: str = strawberry.field(description="The link itself. Shown this once; pass it on now.")
    purpose: LinkPurpose
    user_id: strawberry.ID
    expires_at: datetime
    delivered_by: str = strawberry.field(
        description="How it went out: email, webhook (the #ops-review channel) or none (pass "
        "it on yourself)."
    )

    @classmethod
    def of(cls, link: links.IssuedLink) -> IssuedLink:
        return cls(
            url=link.url,
            purpose=LinkPurpose(link.purpose.value),
            user_id=as_id(link.user_id),
            expires_at=link.expires_at,
            delivered_by=link.delivered_by,
        )


@strawberry.type
class InvitationPayload:
    invitation: IssuedLink | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PasswordResetPayload:
    reset: IssuedLink | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ChangePasswordPayload:
    changed: bool = False
    sessions_revoked: int = strawberry.field(
        default=0, description="Your other sessions, signed out by the change."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


def origin(info: Info) -> str:
    """Where links point when RISKOPS_BASE_URL is unset: the address the request came to."""
    return str(info.context.request.base_url).rstrip("/")


@strawberry.type
class PasswordMutation:
    @strawberry.mutation(
        description="Send a new invitation to a user who has not set a password yet (admin); "
        "the previous link stops working."
    )
    async def resend_invitation(self, info: Info, user_id: strawberry.ID) -> InvitationPayload:
        return await as_payload(
            InvitationPayload,
            links.invite(principal(info), user_id, origin=origin(info)),
            lambda link: InvitationPayload(invitation=IssuedLink.of(link)),
        )

    @strawberry.mutation(
        description="Force a password reset (admin): the user's password stops working, their "
        "sessions end, and a one-time link lets them choose a new one."
    )
    async def force_password_reset(
        self, info: Info, user_id: strawberry.ID
    ) -> PasswordResetPayload:
        return await as_payload(
            PasswordResetPayload,
            links.force_reset(principal(info), user_id, origin=origin(info)),
            lambda link: PasswordResetPayload(reset=IssuedLink.of(link)),
        )

    @strawberry.mutation(
        description="Change your own password: the current one is needed; your other sessions "
        "are signed out. A wrong current password counts as a failed login."
    )
    async def change_password(self, info: Info, current: str, new: str) -> ChangePasswordPayload:
        return await as_payload(
            ChangePasswordPayload,
            links.change_password(principal(info), current, new),
            lambda n: ChangePasswordPayload(changed=True, sessions_revoked=n),
        )
