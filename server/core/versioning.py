"""Optimistic concurrency, one rule for every versioned row (alerts, cases, users, scenarios,
rerun requests, runs).

A change names the version of the row it was made against (`expected_version`). If the row has
moved on, the change is refused with a CONFLICT that says what the row is now and how to go on,
and nothing is written. The write itself is guarded by the version too (`write_versioned`), so
no update is lost even where SELECT ... FOR UPDATE is a no-op (SQLite).
"""

from __future__ import annotations

from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tortoise.queryset import QuerySet

from riskops.server.core.errors import Conflict, Invalid

FIELD = "expected_version"

M = TypeVar("M", bound=Model)


def parse_version(raw: Any, *, of: str = "") -> int:
    """The client's expected version: a whole number (a bool is not one). `of` names the row
    ("of the scenario ") where the form would otherwise be ambiguous."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise Invalid(
            f"The form does not carry the version {of}you loaded; reload the page and try again.",
            field=FIELD,
        )
    return raw


def check_version(
    what: str,
    current: int,
    expected: int,
    *,
    status: str | None = None,
    verb: str = "decide",
    field: str | None = FIELD,
    **extra: Any,
) -> None:
    """Conflict unless `expected` is the row's `current` version. `what` names the row ("Case
    CASE-000012"), `status` its state now, `verb` what to do again after reloading, `field` the
    input the error is about; `extra` travels with the error (the current state, for the faces
    to show)."""
    if current == expected:
        return
    now = f"it is now {status} at version {current}" if status else f"it is at version {current}"
    state = {"current_status": status} if status else {}
    raise Conflict(
        f"{what} was changed by someone else: {now} (you had version {expected}). "
        f"Reload it and {verb} again.",
        field=field,
        current_version=current,
        **state,
        **extra,
    )


async def write_versioned(
    row: QuerySet[M], expected: int, conn: BaseDBAsyncClient, what: str, **values: Any
) -> None:
    """UPDATE the one row `row` selects with `values`, only while it is still at `expected`: a
    concurrent change in between makes this a Conflict instead of a lost update."""
    updated = await row.filter(version=expected).using_db(conn).update(**values)
    if updated != 1:
        raise Conflict(
            f"{what} was changed by someone else while you acted; reload it.", field=FIELD
        )
