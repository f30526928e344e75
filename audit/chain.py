"""The hash-chain contract (docs: ARCHITECTURE.md "Audit chain contract").

Pure functions only, so any verifier can be checked against them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64

EXPORT_FIELDS = (
    "org",
    "seq",
    "ts",
    "actor",
    "actor_type",
    "action",
    "entity_type",
    "entity_id",
    "ip",
    "user_agent",
    "risk_level",
    "old_values",
    "new_values",
    "request_id",
    "prev_hash",
    "hash",
)


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def event_hash(event: dict[str, Any]) -> str:
    """sha256 of the canonical event without its own `hash` field."""
    body = {k: v for k, v in event.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def format_ts(moment: datetime | None = None) -> str:
    """RFC 3339 UTC with microseconds and a trailing Z, e.g. 2026-11-24T10:25:00.000001Z."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def verify_lines(lines: list[dict[str, Any]]) -> int | None:
    """Check one organization's exported events in seq order; return the first bad seq or None."""
    prev, expected = GENESIS_HASH, 1
    for ev in lines:
        if (
            ev.get("seq") != expected
            or ev.get("prev_hash") != prev
            or event_hash(ev) != ev.get("hash")
        ):
            return expected
        prev, expected = ev["hash"], expected + 1
    return None
