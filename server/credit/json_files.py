"""Reading one JSON file of the seed's tree (a run file of the ledger, a scenario file): a bounded
read of a regular file, then UTF-8 JSON, every refusal an Invalid saying what is wrong (and, for
bad JSON, where: line and column). What the object must hold is the caller's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from riskops.server.core import validation
from riskops.server.core.errors import Invalid


def read_limited(path: Path, max_bytes: int, what: str) -> bytes:
    """The bytes of `path`, a regular file of at most `max_bytes` (`what` names the kind of file
    in the refusal: "a run file")."""
    try:
        if not path.is_file():
            raise Invalid("the file is not a regular file.", field="file")
        size = path.stat().st_size
        if size > max_bytes:
            raise Invalid(
                f"the file is {size:,} bytes; {what} may hold at most {max_bytes:,} bytes.",
                field="file",
            )
        return path.read_bytes()
    except OSError as e:
        raise Invalid(f"the file cannot be read: {e.strerror or e}.", field="file") from None


def json_of(raw: bytes) -> Any:
    """The JSON value of a file's bytes: UTF-8 text, not nested deeper than `validation` allows
    (json.loads would recurse), valid JSON."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("the file is not UTF-8 text.", field="json") from None
    validation.shallow_json(text, "The file's JSON", "json")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise Invalid(
            f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}.", field="json"
        ) from None
