"""Pages for signing in and out and one's own sessions (the home page is `riskops.ui.work`).
Conventions are in `riskops.ui.common`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from riskops.server.core.errors import (
    Forbidden,
    RateLimited,
    Unauthenticated,
)
from riskops.server.core.principal import Principal
from riskops.server.identity import auth, mfa, sso, tokens
from riskops.server.identity.models import ChallengeStage
from riskops.server.middleware import challenge_cookie, clear_session_cookie, session_cookie
from riskops.server.web import client_info, principal_of, read_form, settings_of
from riskops.ui.common.forms import (
    back,
    form_text,
    form_texts,
    int_or_none,
    local_path,
)
from riskops.ui.common.posts import FieldErrors, Refusal, Submission, form_post
from riskops.ui.common.rendering import (
    page,
    render,
    signed_in,
)


def _login_page(
    request: Request,
    *,
    email: str = "",
    nxt: str = "/",
    error: str | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    sso_button: bool = False,
) -> Response:
    ctx = {"email": email, "next": nxt, "error": error, "sso": sso_button}
    return render(request, "identity/login.html", ctx, status, headers=headers)


@page
async def login_form(request: Request) -> Response:
    nxt = local_path(request.query_params.get("next"))
    if principal_of(request) is not None:
        return RedirectResponse(nxt, status_code=303)
    return _login_page(request, nxt=nxt, sso_button=await sso.available())


# Not a `form_post`: nobody is signed in yet, and each refusal (wrong password, rate limit,
# suspended account) has its own status and headers on the login form.
@page
async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    settings = settings_of(request)
    email, password = form_text(form, "email"), form.get("password")
    nxt = local_path(form_text(form, "next"))
    has_sso = await sso.available()  # the refusals below show the "Sign in with SSO" button
    try:
        result = await auth.login(
            settings, email, password if isinstance(password, str) else "", client_info(request)
        )
    except RateLimited as exc:
        at = datetime.now(UTC) + timedelta(seconds=exc.retry_after)
        message = f"{exc.message} You can try again after {at:%H:%M:%S} UTC."
        headers = {"Retry-After": str(exc.retry_after)}
        return _login_page(request, email=email, nxt=nxt, error=message, status=429,
                           headers=headers, sso_button=has_sso)  # fmt: skip
    except Unauthenticated as exc:
        return _login_page(request, email=email, nxt=nxt, error=exc.message, status=401,
                           sso_button=has_sso)  # fmt: skip
    except Forbidden as exc:
        return _login_page(request, email=email, nxt=nxt, error=exc.message, status=403,
                           sso_button=has_sso)  # fmt: skip
    if result.session_secret is None:
        return second_step_redirect(request, result, nxt)
    response = RedirectResponse(nxt, status_code=303)
    response.raw_headers.append((b"set-cookie", session_cookie(result.session_secret, settings)))
    return response


def second_step_redirect(request: Request, result: auth.LoginResult, nxt: str) -> Response:
    """To the second step a right password (or SSO) leads to, holding its challenge cookie:
    `/login/code` for a TOTP or recovery code, `/login/enrol` when MFA must be set up first."""
    assert result.challenge_secret is not None
    where = "/login/enrol" if result.stage == ChallengeStage.ENROL else "/login/code"
    target = where if nxt == "/" else f"{where}?{urlencode({'next': nxt})}"
    response = RedirectResponse(target, status_code=303)
    cookie = challenge_cookie(result.challenge_secret, settings_of(request))
    response.raw_headers.append((b"set-cookie", cookie))
    return response


def _signed_out(request: Request, code: str) -> Response:
    response = back("/login", code)
    response.raw_headers.append((b"set-cookie", clear_session_cookie(settings_of(request))))
    return response


# Not a `form_post`: signing out must work for a session that has already ended (no principal,
# no login redirect), and it has nothing to show inline.
@page
async def logout(request: Request) -> Response:
    await read_form(request)
    principal = principal_of(request)
    if principal is not None:
        await auth.logout(principal)
    return _signed_out(request, "signed_out")


@page
async def my_sessions(request: Request) -> Response:
    principal = signed_in(request)
    sessions = await auth.list_sessions(principal, principal.user_id)
    return render(request, "identity/sessions.html", {"sessions": sessions})


# Nothing to show inline: a refusal is the error page. Signing out works during maintenance.
@form_post(None, during_maintenance=True)
async def sign_out_everywhere(sub: Submission) -> Response:
    await auth.revoke_sessions(sub.principal, sub.principal.user_id)
    return _signed_out(sub.request, "signed_out_everywhere")


# ----------------------------------------------------------------------------- own API tokens


async def _tokens_page(
    request: Request,
    principal: Principal,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, Any] | None = None,
    issued: tokens.IssuedToken | None = None,
) -> Response:
    ctx = {
        "tokens": await tokens.list_tokens(principal, mine=True),
        "my_roles": sorted(principal.roles),
        "errors": errors or {},
        "form": form or {"name": "", "roles": [], "expires_in_days": tokens.DEFAULT_TOKEN_DAYS},
        "issued": issued,
        "now": datetime.now(UTC),
        "my_mfa": (await mfa.status(principal)).enabled,
    }
    # The page with a fresh secret must never be cached or replayed from a cache.
    headers = {"Cache-Control": "no-store"} if issued else None
    return render(request, "identity/tokens.html", ctx, status, headers=headers)


@page
async def my_tokens(request: Request) -> Response:
    return await _tokens_page(request, signed_in(request))


TOKEN_FIELDS = {"name": "name", "roles": "roles", "expiresInDays": "expires_in_days"}


def _new_token(form: FormData) -> dict[str, Any]:
    return {
        "name": form_text(form, "name"),
        "roles": form_texts(form, "roles"),
        "expires_in_days": form_text(form, "expires_in_days"),
    }


async def _token_refused(sub: Submission, refusal: Refusal) -> Response:
    return await _tokens_page(sub.request, sub.principal, status=refusal.status,
                              errors=refusal.errors, form=sub.values)  # fmt: skip


def token_days(values: Mapping[str, Any]) -> int | None:
    """The new token form's "Expires in (days)": empty is the default, else a whole number
    (not a service rule: text that is not a number cannot even be passed on)."""
    text = values["expires_in_days"]
    days = int_or_none(text) if text else None
    if text and days is None:
        raise FieldErrors({"expires_in_days": "Expires in (days): enter a whole number of days."})
    return days


@form_post(_token_refused, keep=_new_token, fields=TOKEN_FIELDS)
async def my_token_create(sub: Submission) -> Response:
    values = sub.values
    days = token_days(values)
    issued = await tokens.create_api_token(
        sub.principal, name=values["name"], roles=values["roles"], expires_in_days=days
    )
    # The secret exists only now: shown on this response, once, never behind a redirect.
    return await _tokens_page(sub.request, sub.principal, status=201, issued=issued)


# Nothing to show inline: a refusal is the error page.
@form_post(None)
async def my_token_revoke(sub: Submission) -> Response:
    await tokens.revoke_api_token(sub.principal, sub.param("token_id"), mine=True)
    return back("/tokens", "token.revoked")


routes: list[Route] = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/sessions", my_sessions, methods=["GET"]),
    Route("/sessions/revoke", sign_out_everywhere, methods=["POST"]),
    Route("/tokens", my_tokens, methods=["GET"]),
    Route("/tokens", my_token_create, methods=["POST"]),
    Route("/tokens/{token_id}/revoke", my_token_revoke, methods=["POST"]),
]
