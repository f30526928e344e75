"""One writer process of test_concurrency: `python _pg_writer.py DB_URL ORG PROC N SPOOL_DIR`.

Connects Tortoise to DB_URL (a pool of N connections), prints `ready`, waits for a line on
stdin, then runs N appends at once (asyncio.gather), each in its own transaction: even tasks
call `store.append` inside `in_transaction()`, odd ones `store.emit`. Prints one JSON line:
{"appended": [seq, ...], "errors": [...], "spool_depth": n}.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from riskops.audit import spool, store
from riskops.audit.types import Actor, Entry
from riskops.server.settings import tortoise_config


async def main(db_url: str, org_id: int, proc: int, n: int, spool_dir: str) -> None:
    spool.configure(Path(spool_dir))
    url = f"{db_url}?minsize={n}&maxsize={n}"
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    conn = Tortoise.get_connection("default")
    await conn.execute_query("SELECT 1")  # open the pool (all N connections) before `go`
    actor = Actor(org_id=org_id, actor=f"proc:{proc}", actor_type="system")

    async def one(i: int) -> int | None:
        entry = Entry("test.concurrent", "writer", f"{proc}-{i}", {}, {"proc": proc, "i": i})
        if i % 2 == 0:
            async with in_transaction() as tx:
                return (await store.append(actor, entry, tx)).seq
        await store.emit(actor, entry)
        return None

    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    out = {
        "appended": [r for r in results if isinstance(r, int)],
        "errors": [repr(r) for r in results if isinstance(r, BaseException)],
        "spool_depth": spool.depth(),
    }
    print(json.dumps(out), flush=True)
    await Tortoise.close_connections()


if __name__ == "__main__":
    db_url, org, proc, n, spool_dir = sys.argv[1:6]
    asyncio.run(main(db_url, int(org), int(proc), int(n), spool_dir))
