"""The admin security page (`/admin/security`): the MFA policy (mfa_pages posts it) and the
"Single sign-on only" block (the SSO pages post it). Its own module so that neither of those
imports the other."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from riskops.server.core.principal import Principal
from riskops.server.identity import mfa, sso, users
from riskops.server.identity.models import MfaPolicy, UserKind
from riskops.server.identity.org_security import policy_of
from riskops.ui.common.rendering import render


async def security_context(
    principal: Principal,
    *,
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What the security page's "Single sign-on only" block shows (`mfa_pages` renders the
    page): the SSO configuration, the admins who may be the break-glass one, the form."""
    config = await sso.get_config(principal)  # security.manage
    policy = await policy_of(principal.org_id)
    people = await users.list_users(principal, include_suspended=False)
    admins = [u for u in people if u.kind == UserKind.PERSON and "admin" in u.roles]
    current = {"sso_only": bool(policy and policy.sso_only),
               "break_glass": str(policy.break_glass_user_id or "") if policy else ""}  # fmt: skip
    return {"sso_config": config, "admins": admins, "sso_errors": errors or {},
            "sso_form": form or current}  # fmt: skip


POLICIES = [
    (MfaPolicy.OPTIONAL, "Optional", "Each person chooses whether to use it."),
    (
        MfaPolicy.PRIVILEGED,
        "Privileged roles",
        "Required of admins and approvers; optional for everyone else.",
    ),
    (MfaPolicy.EVERYONE, "Everyone", "Required of every person (service accounts never sign in)."),
]


async def security_page(
    request: Request,
    principal: Principal,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    sso_errors: Mapping[str, str] | None = None,
    sso_form: Mapping[str, Any] | None = None,
) -> Response:
    ctx = {"mfa_policy": await mfa.mfa_policy(principal), "policies": POLICIES,
           "mfa_errors": errors or {}}  # fmt: skip
    # the "Single sign-on only" block (h/sso)
    ctx |= await security_context(principal, errors=sso_errors, form=sso_form)
    return render(request, "identity/admin/security.html", ctx, status)
