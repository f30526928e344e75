"""The MFA service (`server/identity/mfa.py`): enrolment (sealed secret, QR code drawn on the
server, confirmed with a first code, ten recovery codes stored hashed), codes accepted once,
recovery codes, turning it off, an admin's reset, the policy and the CLI's reset; audited
without a secret or a code."""

from __future__ import annotations

import asyncio
from typing import Any

import pyotp
import pytest

from riskops.audit.models import AuditEvent
from riskops.server.cli.common import CliError
from riskops.server.cli.users import reset_mfa_of
from riskops.server.core.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from riskops.server.core.sealing import unseal
from riskops.server.identity import challenges, mfa
from riskops.server.identity.models import (
    ChallengeStage,
    MfaFactor,
    MfaPolicy,
    OrgSecurity,
    RecoveryCode,
    Session,
    User,
)
from riskops.server.identity.sessions import ClientInfo, start_session
from tests.identity.mfa_support import code_at, enrol, steady


async def events(org_id: int, action: str) -> list[AuditEvent]:
    return await AuditEvent.filter(org_id=org_id, action=action).order_by("seq")


async def chain_text(org_id: int) -> str:
    rows = await AuditEvent.filter(org_id=org_id).values_list("old_values", "new_values")
    return " ".join(f"{o} {n}" for o, n in rows)


async def test_enrolment_seals_the_secret_and_draws_the_qr_code(tenant: Any) -> None:
    user, me = await tenant.user("analyst")
    enrolment = await mfa.enrol_start(me)

    assert enrolment.otpauth_uri.startswith("otpauth://totp/")
    assert f"secret={enrolment.secret}" in enrolment.otpauth_uri
    assert "issuer=riskops" in enrolment.otpauth_uri
    assert enrolment.qr_svg.startswith("<svg") and "<path" in enrolment.qr_svg
    assert "http" not in enrolment.qr_svg.replace("http://www.w3.org", "")  # drawn here
    factor = await MfaFactor.get(user_id=user.id)
    assert enrolment.secret not in factor.secret_sealed
    assert unseal("totp-secret", factor.secret_sealed) == enrolment.secret
    assert factor.confirmed_at is None
    # Shown again (a reload) until confirmed: the same key, not a new one.
    assert (await mfa.enrol_start(me)).secret == enrolment.secret
    assert not (await User.get(id=user.id)).mfa_enabled


async def test_confirming_turns_it_on_with_ten_hashed_recovery_codes(tenant: Any) -> None:
    user, me = await tenant.user("analyst")
    secret, codes = await enrol(me)

    assert len(codes) == 10 and len(set(codes)) == 10
    stored = await RecoveryCode.filter(user_id=user.id).values_list("code_hash", flat=True)
    assert len(stored) == 10
    assert not set(codes) & set(stored)
    assert not {c.replace("-", "") for c in codes} & set(stored)
    assert (await User.get(id=user.id)).mfa_enabled
    status = await mfa.status(me)
    assert status.enabled and status.recovery_codes_left == 10 and not status.required
    [event] = await events(tenant.org_id, "mfa.enrolled")
    text = await chain_text(tenant.org_id)
    assert secret not in text and not any(c in text for c in codes)
    assert event.entity_id == str(user.id)
    with pytest.raises(Conflict):  # already on: a new device needs it off first
        await mfa.enrol_start(me)


@pytest.mark.parametrize("bad", ["", "12345", "abcdef", "1234567", "../../etc", "0" * 200])
async def test_enrolment_refuses_a_wrong_or_garbage_code(tenant: Any, bad: str) -> None:
    user, me = await tenant.user("analyst")
    await mfa.enrol_start(me)
    with pytest.raises(Invalid) as exc:
        await mfa.enrol_confirm(me, bad)
    assert exc.value.field == "code"
    assert not (await User.get(id=user.id)).mfa_enabled
    assert not await RecoveryCode.filter(user_id=user.id).exists()


async def test_a_code_outside_the_window_is_refused(tenant: Any) -> None:
    _, me = await tenant.user("analyst")
    enrolment = await mfa.enrol_start(me)
    await steady()
    for steps in (-3, -2, 2, 3):
        with pytest.raises(Invalid):
            await mfa.enrol_confirm(me, code_at(enrolment.secret, steps))


async def test_confirming_without_starting_is_a_conflict(tenant: Any) -> None:
    _, me = await tenant.user("analyst")
    with pytest.raises(Conflict):
        await mfa.enrol_confirm(me, "123456")


async def test_stage_after_password_follows_factor_and_policy(tenant: Any) -> None:
    viewer, _ = await tenant.user("viewer")
    approver, _ = await tenant.user("approver")
    enrolled, me = await tenant.user("viewer")
    await enrol(me)
    enrolled = await User.get(id=enrolled.id)

    assert await challenges.stage_after_password(viewer) is None
    assert await challenges.stage_after_password(approver) is None
    assert await challenges.stage_after_password(enrolled) == ChallengeStage.MFA

    await mfa.set_mfa_policy(tenant.admin, "privileged")
    assert await challenges.stage_after_password(viewer) is None
    assert await challenges.stage_after_password(approver) == ChallengeStage.ENROL
    assert await challenges.stage_after_password(tenant.admin_user) == ChallengeStage.ENROL

    await mfa.set_mfa_policy(tenant.admin, MfaPolicy.EVERYONE)
    assert await challenges.stage_after_password(viewer) == ChallengeStage.ENROL
    assert await challenges.stage_after_password(enrolled) == ChallengeStage.MFA


async def test_policy_is_audited_and_needs_security_manage(tenant: Any, other_tenant: Any) -> None:
    _, approver = await tenant.user("approver")
    with pytest.raises(Forbidden):
        await mfa.set_mfa_policy(approver, "everyone")
    with pytest.raises(Invalid) as exc:
        await mfa.set_mfa_policy(tenant.admin, "sometimes")
    assert exc.value.field == "policy"
    assert await mfa.set_mfa_policy(tenant.admin, "everyone") == MfaPolicy.EVERYONE
    assert await mfa.set_mfa_policy(tenant.admin, "everyone") == MfaPolicy.EVERYONE  # no change
    await mfa.set_mfa_policy(tenant.admin, "privileged")

    changes = await events(tenant.org_id, "security.mfa_policy")
    assert [(e.old_values, e.new_values) for e in changes] == [
        ('{"mfa_policy":"optional"}', '{"mfa_policy":"everyone"}'),
        ('{"mfa_policy":"everyone"}', '{"mfa_policy":"privileged"}'),
    ]
    assert await mfa.mfa_policy(tenant.admin) == MfaPolicy.PRIVILEGED
    assert await mfa.mfa_policy(other_tenant.admin) == MfaPolicy.OPTIONAL  # theirs is untouched
    assert await OrgSecurity.filter(org_id=other_tenant.org_id).count() == 0


async def test_regenerating_recovery_codes_needs_a_current_code(tenant: Any) -> None:
    user, me = await tenant.user("analyst")
    secret, old = await enrol(me)
    with pytest.raises(Invalid):
        await mfa.regenerate_recovery_codes(me, "000000")
    with pytest.raises(Invalid):  # a recovery code is not a current code
        await mfa.regenerate_recovery_codes(me, old[0])
    await steady()
    new = await mfa.regenerate_recovery_codes(me, code_at(secret))
    assert len(new) == 10 and not set(new) & set(old)
    assert await RecoveryCode.filter(user_id=user.id).count() == 10
    with pytest.raises(Invalid):  # that code was used: never accepted twice
        await mfa.regenerate_recovery_codes(me, code_at(secret))
    [event] = await events(tenant.org_id, "mfa.recovery_codes_regenerated")
    assert not any(c in event.new_values for c in new)


async def test_disabling_needs_a_code_and_is_refused_under_the_policy(tenant: Any) -> None:
    user, me = await tenant.user("approver")
    secret, _ = await enrol(me)
    await mfa.set_mfa_policy(tenant.admin, "privileged")
    await steady()
    with pytest.raises(Forbidden):
        await mfa.disable(me, code_at(secret))
    await mfa.set_mfa_policy(tenant.admin, "optional")
    with pytest.raises(Invalid):
        await mfa.disable(me, "123")
    await mfa.disable(me, code_at(secret, 1))

    assert not (await User.get(id=user.id)).mfa_enabled
    assert not await MfaFactor.filter(user_id=user.id).exists()
    assert not await RecoveryCode.filter(user_id=user.id).exists()
    assert len(await events(tenant.org_id, "mfa.disabled")) == 1
    with pytest.raises(Conflict):
        await mfa.disable(me, code_at(secret, 1))


async def test_admin_reset_removes_the_factor_and_revokes_sessions(
    db: Any, tenant: Any, other_tenant: Any
) -> None:
    user, me = await tenant.user("analyst")
    await enrol(me)
    await start_session(db.settings, await User.get(id=user.id), ClientInfo())
    _, analyst = await tenant.user("analyst")

    with pytest.raises(Forbidden):
        await mfa.reset_mfa(analyst, user.id)
    with pytest.raises(NotFound) as foreign:
        await mfa.reset_mfa(other_tenant.admin, user.id)
    with pytest.raises(NotFound) as missing:
        await mfa.reset_mfa(other_tenant.admin, 2**31 - 2)
    assert foreign.value.message.replace(str(user.id), "N") == missing.value.message.replace(
        str(2**31 - 2), "N"
    )
    assert (await User.get(id=user.id)).mfa_enabled

    await mfa.reset_mfa(tenant.admin, str(user.id))
    assert not (await User.get(id=user.id)).mfa_enabled
    assert not await MfaFactor.filter(user_id=user.id).exists()
    assert not await RecoveryCode.filter(user_id=user.id).exists()
    assert not await Session.filter(user_id=user.id, revoked_at=None).exists()
    [event] = await events(tenant.org_id, "mfa.reset")
    assert event.risk_level == "high" and '"sessions_revoked":1' in event.new_values
    with pytest.raises(Invalid):  # nothing left to reset
        await mfa.reset_mfa(tenant.admin, user.id)


async def test_wrong_codes_are_rate_limited_per_account(db: Any, tenant: Any) -> None:
    _, me = await tenant.user("analyst")
    secret, _ = await enrol(me)
    limit = db.settings.login_max_failures_per_account

    async def attempt() -> str:
        try:
            await mfa.regenerate_recovery_codes(me, "000000")
        except RateLimited as exc:
            assert exc.retry_after > 0
            return "429"
        except Invalid:
            return "422"
        return "200"

    results = await asyncio.gather(*(attempt() for _ in range(limit + 5)))
    assert results.count("422") == limit and results.count("429") == 5
    await steady()
    with pytest.raises(RateLimited):  # the right code too, until the window passes
        await mfa.regenerate_recovery_codes(me, code_at(secret))


async def test_cli_resets_mfa(tenant: Any) -> None:
    user, me = await tenant.user("analyst")
    await enrol(me)
    said = await reset_mfa_of(tenant.slug, user.email.upper())
    assert "Reset the multi-factor authentication" in said and user.email in said
    assert not (await User.get(id=user.id)).mfa_enabled
    [event] = await events(tenant.org_id, "mfa.reset")
    assert event.actor_type == "system"
    with pytest.raises(CliError, match="nothing to reset"):
        await reset_mfa_of(tenant.slug, user.email)
    with pytest.raises(CliError, match="no user"):
        await reset_mfa_of(tenant.slug, "nobody@example.test")
    with pytest.raises(CliError, match="no organization"):
        await reset_mfa_of("no-such-org-xyz", user.email)


def test_pyotp_agrees_with_rfc_6238() -> None:
    # RFC 6238 appendix B, SHA-1, 8 digits cut to pyotp's: our settings are pyotp's defaults.
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of "12345678901234567890"
    assert pyotp.TOTP(secret, digits=8).at(59) == "94287082"
    assert pyotp.TOTP(secret, digits=8).at(1111111109) == "07081804"
