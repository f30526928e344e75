"""A real HTTP webhook receiver on 127.0.0.1 (a free port) for tests, run in a thread.

    with WebhookServer() as hooks:      # or a fixture: `yield from serving()`
        hooks.mode = "fail"             # ok | fail (500) | slow | rate_limited (429) | gone (410)
        ... deliver to hooks.url("/critical") ...
        hooks.requests                  # what arrived: path, headers, body, json()

`script` queues modes for the next requests (then `mode` applies again), so a test can say
"first 500, then 200". Standard library only, so it can serve any test or a manual check.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODES = ("ok", "fail", "slow", "rate_limited", "gone")


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class WebhookServer:
    mode: str = "ok"
    slow_seconds: float = 2.0
    retry_after: str = "120"
    script: list[str] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> WebhookServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                mode = owner._next_mode()
                with owner._lock:
                    owner.requests.append(Received(self.path, headers, body))
                if mode == "slow":
                    time.sleep(owner.slow_seconds)
                    self._answer(200, b"ok")
                elif mode == "fail":
                    self._answer(500, b"internal error")
                elif mode == "rate_limited":
                    self._answer(429, b"slow down", {"Retry-After": owner.retry_after})
                elif mode == "gone":
                    self._answer(410, b"no such hook")
                else:
                    self._answer(200, b"ok")

            def _answer(
                self, code: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                try:
                    self.send_response(code)
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- use -----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the server first"
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _next_mode(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else self.mode

    def bodies(self, path: str | None = None) -> list[Any]:
        with self._lock:
            return [r.json() for r in self.requests if path is None or r.path == path]


def serving(**kw: Any) -> Iterator[WebhookServer]:
    """For a pytest fixture: `yield from serving()`."""
    server = WebhookServer(**kw).start()
    try:
        yield server
    finally:
        server.stop()
