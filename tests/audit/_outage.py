"""The database-outage scenario of test_spool_outage, run in its own process.

`python _outage.py DB_URL ORG SPOOL_DIR N CUT_AFTER`: starts a TCP proxy in front of the
PostgreSQL server of DB_URL, connects Tortoise *through the proxy*, emits N events (new_values
{"i": 0..N-1}) with `riskops.audit.store.emit`, cuts the proxy before event CUT_AFTER, restores it
after the last one and flushes the spool. Prints one JSON line with what it observed.

The machine's PostgreSQL is never touched: only the proxy's own sockets are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tortoise import Tortoise

from riskops.audit import spool, store
from riskops.audit.types import Actor, Entry
from riskops.server.settings import tortoise_config


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST (SO_LINGER 0), as a crashed server or a dropped route would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        if not writer.is_closing():
            writer.close()


class Proxy:
    """A TCP proxy on 127.0.0.1 (ephemeral port) that can be cut and restored."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.up = True
        self.pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.accepted = self.refused = self.cut_connections = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            self.refused += 1
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(writer)
            return
        self.accepted += 1
        pair = (writer, up_writer)
        self.pairs.add(pair)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self.pairs.discard(pair)

    def cut(self) -> None:
        """Drop every proxied connection (RST both ways) and refuse new ones."""
        self.up = False
        for client, upstream in list(self.pairs):
            _reset(client)
            _reset(upstream)
            self.cut_connections += 1
        self.pairs.clear()

    def restore(self) -> None:
        self.up = True

    async def close(self) -> None:
        self.cut()
        self.server.close()
        await self.server.wait_closed()


async def main(db_url: str, org_id: int, spool_dir: str, n: int, cut_after: int) -> None:
    spool.configure(Path(spool_dir))
    parts = urlsplit(db_url)
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    port = await proxy.start()
    netloc = parts.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{port}"
    proxied = urlunsplit(parts._replace(netloc=netloc))
    await Tortoise.init(config=tortoise_config(proxied), _enable_global_fallback=True)

    actor = Actor(org_id=org_id, actor="system", actor_type="system", request_id="outage")
    depths, errors = [], []
    for i in range(n):
        if i == cut_after:
            proxy.cut()
        try:
            await store.emit(actor, Entry("test.outage", "event", i, {}, {"i": i}))
        except Exception as exc:  # the contract: emit never raises
            errors.append(f"{i}: {exc!r}")
        depths.append(spool.depth())
    refused_during_outage = proxy.refused

    proxy.restore()
    flushed, attempts, started = 0, 0, time.monotonic()
    while spool.depth() and attempts < 40:  # the pool reconnects lazily: retry, bounded
        attempts += 1
        try:
            flushed += await store.flush_spool()
        except Exception as exc:
            errors.append(f"flush: {exc!r}")
        if spool.depth():
            await asyncio.sleep(0.1)
    report = {
        "depths": depths,
        "errors": [e for e in errors if not e.startswith("flush:")],
        "flush_errors": [e for e in errors if e.startswith("flush:")],
        "flushed": flushed,
        "flush_attempts": attempts,
        "flush_seconds": round(time.monotonic() - started, 3),
        "final_depth": spool.depth(),
        "spool_file_exists": spool.spool_path().exists(),
        "proxy_cut_connections": proxy.cut_connections,
        "proxy_refused_during_outage": refused_during_outage,
        "proxy_accepted": proxy.accepted,
    }
    print(json.dumps(report), flush=True)
    await Tortoise.close_connections()
    await proxy.close()


if __name__ == "__main__":
    url, org, spool_dir, n, cut_after = sys.argv[1:6]
    asyncio.run(main(url, int(org), spool_dir, int(n), int(cut_after)))
