"""One flusher of test_spool_two_processes: `python _spool_flusher.py DB_URL SPOOL_DIR SECS`.

Connects Tortoise to DB_URL, points the spool at SPOOL_DIR (shared with the other flusher),
prints `ready`, waits for a line on stdin, then calls `riskops.audit.store.flush_spool()` again
and again, as a web process's periodic task does, until the spool is empty or SECS have passed.
A flush may stop early (the other process stored the same event first): it is simply retried.

Prints one JSON line: {"flushed": [n per call, ...], "failures": [...], "final_depth": n}.
`failures` lists the exceptions that made a flush stop early (recorded by a thin wrapper around
the store function `flush_spool` uses; the wrapper re-raises, so the behaviour is unchanged).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from tortoise import Tortoise

from riskops.audit import spool, store
from riskops.server.settings import tortoise_config


async def main(db_url: str, spool_dir: str, secs: float) -> None:
    spool.configure(Path(spool_dir))
    await Tortoise.init(config=tortoise_config(db_url), _enable_global_fallback=True)
    await Tortoise.get_connection("default").execute_query("SELECT 1")  # connect before `go`

    failures: list[str] = []
    store_record = store._store_record

    async def recording(record: dict[str, Any]) -> None:
        try:
            await store_record(record)
        except Exception as exc:
            failures.append(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}")
            raise

    store._store_record = recording  # flush_spool looks it up at call time

    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    flushed: list[int] = []
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        flushed.append(await store.flush_spool())
        if spool.depth() == 0:
            break
        await asyncio.sleep(0.005)
    out = {"flushed": flushed, "failures": failures, "final_depth": spool.depth()}
    print(json.dumps(out), flush=True)
    await Tortoise.close_connections()


if __name__ == "__main__":
    db_url, spool_dir, secs = sys.argv[1:4]
    asyncio.run(main(db_url, spool_dir, float(secs)))
