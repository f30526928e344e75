"""ASGI middleware, outermost first: request id + RED metrics + logs, security headers,
body size limit, authentication (session cookie or bearer token) and CSRF for the API.

Pure ASGI (no BaseHTTPMiddleware), so streaming bodies and background tasks behave.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from http.cookies import SimpleCookie
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riskops.server import outage
from riskops.server.identity import auth
from riskops.server.observability import (
    HTTP_DURATION,
    HTTP_ERRORS,
    HTTP_REQUESTS,
    TALLY,
    request_id_var,
)
from riskops.server.security import csrf_valid, digest, new_secret
from riskops.server.settings import Settings
from riskops.server.web import (
    ANON_COOKIE,
    CHALLENGE_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    negotiate_graphql,
)

log = logging.getLogger("riskops.http")
_RID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "object-src 'none'"
)


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return v.decode("latin-1")
    return None


async def _send_json(
    scope: Scope,
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: tuple[tuple[bytes, bytes], ...] | list[tuple[bytes, bytes]] = (),
) -> None:
    """A JSON error; for /graphql in the media type the client accepts (GraphQL over HTTP)."""
    payload = json.dumps(body).encode()
    media_type = "application/json"
    if scope["path"].startswith("/graphql"):
        media_type = negotiate_graphql(_header(scope, b"accept"))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestContextMiddleware:
    """X-Request-ID in and out, one JSON log line and RED metrics per request, security headers."""

    def __init__(self, app: ASGIApp, settings: Settings, routes: list[Any]) -> None:
        self.app, self.settings, self.routes = app, settings, routes

    def _route(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return str(getattr(route, "path", "?"))
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _RID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500
        secure_headers = [
            (b"x-request-id", rid.encode()),
            (b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
            (b"vary", b"HX-Request, Cookie"),
        ]
        if self.settings.is_prod:
            secure_headers.append((b"strict-transport-security", b"max-age=63072000"))

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                existing = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in secure_headers if h[0] not in existing
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route, method = self._route(scope), scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(elapsed)
            if status >= 500:
                HTTP_ERRORS.labels(method, route).inc()
            TALLY.note(scope["path"], status, elapsed)  # the availability history
            log.info(
                "%s %s %s",
                method,
                scope["path"],
                status,
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """413 for bodies above the limit, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        too_large = {
            "errors": [
                {
                    "message": f"Request body is larger than {self.max_bytes} bytes; "
                    "send less per request (split the batch).",
                    "extensions": {"code": "TOO_LARGE"},
                }
            ]
        }
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_json(scope, send, 413, too_large)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_json(scope, send, 413, too_large)


class _TooLarge(Exception):
    pass


# Paths that answer without knowing the caller: probes and scrapers (their answer must not
# depend on authentication, hence on the database) and the static files (the outage page's own
# stylesheet must load while the database is down).
PUBLIC_PATHS = ("/health", "/metrics")
PUBLIC_PREFIXES = ("/static/",)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


PageRenderer = Callable[[Request, int, str, Mapping[str, str]], Response]


class UnavailableMiddleware:
    """A database outage is a 503 with Retry-After and a message, never a bare 500: a GraphQL
    error with code UNAVAILABLE on /graphql, the styled error page elsewhere (rendered by the
    page face, which `render_page` is). Whatever reached the database first (the session lookup,
    a page, a resolver) raised the error this turns into the answer."""

    def __init__(self, app: ASGIApp, render_page: PageRenderer) -> None:
        self.app, self.render_page = app, render_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started or not outage.database_unavailable(exc):
                raise
            # One line per request, not a traceback: an outage would flood the log.
            log.warning(
                "database unavailable (%s: %s): %s %s answered 503",
                type(exc).__name__,
                str(exc)[:200],
                scope["method"],
                scope["path"],
            )
            await self.answer(scope, receive, send)

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        retry = {"Retry-After": str(outage.RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
        request = Request(scope, receive)
        if scope["path"].startswith("/graphql"):
            response: Response = JSONResponse(
                outage.unavailable_errors(),
                status_code=503,
                media_type=negotiate_graphql(request.headers.get("accept")),
                headers=retry,
            )
        else:
            response = self.render_page(request, 503, outage.MESSAGE, retry)
        await response(scope, receive, send)


class AuthMiddleware:
    """Resolve the caller (session cookie or `Authorization: Bearer`) into `request.state`.

    Also sets the CSRF binding (session id, or a pre-login cookie) and enforces the CSRF header
    on cookie-authenticated API calls. Page routes check CSRF on their forms (`web.read_form`).
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if is_public(scope["path"]):
            state["principal"], state["csrf_binding"] = None, None
            await self.app(scope, receive, send)
            return
        client = auth.ClientInfo(
            ip=scope["client"][0] if scope.get("client") else None,
            user_agent=_header(scope, b"user-agent"),
            request_id=state.get("request_id"),
        )
        cookies = SimpleCookie()
        try:
            cookies.load(_header(scope, b"cookie") or "")
        except Exception:  # a malformed cookie header is treated as no cookies
            cookies = SimpleCookie()
        bearer = _header(scope, b"authorization")
        principal = None
        new_anon: str | None = None
        is_api = scope["path"].startswith("/graphql")
        if bearer:
            scheme, _, secret = bearer.partition(" ")
            if scheme.lower() == "bearer":
                principal = await auth.from_bearer(secret.strip(), client)
            if principal is None:
                await _send_json(
                    scope,
                    send,
                    401,
                    {
                        "errors": [
                            {
                                "message": "The bearer token is invalid, expired or revoked; "
                                "create a new API token (Admin > API tokens).",
                                "extensions": {"code": "UNAUTHENTICATED"},
                            }
                        ]
                    },
                    [(b"www-authenticate", b'Bearer realm="riskops"')],
                )
                return
            state["csrf_binding"] = None  # no ambient authority: CSRF does not apply
        else:
            session = cookies.get(SESSION_COOKIE)
            if session is not None:
                principal = await auth.from_session(session.value, client)
            if principal is not None:
                state["csrf_binding"] = principal.session_id
            else:
                anon = cookies.get(ANON_COOKIE)
                if anon is not None and 16 <= len(anon.value) <= 100:
                    state["csrf_binding"] = digest(anon.value)
                else:
                    new_anon = new_secret(24)
                    state["csrf_binding"] = digest(new_anon)
            if (
                is_api
                and principal is not None
                and scope["method"] in UNSAFE
                and not csrf_valid(
                    self.settings.key, state["csrf_binding"], _header(scope, CSRF_HEADER.encode())
                )
            ):
                await _send_json(
                    scope,
                    send,
                    403,
                    {
                        "errors": [
                            {
                                "message": "Cookie-authenticated API calls need the X-CSRF-Token "
                                "header (from the page); scripts should use a bearer token.",
                                "extensions": {"code": "FORBIDDEN"},
                            }
                        ]
                    },
                )
                return
        state["principal"] = principal

        if new_anon is None:
            await self.app(scope, receive, send)
            return
        cookie = _cookie(ANON_COOKIE, new_anon, self.settings, max_age=86_400)

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie)]
            await send(message)

        await self.app(scope, receive, with_cookie)


def _cookie(
    name: str, value: str, settings: Settings, *, max_age: int | None, path: str = "/"
) -> bytes:
    parts = [f"{name}={value}", f"Path={path}", "HttpOnly", "SameSite=Lax"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if settings.is_prod:
        parts.append("Secure")
    return "; ".join(parts).encode()


def session_cookie(value: str, settings: Settings) -> bytes:
    return _cookie(SESSION_COOKIE, value, settings, max_age=settings.session_ttl_hours * 3600)


def clear_session_cookie(settings: Settings) -> bytes:
    return _cookie(SESSION_COOKIE, "", settings, max_age=0)


# The second login step's cookie (`mfa`'s challenge): sent to the /login pages only, and no
# longer than the challenge lives.
CHALLENGE_PATH = "/login"


def challenge_cookie(value: str, settings: Settings) -> bytes:
    return _cookie(CHALLENGE_COOKIE, value, settings,
                   max_age=settings.login_challenge_minutes * 60, path=CHALLENGE_PATH)  # fmt: skip


def clear_challenge_cookie(settings: Settings) -> bytes:
    return _cookie(CHALLENGE_COOKIE, "", settings, max_age=0, path=CHALLENGE_PATH)
