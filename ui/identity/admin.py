"""Pages for signing in, home, sessions, administration and the audit log; the route list of
every page module (alerts and cases live in `ui/alerts.py` and `ui/cases.py`). Conventions are in
`ui/common.py`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.errors import (
    Conflict,
    DomainError,
)
from riskops.server.core.principal import Principal
from riskops.server.identity import auth, teams, tokens, users
from riskops.server.web import read_form
from riskops.ui.common.forms import (
    FORM_ERRORS,
    back,
    form_errors,
    form_text,
    form_texts,
    int_or_none,
)
from riskops.ui.common.rendering import (
    page,
    render,
    signed_in,
    status_of,
)
from riskops.ui.identity.pages import (
    _signed_out,
)

# ----------------------------------------------------------------------------- sign in and out


# ----------------------------------------------------------------------------- home, sessions


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
    return render(request, "identity/admin/users.html", ctx, status)


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
    return render(request, "identity/admin/teams.html", ctx, status)


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
    return render(request, "identity/admin/tokens.html", ctx, status, headers=headers)


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


# ----------------------------------------------------------------------------- the route list


routes: list[Route] = [
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
]
