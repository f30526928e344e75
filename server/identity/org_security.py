"""The security policy of an organization (`OrgSecurity`): who must use multi-factor
authentication, and whether its people sign in through single sign-on only (except the one
break-glass admin). Read by login, MFA and SSO; changed by admins (`security.manage`)."""

from __future__ import annotations

from riskops.server.core.permissions import Role
from riskops.server.core.scoping import scoped
from riskops.server.identity.models import MfaPolicy, OrgSecurity, User

PRIVILEGED = frozenset({Role.ADMIN.value, Role.APPROVER.value})


async def policy_of(org_id: int) -> OrgSecurity | None:
    """The organization's policy row (None: the defaults, MFA optional and passwords allowed)."""
    return await scoped(OrgSecurity, org_id=org_id).first()


def mfa_required(policy: OrgSecurity | None, user: User) -> bool:
    """Whether this person must use MFA under the policy."""
    if policy is None or policy.mfa_policy == MfaPolicy.OPTIONAL:
        return False
    if policy.mfa_policy == MfaPolicy.EVERYONE:
        return True
    return bool(PRIVILEGED & set(user.roles))


def password_allowed(policy: OrgSecurity | None, user: User) -> bool:
    """False when the policy is SSO only and this is not its break-glass admin."""
    if policy is None or not policy.sso_only:
        return True
    return policy.break_glass_user_id == user.id


async def password_login_allowed(user: User) -> bool:
    """False when the organization signs in through SSO only and this is not its break-glass
    admin."""
    return password_allowed(await policy_of(user.org_id), user)
