"""A loopback PagerDuty Events API v2 receiver for tests and browser flows: a real HTTP server on
127.0.0.1 (a free port), in a thread, speaking the Events API's request and response shapes.

    with PagerDutyServer() as pd:                 # or a fixture: `yield from serving()`
        channel events URL = pd.url               # http://127.0.0.1:<port>/v2/enqueue
        ... riskops triggers, acknowledges, resolves ...
        pd.state_of("riskops-acme-case-12")       # "triggered" | "acknowledged" | "resolved" | None
        pd.incidents["riskops-acme-case-12"]      # Incident: routing_key, state, summary, history
        pd.events                                 # every accepted event body, in arrival order
        pd.mode = "rate_limited"                  # ok | rate_limited (429) | fail (500) | bad (400)
        pd.script = ["fail", "ok"]                # modes for the next requests, then `mode`

What it checks, like PagerDuty: the body is a JSON object; `routing_key` is 32 characters of
letters and digits (`keys`, when set, also lists the only keys it knows: "Invalid routing key"
otherwise); `event_action` is trigger, acknowledge or resolve; a trigger has `payload.summary`,
`payload.source` and `payload.severity` (critical, error, warning, info); `dedup_key`, when given,
is at most 255 characters. A bad event answers 400 `{"status": "invalid event", "message":
"Event object is invalid", "errors": [...]}`; a good one 202 `{"status": "success", "message":
"Event processed", "dedup_key": ...}` (a trigger without key gets a new one). Incidents follow
their dedup_key: a trigger opens one (or re-opens a resolved one), acknowledge and resolve move an
open one on (and are accepted but change nothing for an unknown key, as PagerDuty does).
Standard library only."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.support.loopback_server import Answer, LoopbackServer, serve

MODES = ("ok", "rate_limited", "fail", "bad")
KEY_RE = re.compile(r"^[A-Za-z0-9]{32}$")
SEVERITIES = ("critical", "error", "warning", "info")
PATH = "/v2/enqueue"


def routing_key(seed: str = "") -> str:
    """A well-formed routing key (32 letters and digits)."""
    return (seed + uuid.uuid4().hex)[:32].ljust(32, "0")


@dataclass
class Incident:
    dedup_key: str
    routing_key: str
    state: str  # triggered | acknowledged | resolved
    summary: str
    severity: str
    history: list[str] = field(default_factory=list)  # the actions taken, in order


@dataclass
class PagerDutyServer(LoopbackServer):
    retry_after: str | None = "1"
    keys: set[str] | None = None  # the routing keys it knows (None: any well-formed key)
    events: list[dict[str, Any]] = field(default_factory=list)  # accepted events
    refused: list[Any] = field(default_factory=list)  # bodies answered 400
    incidents: dict[str, Incident] = field(default_factory=dict)
    requests: int = 0

    # --- use -----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The Events API address to configure on a PagerDuty channel."""
        return f"http://127.0.0.1:{self.port}{PATH}"

    def state_of(self, dedup_key: str) -> str | None:
        with self._lock:
            incident = self.incidents.get(dedup_key)
            return incident.state if incident else None

    def actions(self, dedup_key: str | None = None) -> list[str]:
        """The event_action of every accepted event (of one key)."""
        with self._lock:
            return [
                e["event_action"]
                for e in self.events
                if dedup_key is None or e.get("dedup_key") == dedup_key
            ]

    # --- the Events API ------------------------------------------------------------------------

    def _errors(self, body: Any) -> list[str]:
        if not isinstance(body, dict):
            return ["Event object must be a JSON object"]
        errors = []
        key = body.get("routing_key")
        if not isinstance(key, str) or not KEY_RE.match(key):
            errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        elif self.keys is not None and key not in self.keys:
            errors.append("Invalid routing key")
        action = body.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, "
                          "resolve)")  # fmt: skip
        dedup = body.get("dedup_key")
        if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
            errors.append("'dedup_key' must be a string of at most 255 characters")
        if action != "trigger" and not dedup:
            errors.append("'dedup_key' is required for acknowledge and resolve")
        if action == "trigger":
            payload = body.get("payload")
            if not isinstance(payload, dict):
                errors.append("'payload' is missing or not an object")
            else:
                for name in ("summary", "source"):
                    if not isinstance(payload.get(name), str) or not payload[name]:
                        errors.append(f"'payload.{name}' is missing or blank")
                if payload.get("severity") not in SEVERITIES:
                    errors.append("'payload.severity' is invalid (must be one of: critical, "
                                  "error, warning, info)")  # fmt: skip
        return errors

    def _accept(self, body: dict[str, Any]) -> str:
        action = body["event_action"]
        key = body.get("dedup_key") or uuid.uuid4().hex
        body = {**body, "dedup_key": key}
        with self._lock:
            self.events.append(body)
            incident = self.incidents.get(key)
            if action == "trigger":
                payload = body["payload"]
                if incident is None or incident.state == "resolved":
                    incident = Incident(key, body["routing_key"], "triggered",
                                        payload["summary"], payload["severity"])  # fmt: skip
                    self.incidents[key] = incident
                incident.history.append("trigger")
            elif incident is not None and incident.state != "resolved":
                incident.state = "acknowledged" if action == "acknowledge" else "resolved"
                incident.history.append(action)
        return key

    def _next_mode(self) -> str:
        with self._lock:
            self.requests += 1
        return super()._next_mode()

    def _respond(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        mode = self._next_mode()
        if path != PATH:
            return _json(404, {"status": "not found"})
        if mode == "rate_limited":
            extra = {"Retry-After": self.retry_after} if self.retry_after else {}
            slow = "Requests for this service are arriving too quickly. Retry later."
            return _json(429, {"status": "throttle event", "message": slow}, extra)
        if mode == "fail":
            return _json(500, {"status": "error", "message": "internal error"})
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        errors = ["Event object is not valid JSON"] if body is None else self._errors(body)
        if mode == "bad" and not errors:
            errors = ["Invalid routing key"]
        if errors:
            with self._lock:
                self.refused.append(body)
            return _json(400, {"status": "invalid event", "message": "Event object is invalid",
                               "errors": errors})  # fmt: skip
        key = self._accept(body)
        return _json(202, {"status": "success", "message": "Event processed", "dedup_key": key})


def _json(code: int, data: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(code, json.dumps(data).encode(),
                  {"Content-Type": "application/json", **(headers or {})})  # fmt: skip


def serving(**kw: Any) -> Iterator[PagerDutyServer]:
    """For a pytest fixture: `yield from serving()`."""
    return serve(PagerDutyServer(**kw))
