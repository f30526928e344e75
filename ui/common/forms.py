"""Reading forms and query strings the same way on every page: text, lists, whole numbers,
local dates, the organization's directory, and where to go back to."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import FormData
from starlette.responses import RedirectResponse

from riskops.server.core.errors import (
    Conflict,
    DomainError,
    Duplicate,
    Forbidden,
    Invalid,
)
from riskops.server.core.principal import Principal
from riskops.server.core.validation import label
from riskops.server.identity import users
from riskops.server.identity.models import User

# Service errors a form shows inline; Forbidden/NotFound become the friendly 403/404 pages.
FORM_ERRORS = (Invalid, Conflict, Duplicate)


def form_errors(exc: DomainError, fields: Mapping[str, str]) -> dict[str, str]:
    """The service's message keyed by the form field it concerns (services name fields the way
    the GraphQL API does, e.g. `expiresInDays`), or `_form` for a message about the whole form."""
    return {fields.get(exc.field or "", "_form"): exc.message}


def form_text(form: FormData | Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def form_texts(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]


def int_or_none(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


async def directory(principal: Principal) -> list[User]:
    """The organization's people, for names and pickers; empty when the caller may not list
    them (names are a convenience: the ids shown are still right)."""
    try:
        return await users.list_users(principal)
    except Forbidden:
        return []


def parse_day(raw: str, name: str, named: str, errors: dict[str, str]) -> datetime | str | None:
    """A `date` form value as 00:00 UTC of that day (`parse_local`'s sibling). A value that is
    no date is an error under `name`, in the words the service uses for the field (`named`),
    and goes to the service as it was typed: the service checks the permission first (a role
    without it is refused, whatever it typed), then refuses the value."""
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        errors[name] = f"{named}: not a date (like 2026-11-01)."
        return raw
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parse_local(raw: str, name: str, errors: dict[str, str]) -> datetime | None:
    """A `datetime-local` form value, read as UTC (the forms say so); a bad one is an error
    under the field `name`, collected in `errors`."""
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        errors[name] = f"{label(name)}: not a date and time (like 2025-01-31T13:45)."
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def local_path(raw: str | None) -> str:
    """`next` after login: a path on this site only (no scheme, host, `//` or `\\`)."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    if any(ord(c) < 32 for c in raw):
        return "/"
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return "/"
    return raw


class FlashRedirect(RedirectResponse):
    """A 303 to `path` that carries the flash message `code` for the page it lands on: `page`
    seals it into a one-time cookie (see `rendering.flash_cookie`), so the address never holds
    it and a reload or a shared link shows nothing stale."""

    def __init__(self, path: str, code: str) -> None:
        super().__init__(path, status_code=303)
        self.flash_code = code


def back(path: str, code: str) -> RedirectResponse:
    return FlashRedirect(path, code)


def query_string(params: Mapping[str, Any]) -> str:
    """A query string of the non-empty values (lists repeat their key): shareable filter links
    without `score_min=&…` noise."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        for v in value if isinstance(value, list) else [value]:
            if v:
                pairs.append((name, str(v)))
    return urlencode(pairs)
