"""Single sign-on pages: finding one's organization's sign-in (`/login/sso`), starting it
(`/login/sso/<org slug>`), the provider's way back (`/login/sso/callback`), the admin's settings
with "Test connection" (`/admin/sso`) and "SSO only" with the break-glass admin
(`/admin/security`). Conventions are in `riskops.ui.common`.

Starting a sign-in is a link, never a form: the pages' CSP (`form-action 'self'`) would stop a
form's redirect to the provider."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from riskops.server.core.errors import Forbidden, NotFound, Unauthenticated
from riskops.server.core.principal import Principal
from riskops.server.identity import sso
from riskops.server.middleware import _cookie, session_cookie
from riskops.server.web import client_info, settings_of
from riskops.ui.common.forms import back, form_text, form_texts, local_path
from riskops.ui.common.posts import FieldErrors, Refusal, Submission, form_post
from riskops.ui.common.rendering import page, render, signed_in
from riskops.ui.identity import security_page
from riskops.ui.identity.pages import second_step_redirect

# Binds an attempt to the browser that started it (`SsoLogin.browser_hash`); shared by the
# attempts in flight in one browser, so two tabs signing in at once both complete.
SSO_COOKIE = "riskops_sso"


def redirect_uri(request: Request) -> str:
    """Where the provider sends the browser back: RISKOPS_BASE_URL's, else this request's."""
    base = settings_of(request).base_url.rstrip("/") or str(request.base_url).rstrip("/")
    return base + sso.CALLBACK_PATH


def _finder(
    request: Request, *, email: str = "", found: Any = None, error: str | None = None,
    status: int = 200,
) -> Response:  # fmt: skip
    ctx = {"email": email, "found": found, "error": error,
           "next": local_path(request.query_params.get("next"))}  # fmt: skip
    return render(request, "identity/sso_finder.html", ctx, status)


@page
async def sso_finder(request: Request) -> Response:
    """Which organization's sign-in: by the e-mail address's domain (a page with the link to
    follow; a form's redirect to the provider would be blocked by the CSP)."""
    email = (request.query_params.get("email") or "").strip()[:254]
    if not email:
        return _finder(request)
    org = await sso.org_for_email(email)
    if org is None:
        message = (f"No organization signs in through single sign-on with addresses like "
                   f"{email}. Sign in with your password, or ask an admin for your "
                   "organization's sign-in link.")  # fmt: skip
        return _finder(request, email=email, error=message, status=404)
    return _finder(request, email=email, found=org)


@page
async def sso_start(request: Request) -> Response:
    settings = settings_of(request)
    nxt = local_path(request.query_params.get("next"))
    try:
        start = await sso.begin(
            settings, request.path_params["org_slug"], nxt,
            browser_secret=request.cookies.get(SSO_COOKIE), redirect_uri=redirect_uri(request),
        )  # fmt: skip
    except (NotFound, Unauthenticated) as exc:
        return _finder(request, error=exc.message, status=404 if isinstance(exc, NotFound) else 502)
    response = RedirectResponse(start.redirect_url, status_code=303)
    max_age = settings.login_challenge_minutes * 60
    cookie = _cookie(SSO_COOKIE, start.browser_secret, settings, max_age=max_age)
    response.raw_headers.append((b"set-cookie", cookie))
    response.headers["Cache-Control"] = "no-store"
    return response


@page
async def sso_callback(request: Request) -> Response:
    settings = settings_of(request)
    params = {k: v for k, v in request.query_params.items() if len(v) <= 4000}
    try:
        result = await sso.complete(
            settings, params, request.cookies.get(SSO_COOKIE), client_info(request),
            redirect_uri=redirect_uri(request),
        )  # fmt: skip
    except (Unauthenticated, Forbidden) as exc:
        status = 401 if isinstance(exc, Unauthenticated) else 403
        ctx = {"email": "", "next": "/", "error": exc.message, "sso": True}
        return render(request, "identity/login.html", ctx, status)
    if result.session_secret is None:  # the MFA step follows single sign-on too
        return second_step_redirect(request, result, local_path(result.next_path))
    response = RedirectResponse(local_path(result.next_path), status_code=303)
    response.raw_headers.append((b"set-cookie", session_cookie(result.session_secret, settings)))
    return response


# ----------------------------------------------------------------------------- admin: SSO

CONFIG_FIELDS = {
    "issuer": "issuer", "clientId": "client_id", "clientSecret": "client_secret",
    "scopes": "scopes", "allowedDomain": "allowed_domain", "roleClaim": "role_claim",
    "roleMapping": "role_mapping", "defaultRoles": "default_roles", "enabled": "enabled",
    "expected_version": "_form",
}  # fmt: skip


def mapping_text(mapping: Mapping[str, list[str]]) -> str:
    return "\n".join(f"{value} = {', '.join(roles)}" for value, roles in mapping.items())


def parse_mapping(text: str) -> dict[str, list[str]]:
    """The role mapping typed as lines `claim value = role, role`."""
    mapping: dict[str, list[str]] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        value, sep, roles = line.partition("=")
        if not sep or not value.strip():
            raise FieldErrors({"role_mapping": (
                f"Role mapping, line {n}: write it as `group name = role, role` "
                "(like risk-analysts = operator)."
            )})  # fmt: skip
        mapping[value.strip()] = [r.strip() for r in roles.split(",") if r.strip()]
    return mapping


def _config_form(config: Any) -> dict[str, Any]:
    if config is None:
        return {"issuer": "", "client_id": "", "scopes": "openid email profile",
                "allowed_domain": "", "role_claim": "groups", "role_mapping": "",
                "default_roles": [], "enabled": True, "version": ""}  # fmt: skip
    return {"issuer": config.issuer, "client_id": config.client_id, "scopes": config.scopes,
            "allowed_domain": config.allowed_domain or "", "role_claim": config.role_claim,
            "role_mapping": mapping_text(config.role_mapping),
            "default_roles": list(config.default_roles), "enabled": config.enabled,
            "version": str(config.version)}  # fmt: skip


async def _sso_page(
    request: Request, principal: Principal, *, status: int = 200,
    errors: Mapping[str, str] | None = None, form: Mapping[str, Any] | None = None,
    checks: list[sso.Check] | None = None,
) -> Response:  # fmt: skip
    config = await sso.get_config(principal)
    ctx = {
        "config": config,
        "form": form or _config_form(config),
        "errors": errors or {},
        "checks": checks,
        "callback": redirect_uri(request),
    }
    return render(request, "identity/admin/sso.html", ctx, status)


@page
async def sso_settings(request: Request) -> Response:
    return await _sso_page(request, signed_in(request))


def _typed_config(form: FormData) -> dict[str, Any]:
    # The secret is never shown again, not even as typed.
    names = ("issuer", "client_id", "scopes", "allowed_domain", "role_claim", "version")
    typed = {name: form_text(form, name) for name in names}
    return {**typed, "role_mapping": str(form.get("role_mapping") or ""),
            "default_roles": form_texts(form, "default_roles"),
            "enabled": form.get("enabled") == "on"}  # fmt: skip


async def _config_refused(sub: Submission, refusal: Refusal) -> Response:
    return await _sso_page(sub.request, sub.principal, status=refusal.status,
                           errors=refusal.errors, form=sub.values)  # fmt: skip


@form_post(_config_refused, keep=_typed_config, fields=CONFIG_FIELDS)
async def sso_save(sub: Submission) -> Response:
    v = sub.values
    secret = sub.form.get("client_secret")
    version = v["version"]
    await sso.save_config(
        sub.principal,
        sso.ConfigInput(
            issuer=v["issuer"], client_id=v["client_id"],
            client_secret=secret if isinstance(secret, str) else None, scopes=v["scopes"],
            allowed_domain=v["allowed_domain"], role_claim=v["role_claim"],
            role_mapping=parse_mapping(v["role_mapping"]), default_roles=v["default_roles"],
            enabled=v["enabled"],
        ),
        expected_version=int(version) if version.isdigit() else None,
    )  # fmt: skip
    return back("/admin/sso", "sso.saved")


@form_post(_config_refused)
async def sso_test(sub: Submission) -> Response:
    try:
        checks = await sso.test_connection(sub.principal, redirect_uri=redirect_uri(sub.request))
    except NotFound as exc:
        checks = [sso.Check("Configuration", False, exc.message)]
    return await _sso_page(sub.request, sub.principal, checks=checks)


# ----------------------------------------------------------------------------- admin: security


def _typed_sso_only(form: FormData) -> dict[str, Any]:
    return {"sso_only": form.get("sso_only") == "on", "break_glass": form_text(form, "break_glass")}


async def _sso_only_refused(sub: Submission, refusal: Refusal) -> Response:
    return await security_page.security_page(sub.request, sub.principal, status=refusal.status,
                                sso_errors=refusal.errors, sso_form=sub.values)  # fmt: skip


SSO_ONLY_FIELDS = {"ssoOnly": "sso_only", "breakGlassUserId": "break_glass"}


@form_post(_sso_only_refused, keep=_typed_sso_only, fields=SSO_ONLY_FIELDS)
async def sso_only_save(sub: Submission) -> Response:
    on = sub.values["sso_only"]
    try:
        await sso.set_sso_only(sub.principal, on, sub.values["break_glass"] or None)
    except NotFound as exc:  # the break-glass admin chosen is not one of ours
        raise FieldErrors({"break_glass": exc.message}) from None
    return back("/admin/security", "sso.only_on" if on else "sso.only_off")


routes: list[Route] = [
    Route("/login/sso", sso_finder, methods=["GET"]),
    Route("/login/sso/callback", sso_callback, methods=["GET"]),
    Route("/login/sso/{org_slug}", sso_start, methods=["GET"]),
    Route("/admin/sso", sso_settings, methods=["GET"]),
    Route("/admin/sso", sso_save, methods=["POST"]),
    Route("/admin/sso/test", sso_test, methods=["POST"]),
    Route("/admin/security/sso-only", sso_only_save, methods=["POST"]),
]
