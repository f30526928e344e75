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
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


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
