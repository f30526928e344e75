"""Pages for passwords: the invitation landing page and the reset page (a one-time link sets the
password and signs in), "forgot password", and one's own password change. The admin's
invitation and reset buttons are on the users page (`riskops.ui.identity.admin`). Conventions are
in `riskops.ui.common`.

The pages of a one-time link and "forgot password" are for people who are not signed in: their
POSTs are written by hand like the login form's (`read_form` checks the pre-login cookie's CSRF
token first), and each refusal has its own status on the form."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from riskops.server.core.errors import Forbidden, Invalid, NotFound, RateLimited
from riskops.server.identity import links
from riskops.server.identity.models import LinkPurpose
from riskops.server.identity.sessions import LoginResult
from riskops.server.middleware import session_cookie
from riskops.server.web import client_info, read_form, settings_of
from riskops.ui.common.forms import back, form_text
from riskops.ui.common.posts import Refusal, Submission, form_post
from riskops.ui.common.rendering import page, render, render_error, signed_in
from riskops.ui.identity import pages

# A page that holds a one-time token in its address must not be cached, nor its address sent on
# to another site (the token is a password until it is used).
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def origin_of(request: Request) -> str:
    """Where links point when RISKOPS_BASE_URL is unset: the address this request came to."""
    return str(request.base_url).rstrip("/")


def signed_in_by(request: Request, result: LoginResult, nxt: str = "/") -> Response:
    """After a password was set through a link: the new session's cookie and on to `nxt`."""
    if result.session_secret is None:  # the second step, as after the login form
        return pages.second_step_redirect(request, result, nxt)
    response = RedirectResponse(nxt, status_code=303)
    cookie = session_cookie(result.session_secret, settings_of(request))
    response.raw_headers.append((b"set-cookie", cookie))
    return response


# ----------------------------------------------------------------------------- one-time links


def _invalid_link(request: Request, message: str) -> Response:
    return render_error(request, 404, message, headers=PRIVATE)


def _link_page(
    request: Request,
    info: links.LinkInfo,
    *,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    ctx = {"info": info, "invitation": info.purpose == LinkPurpose.INVITATION,
           "action": request.url.path, "errors": errors or {},
           "min_length": settings_of(request).password_min_length}  # fmt: skip
    return render(request, "identity/set_password.html", ctx, status, headers=PRIVATE)


async def _info(request: Request) -> links.LinkInfo:
    """The link of the address, or NotFound: an invitation under /reset-password/ (or the
    reverse) is no link of that page."""
    info = await links.link_info(str(request.path_params["token"]))
    wanted = "/invite/" if info.purpose == LinkPurpose.INVITATION else "/reset-password/"
    if not request.url.path.startswith(wanted):
        raise NotFound(links.NOT_VALID, kind="link")
    return info


@page
async def link_form(request: Request) -> Response:
    try:
        info = await _info(request)
    except NotFound as exc:
        return _invalid_link(request, exc.message)
    return _link_page(request, info)


# Not a `form_post`: the person is not signed in yet (the link is who they are).
@page
async def link_submit(request: Request) -> Response:
    form = await read_form(request)
    token = str(request.path_params["token"])
    password, again = form.get("password"), form.get("password_again")
    try:
        info = await _info(request)
    except NotFound as exc:
        return _invalid_link(request, exc.message)
    if isinstance(password, str) and password and password != again:
        errors = {"password_again": "The two passwords differ; type the same one twice."}
        return _link_page(request, info, errors=errors, status=422)
    try:
        result = await links.redeem(
            settings_of(request), token, password if isinstance(password, str) else "",
            client_info(request),
        )  # fmt: skip
    except NotFound as exc:  # used in another tab meanwhile
        return _invalid_link(request, exc.message)
    except Invalid as exc:
        field = "password" if exc.field == "password" else "_form"
        return _link_page(request, info, errors={field: exc.message}, status=422)
    except Forbidden as exc:
        return _link_page(request, info, errors={"_form": exc.message}, status=403)
    return signed_in_by(request, result)


# ----------------------------------------------------------------------------- forgot password


def _forgot_page(
    request: Request,
    *,
    email: str = "",
    sent: bool = False,
    error: str | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    ctx = {"email": email, "sent": sent, "error": error,
           "reset_minutes": settings_of(request).reset_link_minutes}  # fmt: skip
    return render(request, "identity/forgot_password.html", ctx, status, headers=headers)


@page
async def forgot_form(request: Request) -> Response:
    return _forgot_page(request)


# Not a `form_post`: nobody is signed in. The answer is the same whether or not the address
# belongs to an account.
@page
async def forgot_submit(request: Request) -> Response:
    form = await read_form(request)
    email = form_text(form, "email")
    try:
        await links.forgot_password(settings_of(request), email, client_info(request))
    except RateLimited as exc:
        at = datetime.now(UTC) + timedelta(seconds=exc.retry_after)
        message = f"{exc.message} You can ask again after {at:%H:%M} UTC."
        return _forgot_page(request, email=email, error=message, status=429,
                            headers={"Retry-After": str(exc.retry_after)})  # fmt: skip
    except Invalid as exc:
        return _forgot_page(request, email=email, error=exc.message, status=422)
    return _forgot_page(request, email=email, sent=True)


# ----------------------------------------------------------------------------- own password

CHANGE_FIELDS = {"current": "current", "new": "new"}


def _password_page(
    request: Request, *, errors: Mapping[str, str] | None = None, status: int = 200
) -> Response:
    ctx = {"errors": errors or {}, "min_length": settings_of(request).password_min_length}
    return render(request, "identity/password.html", ctx, status)


@page
async def password_form(request: Request) -> Response:
    signed_in(request)
    return _password_page(request)


async def _change_refused(sub: Submission, refusal: Refusal) -> Response:
    # Nothing typed is shown again: they are passwords.
    return _password_page(sub.request, errors=refusal.errors, status=refusal.status)


@form_post(_change_refused, fields=CHANGE_FIELDS)
async def password_change(sub: Submission) -> Response:
    new = sub.form.get("new")
    if isinstance(new, str) and new and new != sub.form.get("new_again"):
        return _password_page(
            sub.request, status=422,
            errors={"new_again": "The two new passwords differ; type the same one twice."},
        )  # fmt: skip
    current = sub.form.get("current")
    try:
        await links.change_password(
            sub.principal,
            current if isinstance(current, str) else "",
            new if isinstance(new, str) else "",
        )
    except RateLimited as exc:
        return _password_page(sub.request, errors={"_form": exc.message}, status=429)
    return back("/account/password", "password.changed")


routes: list[Route] = [
    Route("/invite/{token}", link_form, methods=["GET"]),
    Route("/invite/{token}", link_submit, methods=["POST"]),
    Route("/reset-password/{token}", link_form, methods=["GET"]),
    Route("/reset-password/{token}", link_submit, methods=["POST"]),
    Route("/forgot-password", forgot_form, methods=["GET"]),
    Route("/forgot-password", forgot_submit, methods=["POST"]),
    Route("/account/password", password_form, methods=["GET"]),
    Route("/account/password", password_change, methods=["POST"]),
]
