"""The HTMX pages: thin adapters that parse a request, call the service function GraphQL also
calls, and render. No rule lives here: services authorize and validate, and the DomainError they
raise is rendered inline (under the form field it names when it names one).

Conventions:
- every POST handler reads its form through `read_form` first (CSRF), before anything else;
- every form is a real `<form method="post">` that works without JavaScript (303 back to the page
  with `?ok=<code>` on success, or the page re-rendered with errors), enhanced with `hx-post`;
- `render` is the one place that decides between a full page, the page's `main` block (a form
  swapped into `#main`) and a named partial (chosen by the element the request targets).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from riskops.audit.models import AuditEvent
from riskops.server.errors import (
    Conflict,
    DomainError,
    Duplicate,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from riskops.server.middleware import clear_session_cookie, session_cookie
from riskops.server.models import User
from riskops.server.permissions import ALL_ROLES, Perm
from riskops.server.principal import Principal
from riskops.server.security import csrf_token
from riskops.server.services import audit_log, auth, teams, tokens, users
from riskops.server.services.audit_log import AuditFilter
from riskops.server.web import (
    client_info,
    csrf_binding,
    is_htmx,
    principal_of,
    read_form,
    redirect_htmx,
    settings_of,
)

UI_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = UI_DIR / "templates"
STATIC_DIR = UI_DIR / "static"

AUDIT_PAGE_SIZE = 50
# Service errors a form shows inline; Forbidden/NotFound become the friendly 403/404 pages.
FORM_ERRORS = (Invalid, Conflict, Duplicate)

env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


# ----------------------------------------------------------------------------- presentation data


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str
    section: str
    perm: Perm | None = None  # shown only to callers whose roles grant it (services still check)


NAV: tuple[NavItem, ...] = (
    NavItem("/", "Home", ""),
    NavItem("/admin/users", "Users", "Admin", Perm.USER_MANAGE),
    NavItem("/admin/teams", "Teams", "Admin", Perm.TEAM_MANAGE),
    NavItem("/admin/tokens", "API tokens", "Admin", Perm.TOKEN_MANAGE),
    NavItem("/audit", "Audit log", "Audit", Perm.AUDIT_READ),
    NavItem("/sessions", "My sessions", "Account"),
)

PERM_TEXT: dict[Perm, str] = {
    Perm.USER_READ: "See the people of your organization and their roles",
    Perm.USER_MANAGE: "Create users, change their roles, suspend and reactivate them",
    Perm.TEAM_MANAGE: "Create teams and manage their members",
    Perm.TOKEN_MANAGE: "Issue and revoke API tokens for integrators and automation",
    Perm.AUDIT_READ: "Read the audit log",
    Perm.AUDIT_VERIFY: "Verify the integrity of the audit chain",
    Perm.ALERT_READ: "Read alerts",
    Perm.CASE_READ: "Read cases",
    Perm.RUN_READ: "Read runs and their credit usage",
    Perm.REPORT_READ: "Read reports",
}

ROLE_TEXT: dict[str, str] = {
    "viewer": "read-only",
    "operator": "investigates, requests reruns",
    "approver": "approves resolutions, baselines, policy",
    "strategist": "triages alerts, works cases",
    "compliance_reviewer": "governance review, audit",
    "product_reviewer": "governance review, audit",
    "admin": "users, teams, tokens, audit",
}

# Flash messages by code: a URL can only select one of these, never inject its own text.
FLASH: dict[str, str] = {
    "user.created": "User created.",
    "user.roles": "Roles updated.",
    "user.suspended": "User suspended; their sessions and API tokens were revoked.",
    "user.reactivated": "User reactivated. They can sign in again.",
    "user.sessions": "The user's sessions were revoked.",
    "team.created": "Team created.",
    "team.members": "Team members updated.",
    "token.revoked": "API token revoked.",
    "signed_out": "You are signed out.",
    "signed_out_everywhere": "You are signed out on every device.",
}

AUDIT_FILTERS = ("actor", "action", "entity_type", "entity_id", "since", "until")
KNOWN_ACTIONS = (
    "auth.login", "auth.login_failed", "auth.logout", "session.revoke",
    "user.create", "user.roles_change", "user.suspend", "user.reactivate", "user.password_set",
    "team.create", "team.members_change", "token.create", "token.revoke", "audit.verify",
)  # fmt: skip


@dataclass(frozen=True)
class Asset:
    src: str
    integrity: str


@functools.cache
def htmx_asset() -> Asset:
    """The vendored htmx named in SHA256SUMS, with its Subresource Integrity hash."""
    hexdigest, name = (STATIC_DIR / "vendor" / "SHA256SUMS").read_text().split()[:2]
    sri = "sha256-" + base64.b64encode(bytes.fromhex(hexdigest)).decode()
    return Asset(f"/static/vendor/{name}", sri)


@functools.cache
def css_href() -> str:
    # Content-hashed URL: a deploy never serves a stale stylesheet from a browser cache.
    digest = hashlib.sha256((STATIC_DIR / "app.css").read_bytes()).hexdigest()[:12]
    return f"/static/app.css?v={digest}"


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _audit_ts(value: str) -> str:
    # "2025-01-02T13:45:12.123456Z" -> "2025-01-02 13:45:12"
    return value.replace("T", " ")[:19]


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


env.filters.update(when=_when, audit_ts=_audit_ts, pretty=_pretty)
env.globals.update(ALL_ROLES=ALL_ROLES, ROLE_TEXT=ROLE_TEXT, KNOWN_ACTIONS=KNOWN_ACTIONS)


# ----------------------------------------------------------------------------- rendering


def _nav(principal: Principal | None, path: str) -> list[dict[str, Any]]:
    if principal is None:
        return []
    items = []
    for item in NAV:
        if item.perm is not None and not principal.can(item.perm):
            continue
        active = path == item.href if item.href == "/" else path.startswith(item.href)
        items.append({"href": item.href, "label": item.label, "section": item.section,
                      "active": active})  # fmt: skip
    return items


def _base_context(request: Request) -> dict[str, Any]:
    principal = principal_of(request)
    binding = csrf_binding(request)
    return {
        "request": request,
        "principal": principal,
        "csrf_token": csrf_token(settings_of(request).key, binding) if binding else "",
        "nav": _nav(principal, request.url.path),
        "request_id": getattr(request.state, "request_id", ""),
        "flash": FLASH.get(request.query_params.get("ok", "")),
        "htmx": htmx_asset(),
        "css_href": css_href(),
    }


def _fragment(request: Request, partials: Mapping[str, str] | None) -> str | None:
    """None for a full page; otherwise the partial template for the element htmx targets, or
    "main" for the page's main block (forms swap `#main`)."""
    headers = request.headers
    if (
        not is_htmx(request)
        or headers.get("hx-boosted") == "true"
        or headers.get("hx-history-restore-request") == "true"
    ):
        return None
    target = headers.get("hx-target") or ""
    if partials and target in partials:
        return partials[target]
    return "main"


def render(
    request: Request,
    template: str,
    ctx: Mapping[str, Any] | None = None,
    status: int = 200,
    *,
    partials: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render a page, or only what an htmx request needs of it (see `_fragment`)."""
    context = {**_base_context(request), **(ctx or {})}
    fragment = _fragment(request, partials)
    if fragment is None:
        body = env.get_template(template).render(context)
    elif fragment == "main":
        page = env.get_template(template)
        body = "".join(page.blocks["main"](page.new_context(context)))
    else:
        body = env.get_template(fragment).render(context)
    return HTMLResponse(body, status_code=status, headers=dict(headers or {}))


ERROR_TITLES = {
    400: "Request not accepted",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    422: "Check your input",
}


def render_error(request: Request, status: int, message: str) -> HTMLResponse:
    ctx = {"status": status, "title": ERROR_TITLES.get(status, "Error"), "message": message}
    return render(request, "error.html", ctx, status)


def _status_of(exc: DomainError) -> int:
    return 409 if isinstance(exc, Conflict | Duplicate) else 422


def _errors(exc: DomainError, fields: Mapping[str, str]) -> dict[str, str]:
    """The service's message keyed by the form field it concerns (services name fields the way
    the GraphQL API does, e.g. `expiresInDays`), or `_form` for a message about the whole form."""
    return {fields.get(exc.field or "", "_form"): exc.message}


# ----------------------------------------------------------------------------- request helpers


class LoginRequired(Exception):
    """The page needs a signed-in user; `page` turns it into a redirect to /login."""


def signed_in(request: Request) -> Principal:
    principal = principal_of(request)
    if principal is None:
        raise LoginRequired
    return principal


def _text(form: FormData | Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _texts(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]


def _int_or_none(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


def local_path(raw: str | None) -> str:
    """`next` after login: a path on this site only (no scheme, host, `//` or `\\`)."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    if any(ord(c) < 32 for c in raw):
        return "/"
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return "/"
    return raw


def back(path: str, code: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode({'ok': code})}", status_code=303)


def _to_login(request: Request) -> Response:
    if request.method == "GET":
        current = request.headers.get("hx-current-url") if is_htmx(request) else None
        url = urlsplit(current) if current else request.url
        nxt = url.path + (f"?{url.query}" if url.query else "")
    else:
        nxt = "/"
    target = "/login" if nxt == "/" else f"/login?{urlencode({'next': nxt})}"
    if is_htmx(request):
        # A 303 would be followed inside the XHR; htmx navigates the whole page on HX-Redirect.
        return redirect_htmx(Response(status_code=200), target)
    return RedirectResponse(target, status_code=303)


Handler = Callable[[Request], Awaitable[Response]]


def page(handler: Handler) -> Handler:
    """Turn what a handler does not handle itself into pages: anonymous -> login, CSRF or
    permission failure -> 403 page, unknown or other organization's id -> 404 page."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except (LoginRequired, Unauthenticated):
            return _to_login(request)
        except HTTPException as exc:
            return render_error(request, exc.status_code, str(exc.detail))
        except Forbidden as exc:
            return render_error(request, 403, exc.message)
        except NotFound as exc:
            return render_error(request, 404, exc.message)
        except DomainError as exc:
            return render_error(request, _status_of(exc), exc.message)

    return endpoint


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
    email, password = _text(form, "email"), form.get("password")
    nxt = local_path(_text(form, "next"))
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
    email, name, roles = _text(form, "email"), _text(form, "name"), _texts(form, "roles")
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
        return await _users_page(request, principal, status=_status_of(exc),
                                 errors=_errors(exc, USER_FIELDS),
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
        request, principal, status=_status_of(exc), row_errors={user_id: message}
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
            _texts(form, "roles"),
            expected_version=_int_or_none(_text(form, "expected_version")),
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
        await users.suspend_user(principal, user_id, reason=_text(form, "reason"))
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
    name, members = _text(form, "name"), _texts(form, "members")
    try:
        await teams.create_team(principal, name=name, member_ids=members)
    except FORM_ERRORS as exc:
        return await _teams_page(request, principal, status=_status_of(exc),
                                 errors=_errors(exc, TEAM_FIELDS),
                                 form={"name": name, "members": members})  # fmt: skip
    return back("/admin/teams", "team.created")


@page
async def team_members(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    team_id = request.path_params["team_id"]
    try:
        await teams.set_team_members(principal, team_id, _texts(form, "members"))
    except FORM_ERRORS as exc:
        return await _teams_page(request, principal, status=_status_of(exc),
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
        "owner": _text(form, "owner"),
        "name": _text(form, "name"),
        "roles": _texts(form, "roles"),
        "expires_in_days": _text(form, "expires_in_days"),
    }
    days = _int_or_none(values["expires_in_days"]) if values["expires_in_days"] else None
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
        return await _tokens_page(request, principal, status=_status_of(exc),
                                  errors=_errors(exc, TOKEN_FIELDS), form=values)  # fmt: skip
    return await _tokens_page(request, principal, status=201, issued=issued)


@page
async def token_revoke(request: Request) -> Response:
    await read_form(request)
    principal = signed_in(request)
    await tokens.revoke_api_token(principal, request.path_params["token_id"])
    return back("/admin/tokens", "token.revoked")


# ----------------------------------------------------------------------------- audit


def _parse_local(raw: str, name: str, errors: dict[str, str]) -> datetime | None:
    """A `datetime-local` value, read as UTC (the page says so)."""
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        errors[name] = f"{name}: not a date and time (like 2025-01-31T13:45)."
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _query(values: Mapping[str, str], **extra: str) -> str:
    return urlencode({k: v for k, v in {**values, **extra}.items() if v})


async def _directory(principal: Principal) -> list[User]:
    """The organization's people, for actor names and the actor picker; empty if not allowed."""
    try:
        return await users.list_users(principal)
    except Forbidden:  # names are a convenience; the opaque ids are still correct
        return []


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
    values = {name: _text(params, name) for name in AUDIT_FILTERS}
    after = params.get("after") or None
    first = _int_or_none(params.get("first", "")) or AUDIT_PAGE_SIZE
    errors: dict[str, str] = {}
    flt = AuditFilter(
        actor=values["actor"] or None,
        action=values["action"] or None,
        entity_type=values["entity_type"] or None,
        entity_id=values["entity_id"] or None,
        since=_parse_local(values["since"], "since", errors),
        until=_parse_local(values["until"], "until", errors),
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
    full_page = _fragment(request, None) is None
    # One query resolves every `user:N` on the page (and fills the actor picker of a full page).
    people = await _directory(principal) if full_page or events else []
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
    # Last: any other GET gets the friendly 404 page rather than a bare "Not Found".
    Route("/{path:path}", unknown_page, methods=["GET"]),
]
