"""GraphQL types of the notification outbox."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from riskops.graphql.core.ids import as_id, as_opt_id
from riskops.server.notify import models
from riskops.server.notify.models import OutboxStatus

NotificationStatus = strawberry.enum(
    OutboxStatus, name="NotificationStatus",
    description="PENDING (to be sent or retried), SENT, FAILED (for good: see lastError), "
    "SUPPRESSED (written while alert suppression was on: never sent).",
)  # fmt: skip


@strawberry.type(description="A message of the notification outbox and how its delivery went.")
class Notification:
    id: strawberry.ID
    channel: str
    kind: str
    status: NotificationStatus  # type: ignore[valid-type]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    payload: JSON
    created_at: datetime
    sent_at: datetime | None
    destination_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The notification channel of your organization it goes to; null: the "
        "installation default of its channel (RISKOPS_WEBHOOKS).",
    )
    dedup_key: str | None = None

    @classmethod
    def of(cls, m: models.OutboxMessage) -> Notification:
        return cls(
            id=as_id(m.id), channel=m.channel, kind=m.kind, status=m.status,
            attempts=m.attempts, next_attempt_at=m.next_attempt_at, last_error=m.last_error,
            payload=m.payload, created_at=m.created_at, sent_at=m.sent_at,
            destination_id=as_opt_id(m.destination_id), dedup_key=m.dedup_key,
        )  # fmt: skip
