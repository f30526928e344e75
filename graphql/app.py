"""The /graphql endpoint: limits from settings, authentication required, errors masked in prod."""

from __future__ import annotations

import json
from typing import Any

import strawberry
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)

from graphql import GraphQLError
from riskops.graphql.context import Context
from riskops.graphql.schema import Mutation, Query
from riskops.server.errors import DomainError
from riskops.server.settings import Settings


def _expected(error: GraphQLError) -> bool:
    """Errors we raised on purpose (codes, validation, limits) stay visible in prod."""
    if isinstance(error.original_error, DomainError):
        return True
    if error.original_error is None:
        return True  # parse/validation errors, incl. the depth/alias/token limits
    return bool(error.extensions and "code" in error.extensions)


def build_schema(settings: Settings) -> Any:
    # Factories, so each request gets fresh extension instances.
    extensions: list[Any] = [
        lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
    ]
    if settings.is_prod:
        extensions.append(
            lambda: MaskErrors(
                should_mask_error=lambda e: not _expected(e),
                error_message="Internal error; quote the X-Request-ID header when reporting it.",
            )
        )
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=extensions)


class RiskopsGraphQL(GraphQL[Context, None]):
    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            # Strawberry's IDE loads scripts from a CDN and runs inline script: neither passes
            # our CSP nor works offline. Use any GraphQL client with a bearer token instead.
            graphql_ide=None,
            allow_queries_via_get=True,
            multipart_uploads_enabled=False,
        )
        self.settings = settings

    def decode_json(self, data: str | bytes) -> object:
        # Strawberry answers 400 only for a JSONDecodeError; a body that is not UTF-8, or JSON
        # that is not an object (nor a batch list), would otherwise escape as a 500.
        try:
            parsed = json.loads(data)
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError("Request body is not UTF-8", "", 0) from exc
        if not isinstance(parsed, dict | list):
            raise json.JSONDecodeError("Request body is not a JSON object", "", 0)
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
                media_type="application/json",
                headers={"WWW-Authenticate": 'Bearer realm="riskops"'},
            )
            await response(scope, receive, send)
            return
        await self.inner(scope, receive, send)


def graphql_app(settings: Settings) -> _Endpoint:
    return _Endpoint(settings)
