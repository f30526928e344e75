"""Database ids as GraphQL `ID`s: their decimal text, the one conversion every type uses."""

from __future__ import annotations

import strawberry


def as_id(value: int | str) -> strawberry.ID:
    return strawberry.ID(str(value))


def as_opt_id(value: int | str | None) -> strawberry.ID | None:
    return None if value is None else as_id(value)
