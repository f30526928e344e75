"""Multi-factor authentication mutations: one's own enrolment, recovery codes and turning it off,
an admin's reset, the organization's policy. Signing in with a code is a page only (the second
step needs the browser's challenge cookie). Every resolver calls one service of
`riskops.server.identity.mfa`; expected errors are data (`as_payload`)."""

from __future__ import annotations

from enum import Enum

import strawberry

from riskops.graphql.core.context import Info, principal
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.identity.types import User
from riskops.server.identity import mfa, models


@strawberry.enum(description="Who in the organization must use multi-factor authentication.")
class MfaPolicy(Enum):
    OPTIONAL = "optional"
    PRIVILEGED = "privileged"
    EVERYONE = "everyone"


@strawberry.type
class MfaEnrolmentPayload:
    otpauth_uri: str | None = strawberry.field(
        default=None, description="The otpauth:// URI to add to an authenticator app."
    )
    qr_svg: str | None = strawberry.field(
        default=None, description="The QR code of otpauthUri, as an SVG element."
    )
    secret: str | None = strawberry.field(
        default=None, description="The base32 key, for typing into the app by hand."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RecoveryCodesPayload:
    recovery_codes: list[str] | None = strawberry.field(
        default=None,
        description="Ten one-time recovery codes. Shown this once (only hashes are kept).",
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DisableMfaPayload:
    mfa_enabled: bool | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ResetUserMfaPayload:
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MfaPolicyPayload:
    policy: MfaPolicy | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _enrolment(e: mfa.Enrolment) -> MfaEnrolmentPayload:
    return MfaEnrolmentPayload(otpauth_uri=e.otpauth_uri, qr_svg=e.qr_svg, secret=e.secret)


def _codes(codes: list[str]) -> RecoveryCodesPayload:
    return RecoveryCodesPayload(recovery_codes=codes)


@strawberry.type
class MfaMutation:
    @strawberry.mutation(
        description="Start setting up TOTP multi-factor authentication for yourself (the same "
        "key again until it is confirmed). Confirm it with confirmMfaEnrolment."
    )
    async def start_mfa_enrolment(self, info: Info) -> MfaEnrolmentPayload:
        return await as_payload(MfaEnrolmentPayload, mfa.enrol_start(principal(info)), _enrolment)

    @strawberry.mutation(
        description="Turn your multi-factor authentication on with a first code from the app; "
        "returns the ten recovery codes, this once."
    )
    async def confirm_mfa_enrolment(self, info: Info, code: str) -> RecoveryCodesPayload:
        return await as_payload(
            RecoveryCodesPayload, mfa.enrol_confirm(principal(info), code), _codes
        )

    @strawberry.mutation(
        description="Ten new recovery codes (the old ones stop working), with a current code."
    )
    async def regenerate_recovery_codes(self, info: Info, code: str) -> RecoveryCodesPayload:
        return await as_payload(
            RecoveryCodesPayload, mfa.regenerate_recovery_codes(principal(info), code), _codes
        )

    @strawberry.mutation(
        description="Turn your multi-factor authentication off, with a current code (refused "
        "when your organization requires it of you)."
    )
    async def disable_mfa(self, info: Info, code: str) -> DisableMfaPayload:
        return await as_payload(
            DisableMfaPayload,
            mfa.disable(principal(info), code),
            lambda _: DisableMfaPayload(mfa_enabled=False),
        )

    @strawberry.mutation(
        description="Reset a user's multi-factor authentication (admin): their factor and "
        "recovery codes are removed and their sessions revoked. API tokens are not affected."
    )
    async def reset_user_mfa(self, info: Info, user_id: strawberry.ID) -> ResetUserMfaPayload:
        async def done(user: models.User) -> ResetUserMfaPayload:
            await user.fetch_related("teams")
            return ResetUserMfaPayload(user=User.of(user))

        return await as_payload(ResetUserMfaPayload, mfa.reset_mfa(principal(info), user_id), done)

    @strawberry.mutation(
        description="Who in your organization must use multi-factor authentication "
        "(security.manage)."
    )
    async def set_mfa_policy(self, info: Info, policy: MfaPolicy) -> MfaPolicyPayload:
        return await as_payload(
            MfaPolicyPayload,
            mfa.set_mfa_policy(principal(info), policy.value),
            lambda p: MfaPolicyPayload(policy=MfaPolicy(p.value)),
        )
