"""Expected errors as data: every mutation's payload carries `errors: [UserError!]!`, each with a
`code`, the `field` it is about and a message that says how to fix it (Saleor style).
`as_payload` is the one place a mutation turns a service's `DomainError` into that payload."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from inspect import isawaitable
from typing import Any, Protocol, TypeVar

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.types import Info

from riskops.server.core.audit_trail import refused
from riskops.server.core.errors import DomainError, Forbidden
from riskops.server.core.errors import ErrorCode as _ErrorCode

ErrorCode = strawberry.enum(_ErrorCode, name="ErrorCode", description="Why a mutation failed.")


@strawberry.type(description="An expected error: data, not an exception. `field` names the input.")
class UserError:
    code: ErrorCode  # type: ignore[valid-type]
    message: str
    field: str | None = None
    # The refusal behind a FORBIDDEN error, for its audit event (`AuditRefusals`); not in the API.
    refusal: strawberry.Private[Forbidden | None] = None

    @classmethod
    def of(cls, exc: DomainError) -> UserError:
        refusal = exc if isinstance(exc, Forbidden) else None
        return cls(code=exc.code, message=exc.message, field=exc.field, refusal=refusal)


class AuditRefusals(FieldExtension):
    """On every mutation (`audit_refusals`): a FORBIDDEN answer, in the payload's errors or
    raised, is audited as a refusal of `mutation <name>` with the missing permission
    (`audit_trail.refused`: one event per caller, mutation and minute, with a count)."""

    async def resolve_async(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        operation = f"mutation {info.field_name}"
        try:
            result = await next_(source, info, **kwargs)
        except Forbidden as exc:
            await refused(info.context.principal, operation, exc)
            raise
        for error in getattr(result, "errors", None) or ():
            if isinstance(error, UserError) and error.refusal is not None:
                await refused(info.context.principal, operation, error.refusal)
                break  # one attempt, one refusal
        return result


def audit_refusals(mutation: type) -> type:
    """Give every field of the root Mutation type the `AuditRefusals` extension."""
    for field in mutation.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        field.extensions.append(AuditRefusals())
    return mutation


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
