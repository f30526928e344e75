"""Pages of multi-factor authentication: the second login step (`/login/code`: a TOTP or a
recovery code; `/login/enrol`: set it up first when the organization requires it), one's own
MFA (`/account/mfa`: set up, new recovery codes, turn off), an admin's "Reset MFA" on the users
page and the organization's MFA policy (`/admin/security`). Conventions are in
`riskops.ui.common`; the rules are `riskops.server.identity.mfa`'s."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from riskops.server.core.errors import Conflict, Invalid, RateLimited, Unauthenticated
from riskops.server.core.principal import Principal
from riskops.server.identity import challenges, mfa, mfa_login
from riskops.server.identity.models import ChallengeStage
from riskops.server.middleware import clear_challenge_cookie, session_cookie
from riskops.server.web import CHALLENGE_COOKIE, client_info, read_form, settings_of
from riskops.ui.common.forms import back, form_text, local_path
from riskops.ui.common.posts import Refusal, Submission, form_post
from riskops.ui.common.rendering import page, render, signed_in
from riskops.ui.identity import security_page
from riskops.ui.identity.admin import _row_refused
from riskops.ui.identity.pages import _login_page, _signed_out

NO_STORE = {"Cache-Control": "no-store"}  # pages with a secret or recovery codes


# ----------------------------------------------------------------------------- the second step


def _challenge(request: Request) -> str | None:
    return request.cookies.get(CHALLENGE_COOKIE)


def _next(request: Request, form: Any = None) -> str:
    raw = form_text(form, "next") if form is not None else request.query_params.get("next")
    return local_path(raw)


def _stage_path(where: str, nxt: str) -> str:
    return where if nxt == "/" else f"{where}?{urlencode({'next': nxt})}"


def _gone(request: Request, exc: Unauthenticated, nxt: str) -> Response:
    """The challenge expired or was used: back to the password, saying so."""
    response = _login_page(request, nxt=nxt, error=exc.message, status=401)
    response.raw_headers.append((b"set-cookie", clear_challenge_cookie(settings_of(request))))
    return response


def _rate_limited(exc: RateLimited) -> tuple[str, dict[str, str]]:
    at = datetime.now(UTC) + timedelta(seconds=exc.retry_after)
    return (f"{exc.message} You can try again after {at:%H:%M:%S} UTC.",
            {"Retry-After": str(exc.retry_after)})  # fmt: skip


def _signed_in(request: Request, response: Response, session_secret: str) -> Response:
    settings = settings_of(request)
    response.raw_headers.append((b"set-cookie", session_cookie(session_secret, settings)))
    response.raw_headers.append((b"set-cookie", clear_challenge_cookie(settings)))
    return response


def _code_page(
    request: Request, nxt: str, *, error: str | None = None, status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:  # fmt: skip
    ctx = {"next": nxt, "error": error}
    return render(request, "identity/login_code.html", ctx, status, headers=headers)


@page
async def code_form(request: Request) -> Response:
    nxt = _next(request)
    try:
        stage = await challenges.challenge_stage(_challenge(request))
    except Unauthenticated as exc:
        return _gone(request, exc, nxt)
    if stage == ChallengeStage.ENROL:  # set up first: the code step is not open yet
        return RedirectResponse(_stage_path("/login/enrol", nxt), status_code=303)
    return _code_page(request, nxt)


# Not a `form_post`: nobody is signed in yet (like the password step).
@page
async def code_submit(request: Request) -> Response:
    form = await read_form(request)
    nxt = _next(request, form)
    try:
        result = await mfa_login.second_step(
            settings_of(request), _challenge(request), form_text(form, "code"),
            client_info(request),
        )  # fmt: skip
    except RateLimited as exc:
        message, headers = _rate_limited(exc)
        return _code_page(request, nxt, error=message, status=429, headers=headers)
    except Unauthenticated as exc:
        if exc.field != "code":
            return _gone(request, exc, nxt)
        return _code_page(request, nxt, error=exc.message, status=401)
    assert result.session_secret is not None
    return _signed_in(request, RedirectResponse(nxt, status_code=303), result.session_secret)


def _enrol_page(
    request: Request,
    enrolment: mfa.Enrolment,
    *,
    action: str,
    nxt: str = "/",
    error: str | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    ctx = {"enrolment": enrolment, "action": action, "next": nxt, "error": error,
           "at_login": action.startswith("/login")}  # fmt: skip
    return render(request, "identity/mfa_enrol.html", ctx, status,
                  headers={**NO_STORE, **(headers or {})})  # fmt: skip


def _codes_page(
    request: Request, codes: list[str], *, nxt: str, at_login: bool, status: int = 200
) -> Response:
    ctx = {"codes": codes, "next": nxt, "at_login": at_login}
    return render(request, "identity/mfa_codes.html", ctx, status, headers=NO_STORE)


@page
async def enrol_form(request: Request) -> Response:
    nxt = _next(request)
    try:
        if await challenges.challenge_stage(_challenge(request)) == ChallengeStage.MFA:
            return RedirectResponse(_stage_path("/login/code", nxt), status_code=303)
        enrolment = await mfa_login.login_enrolment(_challenge(request))
    except Unauthenticated as exc:
        return _gone(request, exc, nxt)
    return _enrol_page(request, enrolment, action="/login/enrol", nxt=nxt)


@page
async def enrol_submit(request: Request) -> Response:
    form = await read_form(request)
    nxt = _next(request, form)
    secret = _challenge(request)
    try:
        result, codes = await mfa_login.login_enrol_confirm(
            settings_of(request), secret, form_text(form, "code"), client_info(request)
        )
    except Unauthenticated as exc:
        return _gone(request, exc, nxt)
    except (RateLimited, Invalid, Conflict) as exc:
        try:
            enrolment = await mfa_login.login_enrolment(secret)
        except Unauthenticated as gone:
            return _gone(request, gone, nxt)
        if isinstance(exc, RateLimited):
            message, headers = _rate_limited(exc)
            return _enrol_page(request, enrolment, action="/login/enrol", nxt=nxt,
                               error=message, status=429, headers=headers)  # fmt: skip
        return _enrol_page(request, enrolment, action="/login/enrol", nxt=nxt,
                           error=exc.message, status=422)  # fmt: skip
    assert result.session_secret is not None
    response = _codes_page(request, codes, nxt=nxt, at_login=True, status=201)
    return _signed_in(request, response, result.session_secret)


# ----------------------------------------------------------------------------- one's own MFA


T = TypeVar("T")
CODE_FIELD = {"code": "code"}


async def _counted(change: Awaitable[T]) -> T:
    """A change that needs a current code: past the limit of wrong codes, the refusal is shown
    in the form like a wrong code (with when to try again)."""
    try:
        return await change
    except RateLimited as exc:
        raise Invalid(_rate_limited(exc)[0], field="code") from None


async def _account_page(
    request: Request,
    principal: Principal,
    *,
    status: int = 200,
    form: str = "",
    errors: Mapping[str, str] | None = None,
) -> Response:
    ctx = {"mfa": await mfa.status(principal), "form": form, "errors": errors or {}}
    return render(request, "identity/account_mfa.html", ctx, status)


@page
async def account(request: Request) -> Response:
    return await _account_page(request, signed_in(request))


async def _account_refused(sub: Submission, refusal: Refusal) -> Response:
    return await _account_page(sub.request, sub.principal, status=refusal.status,
                               form=sub.name, errors=refusal.errors)  # fmt: skip


async def _enrol_refused(sub: Submission, refusal: Refusal) -> Response:
    enrolment = await mfa.enrol_start(sub.principal)
    message = refusal.errors.get("code") or refusal.message
    return _enrol_page(sub.request, enrolment, action="/account/mfa/confirm", error=message,
                       status=refusal.status)  # fmt: skip


@form_post(_account_refused, name="enrol")
async def account_enrol(sub: Submission) -> Response:
    enrolment = await mfa.enrol_start(sub.principal)
    return _enrol_page(sub.request, enrolment, action="/account/mfa/confirm")


@form_post(_enrol_refused, fields=CODE_FIELD, stale=lambda exc: False)
async def account_confirm(sub: Submission) -> Response:
    codes = await _counted(mfa.enrol_confirm(sub.principal, sub.text("code")))
    return _codes_page(sub.request, codes, nxt="/account/mfa", at_login=False, status=201)


@form_post(_account_refused, name="regenerate", fields=CODE_FIELD, stale=lambda exc: False)
async def account_regenerate(sub: Submission) -> Response:
    codes = await _counted(mfa.regenerate_recovery_codes(sub.principal, sub.text("code")))
    return _codes_page(sub.request, codes, nxt="/account/mfa", at_login=False, status=201)


@form_post(_account_refused, name="disable", fields=CODE_FIELD, stale=lambda exc: False)
async def account_disable(sub: Submission) -> Response:
    await _counted(mfa.disable(sub.principal, sub.text("code")))
    return back("/account/mfa", "mfa.disabled")


# ----------------------------------------------------------------------------- admin


@form_post(_row_refused)
async def user_mfa_reset(sub: Submission) -> Response:
    user_id = sub.param("user_id")
    await mfa.reset_mfa(sub.principal, user_id)
    if user_id == str(sub.principal.user_id):  # that revoked this very session
        return _signed_out(sub.request, "signed_out_everywhere")
    return back("/admin/users", "user.mfa_reset")


@page
async def security(request: Request) -> Response:
    return await security_page.security_page(request, signed_in(request))


async def _policy_refused(sub: Submission, refusal: Refusal) -> Response:
    return await security_page.security_page(sub.request, sub.principal, status=refusal.status,
                                errors=refusal.errors)  # fmt: skip


@form_post(_policy_refused, fields={"policy": "policy"})
async def security_mfa(sub: Submission) -> Response:
    await mfa.set_mfa_policy(sub.principal, sub.text("policy"))
    return back("/admin/security", "security.mfa_policy")


routes: list[Route] = [
    Route("/login/code", code_form, methods=["GET"]),
    Route("/login/code", code_submit, methods=["POST"]),
    Route("/login/enrol", enrol_form, methods=["GET"]),
    Route("/login/enrol", enrol_submit, methods=["POST"]),
    Route("/account/mfa", account, methods=["GET"]),
    Route("/account/mfa/enrol", account_enrol, methods=["POST"]),
    Route("/account/mfa/confirm", account_confirm, methods=["POST"]),
    Route("/account/mfa/recovery-codes", account_regenerate, methods=["POST"]),
    Route("/account/mfa/disable", account_disable, methods=["POST"]),
    Route("/admin/users/{user_id}/mfa/reset", user_mfa_reset, methods=["POST"]),
    Route("/admin/security", security, methods=["GET"]),
    Route("/admin/security/mfa", security_mfa, methods=["POST"]),
]
