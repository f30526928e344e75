"""Notification channels in the API (channel.manage, admins): the organization's channels, each
with its delivery log, and creating, editing, removing and testing them. Secrets (a webhook's
signing secret, a PagerDuty routing key, an SMTP password) are write-only: the API says whether
one is set, never what it is. Every resolver calls one service of `server.notify.channels`;
expected errors are data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from riskops.graphql.core.context import Info, or_none, principal, query
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.core.ids import as_id
from riskops.graphql.core.inputs import value_of
from riskops.graphql.core.pagination import PageInfo
from riskops.graphql.notify.types import NotificationStatus
from riskops.server.notify import channels, models, routing, webhooks
from riskops.server.notify.models import ChannelKind

NotificationChannelKind = strawberry.enum(
    ChannelKind, name="NotificationChannelKind",
    description="SLACK (a Slack-compatible incoming webhook), WEBHOOK (generic JSON, signed "
    "with the channel secret), PAGERDUTY (Events API v2, the secret is the routing key), EMAIL "
    "(SMTP).",
)  # fmt: skip
NotificationEvent = strawberry.enum(
    routing.RoutedEvent, name="NotificationEvent",
    description="What an organization routes to a channel: CRITICAL (SEV0 runs), ALERTS (SEV1 "
    "runs), REVIEW (SEV2 patterns, weekly reports), ESCALATION (unacknowledged SEV0/SEV1 past "
    "their target), ASSISTANT_BUDGET, VIEW_PROMOTION.",
)  # fmt: skip
EVENT_VALUES = frozenset(e.value for e in routing.RoutedEvent)


@strawberry.type(description="One message to a channel and how its delivery went.")
class ChannelDelivery:
    id: strawberry.ID
    kind: str
    summary: str = strawberry.field(description="What was said, in one line.")
    event_action: str | None = strawberry.field(
        description="trigger, acknowledge or resolve, for a message about an item."
    )
    dedup_key: str | None
    status: NotificationStatus  # type: ignore[valid-type]
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None = strawberry.field(description="When pending: next try.")
    waiting: bool = strawberry.field(
        description="Pending and held back behind an older pending message of its item to this "
        "channel (its trigger being retried, or an older escalation digest): it goes once that "
        'one is sent or fails. The page says "waits for the older message of its item to be '
        'sent".'
    )
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, m: models.OutboxMessage, *, waiting: bool = False) -> ChannelDelivery:
        pending = m.status == models.OutboxStatus.PENDING
        return cls(
            id=as_id(m.id), kind=m.kind, summary=webhooks.summary(m)[0][:300],
            event_action=routing.action_of(m.payload), dedup_key=m.dedup_key, status=m.status,
            attempts=m.attempts, last_error=m.last_error,
            next_attempt_at=m.next_attempt_at if pending else None, waiting=waiting,
            created_at=m.created_at, sent_at=m.sent_at,
        )  # fmt: skip


@strawberry.type
class ChannelDeliveryEdge:
    cursor: str
    node: ChannelDelivery


@strawberry.type
class ChannelDeliveryConnection:
    edges: list[ChannelDeliveryEdge]
    page_info: PageInfo


@strawberry.type(description="A notification channel of your organization. Its secret is never "
                 "shown: secretSet says whether one is stored.")  # fmt: skip
class NotificationChannel:
    id: strawberry.ID
    name: str
    kind: NotificationChannelKind  # type: ignore[valid-type]
    events: list[NotificationEvent]  # type: ignore[valid-type]
    enabled: bool
    secret_set: bool
    url: str | None = strawberry.field(description="SLACK and WEBHOOK: where it posts.")
    events_url: str | None = strawberry.field(description="PAGERDUTY: the Events API address.")
    smtp_host: str | None
    smtp_port: int | None
    starttls: bool | None
    smtp_username: str | None
    mail_from: str | None
    recipients: list[str]
    created_at: datetime
    updated_at: datetime
    last_test_at: datetime | None
    last_test_outcome: str | None
    removed_at: datetime | None
    version: int

    @classmethod
    def of(cls, c: models.NotificationChannel) -> NotificationChannel:
        config: dict[str, Any] = c.config if isinstance(c.config, dict) else {}
        mail = c.kind == ChannelKind.EMAIL
        return cls(
            id=as_id(c.id), name=c.name, kind=c.kind,
            events=[routing.RoutedEvent(e) for e in c.events or [] if e in EVENT_VALUES],
            enabled=c.enabled, secret_set=channels.secret_set(c), url=config.get("url"),
            events_url=config.get("events_url"), smtp_host=config.get("host"),
            smtp_port=config.get("port"), starttls=bool(config.get("starttls")) if mail else None,
            smtp_username=config.get("username"), mail_from=config.get("from"),
            recipients=list(config.get("recipients") or []), created_at=c.created_at,
            updated_at=c.updated_at, last_test_at=c.last_test_at,
            last_test_outcome=c.last_test_outcome, removed_at=c.archived_at, version=c.version,
        )  # fmt: skip

    @strawberry.field(description="What was sent to this channel, newest first (at most 100 a "
                      "page): outcome, attempts, last error, next retry, suppressed.")  # fmt: skip
    async def deliveries(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> ChannelDeliveryConnection:
        page = await query(channels.deliveries(principal(info), self.id, first=first, after=after))
        return ChannelDeliveryConnection(
            edges=[
                ChannelDeliveryEdge(
                    cursor=channels.cursor_of(m),
                    node=ChannelDelivery.of(m, waiting=m.id in page.waiting),
                )
                for m in page.items
            ],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )


@strawberry.input(description="A channel's settings. Give those of its kind: url (SLACK, "
                  "WEBHOOK), secret (WEBHOOK optional, PAGERDUTY the routing key, EMAIL the "
                  "SMTP password), eventsUrl (PAGERDUTY, optional), smtp* and mailFrom and "
                  "recipients (EMAIL). An empty secret keeps the stored one.")  # fmt: skip
class NotificationChannelInput:
    name: str
    events: list[NotificationEvent] = strawberry.field(  # type: ignore[valid-type]
        default_factory=list
    )
    enabled: bool = True
    url: str | None = None
    secret: str | None = None
    events_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    starttls: bool = False
    smtp_username: str | None = None
    mail_from: str | None = None
    recipients: list[str] | None = None

    def data(self) -> channels.ChannelInput:
        return channels.ChannelInput(
            name=self.name, events=[str(value_of(e)) for e in self.events], enabled=self.enabled,
            url=self.url, secret=self.secret, events_url=self.events_url,
            smtp_host=self.smtp_host, smtp_port=self.smtp_port, starttls=self.starttls,
            smtp_username=self.smtp_username, mail_from=self.mail_from,
            recipients=list(self.recipients or []),
        )  # fmt: skip


@strawberry.type
class NotificationChannelPayload:
    channel: NotificationChannel | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class NotificationChannelTestPayload:
    ok: bool = False
    outcome: str | None = strawberry.field(
        default=None, description='What the receiver answered: "202 accepted", "connection '
        'refused", "400: Invalid routing key".',
    )  # fmt: skip
    channel: NotificationChannel | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ChannelsQuery:
    @strawberry.field(description="Your organization's notification channels, by name (admin); "
                      "with includeRemoved also the removed ones.")  # fmt: skip
    async def notification_channels(
        self, info: Info, include_removed: bool = False
    ) -> list[NotificationChannel]:
        rows = await query(channels.list_channels(principal(info), include_removed=include_removed))
        return [NotificationChannel.of(c) for c in rows]

    @strawberry.field(description="One notification channel (admin), removed ones included; "
                      "null when it does not exist.")  # fmt: skip
    async def notification_channel(
        self, info: Info, id: strawberry.ID
    ) -> NotificationChannel | None:
        row = await or_none(channels.get_channel(principal(info), str(id)))
        return NotificationChannel.of(row) if row else None


@strawberry.type
class ChannelsMutation:
    @strawberry.mutation(description="Add a notification channel to your organization (admin).")
    async def create_notification_channel(
        self,
        info: Info,
        kind: NotificationChannelKind,  # type: ignore[valid-type]
        input: NotificationChannelInput,
    ) -> NotificationChannelPayload:
        return await as_payload(
            NotificationChannelPayload,
            channels.create_channel(principal(info), value_of(kind) or "", input.data()),
            lambda c: NotificationChannelPayload(channel=NotificationChannel.of(c)),
        )

    @strawberry.mutation(
        description="Edit a channel (admin): the whole of its settings, as on its page; its "
        "kind stays. An empty secret keeps the stored one."
    )
    async def update_notification_channel(
        self, info: Info, id: strawberry.ID, expected_version: int,
        input: NotificationChannelInput,
    ) -> NotificationChannelPayload:  # fmt: skip
        return await as_payload(
            NotificationChannelPayload,
            channels.update_channel(
                principal(info), str(id), input.data(), expected_version=expected_version
            ),
            lambda c: NotificationChannelPayload(channel=NotificationChannel.of(c)),
        )

    @strawberry.mutation(description="Remove a channel (admin): nothing more goes to it, what "
                         "is pending to it is not sent, its delivery log stays.")  # fmt: skip
    async def remove_notification_channel(
        self, info: Info, id: strawberry.ID, expected_version: int
    ) -> NotificationChannelPayload:
        return await as_payload(
            NotificationChannelPayload,
            channels.remove_channel(principal(info), str(id), expected_version=expected_version),
            lambda c: NotificationChannelPayload(channel=NotificationChannel.of(c)),
        )

    @strawberry.mutation(description="Send a test message to a channel now and wait for the "
                         "answer (admin; a few seconds at most). A PagerDuty test opens and "
                         "resolves an incident of its own.")  # fmt: skip
    async def test_notification_channel(
        self, info: Info, id: strawberry.ID
    ) -> NotificationChannelTestPayload:
        base_url = info.context.settings.base_url
        return await as_payload(
            NotificationChannelTestPayload,
            channels.send_test(principal(info), str(id), base_url=base_url),
            lambda r: NotificationChannelTestPayload(
                ok=r.ok, outcome=r.outcome, channel=NotificationChannel.of(r.channel)
            ),
        )
