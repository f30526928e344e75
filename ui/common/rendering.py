"""What every page module shares: the Jinja environment, navigation, flash codes, `render`,
`page` and the form helpers. The pages themselves are thin adapters that parse a request, call
the service function GraphQL also calls, and render. No rule lives here: services authorize and
validate, and the DomainError they raise is rendered inline (under the form field it names when
it names one).

Conventions:
- every POST handler reads its form through `read_form` first (CSRF), before anything else;
  `posts.form_post` does that for every form (only signing in and out are written by hand);
- every form is a real `<form method="post">` that works without JavaScript (303 back to the page
  with a one-time flash cookie on success, or the page re-rendered with errors), enhanced with
  `hx-post`;
- `render` is the one place that decides between a full page, the page's `main` block (a form
  swapped into `#main`) and a named partial (chosen by the element the request targets).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Match

from riskops.server.core import formatting as fmt
from riskops.server.core.audit_trail import refused
from riskops.server.core.errors import (
    Conflict,
    DomainError,
    Duplicate,
    Forbidden,
    NotFound,
    Unauthenticated,
)
from riskops.server.core.permissions import ALL_ROLES, ROLE_TEXT, Perm
from riskops.server.core.principal import Principal
from riskops.server.operations import maintenance
from riskops.server.outage import database_unavailable
from riskops.server.security import csrf_token
from riskops.server.settings import Settings
from riskops.server.web import (
    csrf_binding,
    is_htmx,
    principal_of,
    redirect_htmx,
    settings_of,
)
from riskops.ui.common.forms import FlashRedirect

UI_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = UI_DIR / "templates"
STATIC_DIR = UI_DIR / "static"


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
    any_of: tuple[Perm, ...] = ()  # or: shown to callers granted any of these


NAV: tuple[NavItem, ...] = (
    NavItem("/", "Home", ""),
    NavItem("/alerts", "Alert queue", "Triage", Perm.ALERT_READ),
    NavItem("/cases", "Cases", "Triage", Perm.CASE_READ),
    NavItem("/runs", "Runs ledger", "Credit monitoring", Perm.RUN_READ),
    NavItem("/scenarios", "Scenarios and baselines", "Credit monitoring", Perm.RUN_READ),
    NavItem("/reports", "Weekly reports", "Credit monitoring", Perm.REPORT_READ),
    NavItem("/policy", "Policy", "Credit monitoring", Perm.RUN_READ),
    NavItem("/kill-switches", "Kill switches", "Credit monitoring", Perm.RUN_READ),
    NavItem("/notifications", "Notifications", "Credit monitoring", Perm.RUN_READ),
    NavItem("/views", "Views", "Saved views", any_of=(Perm.VIEW_SAVE, Perm.VIEW_REVIEW)),
    NavItem("/assistant/usage", "Assistant usage", "Assistant", Perm.ASSISTANT_USAGE),
    NavItem("/admin/users", "Users", "Admin", Perm.USER_MANAGE),
    NavItem("/admin/teams", "Teams", "Admin", Perm.TEAM_MANAGE),
    NavItem("/admin/tokens", "API tokens", "Admin", Perm.TOKEN_MANAGE),
    NavItem("/admin/sso", "Single sign-on", "Admin", Perm.SECURITY_MANAGE),
    NavItem("/admin/security", "Security", "Admin", Perm.SECURITY_MANAGE),
    NavItem("/admin/channels", "Notification channels", "Admin", Perm.CHANNEL_MANAGE),
    NavItem("/admin/backups", "Backups", "Admin", Perm.OPS_READ),
    NavItem("/admin/status", "Platform status", "Admin", Perm.OPS_READ),
    NavItem("/admin/maintenance", "Maintenance", "Admin", Perm.MAINTENANCE_MANAGE),
    NavItem("/admin/gdpr", "GDPR requests", "Admin", any_of=(Perm.GDPR_REQUEST, Perm.GDPR_APPROVE)),
    NavItem("/admin/retention", "Retention", "Admin", Perm.RETENTION_MANAGE),
    NavItem("/audit", "Audit log", "Audit", Perm.AUDIT_READ),
    NavItem("/audit/approvals", "Approval trail", "Audit", Perm.AUDIT_APPROVALS),
    NavItem("/access-review", "Access review", "Audit", Perm.ACCESS_REVIEW),
    NavItem("/sessions", "My sessions", "Account"),
    NavItem("/tokens", "My API tokens", "Account"),
    NavItem("/account/mfa", "Multi-factor", "Account"),
    NavItem("/account/password", "Password", "Account"),
)

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
    "session.revoked": "Session revoked: that browser is signed out.",
    "service_account.created": "Service account created. Mint its token below.",
    "sso.saved": "Single sign-on saved. Test the connection below.",
    "sso.only_on": "Single sign-on only: passwords are refused except for the break-glass admin.",
    "sso.only_off": "Passwords are accepted again.",
    "channel.created": "Channel added. Send a test below to check that it arrives.",
    "channel.saved": "Channel saved.",
    "channel.removed": "Channel removed. Its delivery log stays readable.",
    "user.mfa_reset": "The user's MFA was reset and their sessions revoked; they set it up "
    "again at their next sign-in when it is required.",
    "mfa.disabled": "Multi-factor authentication is off.",
    "security.mfa_policy": "MFA policy saved.",
    "gdpr.erase_requested": "Erasure requested. Another person with the right to approve "
    "decides it.",
    "gdpr.erased": "Erased: the subject is replaced by a pseudonym everywhere.",
    "gdpr.rejected": "Erasure rejected; nothing was erased.",
    "retention.saved": "Retention periods saved. The daily job removes what is past them.",
    "retention.ran": "Retention enforced now: the run is listed below.",
    "retention.nothing": "Nothing to enforce: every kind is kept forever.",
    "signed_out": "You are signed out.",
    "signed_out_everywhere": "You are signed out on every device.",
    "password.changed": "Password changed. Your other sessions were signed out.",
    "maintenance.on": "Maintenance is on: your organization is read-only until you end it.",
    "maintenance.off": "Maintenance is off: changes work again.",
    "access_review.recorded": "Access review recorded. Suspended people lost their sessions and "
    "API tokens.",
}


# ----------------------------------------------------------------------------- one-time flash

# The flash message of a `back(path, code)` travels in this cookie, sealed with the secret key
# that also signs the CSRF tokens, and is read and cleared by the next page rendered: the
# address holds no `?ok=`, so a reload or a shared link shows nothing stale. No JavaScript needed.
FLASH_COOKIE = "riskops_flash"
FLASH_TTL = 60  # seconds: long enough for the redirect, short enough to never surprise later


def _flash_mac(key: bytes, payload: str) -> str:
    return hmac.new(key, b"flash:" + payload.encode(), hashlib.sha256).hexdigest()


def _flash_header(value: str, settings: Settings, max_age: int) -> bytes:
    parts = [f"{FLASH_COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Lax", f"Max-Age={max_age}"]
    if settings.is_prod:
        parts.append("Secure")
    return "; ".join(parts).encode()


def flash_cookie(settings: Settings, code: str, now: float | None = None) -> bytes:
    """The Set-Cookie header that carries flash `code` to the next page (one of `FLASH`'s)."""
    payload = f"{code}:{int(now if now is not None else time.time()) + FLASH_TTL}"
    return _flash_header(f"{payload}:{_flash_mac(settings.key, payload)}", settings, FLASH_TTL)


def flash_of(request: Request) -> str | None:
    """The flash message the request's cookie carries: only a sealed, unexpired known code."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or raw.count(":") != 2:
        return None
    code, expires, mac = raw.split(":")
    payload = f"{code}:{expires}"
    if not hmac.compare_digest(_flash_mac(settings_of(request).key, payload), mac):
        return None
    if not expires.isdigit() or int(expires) < time.time():
        return None
    return FLASH.get(code)


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


def _audit_ts(value: str) -> str:
    # "2025-01-02T13:45:12.123456Z" -> "2025-01-02 13:45:12"
    return value.replace("T", " ")[:19]


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


env.filters.update(audit_ts=_audit_ts, pretty=_pretty)
# One formatter per kind of value, shared with the CLI and the services (server/core/formatting).
env.filters.update(
    when=fmt.when,
    day=fmt.day,
    case_ref=fmt.case_ref,
    multiplier=fmt.multiplier,
    credits=fmt.credits,
    money=fmt.money,
    llm_cost=fmt.llm_cost,
    count=fmt.count,
    score=fmt.score,
    percent=fmt.percent,
    field_label=fmt.field_label,
)
# Role summaries come from the permission matrix's module: one source for every face and the docs.
env.globals.update(ALL_ROLES=ALL_ROLES, ROLE_TEXT=ROLE_TEXT)


# ----------------------------------------------------------------------------- rendering


def _nav(principal: Principal | None, path: str) -> list[dict[str, Any]]:
    if principal is None:
        return []
    items = []
    for item in NAV:
        if item.perm is not None and not principal.can(item.perm):
            continue
        if item.any_of and not any(principal.can(p) for p in item.any_of):
            continue
        active = path == item.href if item.href == "/" else path.startswith(item.href)
        items.append({"href": item.href, "label": item.label, "section": item.section,
                      "active": active})  # fmt: skip
    return items


class Feedback:
    """Whether a form on the page being rendered showed the refusal's message (`form_error`
    marks it): `_feedback.html` shows a stale conflict at the end of the page otherwise."""

    def __init__(self) -> None:
        self.shown = False

    def mark(self) -> str:
        self.shown = True
        return ""


def _base_context(request: Request) -> dict[str, Any]:
    principal = principal_of(request)
    binding = csrf_binding(request)
    return {
        "request": request,
        "principal": principal,
        "csrf_token": csrf_token(settings_of(request).key, binding) if binding else "",
        "nav": _nav(principal, request.url.path),
        "request_id": getattr(request.state, "request_id", ""),
        "flash": flash_of(request),
        "feedback": Feedback(),
        "htmx": htmx_asset(),
        "css_href": css_href(),
        # The banner of base.html: the maintenance period `page` found (None: writes work).
        "maintenance": getattr(request.state, "maintenance", None),
    }


def fragment_of(request: Request, partials: Mapping[str, str] | None) -> str | None:
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
    fragment = fragment_of(request, partials)
    if fragment is None:
        body = env.get_template(template).render(context)
    elif fragment == "main":
        page = env.get_template(template)
        body = "".join(page.blocks["main"](page.new_context(context)))
    else:
        body = env.get_template(fragment).render(context)
    response = HTMLResponse(body, status_code=status, headers=dict(headers or {}))
    if FLASH_COOKIE in request.cookies:  # shown once: this render consumed it
        response.raw_headers.append(
            (b"set-cookie", _flash_header("", settings_of(request), max_age=0))
        )
    return response


ERROR_TITLES = {
    400: "Request not accepted",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    422: "Check your input",
    503: "Database not reachable",
}
MAINTENANCE_TITLE = "Read-only: maintenance"


def render_error(
    request: Request,
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    title: str | None = None,
) -> HTMLResponse:
    title = title or ERROR_TITLES.get(status, "Error")
    ctx = {"status": status, "title": title, "message": message}
    return render(request, "error.html", ctx, status, headers=headers)


def status_of(exc: DomainError) -> int:
    return 409 if isinstance(exc, Conflict | Duplicate) else 422


# ----------------------------------------------------------------------------- request helpers


class LoginRequired(Exception):
    """The page needs a signed-in user; `page` turns it into a redirect to /login."""


def signed_in(request: Request) -> Principal:
    principal = principal_of(request)
    if principal is None:
        raise LoginRequired
    return principal


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


def route_of(request: Request) -> str:
    """The route template a request matched ("/alerts/{alert_id}/assign"), else its path."""
    for route in getattr(request.app, "routes", ()):
        match, _ = route.matches(request.scope)
        if match is Match.FULL:
            return str(getattr(route, "path", request.url.path))
    return request.url.path


async def refused_post(request: Request, exc: Forbidden) -> None:
    """A page POST a permission refused is audited (`audit_trail.refused`); a GET is not an
    attempt at anything."""
    principal = principal_of(request)
    if request.method not in ("GET", "HEAD") and principal is not None:
        await refused(principal, f"{request.method} {route_of(request)}", exc)


async def _maintenance_of(request: Request) -> maintenance.Maintenance | None:
    """The maintenance period the caller is under, for the banner of a whole page and for the
    check of a form POST (`posts.form_post`): one indexed query; none for an htmx fragment that
    a GET swaps into a page (no banner there). A database outage shows no banner (the page
    answers with its own 503)."""
    if request.method == "GET" and fragment_of(request, None) is not None:
        return None
    principal = principal_of(request)
    try:
        return await maintenance.active_for(principal.org_id if principal else None)
    except Exception as exc:
        if database_unavailable(exc):
            return None
        raise


def page(handler: Handler) -> Handler:
    """Turn what a handler does not handle itself into pages: anonymous -> login, CSRF or
    permission failure -> 403 page, unknown or other organization's id -> 404 page, a write
    during maintenance -> 503 page with the reason."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            request.state.maintenance = await _maintenance_of(request)
            response = await handler(request)
            if isinstance(response, FlashRedirect):
                cookie = flash_cookie(settings_of(request), response.flash_code)
                response.raw_headers.append((b"set-cookie", cookie))
            return response
        except (LoginRequired, Unauthenticated):
            return _to_login(request)
        except HTTPException as exc:
            return render_error(request, exc.status_code, str(exc.detail))
        except Forbidden as exc:
            await refused_post(request, exc)
            return render_error(request, 403, exc.message)
        except NotFound as exc:
            return render_error(request, 404, exc.message)
        except maintenance.UnderMaintenance as exc:
            retry = {"Retry-After": str(maintenance.RETRY_AFTER_SECONDS)}
            return render_error(request, 503, exc.message, retry, title=MAINTENANCE_TITLE)
        except DomainError as exc:
            return render_error(request, status_of(exc), exc.message)

    return endpoint
