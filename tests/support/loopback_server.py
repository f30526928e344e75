"""The shared part of the loopback HTTP receivers of the tests (`webhook_server`,
`pagerduty_server`): a real HTTP server on 127.0.0.1 (a free port), run in a thread, that answers
every POST by the subclass's `_respond`, and the scripted modes (`script` queues modes for the
next requests, then `mode` applies again). Each receiver keeps its own protocol and records what
it needs. Standard library only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self, TypeVar


@dataclass(frozen=True)
class Answer:
    code: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class LoopbackServer:
    mode: str = "ok"
    script: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def _respond(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """The answer to one POST (`headers` in lower case); runs in the server's thread."""
        raise NotImplementedError

    def _next_mode(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else self.mode

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = owner._respond(self.path, headers, body)
                try:
                    self.send_response(answer.code)
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the server first"
        return int(self._server.server_address[1])


S = TypeVar("S", bound=LoopbackServer)


def serve(server: S) -> Iterator[S]:
    """For a pytest fixture: `yield from serve(SomeServer())`, started and stopped."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
