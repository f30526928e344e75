"""The notifications page: the outbox, newest first, filtered by status. Conventions are in
`riskops.ui.common`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.errors import Invalid
from riskops.server.core.scoping import scoped
from riskops.server.notify import outbox
from riskops.server.notify.models import NotificationChannel, OutboxStatus
from riskops.ui.common.forms import (
    form_text,
)
from riskops.ui.common.rendering import page, render, signed_in

NOTIFICATION_PAGE = 100


@page
async def notifications_page(request: Request) -> Response:
    principal = signed_in(request)
    chosen = form_text(request.query_params, "status")
    error = None
    try:
        rows = await outbox.list_messages(principal, chosen or None, NOTIFICATION_PAGE)
    except Invalid as exc:
        rows, error = [], exc.message
    ids = sorted({m.destination_id for m in rows if m.destination_id is not None})
    found = await scoped(NotificationChannel, principal).filter(id__in=ids) if ids else []
    ctx = {
        "messages": rows,
        "destinations": {c.id: c.name for c in found},
        "chosen": chosen,
        "filter_error": error,
        "STATUSES": [s.value for s in OutboxStatus],
        "limit": NOTIFICATION_PAGE,
    }
    return render(request, "notify/notifications.html", ctx, 422 if error else 200)


routes: list[Route] = [
    Route("/notifications", notifications_page, methods=["GET"]),
]
