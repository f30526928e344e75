"""Webhook delivery of outbox messages: the request body (Slack-compatible or generic JSON), its
HMAC signature, and one POST with its outcome. No database here: the delivery job
(`riskops.server.notify.delivery`) decides what an outcome means for the message.

Every organization shares the configured webhooks, so every body names the organization (name
and slug). Slack format: `{"text": "<mark> <org name> (<slug>): <one-line summary>", "blocks":
[...]}` (Slack's incoming webhooks, and the many chat tools that accept the same shape). Generic
format: `{id, org_id, org: {slug, name}, channel, kind, payload, created_at}`. With a secret,
either body is signed:
`X-Riskops-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes with the secret>`.
`X-Riskops-Message-Id` carries the message id: delivery is at least once, receivers can dedupe.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from riskops.server.core.formatting import multiplier
from riskops.server.notify.models import OutboxMessage
from riskops.server.settings import WebhookTarget

SIGNATURE_HEADER = "X-Riskops-Signature"
MESSAGE_ID_HEADER = "X-Riskops-Message-Id"
MAX_RETRY_AFTER = 3600.0  # seconds; a longer Retry-After is shortened to this
MAX_ERROR = 500
SEVERITY_MARK = {
    "SEV0": ":rotating_light:",
    "SEV1": ":red_circle:",
    "SEV2": ":large_orange_diamond:",
}
CHANNEL_NAMES = {"critical": "#ops-critical", "alerts": "#ops-alerts", "review": "#ops-review"}


@dataclass(frozen=True)
class WebhookRequest:
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class OrgRef:
    """The organization a message belongs to, as the receiver sees it."""

    id: int
    slug: str
    name: str

    def label(self) -> str:
        return f"{self.name} ({self.slug})"


def _org_of(message: OutboxMessage, org: OrgRef | None) -> OrgRef:
    return org or OrgRef(message.org_id, f"org-{message.org_id}", f"organization {message.org_id}")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    permanent: bool = False  # a failure that retrying cannot fix (4xx other than 429)
    retry_after: float | None = None  # seconds, from a 429's Retry-After
    error: str | None = None
    code: int | None = None  # the HTTP status the receiver answered, if it answered


# --- bodies ------------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    """Text for Slack mrkdwn: &, < and > are control characters there."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else _esc(value)
    return f"{value:,.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"


def _link(base_url: str, path: str, label: str) -> str | None:
    if not base_url:
        return None
    return f"<{base_url.rstrip('/')}{path}|{_esc(label)}>"


def _run_summary(kind: str, p: dict[str, Any], base_url: str) -> tuple[str, list[str]]:
    severity = str(p.get("severity") or "?")
    scenario = p.get("scenario") or "?"
    run_id = p.get("run_id") or "?"
    mult = p.get("multiplier")
    times = (
        f"{multiplier(mult)} the baseline"
        if isinstance(mult, int | float) and not isinstance(mult, bool)
        else "no baseline"
    )
    lead = "SEV2 pattern" if kind == "run.sev2_pattern" else severity
    text = f"{lead}: {scenario} run {run_id} at {times}"
    if p.get("case_number"):
        text += f" ({p['case_number']})"
    flags = p.get("flags") or []
    run_link = _link(base_url, f"/runs/{p['run_pk']}", str(run_id)) if p.get("run_pk") else None
    lines = [
        f"*Severity*: {_esc(severity)}",
        f"*Scenario*: {_esc(scenario)}",
        f"*Run*: {run_link or _esc(run_id)}",
        f"*Credits*: {_num(p.get('credits_total'))} ({times}; baseline median "
        f"{_num(p.get('baseline_median'))})",
        f"*Flags*: {_esc(', '.join(map(str, flags))) if flags else 'none'}",
        f"*Misconfig likelihood*: {_esc(p.get('misconfig_likelihood') or '—')}",
        f"*Case*: {_esc(p.get('case_number') or 'none')}",
    ]
    return text, lines


def _report_summary(p: dict[str, Any], base_url: str) -> tuple[str, list[str]]:
    start, end = str(p.get("period_start", "?"))[:10], str(p.get("period_end", "?"))[:10]
    counts = p.get("severity_counts") or {}
    sev = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) if counts else "no runs"
    text = f"Weekly credit review {start} to {end}: {sev}"
    top = p.get("top_scenarios") or []
    top_text = "; ".join(
        f"{_esc(t.get('scenario'))} {_num(t.get('total'))}" for t in top[:5] if isinstance(t, dict)
    )
    lines = [
        f"*Severities*: {_esc(sev)}",
        f"*Top scenarios by credits*: {top_text or 'none'}",
        f"*Policy violations*: {_num(p.get('violations', 0))}",
        f"*Baseline candidates*: {_num(p.get('candidates', 0))}",
        f"*SHA-256*: `{_esc(p.get('sha256') or '—')}`",
    ]
    report = _link(base_url, f"/reports/{p.get('report_id')}", "Open the report")
    if report and p.get("report_id") is not None:
        lines.append(report)
    return text, lines


def _link_summary(kind: str, p: dict[str, Any]) -> tuple[str, list[str]]:
    """An invitation or reset link an admin issued, for the admin's channel to pass on (the
    delivery opened the link: `mail.opened`)."""
    what = "Invitation" if kind == "identity.invitation" else "Password reset link"
    who = f"{p.get('name') or '?'} <{p.get('to') or '?'}>"
    link = p.get("link")
    lines = [
        f"*For*: {_esc(who)}",
        f"*Link*: <{link}|open it once>" if link else "*Link*: no longer held",
        f"*Expires*: {_esc(p.get('expires_at') or '—')}",
        "Pass it on to that person only: it sets their password.",
    ]
    return f"{what} for {who}", lines


def _generic_summary(message: OutboxMessage) -> tuple[str, list[str]]:
    payload = json.dumps(message.payload, sort_keys=True, default=str)
    if len(payload) > 2500:
        payload = payload[:2500] + "…"
    return f"{message.kind} notification", [f"```{_esc(payload)}```"]


def action_note(payload: Any) -> str | None:
    """What a message does to its item's incident, for people: "acknowledged by Ann Lee",
    "resolved" (None for a trigger or a message without action)."""
    if not isinstance(payload, dict):
        return None
    action = payload.get("event_action")
    if action == "acknowledge":
        who = payload.get("acknowledged_by") or payload.get("by")
        return f"acknowledged by {who}" if who else "acknowledged"
    if action == "resolve":
        return "resolved"
    return None


def _text_summary(message: OutboxMessage, payload: dict[str, Any]) -> tuple[str, list[str]]:
    """A message that says itself (`text`): the assistant budget, view promotions, tests,
    escalations."""
    text = " ".join(str(payload["text"]).split())
    lines = [f"*Kind*: `{_esc(message.kind)}`"]
    for key in ("severity", "subject", "case_number", "run_id", "level", "overdue", "count"):
        if payload.get(key) not in (None, ""):
            lines.append(f"*{key.replace('_', ' ').capitalize()}*: {_esc(payload[key])}")
    items = payload.get("items")
    if isinstance(items, list):  # a digest (the escalation pass): the first items in full
        for item in items:
            if isinstance(item, dict):
                lines.append(
                    f"• <{_esc(item.get('link', ''))}|{_esc(item.get('item', ''))}> "
                    f"{_esc(item.get('severity', ''))}, {_esc(item.get('late', ''))}: "
                    f"{_esc(item.get('title', ''))}"
                )
        shown, count = len(items), payload.get("count")
        if isinstance(count, int) and count > shown:
            lines.append(f"… and {count - shown:,} more on My work")
    return (text[:300] + "…" if len(text) > 300 else text), lines


def summary(message: OutboxMessage, base_url: str = "") -> tuple[str, list[str]]:
    """A one-line text and the detail lines of a message (any kind; unknown kinds generically);
    an acknowledge or resolve says so at the front of the text."""
    payload = message.payload if isinstance(message.payload, dict) else {}
    if message.kind in ("run.sev0", "run.sev1", "run.sev2_pattern") and payload:
        text, lines = _run_summary(message.kind, payload, base_url)
    elif message.kind == "report.weekly" and payload:
        text, lines = _report_summary(payload, base_url)
    elif message.kind in ("identity.invitation", "identity.password_reset") and payload:
        text, lines = _link_summary(message.kind, payload)
    elif isinstance(payload.get("text"), str) and payload["text"].strip():
        text, lines = _text_summary(message, payload)
    else:
        text, lines = _generic_summary(message)
    note = action_note(payload)
    if note:
        text = f"{note[0].upper()}{note[1:]}: {text}"
    return text, lines


def slack_body(
    message: OutboxMessage, base_url: str = "", org: OrgRef | None = None
) -> dict[str, Any]:
    who = _org_of(message, org)
    text, lines = summary(message, base_url)
    text = f"{who.label()}: {text}"
    lines.insert(0, f"*Organization*: {_esc(who.name)} (`{_esc(who.slug)}`)")
    severity = (
        (message.payload or {}).get("severity") if isinstance(message.payload, dict) else None
    )
    mark = SEVERITY_MARK.get(str(severity), ":bell:")
    if base_url and isinstance(message.payload, dict) and message.payload.get("run_pk"):
        lines.append(_link(base_url, f"/runs/{message.payload['run_pk']}", "Open the run") or "")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"riskops · {_esc(who.slug)} · "
                    f"{CHANNEL_NAMES.get(message.channel, message.channel)} · "
                    f"{_esc(message.kind)} · message {message.id}",
                }
            ],
        },
    ]
    return {"text": f"{mark} {_esc(text)}", "blocks": blocks}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def generic_body(message: OutboxMessage, org: OrgRef | None = None) -> dict[str, Any]:
    who = _org_of(message, org)
    body = {
        "id": message.id,
        "org_id": message.org_id,
        "org": {"slug": who.slug, "name": who.name},
        "channel": message.channel,
        "kind": message.kind,
        "payload": message.payload,
        "created_at": _iso(message.created_at),
    }
    if message.dedup_key:
        body["dedup_key"] = message.dedup_key
    return body


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def build_request(
    message: OutboxMessage, target: WebhookTarget, base_url: str = "", org: OrgRef | None = None
) -> WebhookRequest:
    data = (
        slack_body(message, base_url, org)
        if target.format == "slack"
        else generic_body(message, org)
    )
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "riskops-webhooks",
        MESSAGE_ID_HEADER: str(message.id),
    }
    if target.secret:
        headers[SIGNATURE_HEADER] = sign(body, target.secret)
    return WebhookRequest(body, headers)


# --- sending -----------------------------------------------------------------------------------


def retry_after_seconds(raw: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (a number or an HTTP date), at most an hour; None if absent/bad."""
    if not raw:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _clip(text: str) -> str:
    return " ".join(text.split())[:MAX_ERROR]


def _webhook_error(response: httpx.Response) -> str:
    """A webhook's refusal in words: "refused by the webhook (HTTP 410: no such hook)"."""
    code = response.status_code
    snippet = _clip(response.text[:200]) if response.text else ""
    detail = f"HTTP {code}" + (f": {snippet}" if snippet else "")
    if code == 429:
        return f"rate limited ({detail})"
    if 400 <= code < 500:
        return f"refused by the webhook ({detail})"
    return detail


async def post(
    client: httpx.AsyncClient,
    url: str,
    request: WebhookRequest,
    *,
    explain: Callable[[httpx.Response], str] = _webhook_error,
) -> Outcome:
    """POST once; never raises for network or HTTP failures (they are outcomes). The one rule
    of every HTTP receiver (webhooks and PagerDuty): 2xx is sent; 429 is retried (after its
    Retry-After when given); any other 4xx failed for good (retrying cannot fix it); 5xx, any
    other answer, a timeout or no connection are retried. `explain` words a failed answer as the
    receiver's own (PagerDuty's 400 says which field of the event it refused)."""
    try:
        response = await client.post(url, content=request.body, headers=request.headers)
    except httpx.TimeoutException as exc:
        return Outcome(False, error=_clip(f"timed out: {type(exc).__name__}"))
    except httpx.HTTPError as exc:
        return Outcome(False, error=_clip(f"could not connect: {type(exc).__name__}: {exc}"))
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(True, code=code)
    error = _clip(explain(response))
    if code == 429:
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        return Outcome(False, retry_after=retry_after, error=error, code=code)
    return Outcome(False, permanent=400 <= code < 500, error=error, code=code)
