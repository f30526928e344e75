"""Notification queries: the outbox and how each message's delivery went."""

from __future__ import annotations

import strawberry

from riskops.graphql.core.context import Info, principal, query
from riskops.graphql.core.inputs import value_of
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
        rows = await query(outbox.list_messages(principal(info), value_of(status), first))
        return [Notification.of(m) for m in rows]
