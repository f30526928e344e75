"""The per-request GraphQL context and the helpers resolvers use to reach the services."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.requests import Request
from strawberry.types import Info as _Info

from graphql import GraphQLError
from riskops.graphql.credit.loaders import RunLoaders
from riskops.graphql.triage.loaders import Loaders
from riskops.server.core.errors import DomainError, ErrorCode
from riskops.server.core.principal import Principal
from riskops.server.settings import Settings

T = TypeVar("T")


@dataclass
class Context:
    request: Request
    principal: Principal
    settings: Settings
    response: Any = None
    # Per-request batch loaders: the nested fields of alerts, and what run nodes show.
    loaders: Loaders = field(init=False)
    run_loaders: RunLoaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.principal.org_id)
        self.run_loaders = RunLoaders(self.principal)


Info = _Info[Context, None]


def principal(info: Info) -> Principal:
    return info.context.principal


async def query(call: Awaitable[T]) -> T:
    """Run a read service call; expected errors become GraphQL errors with an error `code`."""
    try:
        return await call
    except DomainError as exc:
        raise GraphQLError(
            exc.message, extensions={"code": exc.code.value, "field": exc.field}
        ) from exc


async def or_none(call: Awaitable[T]) -> T | None:
    """A read of one object: missing (or another organization's) is null, other expected
    errors are GraphQL errors with a code."""
    try:
        return await call
    except DomainError as exc:
        if exc.code is ErrorCode.NOT_FOUND:
            return None
        raise GraphQLError(
            exc.message, extensions={"code": exc.code.value, "field": exc.field}
        ) from exc
