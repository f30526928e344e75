"""Administration pages: users (create, roles, suspend, reactivate, sign out everywhere), teams
and API tokens. Conventions are in `riskops.ui.common`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.errors import Conflict
from riskops.server.core.principal import Principal
from riskops.server.identity import auth, links, teams, tokens, users
from riskops.server.identity.models import UserKind
from riskops.server.web import settings_of
from riskops.ui.common.forms import back, form_text, form_texts, int_or_none
from riskops.ui.common.posts import Refusal, Submission, form_post
from riskops.ui.common.rendering import page, render, signed_in
from riskops.ui.identity.pages import (
    _signed_out,
    token_days,
)
from riskops.ui.identity.passwords import origin_of

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
    issued: links.IssuedLink | None = None,
) -> Response:
    people = await users.list_users(principal, managing=True)
    suspended = [u.id for u in people if u.status == "suspended"]
    ctx = {
        "users": people,
        "suspension_reasons": await users.suspension_reasons(principal, suspended),
        "errors": errors or {},
        "form": form or {"email": "", "name": "", "roles": []},
        "row_errors": row_errors or {},
        "issued": issued,
        "issued_to": next((u for u in people if issued and u.id == issued.user_id), None),
        "invitation_hours": settings_of(request).invitation_hours,
    }
    # The page with a fresh one-time link must never be cached or replayed from a cache.
    headers = {"Cache-Control": "no-store"} if issued else None
    return render(request, "identity/admin/users.html", ctx, status, headers=headers)


USER_FIELDS = {"email": "email", "name": "name", "roles": "roles", "password": "password"}


@page
async def users_list(request: Request) -> Response:
    return await _users_page(request, signed_in(request))


def _new_user(form: FormData) -> dict[str, Any]:
    # The password is never shown again.
    return {"email": form_text(form, "email"), "name": form_text(form, "name"),
            "roles": form_texts(form, "roles")}  # fmt: skip


async def _create_refused(sub: Submission, refusal: Refusal) -> Response:
    return await _users_page(sub.request, sub.principal, status=refusal.status,
                             errors=refusal.errors, form=sub.values)  # fmt: skip


@form_post(_create_refused, keep=_new_user, fields=USER_FIELDS)
async def user_create(sub: Submission) -> Response:
    password = sub.form.get("password")
    created = await links.create_user(
        sub.principal,
        email=sub.values["email"],
        name=sub.values["name"],
        roles=sub.values["roles"],
        password=password if isinstance(password, str) and password else None,
        origin=origin_of(sub.request),
    )
    if created.invitation is None:
        return back("/admin/users", "user.created")
    # No password: the invitation's link exists only now, shown on this response, once.
    return await _users_page(sub.request, sub.principal, status=201, issued=created.invitation)


async def _row_refused(sub: Submission, refusal: Refusal) -> Response:
    """Shown on the user's row (each row has its own forms); a stale roles change says which
    roles the user has now."""
    message = refusal.message
    current = refusal.error.extra.get("current_roles")
    if isinstance(refusal.error, Conflict) and current is not None:
        message += f" Current roles: {', '.join(current) or 'none'}."
    return await _users_page(sub.request, sub.principal, status=refusal.status,
                             row_errors={sub.param("user_id"): message})  # fmt: skip


@form_post(_row_refused)
async def user_roles(sub: Submission) -> Response:
    await users.update_user_roles(
        sub.principal,
        sub.param("user_id"),
        sub.texts("roles"),
        expected_version=int_or_none(sub.text("expected_version")),
    )
    return back("/admin/users", "user.roles")


@form_post(_row_refused)
async def user_suspend(sub: Submission) -> Response:
    await users.suspend_user(sub.principal, sub.param("user_id"), reason=sub.text("reason"))
    return back("/admin/users", "user.suspended")


@form_post(_row_refused)
async def user_reactivate(sub: Submission) -> Response:
    await users.reactivate_user(sub.principal, sub.param("user_id"))
    return back("/admin/users", "user.reactivated")


@form_post(_row_refused)
async def user_invite(sub: Submission) -> Response:
    issued = await links.invite(sub.principal, sub.param("user_id"), origin=origin_of(sub.request))
    return await _users_page(sub.request, sub.principal, status=201, issued=issued)


@form_post(_row_refused)
async def user_force_reset(sub: Submission) -> Response:
    issued = await links.force_reset(
        sub.principal, sub.param("user_id"), origin=origin_of(sub.request)
    )
    return await _users_page(sub.request, sub.principal, status=201, issued=issued)


# Nothing to show inline: a refusal is the error page.
@form_post(None)
async def user_revoke_sessions(sub: Submission) -> Response:
    user_id = sub.param("user_id")
    await auth.revoke_sessions(sub.principal, user_id)
    if user_id == str(sub.principal.user_id):  # that included this very session
        return _signed_out(sub.request, "signed_out_everywhere")
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


async def _team_refused(sub: Submission, refusal: Refusal) -> Response:
    return await _teams_page(sub.request, sub.principal, status=refusal.status,
                             errors=refusal.errors, form=sub.values)  # fmt: skip


def _new_team(form: FormData) -> dict[str, Any]:
    return {"name": form_text(form, "name"), "members": form_texts(form, "members")}


@form_post(_team_refused, keep=_new_team, fields=TEAM_FIELDS)
async def team_create(sub: Submission) -> Response:
    await teams.create_team(sub.principal, name=sub.values["name"],
                            member_ids=sub.values["members"])  # fmt: skip
    return back("/admin/teams", "team.created")


async def _members_refused(sub: Submission, refusal: Refusal) -> Response:
    # Shown on the team's row (each row has its own members form).
    return await _teams_page(sub.request, sub.principal, status=refusal.status,
                             row_errors={sub.param("team_id"): refusal.message})  # fmt: skip


@form_post(_members_refused)
async def team_members(sub: Submission) -> Response:
    await teams.set_team_members(sub.principal, sub.param("team_id"), sub.texts("members"))
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
    account_errors: Mapping[str, str] | None = None,
    account_form: Mapping[str, Any] | None = None,
) -> Response:
    people = await users.list_users(principal)
    ctx = {
        "tokens": await tokens.list_tokens(principal, managing=True),
        # A person's token is theirs to create; an admin mints service accounts' tokens only.
        "accounts": [u for u in people if u.kind == UserKind.SERVICE],
        "names": {u.id: u.name for u in people},
        # The owner's MFA next to each token (a person's; a service account never signs in).
        "mfa_of": {u.id: u.mfa_enabled for u in people if u.kind == UserKind.PERSON},
        "errors": errors or {},
        "form": form
        or {"owner": "", "name": "", "roles": [], "expires_in_days": tokens.DEFAULT_TOKEN_DAYS},
        "account_errors": account_errors or {},
        "account_form": account_form or {"name": "", "roles": []},
        "issued": issued,
        "now": datetime.now(UTC),
    }
    # The page with a fresh secret must never be cached or replayed from a cache.
    headers = {"Cache-Control": "no-store"} if issued else None
    return render(request, "identity/admin/tokens.html", ctx, status, headers=headers)


@page
async def tokens_list(request: Request) -> Response:
    return await _tokens_page(request, signed_in(request))


def _new_token(form: FormData) -> dict[str, Any]:
    return {
        "owner": form_text(form, "owner"),
        "name": form_text(form, "name"),
        "roles": form_texts(form, "roles"),
        "expires_in_days": form_text(form, "expires_in_days"),
    }


async def _token_refused(sub: Submission, refusal: Refusal) -> Response:
    return await _tokens_page(sub.request, sub.principal, status=refusal.status,
                              errors=refusal.errors, form=sub.values)  # fmt: skip


@form_post(_token_refused, keep=_new_token, fields=TOKEN_FIELDS)
async def token_create(sub: Submission) -> Response:
    values = sub.values
    days = token_days(values)
    issued = await tokens.create_api_token(
        sub.principal,
        user_id=values["owner"],
        name=values["name"],
        roles=values["roles"],
        expires_in_days=days,
    )
    # The secret exists only now: shown on this response, once, never behind a redirect.
    return await _tokens_page(sub.request, sub.principal, status=201, issued=issued)


# Nothing to show inline: a refusal is the error page.
@form_post(None)
async def token_revoke(sub: Submission) -> Response:
    await tokens.revoke_api_token(sub.principal, sub.param("token_id"))
    return back("/admin/tokens", "token.revoked")


ACCOUNT_FIELDS = {"name": "name", "roles": "roles"}


def _new_account(form: FormData) -> dict[str, Any]:
    return {"name": form_text(form, "name"), "roles": form_texts(form, "roles")}


async def _account_refused(sub: Submission, refusal: Refusal) -> Response:
    return await _tokens_page(sub.request, sub.principal, status=refusal.status,
                              account_errors=refusal.errors, account_form=sub.values)  # fmt: skip


@form_post(_account_refused, keep=_new_account, fields=ACCOUNT_FIELDS)
async def service_account_create(sub: Submission) -> Response:
    await users.create_service_account(
        sub.principal, name=sub.values["name"], roles=sub.values["roles"]
    )
    return back("/admin/tokens", "service_account.created")


# ----------------------------------------------------------------------------- audit


# ----------------------------------------------------------------------------- the route list


routes: list[Route] = [
    Route("/admin/users", users_list, methods=["GET"]),
    Route("/admin/users", user_create, methods=["POST"]),
    Route("/admin/users/{user_id}/roles", user_roles, methods=["POST"]),
    Route("/admin/users/{user_id}/suspend", user_suspend, methods=["POST"]),
    Route("/admin/users/{user_id}/reactivate", user_reactivate, methods=["POST"]),
    Route("/admin/users/{user_id}/sessions/revoke", user_revoke_sessions, methods=["POST"]),
    Route("/admin/users/{user_id}/invite", user_invite, methods=["POST"]),
    Route("/admin/users/{user_id}/reset-password", user_force_reset, methods=["POST"]),
    Route("/admin/teams", teams_list, methods=["GET"]),
    Route("/admin/teams", team_create, methods=["POST"]),
    Route("/admin/teams/{team_id}/members", team_members, methods=["POST"]),
    Route("/admin/tokens", tokens_list, methods=["GET"]),
    Route("/admin/tokens", token_create, methods=["POST"]),
    Route("/admin/tokens/{token_id}/revoke", token_revoke, methods=["POST"]),
    Route("/admin/service-accounts", service_account_create, methods=["POST"]),
]
