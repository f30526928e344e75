"""Rows the assistant's tests ask about: an alert with PII (a customer, an e-mail, a card number
in its transaction), rule hits and signals, ingested through triage; and a pending response."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from riskops.jobs import runner
from riskops.jobs.models import Job
from riskops.server.assistant.jobs import RESPOND
from riskops.server.assistant.models import (
    AssistantResponse,
    ResponseKind,
    ResponseStatus,
    TargetType,
)
from riskops.server.triage.ingest import ingest_alerts

CARD = "4111111111111111"  # Luhn-valid


async def pii_alert(tenant: Any) -> tuple[int, dict[str, str]]:
    """An alert whose customer, account, e-mail and card must never reach the provider; the
    alert id and those values."""
    _, strat = await tenant.user("strategist")
    t = uuid.uuid4().hex[:6]
    pii = {
        "customer": f"CUST-{t}",
        "account": f"ACC-{t}",
        "email": f"jane.doe.{t}@example.com",
        "card": CARD,
    }
    item = {
        "external_id": f"ext-{t}",
        "source": "card-rules",
        "title": "Card testing burst",
        "score": 81.5,
        "priority": "high",
        "customer_ref": pii["customer"],
        "account_ref": pii["account"],
        "amount": "950.00",
        "currency": "EUR",
        "transaction": {"merchant": f"shop-{t}", "email": pii["email"], "card": pii["card"]},
        "rule_hits": [
            {"rule_id": f"R-101-{t}", "name": "Velocity", "score_contribution": 30},
            {"rule_id": f"R-202-{t}", "name": "Geo mismatch", "score_contribution": 12},
        ],
        "signals": [
            {"signal": "velocity_24h", "value": 14, "contribution": 2.5, "direction": "up"},
        ],
    }
    made = await ingest_alerts(strat, [item])
    assert made.errors == [], made.errors
    return made.created[0].alert_id, pii


async def pending(
    org_id: int,
    target_id: int,
    *,
    kind: ResponseKind = ResponseKind.EXPLAIN_ALERT,
    target_type: TargetType = TargetType.ALERT,
    requested_by_id: int | None = None,
    cost: Decimal | None = None,
) -> AssistantResponse:
    """A response row as the request writes it (pending); with `cost`, a finished one that
    spent it today."""
    now = datetime.now(UTC)
    finished = cost is not None
    return await AssistantResponse.create(
        org_id=org_id, kind=kind, target_type=target_type, target_id=target_id,
        requested_by_id=requested_by_id,
        status=ResponseStatus.SUCCEEDED if finished else ResponseStatus.PENDING,
        cost=cost or 0, created_at=now, finished_at=now if finished else None,
    )  # fmt: skip


async def enqueue(row: AssistantResponse) -> Job:
    """What the request does after its commit (h/api's service)."""
    return await runner.enqueue(
        RESPOND, org_id=row.org_id, payload={"response_id": row.id, "org_id": row.org_id},
        dedupe_key=f"{RESPOND}:{row.id}",
    )  # fmt: skip
