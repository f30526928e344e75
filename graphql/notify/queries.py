"""Notification queries: the outbox and how each message's delivery went."""

from __future__ import annotations

import strawberry

from riskops.graphql.core.context import Info, principal, query
from riskops.graphql.notify.types import Notification, NotificationStatus
from riskops.server.notify import outbox


@strawberry.type
class NotifyQuery:
    @strawberry.field(description="The notification outbox, newest first (at most 200).")
    async def notifications(
        self,
        info: Info,
        status: NotificationStatus | None = None,  # type: ignore[valid-type]
        first: int = 50,
    ) -> list[Notification]:
        value = status.value if status is not None else None
        rows = await query(outbox.list_messages(principal(info), value, first))
        return [Notification.of(m) for m in rows]
