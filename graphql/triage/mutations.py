"""Alert mutations: ingest and the alert workflow (single and bulk); the case mutations are
`graphql/triage/case_mutations.py`. Every resolver calls one service; expected errors are data
(`as_payload`), and a stale expectedVersion answers CONFLICT with the current state.

The alerts of a payload are built like the queue's (`alert_nodes`): their nested fields come
from the per-request loaders (`graphql/triage/loaders.py`), one query per relation.
"""

from __future__ import annotations

from collections.abc import Awaitable

import strawberry

from riskops.graphql.core.context import Info, principal
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.core.ids import as_id
from riskops.graphql.core.inputs import input_dict
from riskops.graphql.triage.queries import alert_nodes
from riskops.graphql.triage.types import (
    Alert,
    AlertDisposition,
    AlertInput,
    BulkAlertItem,
    BulkAlertsPayload,
    BulkItemError,
    IngestAlertsPayload,
    IngestItemError,
)
from riskops.server.core.errors import DomainError, ErrorCode
from riskops.server.core.scoping import parse_id, scoped
from riskops.server.triage import alerts, bulk, ingest
from riskops.server.triage import models as m
from riskops.server.triage.alerts import AlertActionResult

MAX_INGEST = alerts.MAX_BATCH
MAX_BULK = alerts.MAX_BULK


# --- building nodes ----------------------------------------------------------------------------


async def _current_alert(info: Info, alert_id: str) -> Alert | None:
    row = await scoped(m.Alert, principal(info)).get_or_none(id=parse_id("Alert", alert_id))
    return (await alert_nodes(info, [row]))[0] if row is not None else None


# --- payloads ----------------------------------------------------------------------------------


@strawberry.type
class AlertPayload:
    alert: Alert | None = strawberry.field(
        default=None, description="The changed alert; on CONFLICT, its current state."
    )
    replayed: bool = strawberry.field(
        default=False, description="True when the idempotency key repeated an earlier request."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _alert_payload(
    info: Info, alert_id: strawberry.ID, change: Awaitable[AlertActionResult]
) -> AlertPayload:
    """The payload of an alert action; on CONFLICT it carries the alert as it is now."""

    async def done(result: AlertActionResult) -> AlertPayload:
        (node,) = await alert_nodes(info, [result.alert])
        return AlertPayload(alert=node, replayed=result.replayed)

    async def current(errors: list[UserError]) -> AlertPayload:
        return AlertPayload(alert=await _current_alert(info, str(alert_id)), errors=errors)

    return await as_payload(AlertPayload, change, done, conflict=current)


def _bulk_items(items: list[BulkAlertItem]) -> list[bulk.BulkItem]:
    return [bulk.BulkItem(str(i.alert_id), i.expected_version) for i in items]


async def _bulk_payload(
    info: Info, items: list[BulkAlertItem], change: Awaitable[bulk.BulkResult]
) -> BulkAlertsPayload:
    # Not `as_payload`: a failed bulk action reports its items' errors by index as well.
    try:
        result = await change
    except bulk.BulkFailed as exc:
        return BulkAlertsPayload(
            item_errors=[
                BulkItemError(
                    index=e.index,
                    field=e.field,
                    code=e.code,
                    message=e.message,
                    alert_id=items[e.index].alert_id if e.index < len(items) else None,
                    external_id=exc.external_ids.get(e.index),
                )
                for e in exc.errors
            ],
            errors=[UserError.of(exc)],
        )
    except DomainError as exc:
        return BulkAlertsPayload(errors=[UserError.of(exc)])
    nodes = await alert_nodes(info, result.alerts)
    return BulkAlertsPayload(alerts=nodes, replayed=result.replayed)


def _ingested(result: ingest.IngestResult) -> IngestAlertsPayload:
    return IngestAlertsPayload(
        batch_id=result.batch_id,
        created=len(result.created),
        unchanged=len(result.unchanged),
        invalid=len(result.errors),
        created_ids=[as_id(c.alert_id) for c in result.created],
        item_errors=[
            IngestItemError(
                index=e.index, field=e.field, code=ErrorCode.INVALID.value, message=e.message
            )
            for e in result.errors
        ],
    )


# --- mutations ---------------------------------------------------------------------------------

_ACTION_HELP = (
    " Needs expectedVersion (a stale one is CONFLICT, and `alert` carries the current state); "
    "an idempotencyKey makes a retry replay the first result."
)


@strawberry.type
class AlertsMutation:
    @strawberry.mutation(
        description=f"Ingest up to {MAX_INGEST} alerts, idempotent on externalId. Invalid items "
        "are reported in itemErrors by index; the valid ones are stored."
    )
    async def ingest_alerts(self, info: Info, input: list[AlertInput]) -> IngestAlertsPayload:
        return await as_payload(
            IngestAlertsPayload,
            ingest.ingest_alerts(principal(info), [input_dict(i) for i in input]),
            _ingested,
        )

    @strawberry.mutation(description="Assign an alert." + _ACTION_HELP)
    async def assign_alert(
        self,
        info: Info,
        alert_id: strawberry.ID,
        assignee_id: strawberry.ID,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> AlertPayload:
        p = principal(info)
        return await _alert_payload(
            info, alert_id,
            alerts.assign_alert(
                p, str(alert_id), assignee_id=str(assignee_id),
                expected_version=expected_version, idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(
        description="Escalate an alert to a team or an approver, with a reason." + _ACTION_HELP
    )
    async def escalate_alert(
        self,
        info: Info,
        alert_id: strawberry.ID,
        reason: str,
        expected_version: int,
        team_id: strawberry.ID | None = None,
        approver_id: strawberry.ID | None = None,
        idempotency_key: str | None = None,
    ) -> AlertPayload:
        p = principal(info)
        return await _alert_payload(
            info, alert_id,
            alerts.escalate_alert(
                p, str(alert_id), reason=reason, team_id=team_id, approver_id=approver_id,
                expected_version=expected_version, idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(description="Ask someone a question about an alert." + _ACTION_HELP)
    async def request_alert_info(
        self,
        info: Info,
        alert_id: strawberry.ID,
        question: str,
        answerer_id: strawberry.ID,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> AlertPayload:
        p = principal(info)
        return await _alert_payload(
            info, alert_id,
            alerts.request_alert_info(
                p, str(alert_id), question=question, answerer_id=str(answerer_id),
                expected_version=expected_version, idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(
        description="Answer the open question on an alert (the person asked)." + _ACTION_HELP
    )
    async def answer_alert_info(
        self,
        info: Info,
        alert_id: strawberry.ID,
        answer: str,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> AlertPayload:
        p = principal(info)
        return await _alert_payload(
            info, alert_id,
            alerts.answer_alert_info(
                p, str(alert_id), answer=answer,
                expected_version=expected_version, idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(
        description="Close an alert with a disposition and a comment." + _ACTION_HELP
    )
    async def close_alert(
        self,
        info: Info,
        alert_id: strawberry.ID,
        disposition: AlertDisposition,
        comment: str,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> AlertPayload:
        p = principal(info)
        return await _alert_payload(
            info, alert_id,
            alerts.close_alert(
                p, str(alert_id), disposition=disposition.value, comment=comment,
                expected_version=expected_version, idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(description="Reopen a closed alert (approver)." + _ACTION_HELP)
    async def reopen_alert(
        self,
        info: Info,
        alert_id: strawberry.ID,
        reason: str,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> AlertPayload:
        p = principal(info)
        return await _alert_payload(
            info, alert_id,
            alerts.reopen_alert(
                p, str(alert_id), reason=reason,
                expected_version=expected_version, idempotency_key=idempotency_key,
            ),
        )  # fmt: skip

    @strawberry.mutation(
        description=f"Assign up to {MAX_BULK} alerts to one person: all of them or, when any "
        "item fails (itemErrors by index), none." + _ACTION_HELP
    )
    async def bulk_assign_alerts(
        self,
        info: Info,
        items: list[BulkAlertItem],
        assignee_id: strawberry.ID,
        idempotency_key: str | None = None,
    ) -> BulkAlertsPayload:
        p = principal(info)
        return await _bulk_payload(
            info, items,
            bulk.bulk_assign_alerts(
                p, _bulk_items(items), assignee_id=str(assignee_id),
                idempotency_key=idempotency_key,
            )
        )  # fmt: skip

    @strawberry.mutation(
        description=f"Close up to {MAX_BULK} alerts with one disposition and comment: all of "
        "them or, when any item fails (itemErrors by index), none." + _ACTION_HELP
    )
    async def bulk_close_alerts(
        self,
        info: Info,
        items: list[BulkAlertItem],
        disposition: AlertDisposition,
        comment: str,
        idempotency_key: str | None = None,
    ) -> BulkAlertsPayload:
        p = principal(info)
        return await _bulk_payload(
            info, items,
            bulk.bulk_close_alerts(
                p, _bulk_items(items), disposition=disposition.value, comment=comment,
                idempotency_key=idempotency_key,
            )
        )  # fmt: skip
