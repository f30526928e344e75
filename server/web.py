"""Request-level helpers shared by the faces: who is calling, CSRF, client info, HTMX."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from riskops.server.core.principal import Principal
from riskops.server.identity.auth import ClientInfo
from riskops.server.security import csrf_valid
from riskops.server.settings import Settings

SESSION_COOKIE = "riskops_session"
ANON_COOKIE = "riskops_anon"
CHALLENGE_COOKIE = "riskops_challenge"  # the second login step (MFA), see `mfa`
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0
    return 1.0


def negotiate_graphql(accept: str | None) -> str:
    """The media type of a GraphQL answer (GraphQL over HTTP): application/graphql-response+json
    when the client accepts it at least as much as application/json, else application/json
    (also for no Accept, `*/*`, or nothing we know: the legacy default the spec allows)."""
    best: dict[str, float] = {}
    for media_range in (accept or "").split(","):
        kind, *params = media_range.split(";")
        kind = kind.strip().lower()
        if kind in (GRAPHQL_RESPONSE, JSON, "application/*", "*/*"):
            best[kind] = max(best.get(kind, 0.0), _quality(params))
    ours = best.get(GRAPHQL_RESPONSE, 0.0)
    theirs = max(best.get(JSON, 0.0), best.get("application/*", 0.0), best.get("*/*", 0.0))
    return GRAPHQL_RESPONSE if ours > 0 and ours >= theirs else JSON


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def principal_of(request: Request) -> Principal | None:
    return getattr(request.state, "principal", None)


def client_info(request: Request) -> ClientInfo:
    return ClientInfo(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        request_id=getattr(request.state, "request_id", None),
    )


def csrf_binding(request: Request) -> str | None:
    return getattr(request.state, "csrf_binding", None)


async def read_form(request: Request) -> FormData:
    """The form of a state-changing request, after checking its CSRF token (header from htmx,
    hidden field from a plain form). 403 when it is missing or wrong."""
    form = await request.form()
    presented = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    binding = csrf_binding(request)
    if binding is None or not csrf_valid(
        settings_of(request).key, binding, presented if isinstance(presented, str) else None
    ):
        raise HTTPException(
            403, "The form's security token is missing or stale; reload the page and try again."
        )
    return form


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def push_url(response: Response, url: str) -> Response:
    response.headers["HX-Push-Url"] = url
    return response


def redirect_htmx(response: Response, url: str) -> Response:
    response.headers["HX-Redirect"] = url
    return response
