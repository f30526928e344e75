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
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.support.loopback_server import Answer, LoopbackServer, serve

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
class WebhookServer(LoopbackServer):
    slow_seconds: float = 2.0
    retry_after: str = "120"
    requests: list[Received] = field(default_factory=list)

    def _respond(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        mode = self._next_mode()
        with self._lock:
            self.requests.append(Received(path, headers, body))
        if mode == "slow":
            time.sleep(self.slow_seconds)
            return Answer(200, b"ok")
        if mode == "fail":
            return Answer(500, b"internal error")
        if mode == "rate_limited":
            return Answer(429, b"slow down", {"Retry-After": self.retry_after})
        if mode == "gone":
            return Answer(410, b"no such hook")
        return Answer(200, b"ok")

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str | None = None) -> list[Any]:
        with self._lock:
            return [r.json() for r in self.requests if path is None or r.path == path]


def serving(**kw: Any) -> Iterator[WebhookServer]:
    """For a pytest fixture: `yield from serving()`."""
    return serve(WebhookServer(**kw))
