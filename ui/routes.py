"""Pages for signing in, home, sessions, administration and the audit log; the route list of
every page module (alerts and cases live in `ui/alerts.py` and `ui/cases.py`). Conventions are in
`ui/common.py`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from riskops.audit.models import AuditEvent
from riskops.server.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    RateLimited,
    Unauthenticated,
)
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.identity import auth, teams, tokens, users
from riskops.server.identity.models import User
from riskops.server.middleware import clear_session_cookie, session_cookie
from riskops.server.operations import audit_log
from riskops.server.operations.audit_log import AuditFilter
from riskops.server.web import client_info, principal_of, read_form, settings_of
from riskops.ui import alerts as alert_pages
from riskops.ui import cases as case_pages
from riskops.ui import controls as control_pages
from riskops.ui import reports as report_pages
from riskops.ui import runs as run_pages
from riskops.ui import scenarios as scenario_pages
from riskops.ui.common import (
    AUDIT_FILTERS,
    AUDIT_PAGE_SIZE,
    FORM_ERRORS,
    PERM_TEXT,
    back,
    directory,
    form_errors,
    form_text,
    form_texts,
    fragment_of,
    int_or_none,
    local_path,
    page,
    parse_local,
    render,
    render_error,
    signed_in,
    status_of,
)

# ----------------------------------------------------------------------------- sign in and out


def _login_page(
    request: Request,
    *,
    email: str = "",
    nxt: str = "/",
    error: str | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    ctx = {"email": email, "next": nxt, "error": error}
    return render(request, "login.html", ctx, status, headers=headers)


@page
async def login_form(request: Request) -> Response:
    nxt = local_path(request.query_params.get("next"))
    if principal_of(request) is not None:
        return RedirectResponse(nxt, status_code=303)
    return _login_page(request, nxt=nxt)


@page
async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    settings = settings_of(request)
    email, password = form_text(form, "email"), form.get("password")
    nxt = local_path(form_text(form, "next"))
    try:
        result = await auth.login(
            settings, email, password if isinstance(password, str) else "", client_info(request)
        )
    except RateLimited as exc:
        at = datetime.now(UTC) + timedelta(seconds=exc.retry_after)
        message = f"{exc.message} You can try again after {at:%H:%M:%S} UTC."
        headers = {"Retry-After": str(exc.retry_after)}
        return _login_page(request, email=email, nxt=nxt, error=message, status=429,
                           headers=headers)  # fmt: skip
    except Unauthenticated as exc:
        return _login_page(request, email=email, nxt=nxt, error=exc.message, status=401)
    except Forbidden as exc:
        return _login_page(request, email=email, nxt=nxt, error=exc.message, status=403)
    response = RedirectResponse(nxt, status_code=303)
    response.raw_headers.append((b"set-cookie", session_cookie(result.session_secret, settings)))
    return response


def _signed_out(request: Request, code: str) -> Response:
    response = back("/login", code)
    response.raw_headers.append((b"set-cookie", clear_session_cookie(settings_of(request))))
    return response


@page
async def logout(request: Request) -> Response:
    await read_form(request)
    principal = principal_of(request)
    if principal is not None:
        await auth.logout(principal)
    return _signed_out(request, "signed_out")


# ----------------------------------------------------------------------------- home, sessions


@page
async def home(request: Request) -> Response:
    principal = signed_in(request)
    abilities = [text for perm, text in PERM_TEXT.items() if principal.can(perm)]
    ctx = {"abilities": abilities, "can_verify": principal.can(Perm.AUDIT_VERIFY)}
    return render(request, "home.html", ctx)


@page
async def my_sessions(request: Request) -> Response:
    principal = signed_in(request)
    sessions = await auth.list_sessions(principal, principal.user_id)
    return render(request, "sessions.html", {"sessions": sessions})


@page
async def sign_out_everywhere(request: Request) -> Response:
    await read_form(request)
    principal = signed_in(request)
    await auth.revoke_sessions(principal, principal.user_id)
    return _signed_out(request, "signed_out_everywhere")


# ----------------------------------------------------------------------------- admin: users


async def _users_page(
    request: Request,
    principal: Principal,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, Any] | None = None,
    row_errors: Mapping[str, str] | None = None,
) -> Response:
    people = await users.list_users(principal, managing=True)
    ctx = {
        "users": people,
        "errors": errors or {},
        "form": form or {"email": "", "name": "", "roles": []},
        "row_errors": row_errors or {},
    }
    return render(request, "admin/users.html", ctx, status)


USER_FIELDS = {"email": "email", "name": "name", "roles": "roles", "password": "password"}


@page
async def users_list(request: Request) -> Response:
    return await _users_page(request, signed_in(request))


@page
async def user_create(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    email, name = form_text(form, "email"), form_text(form, "name")
    roles = form_texts(form, "roles")
    password = form.get("password")
    try:
        await users.create_user(
            principal,
            email=email,
            name=name,
            roles=roles,
            password=password if isinstance(password, str) and password else None,
        )
    except FORM_ERRORS as exc:
        return await _users_page(request, principal, status=status_of(exc),
                                 errors=form_errors(exc, USER_FIELDS),
                                 form={"email": email, "name": name, "roles": roles})  # fmt: skip
    return back("/admin/users", "user.created")


async def _user_row_error(
    request: Request, principal: Principal, user_id: str, exc: DomainError
) -> Response:
    message = exc.message
    current = exc.extra.get("current_roles")
    if isinstance(exc, Conflict) and current is not None:
        message += f" Current roles: {', '.join(current) or 'none'}."
    return await _users_page(
        request, principal, status=status_of(exc), row_errors={user_id: message}
    )


@page
async def user_roles(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    user_id = request.path_params["user_id"]
    try:
        await users.update_user_roles(
            principal,
            user_id,
            form_texts(form, "roles"),
            expected_version=int_or_none(form_text(form, "expected_version")),
        )
    except FORM_ERRORS as exc:
        return await _user_row_error(request, principal, user_id, exc)
    return back("/admin/users", "user.roles")


@page
async def user_suspend(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    user_id = request.path_params["user_id"]
    try:
        await users.suspend_user(principal, user_id, reason=form_text(form, "reason"))
    except FORM_ERRORS as exc:
        return await _user_row_error(request, principal, user_id, exc)
    return back("/admin/users", "user.suspended")


@page
async def user_reactivate(request: Request) -> Response:
    await read_form(request)
    principal = signed_in(request)
    user_id = request.path_params["user_id"]
    try:
        await users.reactivate_user(principal, user_id)
    except FORM_ERRORS as exc:
        return await _user_row_error(request, principal, user_id, exc)
    return back("/admin/users", "user.reactivated")


@page
async def user_revoke_sessions(request: Request) -> Response:
    await read_form(request)
    principal = signed_in(request)
    user_id = request.path_params["user_id"]
    await auth.revoke_sessions(principal, user_id)
    if user_id == str(principal.user_id):  # that included this very session
        return _signed_out(request, "signed_out_everywhere")
    return back("/admin/users", "user.sessions")


# ----------------------------------------------------------------------------- admin: teams

TEAM_FIELDS = {"name": "name", "memberIds": "members"}


async def _teams_page(
    request: Request,
    principal: Principal,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, Any] | None = None,
    row_errors: Mapping[str, str] | None = None,
) -> Response:
    ctx = {
        "teams": await teams.list_teams(principal, managing=True),
        "users": await users.list_users(principal),
        "errors": errors or {},
        "form": form or {"name": "", "members": []},
        "row_errors": row_errors or {},
    }
    return render(request, "admin/teams.html", ctx, status)


@page
async def teams_list(request: Request) -> Response:
    return await _teams_page(request, signed_in(request))


@page
async def team_create(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    name, members = form_text(form, "name"), form_texts(form, "members")
    try:
        await teams.create_team(principal, name=name, member_ids=members)
    except FORM_ERRORS as exc:
        return await _teams_page(request, principal, status=status_of(exc),
                                 errors=form_errors(exc, TEAM_FIELDS),
                                 form={"name": name, "members": members})  # fmt: skip
    return back("/admin/teams", "team.created")


@page
async def team_members(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    team_id = request.path_params["team_id"]
    try:
        await teams.set_team_members(principal, team_id, form_texts(form, "members"))
    except FORM_ERRORS as exc:
        return await _teams_page(request, principal, status=status_of(exc),
                                 row_errors={team_id: exc.message})  # fmt: skip
    return back("/admin/teams", "team.members")


# ----------------------------------------------------------------------------- admin: API tokens

TOKEN_FIELDS = {"userId": "owner", "name": "name", "roles": "roles",
                "expiresInDays": "expires_in_days"}  # fmt: skip


async def _tokens_page(
    request: Request,
    principal: Principal,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, Any] | None = None,
    issued: tokens.IssuedToken | None = None,
) -> Response:
    people = await users.list_users(principal)
    ctx = {
        "tokens": await tokens.list_tokens(principal, managing=True),
        "users": people,
        "names": {u.id: u.name for u in people},
        "errors": errors or {},
        "form": form
        or {"owner": "", "name": "", "roles": [], "expires_in_days": tokens.DEFAULT_TOKEN_DAYS},
        "issued": issued,
        "now": datetime.now(UTC),
    }
    # The page with a fresh secret must never be cached or replayed from a cache.
    headers = {"Cache-Control": "no-store"} if issued else None
    return render(request, "admin/tokens.html", ctx, status, headers=headers)


@page
async def tokens_list(request: Request) -> Response:
    return await _tokens_page(request, signed_in(request))


@page
async def token_create(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    values: dict[str, Any] = {
        "owner": form_text(form, "owner"),
        "name": form_text(form, "name"),
        "roles": form_texts(form, "roles"),
        "expires_in_days": form_text(form, "expires_in_days"),
    }
    days = int_or_none(values["expires_in_days"]) if values["expires_in_days"] else None
    if values["expires_in_days"] and days is None:
        # Not a service rule: the text simply is not a number we could pass on.
        errors = {"expires_in_days": "expires_in_days: enter a whole number of days."}
        return await _tokens_page(request, principal, status=422, errors=errors, form=values)
    try:
        issued = await tokens.create_api_token(
            principal,
            user_id=values["owner"],
            name=values["name"],
            roles=values["roles"],
            expires_in_days=days,
        )
    except FORM_ERRORS as exc:
        return await _tokens_page(request, principal, status=status_of(exc),
                                  errors=form_errors(exc, TOKEN_FIELDS), form=values)  # fmt: skip
    return await _tokens_page(request, principal, status=201, issued=issued)


@page
async def token_revoke(request: Request) -> Response:
    await read_form(request)
    principal = signed_in(request)
    await tokens.revoke_api_token(principal, request.path_params["token_id"])
    return back("/admin/tokens", "token.revoked")


# ----------------------------------------------------------------------------- audit


def _query(values: Mapping[str, str], **extra: str) -> str:
    return urlencode({k: v for k, v in {**values, **extra}.items() if v})


async def _actor_names(
    principal: Principal, events: Iterable[AuditEvent], people: Iterable[User]
) -> dict[str, str]:
    """Display names for `user:N` and `token:N` actors (tokens: one query, only when needed)."""
    names = {f"user:{u.id}": u.name for u in people}
    if any(e.actor.startswith("token:") for e in events):
        names.update(
            {f"token:{t.id}": f"API token “{t.name}”" for t in await tokens.list_tokens(principal)}
        )
    return names


@page
async def audit_page(request: Request) -> Response:
    principal = signed_in(request)
    params = request.query_params
    values = {name: form_text(params, name) for name in AUDIT_FILTERS}
    after = params.get("after") or None
    first = int_or_none(params.get("first", "")) or AUDIT_PAGE_SIZE
    errors: dict[str, str] = {}
    flt = AuditFilter(
        actor=values["actor"] or None,
        action=values["action"] or None,
        entity_type=values["entity_type"] or None,
        entity_id=values["entity_id"] or None,
        since=parse_local(values["since"], "since", errors),
        until=parse_local(values["until"], "until", errors),
    )
    events: list[AuditEvent] = []
    has_next, cursor = False, None
    try:
        result = await audit_log.list_events(principal, flt, first=first, after=after)
    except Invalid as exc:
        errors[exc.field or "_form"] = exc.message
    else:
        if not errors:  # a bound that did not parse: show the error, not a widened result
            events, has_next, cursor = result.events, result.has_next, result.end_cursor
    full_page = fragment_of(request, None) is None
    # One query resolves every `user:N` on the page (and fills the actor picker of a full page).
    people = await directory(principal) if full_page or events else []
    more_values = {**values, "first": str(first) if first != AUDIT_PAGE_SIZE else ""}
    ctx = {
        "values": values,
        "errors": errors,
        "events": [(e, *audit_log.values_of(e)) for e in events],
        "names": await _actor_names(principal, events, people),
        "more_url": f"/audit?{_query(more_values, after=cursor)}" if has_next and cursor else None,
        "directory": people,
    }
    return render(
        request,
        "audit/index.html",
        ctx,
        422 if errors else 200,
        partials={"audit-results": "audit/_results.html", "audit-more": "audit/_rows.html"},
    )


@page
async def audit_verify(request: Request) -> Response:
    await read_form(request)
    principal = signed_in(request)
    verification = await audit_log.verify_chain(principal, settings_of(request).key)
    return render(request, "audit/verify.html", {"verification": verification},
                  partials={"verify-result": "audit/_verify.html"})  # fmt: skip


@page
async def unknown_page(request: Request) -> Response:
    return render_error(request, 404, f"There is no page at {request.url.path}.")


# ----------------------------------------------------------------------------- the route list

routes: list[Route] = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/", home, methods=["GET"]),
    Route("/sessions", my_sessions, methods=["GET"]),
    Route("/sessions/revoke", sign_out_everywhere, methods=["POST"]),
    Route("/admin/users", users_list, methods=["GET"]),
    Route("/admin/users", user_create, methods=["POST"]),
    Route("/admin/users/{user_id}/roles", user_roles, methods=["POST"]),
    Route("/admin/users/{user_id}/suspend", user_suspend, methods=["POST"]),
    Route("/admin/users/{user_id}/reactivate", user_reactivate, methods=["POST"]),
    Route("/admin/users/{user_id}/sessions/revoke", user_revoke_sessions, methods=["POST"]),
    Route("/admin/teams", teams_list, methods=["GET"]),
    Route("/admin/teams", team_create, methods=["POST"]),
    Route("/admin/teams/{team_id}/members", team_members, methods=["POST"]),
    Route("/admin/tokens", tokens_list, methods=["GET"]),
    Route("/admin/tokens", token_create, methods=["POST"]),
    Route("/admin/tokens/{token_id}/revoke", token_revoke, methods=["POST"]),
    Route("/audit", audit_page, methods=["GET"]),
    Route("/audit/verify", audit_verify, methods=["POST"]),
    *alert_pages.routes,
    *case_pages.routes,
    *run_pages.routes,
    *scenario_pages.routes,
    *report_pages.routes,
    *control_pages.routes,
    # Last: any other GET gets the friendly 404 page rather than a bare "Not Found".
    Route("/{path:path}", unknown_page, methods=["GET"]),
]
