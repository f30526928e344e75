"""Expected errors as data: every mutation's payload carries `errors: [UserError!]!`, each with a
`code`, the `field` it is about and a message that says how to fix it (Saleor style)."""

from __future__ import annotations

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
