"""The assistant's job: `assistant.respond` answers one response row.

Idempotent: a finished response is never answered again, and the finishing update (status,
output, tokens, cost, with its `assistant.call` audit event and any budget warning, in one
transaction) is conditional on the row still pending, so a job retried after a worker died
counts tokens and cost once.
"""

from __future__ import annotations

from typing import Any

from riskops.jobs.registry import job


@job("assistant.respond")
async def respond(ctx: dict[str, Any], response_id: int) -> dict[str, Any]:
    raise NotImplementedError  # issue 13: h/provider
