"""The assistant's job: `assistant.respond` answers one response row.

Idempotent: a finished response is never answered again, and the finishing update (status,
output, tokens, cost, with its `assistant.call` audit event and any budget warning, in one
transaction) is conditional on the row still pending, so a job retried after a worker died
counts tokens and cost once.

The steps: off (availability) -> unavailable with the reason; else gather the grounding, redact
every fact and then every message, store the redacted prompt, its template version and hash
before the call (what left the process is on record even if the worker dies during it), ask the
provider, restore the placeholders, drop invented citations, finish. A provider that cannot
answer ends the response `unavailable`, an unusable answer `failed`, and anything unexpected
`failed` with the technical error kept for operators: no retry loop of LLM calls beyond the
provider's own retries and fallbacks.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import Actor, Entry, system_actor
from riskops.jobs.registry import job
from riskops.server import observability as metrics
from riskops.server.assistant import budget as budgets
from riskops.server.assistant import citations, grounding, prompts, provider
from riskops.server.assistant.availability import availability
from riskops.server.assistant.models import (
    FINISHED,
    AssistantResponse,
    BudgetNotice,
    ResponseStatus,
)
from riskops.server.assistant.redaction import Redactor
from riskops.server.core.scoping import scoped
from riskops.server.credit import kill_switches
from riskops.server.notify import outbox
from riskops.server.settings import get_settings

log = logging.getLogger("riskops.assistant")

RESPOND = "assistant.respond"
MAX_ERROR = 2000
MAX_REASON = 300


@dataclass
class Outcome:
    """How a response ends: what the finishing update writes."""

    status: ResponseStatus
    reason: str | None = None
    error: str | None = None
    output: str | None = None
    citations: list[dict[str, str]] = field(default_factory=list)
    dropped_citations: int = 0
    model: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = Decimal(0)
    latency_ms: int | None = None


@job(RESPOND)
async def respond(ctx: dict[str, Any], response_id: int, org_id: int) -> dict[str, Any]:
    row = await scoped(AssistantResponse, org_id=org_id).get_or_none(id=response_id)
    if row is None:
        return {"skipped": "gone"}
    if row.status in FINISHED:
        return {"skipped": row.status.value}  # a redelivery: answered already
    try:
        outcome = await answer(row)
    except Exception as exc:
        log.exception("assistant response %s failed", row.id)
        technical = f"{type(exc).__name__}: {exc}"
        outcome = Outcome(
            ResponseStatus.FAILED,
            reason=_line(f"The assistant failed: {_first_line(technical)}"),
            error=technical[:MAX_ERROR],
        )
    if outcome is None:
        return {"skipped": "finished meanwhile"}
    finished = await finish(row, outcome)
    return {"status": outcome.status.value, "finished": finished}


async def answer(row: AssistantResponse) -> Outcome | None:
    """Ask the model about `row`; None when another attempt finished it meanwhile."""
    state = await availability(row.org_id)
    if not state.on:
        return Outcome(ResponseStatus.UNAVAILABLE, reason=state.reason)
    g = await grounding.gather(row)
    redactor = Redactor(g.known_pii)
    facts = redactor.redact_value(g.facts)
    # The template's text (the system message) is redacted again. The user message is the facts,
    # redacted value by value above, as compact JSON: the quotes, commas and colons between
    # values join nothing a detector finds, so scanning it again found nothing and cost 60% of
    # a response's CPU (libphonenumber over every number; docs/PERFORMANCE.md, The assistant).
    messages = [
        m if m["role"] == "user" else {**m, "content": redactor.redact(m["content"])}
        for m in prompts.build(row.kind, facts, list(g.citable))
    ]
    prompt_hash = hashlib.sha256(provider.canonical(messages)).hexdigest()
    claimed = (
        await scoped(AssistantResponse, org_id=row.org_id)
        .filter(id=row.id, status=ResponseStatus.PENDING)
        .update(
            prompt_redacted=messages,
            template_version=prompts.TEMPLATE_VERSION[row.kind],
            prompt_hash=prompt_hash,
            attempts=F("attempts") + 1,
        )
    )
    if not claimed:
        return None
    row.prompt_hash = prompt_hash
    try:
        done = await provider.complete(messages)
    except provider.ProviderUnavailable as exc:
        return Outcome(ResponseStatus.UNAVAILABLE, reason=exc.reason, error=exc.detail)
    except provider.ProviderFailed as exc:
        return Outcome(ResponseStatus.FAILED, reason=exc.reason, error=exc.detail)
    text, cited, dropped = citations.resolve(redactor.restore(done.text), g.citable)
    return Outcome(
        ResponseStatus.SUCCEEDED,
        output=text,
        citations=cited,
        dropped_citations=dropped,
        model=done.model,
        tokens_in=done.tokens_in,
        tokens_out=done.tokens_out,
        cost=done.cost,
        latency_ms=done.latency_ms,
    )


async def finish(row: AssistantResponse, outcome: Outcome) -> bool:
    """End `row` with `outcome` in one transaction: the conditional update, its audit event and
    the budget warnings. False (and nothing written) when another attempt finished it first."""
    now = datetime.now(UTC)
    warned: list[int] = []
    async with in_transaction() as conn:
        updated = (
            await scoped(AssistantResponse, org_id=row.org_id)
            .filter(id=row.id, status=ResponseStatus.PENDING)
            .using_db(conn)
            .update(
                status=outcome.status,
                reason=_line(outcome.reason) if outcome.reason else None,
                error=(outcome.error or "")[:MAX_ERROR] or None,
                output=outcome.output,
                citations=outcome.citations,
                dropped_citations=outcome.dropped_citations,
                model=outcome.model,
                tokens_in=outcome.tokens_in,
                tokens_out=outcome.tokens_out,
                cost=outcome.cost,
                latency_ms=outcome.latency_ms,
                finished_at=now,
            )
        )
        if not updated:
            return False
        if outcome.status is ResponseStatus.SUCCEEDED and outcome.cost > 0:
            warned = await budget_warnings(conn, row.org_id, now)
        await store.append(_actor(row), _audit_entry(row, outcome), conn)
    if warned:
        await outbox.kick()
    _count(row, outcome)
    return True


async def budget_warnings(conn: BaseDBAsyncClient, org_id: int, now: datetime) -> list[int]:
    """The thresholds (80, 95 percent) today's spending crossed that had no warning yet today:
    one `BudgetNotice` each (unique per organization, day and threshold: two workers racing
    send it once) and a message on the review channel."""
    today = await budgets.today(org_id, now, conn=conn)
    sent: list[int] = []
    for threshold in today.crossed():
        notice = scoped(BudgetNotice, org_id=org_id).filter(day=today.day, threshold=threshold)
        if await notice.using_db(conn).exists():
            continue
        try:
            # a savepoint: on PostgreSQL a unique violation would abort the whole transaction
            async with in_transaction() as savepoint:
                await BudgetNotice.create(
                    org_id=org_id, day=today.day, threshold=threshold, spent=today.spent,
                    budget=today.budget, created_at=now, using_db=savepoint,
                )  # fmt: skip
        except IntegrityError:
            continue  # another worker sent this one a moment ago
        suppressed = kill_switches.suppression_on(
            await kill_switches.active_switches(org_id, now, conn)
        )
        await outbox.add(
            conn, org_id, outbox.Channel.REVIEW, "assistant.budget",
            {"threshold": threshold, "spent": str(today.spent), "budget": str(today.budget),
             "day": today.day.isoformat(),
             "text": f"The assistant has spent {budgets.money(today.spent)} of its daily budget "
                     f"of {budgets.money(today.budget)} today ({threshold}% reached); it stops "
                     "answering at 100% until 00:00 UTC."},
            suppressed=suppressed, now=now,
        )  # fmt: skip
        sent.append(threshold)
    return sent


def _actor(row: AssistantResponse) -> Actor:
    if row.requested_by_id is None:
        return system_actor(row.org_id)
    return Actor(org_id=row.org_id, actor=f"user:{row.requested_by_id}", actor_type="user")


def _audit_entry(row: AssistantResponse, outcome: Outcome) -> Entry:
    return Entry(
        "assistant.call", "assistant_response", row.id, {},
        {"kind": row.kind.value, "target_type": row.target_type.value,
         "target_id": row.target_id, "model": outcome.model, "tokens_in": outcome.tokens_in,
         "tokens_out": outcome.tokens_out, "cost": str(outcome.cost),
         "prompt_hash": row.prompt_hash or None, "outcome": outcome.status.value,
         "reason": _line(outcome.reason) if outcome.reason else None},
    )  # fmt: skip


def _count(row: AssistantResponse, outcome: Outcome) -> None:
    """The Prometheus counters, after the commit (only the attempt that finished counts)."""
    model = outcome.model or get_settings().assistant_model or "none"
    kind = row.kind.value
    if outcome.status is ResponseStatus.SUCCEEDED:
        metrics.ASSISTANT_TOKENS.labels(model, kind, "input").inc(outcome.tokens_in)
        metrics.ASSISTANT_TOKENS.labels(model, kind, "output").inc(outcome.tokens_out)
        metrics.ASSISTANT_COST.labels(model, kind).inc(float(outcome.cost))
        if outcome.latency_ms is not None:
            metrics.ASSISTANT_LATENCY.labels(model, kind).observe(outcome.latency_ms / 1000)
    else:
        metrics.ASSISTANT_ERRORS.labels(model, kind, outcome.status.value).inc()


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


def _line(text: str) -> str:
    """One line for the panel, at most MAX_REASON characters."""
    one = " ".join(text.split())
    return one if len(one) <= MAX_REASON else one[: MAX_REASON - 1] + "…"
