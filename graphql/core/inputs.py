"""GraphQL input values as the services take them: an input object as a plain dict with the
services' snake_case names, an enum as its value. Validation is the services' (one place)."""

from __future__ import annotations

from dataclasses import is_dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry


def input_dict(item: object) -> dict[str, Any]:
    """An input object as the service's record: snake_case names, unset (null) fields left
    out; decimals as text, times in ISO 8601, enums as their values, nested input objects
    alike. JSON values pass unchanged."""
    return {
        name: _plain(value)
        for name, value in vars(item).items()
        if value is not None and value is not strawberry.UNSET
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):  # a nested input object
        return input_dict(value)
    return value


def value_of(choice: Enum | None) -> str | None:
    """An optional enum argument as the service's text (None: not given)."""
    return None if choice is None else str(choice.value)
