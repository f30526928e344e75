"""The /graphql endpoint: limits from settings, authentication required, errors masked in prod."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import strawberry
from cross_web import HTTPException
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import FieldNode, GraphQLError, get_operation_ast
from riskops.graphql.core.context import Context
from riskops.graphql.core.executor import FastExecutionContext
from riskops.graphql.schema import Mutation, Query
from riskops.server.core.errors import DomainError
from riskops.server.core.validation import JSON_TOO_DEEP, has_lone_surrogate_in, json_too_deep
from riskops.server.operations import maintenance
from riskops.server.outage import RETRY_AFTER_SECONDS, database_unavailable, unavailable_errors
from riskops.server.security import csrf_token, new_secret
from riskops.server.settings import Settings
from riskops.server.web import GRAPHQL_RESPONSE, JSON, negotiate_graphql


def _expected(error: GraphQLError) -> bool:
    """Errors we raised on purpose (codes, validation, limits) stay visible in prod."""
    if isinstance(error.original_error, DomainError):
        return True
    if database_unavailable(error.original_error):
        return True  # answered as UNAVAILABLE (process_result), never with the driver's words
    if error.original_error is None:
        return True  # parse/validation errors, incl. the depth/alias/token limits
    return bool(error.extensions and "code" in error.extensions)


def _is_request_error(result: ExecutionResult) -> bool:
    """A request that never executed (parse, validation, variable coercion, a limit): no
    result data, and no error at a field's path."""
    errors = result.errors or []
    return result.data is None and bool(errors) and all(e.path is None for e in errors)


class MaintenanceGuard(SchemaExtension):
    """While the caller's organization is in read-only maintenance, a mutation is not run: the
    answer is a request error with code UNAVAILABLE and the reason (503 with Retry-After, like
    a database outage: `process_result`), one indexed query per mutation. Queries are not
    checked; nor are the maintenance mutations themselves (`maintenance.ALLOWED_MUTATIONS`)."""

    async def on_execute(self):  # type: ignore[no-untyped-def]  # an async generator hook
        ctx = self.execution_context
        if ctx.operation_type is OperationType.MUTATION and ctx.graphql_document is not None:
            operation = get_operation_ast(ctx.graphql_document, ctx.operation_name)
            # No operation found (several, none named): checked too, whatever runs after.
            selections = operation.selection_set.selections if operation else [None]
            names = {s.name.value if isinstance(s, FieldNode) else "" for s in selections}
            if not names <= maintenance.ALLOWED_MUTATIONS:
                period = await maintenance.active_for(ctx.context.principal.org_id)
                if period is not None:
                    refusal = maintenance.UnderMaintenance(period)
                    ctx.result = GraphQLExecutionResult(data=None, errors=[GraphQLError(
                        refusal.message,
                        extensions={"code": "UNAVAILABLE", "maintenance": True},
                    )])  # fmt: skip
        yield


def _maintenance_refusal(result: ExecutionResult) -> bool:
    return any((e.extensions or {}).get("maintenance") for e in result.errors or [])


GRAPHQL_CACHE_SIZE = 256  # distinct query texts kept parsed and validated


def build_schema(settings: Settings) -> Any:
    # The depth and alias limits are validation rules, built once: the validation cache is keyed
    # by the rule classes too, and limiter instances made per request would each bring new
    # classes (a miss every time). Parsing and validating the same query text is then done once
    # (bounded LRU caches), which is a sizeable part of a page of 50 alerts.
    limits = [
        *QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases).validation_rules,
    ]
    # Factories, so each request gets fresh extension instances.
    extensions: list[Any] = [
        lambda: AddValidationRules(limits),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        lambda: ParserCache(maxsize=GRAPHQL_CACHE_SIZE),
        lambda: ValidationCache(maxsize=GRAPHQL_CACHE_SIZE),
        MaintenanceGuard,
    ]
    if settings.is_prod:
        extensions.append(
            lambda: MaskErrors(
                should_mask_error=lambda e: not _expected(e),
                error_message="Internal error; quote the X-Request-ID header when reporting it.",
            )
        )
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        execution_context_class=FastExecutionContext,
    )


# --- GraphiQL, in dev only ---------------------------------------------------------------------
# Strawberry's own IDE page loads from a CDN and runs inline script, which neither works offline
# nor passes our CSP. This one is vendored (scripts/vendor_graphiql.sh) and started by a static
# script, so its page keeps `script-src 'self'`.

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
STATIC_DIR = UI_DIR / "static"
_ide_env = Environment(
    loader=FileSystemLoader(UI_DIR / "templates"), autoescape=True, undefined=StrictUndefined
)

# The IDE page's own CSP (the middleware adds its default only to responses without one). Like
# the default, but GraphiQL's stylesheet embeds its fonts and icons as data: URLs, and the one
# <style> element it creates (Radix's scroll lock while a dialog is open) carries a per-response
# nonce, which the init script hands over as `__webpack_nonce__`. No unsafe-inline, no eval.
GRAPHIQL_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)


@dataclass(frozen=True)
class _Asset:
    src: str
    integrity: str


def _sri(hexdigest: str) -> str:
    return "sha256-" + base64.b64encode(bytes.fromhex(hexdigest)).decode()


@functools.cache
def graphiql_assets() -> dict[str, _Asset]:
    """The vendored files named in SHA256SUMS (`graphiql/...` lines), with their SRI hashes:
    keys `css`, `react`, `react-dom`, `graphiql`, `init`."""
    vendor = STATIC_DIR / "vendor"
    found: dict[str, _Asset] = {}
    for line in (vendor / "SHA256SUMS").read_text().splitlines():
        hexdigest, _, name = line.partition("  ")
        if not name.startswith("graphiql/"):
            continue
        asset = _Asset(f"/static/vendor/{name}", _sri(hexdigest))
        file = name.removeprefix("graphiql/")
        if file.startswith("graphiql-") and file.endswith(".min.css"):
            found["css"] = asset
        elif file.startswith("graphiql-") and file.endswith(".min.js"):
            found["graphiql"] = asset
        elif file.startswith("react-dom-") and file.endswith(".production.min.js"):
            found["react-dom"] = asset
        elif file.startswith("react-") and file.endswith(".production.min.js"):
            found["react"] = asset
    missing = {"css", "graphiql", "react", "react-dom"} - found.keys()
    if missing:
        raise RuntimeError(
            f"GraphiQL is not vendored ({', '.join(sorted(missing))} missing from "
            "ui/static/vendor/SHA256SUMS): run scripts/vendor_graphiql.sh"
        )
    init = (STATIC_DIR / "graphiql-init.js").read_bytes()
    digest = hashlib.sha256(init).hexdigest()
    found["init"] = _Asset(f"/static/graphiql-init.js?v={digest[:12]}", _sri(digest))
    return found


def graphiql_page(settings: Settings, csrf_binding: str | None, endpoint: str) -> HTMLResponse:
    assets = graphiql_assets()
    nonce = new_secret(18)
    html = _ide_env.get_template("graphiql.html").render(
        css=assets["css"],
        scripts=[assets[k] for k in ("react", "react-dom", "graphiql")],
        init=assets["init"],
        # Bearer callers have no CSRF binding (CSRF does not apply to them): an empty token.
        csrf_token=csrf_token(settings.key, csrf_binding) if csrf_binding else "",
        endpoint=endpoint,
        style_nonce=nonce,
    )
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": GRAPHIQL_CSP.format(nonce=nonce),
            "Cache-Control": "no-store",
        },
    )


def request_error(status: int, message: str, media_type: str = JSON) -> Response:
    """A request the server refuses before running it (unreadable body, nesting too deep, a
    mutation over GET...): a GraphQL response with `errors` and no `data`, in the negotiated
    media type."""
    code = "NOT_FOUND" if status == 404 else "INVALID"
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    headers = {"Allow": "GET, POST"} if status == 405 else None
    return Response(json.dumps(body), status_code=status, media_type=media_type, headers=headers)


class RiskopsGraphQL(GraphQL[Context, None]):
    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            # GraphiQL in dev only, our vendored page (render_graphql_ide), never Strawberry's.
            graphql_ide=None if settings.is_prod else "graphiql",
            allow_queries_via_get=True,
            multipart_uploads_enabled=False,
        )
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        media_type = negotiate_graphql(request.headers.get("accept"))
        request.state.graphql_media_type = media_type
        try:
            response = await self.run(request)
        except HTTPException as exc:
            # Strawberry answers these in plain text; API clients read JSON errors.
            response = request_error(exc.status_code, exc.reason, media_type)
        await response(scope, receive, send)

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as exc:
            if isinstance(exc.__cause__, InvalidOperationTypeError):
                # A mutation over GET: the method is what is wrong (GraphQL over HTTP: 405).
                raise HTTPException(405, exc.reason) from exc
            raise

    async def get_sub_response(self, request: Request) -> Response:  # type: ignore[override]
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = request.state.graphql_media_type
        request.state.graphql_sub_response = sub_response
        return sub_response

    async def process_result(self, request: Request, result: ExecutionResult) -> Any:
        """With application/graphql-response+json, a request error is a 400 without `data`
        (the spec: no `data` entry means the request was not executed); with application/json
        it stays 200 with `data: null`, as clients of that media type expect."""
        processed = await super().process_result(request, result)
        sub_response = request.state.graphql_sub_response
        if any(database_unavailable(e.original_error) for e in result.errors or []):
            # A database outage met by a resolver: 503 and UNAVAILABLE, as for the pages,
            # whatever else resolved (a partial answer would look like missing data).
            sub_response.status_code = 503
            sub_response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            sub_response.headers["Cache-Control"] = "no-store"
            return unavailable_errors()
        if _maintenance_refusal(result):
            # Read-only maintenance: nothing ran, so no `data` (like an outage), 503 + reason.
            processed.pop("data", None)
            sub_response.status_code = 503
            sub_response.headers["Retry-After"] = str(maintenance.RETRY_AFTER_SECONDS)
            sub_response.headers["Cache-Control"] = "no-store"
            return processed
        if request.state.graphql_media_type == GRAPHQL_RESPONSE and _is_request_error(result):
            processed.pop("data", None)
            sub_response.status_code = 400
        return processed

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        # Strawberry's, in the negotiated media type (it always says application/json).
        response = Response(
            self.encode_json(response_data),
            status_code=sub_response.status_code or 200,
            media_type=sub_response.media_type or JSON,
        )
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        return response

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # Strawberry's rule (a GET without `query`), plus, when the IDE is on, a browser opening
        # /graphql?query=...: the IDE opens with that query (scripts, which do not ask for
        # text/html, still get the JSON answer).
        if super().should_render_graphql_ide(request):
            return True
        return bool(
            self.graphql_ide
            and request.method == "GET"
            and "text/html" in request.headers.get("accept", "")
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_page(
            self.settings, getattr(request.state, "csrf_binding", None), request.url.path
        )

    def decode_json(self, data: str | bytes) -> object:
        # Strawberry answers 400 only for a JSONDecodeError; a body that is not UTF-8, or JSON
        # that is not an object (nor a batch list), would otherwise escape as a 500. So would
        # JSON nested deeper than the recursion limit (a RecursionError in json.loads, or in
        # any walk over the value): its depth is checked first, without parsing.
        if json_too_deep(data):
            raise HTTPException(400, JSON_TOO_DEEP)
        try:
            parsed = json.loads(data)
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError("Request body is not UTF-8", "", 0) from exc
        if not isinstance(parsed, dict | list):
            raise json.JSONDecodeError("Request body is not a JSON object", "", 0)
        if has_lone_surrogate_in(parsed):
            # JSON can escape half a UTF-16 pair ("\ud800"); it is not text, and would reach a
            # database driver that cannot encode it (an unexplained 500). Refused for every
            # field at once; the services refuse it too (validation.text / long_text).
            raise HTTPException(
                400,
                "The request contains a lone UTF-16 surrogate (an escape like \\ud800 without "
                "its pair), which is not text; send valid Unicode.",
            )
        return parsed

    async def get_context(self, request: Any, response: Any) -> Context:
        return Context(
            request=request,
            principal=request.state.principal,
            settings=self.settings,
            response=response,
        )


class _Endpoint:
    """Refuses anonymous callers before Strawberry runs (an ASGI app, so Route passes scope)."""

    def __init__(self, settings: Settings) -> None:
        self.inner = RiskopsGraphQL(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("state", {}).get("principal") is None:
            body = {
                "errors": [
                    {
                        "message": "Authentication required: log in, or send "
                        "`Authorization: Bearer <API token>`.",
                        "extensions": {"code": "UNAUTHENTICATED"},
                    }
                ]
            }
            response = Response(
                json.dumps(body),
                status_code=401,
                media_type=negotiate_graphql(Headers(scope=scope).get("accept")),
                headers={"WWW-Authenticate": 'Bearer realm="riskops"'},
            )
            await response(scope, receive, send)
            return
        await self.inner(scope, receive, send)


def graphql_app(settings: Settings) -> _Endpoint:
    return _Endpoint(settings)
