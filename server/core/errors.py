"""Expected errors of the domain. Both faces turn them into data: GraphQL typed errors with a
`code`, pages an inline message. The message says what is wrong and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    CONFLICT = "CONFLICT"
    DUPLICATE = "DUPLICATE"
    RATE_LIMITED = "RATE_LIMITED"
    TOO_LARGE = "TOO_LARGE"
    UNAVAILABLE = "UNAVAILABLE"  # read-only maintenance (or an outage): retry later


class DomainError(Exception):
    code: ErrorCode = ErrorCode.INVALID

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra


class Unauthenticated(DomainError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(DomainError):
    """Not allowed. `permission` names the one that was missing (its value, `alert.triage`),
    `maker_checker` marks the refusal of someone deciding their own request: both go into the
    refusal's audit event (`audit_trail.refused`)."""

    code = ErrorCode.FORBIDDEN

    def __init__(
        self,
        message: str,
        *,
        permission: str | None = None,
        maker_checker: bool = False,
        field: str | None = None,
        **extra: Any,
    ) -> None:
        if maker_checker:
            extra["maker_checker"] = True
        super().__init__(message, field=field, **extra)
        self.permission = permission
        self.maker_checker = maker_checker


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class Invalid(DomainError):
    code = ErrorCode.INVALID


class Conflict(DomainError):
    code = ErrorCode.CONFLICT


class Duplicate(DomainError):
    code = ErrorCode.DUPLICATE


class RateLimited(DomainError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def not_found(kind: str, ident: object) -> NotFound:
    # Identical for "missing" and "belongs to another organization": nothing leaks.
    return NotFound(f"{kind} {ident} not found.", kind=kind.lower())


@dataclass(frozen=True)
class ItemError:
    index: int
    field: str
    message: str
    code: ErrorCode = ErrorCode.INVALID
