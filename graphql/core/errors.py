"""Expected errors as data: every mutation's payload carries `errors: [UserError!]!`, each with a
`code`, the `field` it is about and a message that says how to fix it (Saleor style).
`as_payload` is the one place a mutation turns a service's `DomainError` into that payload."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from inspect import isawaitable
from typing import Protocol, TypeVar

import strawberry

from riskops.server.core.errors import DomainError
from riskops.server.core.errors import ErrorCode as _ErrorCode

ErrorCode = strawberry.enum(_ErrorCode, name="ErrorCode", description="Why a mutation failed.")


@strawberry.type(description="An expected error: data, not an exception. `field` names the input.")
class UserError:
    code: ErrorCode  # type: ignore[valid-type]
    message: str
    field: str | None = None

    @classmethod
    def of(cls, exc: DomainError) -> UserError:
        return cls(code=exc.code, message=exc.message, field=exc.field)


T = TypeVar("T")
P = TypeVar("P")
P_co = TypeVar("P_co", covariant=True)


class ErrorPayload(Protocol[P_co]):
    """A payload built from its errors alone: every payload type, whose other fields default."""

    def __call__(self, *, errors: list[UserError]) -> P_co: ...


async def as_payload(
    payload: ErrorPayload[P],
    change: Awaitable[T],
    done: Callable[[T], P | Awaitable[P]],
    *,
    conflict: Callable[[list[UserError]], Awaitable[P]] | None = None,
) -> P:
    """Await the service call `change` and build the mutation's payload.

    Its result becomes `done(result)` (plain or async). An expected error (`DomainError`)
    becomes `payload(errors=[...])`; on CONFLICT, `conflict(errors)` when given: the payload
    that also carries the current state, so the client can retry on fresh data. Any other
    exception is not expected and propagates (a masked GraphQL error)."""
    try:
        result = await change
    except DomainError as exc:
        errors = [UserError.of(exc)]
        if conflict is not None and exc.code is _ErrorCode.CONFLICT:
            return await conflict(errors)
        return payload(errors=errors)
    built = done(result)
    return await built if isawaitable(built) else built
