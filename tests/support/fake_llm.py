"""A real OpenAI-compatible chat-completions server on loopback for the assistant's tests.

It runs in a thread of the test process and is reached over HTTP by litellm, in process or from
a real arq worker subprocess alike. Every request body is recorded byte for byte (`received`),
so a test can prove that no PII left riskops. Its behaviour is scripted per model name:

    llm = FakeLLM.start()
    llm.behave("gpt-4o-mini", "ok")                      # the default for every model
    llm.behave("gpt-4o-mini", "slow", delay=5)           # answers after 5 s
    llm.behave("gpt-4o-mini", "error", status=500)       # HTTP 500
    llm.behave("gpt-4o-mini", "ratelimit", retry_after=1)  # 429 with Retry-After
    llm.behave("gpt-4o-mini", "malformed")               # 200 with a body that is not JSON
    llm.behave("gpt-4o-mini", "invent")                  # cites [rule:NOPE-999] and one real row
    llm.behave("gpt-4o-mini", "text", text="...")        # answers exactly `text`
    llm.behave("gpt-4o-mini", ["error", "ok"])           # in turn, one per request, last repeats

"ok" answers with a sentence that cites the first two `[kind:ref]` keys it finds in the prompt
and repeats every `<PLACEHOLDER_1>` it was sent (so restoring placeholders is exercised). The
usage block reports prompt tokens as the prompt's length / 4 and 42 completion tokens.

Point litellm at it with model `openai/<name>` and api base `llm.url` (".../v1").
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CITE = re.compile(r"\[([a-z_]+:[^\]\s]+)\]")
PLACEHOLDER = re.compile(r"<[A-Z]+_\d+>")


@dataclass
class Behaviour:
    mode: str = "ok"
    delay: float = 0.0
    status: int = 500
    retry_after: int = 1
    text: str = ""


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def model(self) -> str:
        return str(self.json.get("model", ""))


@dataclass
class FakeLLM:
    server: ThreadingHTTPServer
    thread: threading.Thread
    received: list[Received] = field(default_factory=list)
    scripts: dict[str, list[Behaviour]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls) -> FakeLLM:
        holder: dict[str, FakeLLM] = {}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body are written separately: without this, Nagle's algorithm and the
            # client's delayed ACK add 40 ms to every answer
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "gpt-4o-mini"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                holder["llm"]._handle(self, body)

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None,
                      raw: bytes | None = None) -> None:  # fmt: skip
                data = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="fake-llm", daemon=True)
        llm = cls(server, thread)
        holder["llm"] = llm
        thread.start()
        return llm

    # --- control ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def behave(self, model: str, mode: str | list[str], **kw: Any) -> None:
        modes = [mode] if isinstance(mode, str) else mode
        with self.lock:
            self.scripts[model] = [Behaviour(m, **kw) for m in modes]

    def reset(self) -> None:
        with self.lock:
            self.scripts.clear()
            self.received.clear()

    def requests_for(self, model: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.model.endswith(model)]

    def all_bytes(self) -> bytes:
        with self.lock:
            return b"\n".join(r.body for r in self.received)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- serving ------------------------------------------------------------------------------

    def _next(self, model: str) -> Behaviour:
        with self.lock:
            script = self.scripts.get(model) or self.scripts.get("*") or [Behaviour()]
            if len(script) > 1:
                return script.pop(0)
            return script[0]

    def _handle(self, handler: Any, body: bytes) -> None:
        with self.lock:
            self.received.append(Received(handler.path, dict(handler.headers.items()), body))
        try:
            request = json.loads(body)
        except ValueError:
            handler._send(400, {"error": {"message": "body is not JSON"}})
            return
        model = str(request.get("model", ""))
        b = self._next(model)
        if b.delay:
            time.sleep(b.delay)
        if b.mode == "error":
            handler._send(b.status, {"error": {"message": "upstream failed", "type": "server"}})
            return
        if b.mode == "ratelimit":
            handler._send(
                429, {"error": {"message": "rate limited", "type": "rate_limit"}},
                headers={"Retry-After": str(b.retry_after)},
            )  # fmt: skip
            return
        if b.mode == "malformed":
            handler._send(200, None, raw=b'{"id": "x", "choices": [ this is not json')
            return
        prompt = "\n".join(str(m.get("content", "")) for m in request.get("messages", []))
        text = b.text if b.mode == "text" else self._answer(prompt, invent=b.mode == "invent")
        handler._send(200, self._completion(model, text, prompt))

    @staticmethod
    def _answer(prompt: str, *, invent: bool) -> str:
        cites = list(dict.fromkeys(CITE.findall(prompt)))[:2]
        parts = ["This alert fired mainly because of"]
        parts += [f"[{c}]" for c in cites] or ["its rule hits"]
        placeholders = list(dict.fromkeys(PLACEHOLDER.findall(prompt)))
        if placeholders:
            parts.append("for " + ", ".join(placeholders))
        if invent:
            parts.append("and also [rule:NOPE-999] and [signal:made_up_signal]")
        return " ".join(parts) + "."

    @staticmethod
    def _completion(model: str, text: str, prompt: str) -> dict[str, Any]:
        prompt_tokens = max(1, len(prompt) // 4)
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": 42,
                "total_tokens": prompt_tokens + 42,
            },
        }
