"""The hash-chain contract (docs: ARCHITECTURE.md "Audit chain contract").

Pure functions only, so any verifier can be checked against them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
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


# What json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) builds on
# each call, built once (the same output; a bulk append hashes thousands of values).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(obj: Any) -> bytes:
    return _CANONICAL.encode(obj).encode("utf-8")


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


@dataclass(frozen=True)
class ExportCheck:
    """One organization's chain in an export file: its events from `first_seq` to `last_seq`,
    and the first bad seq if it does not hold (None: it holds)."""

    org: int
    events: int
    first_seq: int
    last_seq: int
    first_bad_seq: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None

    def describe(self) -> str:
        span = f"seq {self.first_seq}-{self.last_seq}" if self.events else "no events"
        if self.ok:
            partial = "" if self.first_seq <= 1 else " (a window: checked from its first event)"
            return f"org {self.org}: OK, {self.events} events, {span}{partial}"
        return f"org {self.org}: BROKEN at seq {self.first_bad_seq}: {self.reason}"


def verify_export(events: list[dict[str, Any]]) -> list[ExportCheck]:
    """Check an export of one organization's chain or of several (`riskops audit export` without
    `--org`): each organization's events, in file order, form a chain of their own. A chain
    that starts at seq 1 starts at the genesis hash; one that starts later (`--since`) is
    checked from its first event's `prev_hash`."""
    by_org: dict[int, list[dict[str, Any]]] = {}
    for ev in events:
        by_org.setdefault(ev.get("org"), []).append(ev)  # type: ignore[arg-type]
    return [_check_one(org, evs) for org, evs in by_org.items()]


def _check_one(org: int, events: list[dict[str, Any]]) -> ExportCheck:
    first = events[0].get("seq")
    if not isinstance(first, int) or first < 1:
        return ExportCheck(org, len(events), 0, 0, 1, "the first event has no valid seq")
    prev = GENESIS_HASH if first == 1 else events[0].get("prev_hash")
    expected = first
    for ev in events:
        reason = None
        if ev.get("seq") != expected:
            reason = f"seq {expected} is missing (next in the file is {ev.get('seq')})"
        elif ev.get("prev_hash") != prev:
            reason = "prev_hash does not match the previous event's hash"
        elif event_hash(ev) != ev.get("hash"):
            reason = "content does not match its hash (edited)"
        if reason:
            return ExportCheck(org, len(events), first, expected - 1, expected, reason)
        prev, expected = ev["hash"], expected + 1
    return ExportCheck(org, len(events), first, expected - 1)
