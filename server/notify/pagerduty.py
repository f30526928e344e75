"""PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/):
the event of an outbox message and one POST with its outcome. No database here.

A trigger is `{"routing_key", "event_action": "trigger", "dedup_key", "payload": {"summary",
"source", "severity", "custom_details"}}`; an acknowledge or resolve carries only `routing_key`,
`event_action` and `dedup_key`. The dedup_key is the riskops item's (a response clock's), so the
incident follows the item: triggered when it escalates, acknowledged and resolved with it.

Answers (`webhooks.post`, the rule of every HTTP receiver): 202 `{"status": "success",
"dedup_key": ...}` -> sent; 400 -> failed for good, with PagerDuty's message and errors ("400:
Invalid routing key"); 429 -> retried later (after Retry-After when given); 5xx and network
failures -> retried; any other 4xx -> failed."""

from __future__ import annotations

import json
from typing import Any

import httpx

from riskops.server.notify import webhooks
from riskops.server.notify.models import OutboxMessage
from riskops.server.notify.webhooks import OrgRef, Outcome

DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
ACTIONS = ("trigger", "acknowledge", "resolve")
SUMMARY_MAX = 1024  # PagerDuty's limit on payload.summary
SEVERITIES = {
    "SEV0": "critical", "CRITICAL": "critical",
    "SEV1": "error", "HIGH": "error",
    "SEV2": "warning", "MEDIUM": "warning",
}  # fmt: skip
CHANNEL_SEVERITY = {"critical": "critical", "escalation": "critical", "alerts": "error"}
HIDDEN = frozenset({"link_sealed", "link", "event_action"})


def action_of(message: OutboxMessage) -> str:
    """The event_action of a message: its own, else `trigger` (a message routed to PagerDuty
    without action opens the incident of its dedup_key)."""
    payload = message.payload if isinstance(message.payload, dict) else {}
    action = str(payload.get("event_action") or "trigger")
    return action if action in ACTIONS else "trigger"


def severity_of(message: OutboxMessage) -> str:
    payload = message.payload if isinstance(message.payload, dict) else {}
    raw = str(payload.get("severity") or "").upper()
    return SEVERITIES.get(raw) or CHANNEL_SEVERITY.get(message.channel, "info")


def event(
    message: OutboxMessage, routing_key: str, base_url: str = "", org: OrgRef | None = None
) -> dict[str, Any]:
    """The Events API v2 body of `message` for the channel of `routing_key`."""
    action = action_of(message)
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": message.dedup_key or f"riskops-message-{message.id}",
    }
    if action != "trigger":
        return body
    who = org or OrgRef(message.org_id, f"org-{message.org_id}", f"organization {message.org_id}")
    text, _ = webhooks.summary(message, "")
    payload = message.payload if isinstance(message.payload, dict) else {}
    details = {k: v for k, v in payload.items() if k not in HIDDEN}
    details.update({"kind": message.kind, "channel": message.channel, "message_id": message.id,
                    "organization": who.slug})  # fmt: skip
    summary = f"{who.name}: {text}"
    body["payload"] = {
        "summary": summary if len(summary) <= SUMMARY_MAX else summary[: SUMMARY_MAX - 1] + "…",
        "source": f"riskops/{who.slug}",
        "severity": severity_of(message),
        "custom_details": details,
    }
    if base_url and payload.get("run_pk"):
        body["links"] = [{"href": f"{base_url.rstrip('/')}/runs/{payload['run_pk']}",
                          "text": "Open the run in riskops"}]  # fmt: skip
    body["client"] = "riskops"
    return body


def _refusal(response: httpx.Response) -> str:
    """PagerDuty's reason for a 400: its message and errors ("Invalid routing key")."""
    try:
        data = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300] or "bad request"
    if not isinstance(data, dict):
        return "bad request"
    errors = [str(e) for e in data.get("errors") or [] if e]
    message = str(data.get("message") or data.get("status") or "bad request")
    return "; ".join([message, *errors])[:500]


def _error(response: httpx.Response) -> str:
    """PagerDuty's failed answer in words: "400: Invalid routing key", "429: rate limited by
    PagerDuty", "503: <what it said>"."""
    code = response.status_code
    if code == 400:
        return f"400: {_refusal(response)}"
    if code == 429:
        return "429: rate limited by PagerDuty"
    snippet = " ".join(response.text.split())[:200]
    return f"{code}: {snippet}" if snippet else f"HTTP {code}"


async def send(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Outcome:
    """POST one event; never raises for network or HTTP failures (they are outcomes, by the
    rule every HTTP receiver shares: `webhooks.post`)."""
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "riskops-pagerduty"}
    return await webhooks.post(client, url, webhooks.WebhookRequest(raw, headers), explain=_error)
