"""Durable local spool for audit events the store could not take.

One JSON object per line in `<var>/audit-spool/spool.jsonl`, fsync'd before `write` returns.
`flush` replays it in order under a file lock (several processes may share the spool) and keeps
whatever it could not store. Replays are safe: each event carries a unique id the store checks.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from riskops.audit.types import Actor, Entry, RiskLevel

_dir: Path = Path("var/audit-spool")
_flush_lock = asyncio.Lock()


def configure(directory: Path) -> None:
    global _dir
    _dir = directory


def spool_path() -> Path:
    return _dir / "spool.jsonl"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def to_record(actor: Actor, entry: Entry, ts: str, uid: str) -> dict[str, Any]:
    return {
        "event_uid": uid,
        "ts": ts,
        "org_id": actor.org_id,
        "actor": actor.actor,
        "actor_type": actor.actor_type,
        "ip": actor.ip,
        "user_agent": actor.user_agent,
        "request_id": actor.request_id,
        "action": entry.action,
        "entity_type": entry.entity_type,
        "entity_id": str(entry.entity_id),
        "old_values": entry.old_values,
        "new_values": entry.new_values,
        "risk_level": str(entry.risk_level),
    }


def from_record(r: dict[str, Any]) -> tuple[Actor, Entry, str, str]:
    actor = Actor(
        org_id=r["org_id"],
        actor=r["actor"],
        actor_type=r["actor_type"],
        ip=r["ip"],
        user_agent=r["user_agent"],
        request_id=r["request_id"],
    )
    entry = Entry(
        action=r["action"],
        entity_type=r["entity_type"],
        entity_id=r["entity_id"],
        old_values=r["old_values"],
        new_values=r["new_values"],
        risk_level=RiskLevel(r["risk_level"]),
    )
    return actor, entry, r["ts"], r["event_uid"]


class _Locked:
    """An exclusive flock on the spool directory, shared by every process using it."""

    def __enter__(self) -> None:
        _dir.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        if fh.seek(0, os.SEEK_END) == 0:
            return True
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def write(record: dict[str, Any]) -> None:
    line = json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"
    with _Locked():
        new = not spool_path().exists()
        if not new and not _ends_with_newline(spool_path()):
            line = "\n" + line  # a torn last line (crash mid-write) must not swallow this record
        with open(spool_path(), "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        if new:
            _fsync_dir(_dir)


def _read() -> list[dict[str, Any]]:
    try:
        text = spool_path().read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    # A torn last line (crash mid-write) was never acknowledged to anyone: skip it.
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def depth() -> int:
    path = spool_path()
    try:
        if path.stat().st_size == 0:
            return 0
    except FileNotFoundError:
        return 0
    return len(_read())


def _rewrite(records: list[dict[str, Any]]) -> None:
    if not records:
        spool_path().unlink(missing_ok=True)
        _fsync_dir(_dir)
        return
    tmp = _dir / "spool.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, spool_path())
    _fsync_dir(_dir)


async def flush(store: Callable[[dict[str, Any]], Awaitable[None]]) -> int:
    """Store spooled events in order, then drop exactly those from the spool.

    The file lock is held only around file operations, never across a database call, so an
    `emit` running meanwhile just appends behind what is being flushed (order is kept). Another
    process flushing at the same time may try to store the same events: the store skips ids
    already committed, and `event_uid` is unique, so of two concurrent INSERTs of one event the
    second fails and rolls back with its chain step (this flush then stops and a later one
    continues). Removal is by id, so nothing is lost or removed twice.
    """
    if depth() == 0:
        return 0
    async with _flush_lock:
        with _Locked():
            records = _read()
        done: set[str] = set()
        for record in records:
            try:
                await store(record)
            except Exception:
                break
            done.add(record["event_uid"])
        if done:
            with _Locked():
                _rewrite([r for r in _read() if r["event_uid"] not in done])
        return len(done)
