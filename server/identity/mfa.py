"""Multi-factor authentication with TOTP (RFC 6238, pyotp): enrolment with a QR code drawn as SVG
on the server and confirmed with a first code, ten one-time recovery codes stored hashed, the
organization's policy (enrol right after the password step when required), and an admin's reset
(audited, revokes sessions). Codes are rate-limited per account with the same atomic counter as
passwords, and a TOTP step is never accepted twice. The second step at login lives in
`mfa_login`. API tokens are not affected by any of this."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import Entry, RiskLevel
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Conflict, Forbidden, Invalid, RateLimited
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, scoped
from riskops.server.core.sealing import seal, unseal
from riskops.server.identity import attempts, org_security, totp
from riskops.server.identity.models import (
    LoginChallenge,
    LoginFailure,
    MfaFactor,
    MfaPolicy,
    OrgSecurity,
    RecoveryCode,
    Session,
    User,
    UserKind,
)
from riskops.server.identity.sessions import ClientInfo, _principal
from riskops.server.settings import Settings, get_settings

SEAL_PURPOSE = "totp-secret"
BAD_CONFIRM = (
    "Code: that is not the code your app shows now. Check that the app added this account, "
    "then enter the 6-digit code it shows (each code works once)."
)


@dataclass(frozen=True)
class Enrolment:
    """What the person adds to their authenticator app: the QR code of `otpauth_uri`, or the
    `secret` typed by hand. Shown while enrolling only."""

    otpauth_uri: str
    qr_svg: str
    secret: str


@dataclass(frozen=True)
class MfaStatus:
    enabled: bool
    required: bool  # the organization's policy requires it of this person
    policy: MfaPolicy
    recovery_codes_left: int
    confirmed_at: datetime | None


def _person(user: User, client: ClientInfo) -> Principal:
    """Who acts in the second step: the user, before there is a session."""
    return _principal(user, client, frozenset({user.id}))


def _account(user: User) -> str:
    return attempts.code_account(user.id)


async def _reserve(settings: Settings, user: User, client: ClientInfo) -> int:
    """Count this code attempt before it is checked (the password step's counter); refused with
    RATE_LIMITED past the limit."""
    retry, reserved = await attempts.reserve_attempt(settings, _account(user), client.ip or "-")
    if retry is not None:
        await _failed(user, client, "rate_limited", RiskLevel.HIGH)
        raise RateLimited(f"Too many wrong codes; try again in {retry} seconds.", retry_after=retry)
    return reserved


async def _succeeded(user: User) -> None:
    """A right code: the account's counted attempts (this one's reserved row too) go."""
    await LoginFailure.filter(account=_account(user)).delete()


async def _failed(user: User, client: ClientInfo, reason: str, risk: RiskLevel) -> None:
    actor = _person(user, client).actor
    await store.emit(
        actor, Entry("auth.login_failed", "user", user.id, {}, {"reason": reason}, risk)
    )


# ----------------------------------------------------------------------------- codes


def _secret_of(factor: MfaFactor) -> str:
    return unseal(SEAL_PURPOSE, factor.secret_sealed)


async def _accept_own_totp(user: User, code: str, conn: BaseDBAsyncClient) -> bool:
    """Whether `code` is the signed-in user's current TOTP code (its step claimed once)."""
    factor = await MfaFactor.filter(user_id=user.id).using_db(conn).get_or_none()
    if factor is None or factor.confirmed_at is None:
        return False
    return await _claim_step(factor, code, conn)


async def _claim_step(
    factor: MfaFactor, code: str, conn: BaseDBAsyncClient, step: int | None = None
) -> bool:
    """Claim the time step of `code` (`step`: already matched by the caller) once."""
    step = step if step is not None else totp.matching_step(_secret_of(factor), code)
    if step is None:
        return False
    claimed = (
        await MfaFactor.filter(
            Q(last_step__isnull=True) | Q(last_step__lt=step), id=factor.id, user_id=factor.user_id
        )
        .using_db(conn)
        .update(last_step=step)
    )
    return claimed == 1


async def _new_recovery_codes(user: User, conn: BaseDBAsyncClient) -> list[str]:
    """Ten new recovery codes (the old ones stop working); only their hashes are kept."""
    await RecoveryCode.filter(user_id=user.id).using_db(conn).delete()
    codes = totp.new_recovery_codes()
    now = datetime.now(UTC)
    await RecoveryCode.bulk_create(
        [RecoveryCode(user_id=user.id, code_hash=totp.recovery_hash(c), created_at=now)
         for c in codes],
        using_db=conn,
    )  # fmt: skip
    return codes


# ----------------------------------------------------------------------------- enrolment


async def _pending(user: User) -> Enrolment:
    """The unconfirmed factor of `user` (created when there is none), as its enrolment."""
    factor = await MfaFactor.filter(user_id=user.id).get_or_none()
    if factor is not None and factor.confirmed_at is not None:
        raise Conflict(
            "Multi-factor authentication is already on for this account. To move it to a new "
            "device, turn it off first (Account → Multi-factor), or ask an admin to reset it."
        )
    if factor is None:
        secret = totp.new_secret()
        try:
            await MfaFactor.create(user_id=user.id, secret_sealed=seal(SEAL_PURPOSE, secret),
                                   created_at=datetime.now(UTC))  # fmt: skip
        except IntegrityError:  # two tabs at once: the other one's key is the one kept
            return await _pending(user)
    else:
        secret = _secret_of(factor)
    uri = totp.otpauth_uri(secret, user.email)
    return Enrolment(otpauth_uri=uri, qr_svg=totp.qr_svg(uri), secret=secret)


async def _confirm(
    user: User, code: str, principal: Principal, conn: BaseDBAsyncClient
) -> list[str]:
    factor = await MfaFactor.filter(user_id=user.id).using_db(conn).get_or_none()
    if factor is None or factor.confirmed_at is not None:
        raise Conflict(
            "There is no enrolment waiting for a code: start again with “Set up multi-factor "
            "authentication”.",
            field="code",
        )
    if not await _claim_step(factor, code, conn):
        raise Invalid(BAD_CONFIRM, field="code")
    now = datetime.now(UTC)
    await MfaFactor.filter(id=factor.id, user_id=user.id).using_db(conn).update(confirmed_at=now)
    await (
        scoped(User, org_id=user.org_id).filter(id=user.id).using_db(conn).update(mfa_enabled=True)
    )
    user.mfa_enabled = True
    codes = await _new_recovery_codes(user, conn)
    await record(principal, conn, "mfa.enrolled", "user", user.id,
                 new={"method": "totp", "recovery_codes": len(codes)},
                 risk=RiskLevel.MEDIUM)  # fmt: skip
    return codes


async def _me(principal: Principal) -> User:
    """The signed-in person (a service account never signs in, so it has no second factor)."""
    user = await get_scoped(User, principal, principal.user_id, "User")
    if user.kind != UserKind.PERSON:
        raise Forbidden(
            f"{user.name} is a service account: it never signs in, so it has no second factor."
        )
    return user


async def enrol_start(principal: Principal) -> Enrolment:
    """Start (or show again) the signed-in person's enrolment: the QR code and the secret."""
    return await _pending(await _me(principal))


async def enrol_confirm(principal: Principal, code: str) -> list[str]:
    """Turn MFA on with a first code from the app; the ten recovery codes, shown this once."""
    user = await _me(principal)
    settings = get_settings()
    client = ClientInfo(principal.ip, principal.user_agent, principal.request_id)
    await _reserve(settings, user, client)  # a wrong code stays counted
    async with in_transaction() as conn:
        codes = await _confirm(user, totp.clean(code), principal, conn)
    await _succeeded(user)
    return codes


async def _check_own_code(principal: Principal, user: User, code: str) -> None:
    """A current TOTP code of the signed-in person (counted like the second step), for the
    changes that need one: new recovery codes, turning MFA off."""
    client = ClientInfo(principal.ip, principal.user_agent, principal.request_id)
    await _reserve(get_settings(), user, client)
    async with in_transaction() as conn:
        ok = user.mfa_enabled and await _accept_own_totp(user, totp.clean(code), conn)
    if not ok:
        raise Invalid(
            "Code: that is not the code your authenticator app shows now. Enter the current "
            "6-digit code (each code works once).",
            field="code",
        )
    await _succeeded(user)


def _require_enabled(user: User) -> None:
    if not user.mfa_enabled:
        raise Conflict(
            "Multi-factor authentication is off for this account: set it up first "
            "(Account → Multi-factor).",
            field="code",
        )


async def regenerate_recovery_codes(principal: Principal, code: str) -> list[str]:
    """Ten new recovery codes (the old ones stop working), with a current code from the app."""
    user = await _me(principal)
    _require_enabled(user)
    await _check_own_code(principal, user, code)
    async with in_transaction() as conn:
        codes = await _new_recovery_codes(user, conn)
        await record(principal, conn, "mfa.recovery_codes_regenerated", "user", user.id,
                     new={"recovery_codes": len(codes)}, risk=RiskLevel.MEDIUM)  # fmt: skip
    return codes


async def _remove_factor(user: User, conn: BaseDBAsyncClient) -> None:
    await MfaFactor.filter(user_id=user.id).using_db(conn).delete()
    await RecoveryCode.filter(user_id=user.id).using_db(conn).delete()
    await (
        scoped(LoginChallenge, org_id=user.org_id)
        .filter(user_id=user.id, used_at=None)
        .using_db(conn)
        .update(used_at=datetime.now(UTC))
    )
    await (
        scoped(User, org_id=user.org_id).filter(id=user.id).using_db(conn).update(mfa_enabled=False)
    )
    user.mfa_enabled = False


async def disable(principal: Principal, code: str) -> None:
    """Turn one's own MFA off, with a current code; refused when the organization requires it."""
    user = await _me(principal)
    _require_enabled(user)
    if org_security.mfa_required(await org_security.policy_of(user.org_id), user):
        raise Forbidden(
            "Your organization requires multi-factor authentication for you, so it cannot be "
            "turned off. If you lost your device, ask an admin to reset it."
        )
    await _check_own_code(principal, user, code)
    async with in_transaction() as conn:
        await _remove_factor(user, conn)
        await record(principal, conn, "mfa.disabled", "user", user.id, risk=RiskLevel.HIGH)


async def reset_mfa(principal: Principal, user_id: str | int) -> User:
    """An admin resets a person's MFA (a lost device, a compromised account): the factor and
    recovery codes are gone, the person's sessions are revoked; they enrol again at their next
    sign-in when the policy requires it. API tokens are not affected."""
    principal.require(Perm.USER_MANAGE)
    async with in_transaction() as conn:
        user = await get_scoped(User, principal, user_id, "User", conn)
        if (
            not user.mfa_enabled
            and not await MfaFactor.filter(user_id=user.id).using_db(conn).exists()
        ):
            raise Invalid(
                f"{user.name} has not set up multi-factor authentication: there is nothing to "
                "reset."
            )
        await _remove_factor(user, conn)
        revoked = (
            await scoped(Session, principal)
            .filter(user_id=user.id, revoked_at=None)
            .using_db(conn)
            .update(revoked_at=datetime.now(UTC))
        )
        await record(principal, conn, "mfa.reset", "user", user.id,
                     new={"sessions_revoked": revoked}, risk=RiskLevel.HIGH)  # fmt: skip
    return user


# ----------------------------------------------------------------------------- status, policy


async def status(principal: Principal) -> MfaStatus:
    """The signed-in person's MFA: on or off, whether the organization requires it of them."""
    user = await get_scoped(User, principal, principal.user_id, "User")
    policy = await org_security.policy_of(user.org_id)
    factor = await MfaFactor.filter(user_id=user.id).get_or_none()
    left = await RecoveryCode.filter(user_id=user.id, used_at=None).count()
    return MfaStatus(
        enabled=user.mfa_enabled,
        required=org_security.mfa_required(policy, user),
        policy=policy.mfa_policy if policy else MfaPolicy.OPTIONAL,
        recovery_codes_left=left if user.mfa_enabled else 0,
        confirmed_at=factor.confirmed_at if factor else None,
    )


async def mfa_policy(principal: Principal) -> MfaPolicy:
    """The organization's MFA policy (`security.manage`)."""
    principal.require(Perm.SECURITY_MANAGE)
    policy = await org_security.policy_of(principal.org_id)
    return policy.mfa_policy if policy else MfaPolicy.OPTIONAL


def parse_policy(value: str) -> MfaPolicy:
    try:
        return MfaPolicy((value or "").strip().lower())
    except ValueError:
        raise Invalid(
            "Policy: choose optional, privileged (admins and approvers) or everyone.",
            field="policy",
        ) from None


async def set_mfa_policy(principal: Principal, policy: str | MfaPolicy) -> MfaPolicy:
    """Who must use MFA in the organization (`security.manage`). People it newly requires are
    taken to enrolment at their next sign-in; sessions already open stay."""
    principal.require(Perm.SECURITY_MANAGE)
    new = parse_policy(str(policy))
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        row = await scoped(OrgSecurity, principal).using_db(conn).select_for_update().first()
        old = row.mfa_policy if row else MfaPolicy.OPTIONAL
        if row is None:
            await OrgSecurity.create(org_id=principal.org_id, mfa_policy=new, updated_at=now,
                                     updated_by_id=principal.user_id, using_db=conn)  # fmt: skip
        elif old != new:
            await scoped(OrgSecurity, principal).filter(id=row.id).using_db(conn).update(
                mfa_policy=new, updated_at=now, updated_by_id=principal.user_id,
                version=row.version + 1,
            )  # fmt: skip
        if old != new:
            await record(principal, conn, "security.mfa_policy", "organization",
                         principal.org_id, old={"mfa_policy": old.value},
                         new={"mfa_policy": new.value}, risk=RiskLevel.HIGH)  # fmt: skip
    return new
