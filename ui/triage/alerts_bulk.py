"""The alert queue's bulk actions (issue 11, items 16 and 17): assign the selected rows to me, or
close them with one disposition and comment, all or nothing. A refusal shows the queue again with
the selection kept, the errors of the whole action above it and an item's own on its row.
Conventions for the pages are in `riskops.ui.common`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.datastructures import FormData, QueryParams
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.errors import DomainError
from riskops.server.triage import bulk as alert_service_bulk
from riskops.server.triage.bulk import BulkFailed, BulkItem
from riskops.ui.common.forms import form_errors, form_text, form_texts, int_or_none
from riskops.ui.common.posts import Refusal, Submission, form_post
from riskops.ui.triage.alerts import QUEUE_PAGE_SIZE, queue_redirect, queue_view, rows_shown

# ----------------------------------------------------------------------------- bulk actions


def _bulk_items(form: FormData) -> list[BulkItem]:
    """The selected rows, each with the version its row was rendered with."""
    return [
        BulkItem(alert_id=raw, expected_version=int_or_none(form_text(form, f"version_{raw}")) or 0)
        for raw in form_texts(form, "alert_id")
    ]


# Item errors about these fields concern the whole form (every item gets the same one).
BULK_FIELDS = {"disposition": "disposition", "comment": "comment", "items": "alert_id"}


def _bulk_errors(
    exc: DomainError, items: Sequence[BulkItem]
) -> tuple[dict[str, str], dict[int, str]]:
    """Form errors and per-row errors (keyed by alert id) of a refused bulk action."""
    if not isinstance(exc, BulkFailed):
        return form_errors(exc, BULK_FIELDS), {}
    errors: dict[str, str] = {"_form": exc.message}
    rows: dict[int, str] = {}
    for err in exc.errors:
        if err.field in BULK_FIELDS:
            errors[BULK_FIELDS[err.field]] = err.message
            continue
        alert_id = int_or_none(str(items[err.index].alert_id)) if err.index < len(items) else None
        if alert_id is None:
            errors["_form"] += f" Item {err.index + 1}: {err.message}"
        else:
            rows[alert_id] = err.message
    return errors, rows


def _bulk_values(form: FormData) -> dict[str, Any]:
    """The queue the form was posted from (`q`) and what the bulk form showed."""
    return {
        "q": form_text(form, "q"),
        "selected": [int_or_none(str(i.alert_id)) for i in _bulk_items(form)],
        "disposition": form_text(form, "disposition"),
        "comment": form_text(form, "comment"),
    }


async def _bulk_refused(sub: Submission, refusal: Refusal) -> Response:
    """The queue again, the selection kept: errors about the whole action above the queue, an
    item's own refusal on its row (`_bulk_errors`)."""
    errors, row_errors = _bulk_errors(refusal.error, _bulk_items(sub.form))
    values = sub.values
    bulk = {name: values[name] for name in ("selected", "disposition", "comment")}
    rows = rows_shown(sub.request)
    query = values["q"] + (f"&rows={rows}" if rows > QUEUE_PAGE_SIZE else "")
    return await queue_view(
        sub.request, sub.principal, QueryParams(query), status=refusal.status,
        errors=errors, row_errors=row_errors, bulk=bulk,
    )  # fmt: skip


def _bulk_key(sub: Submission) -> str | None:
    return sub.text("idempotency_key") or None


@form_post(_bulk_refused, keep=_bulk_values)
async def bulk_assign(sub: Submission) -> Response:
    await alert_service_bulk.bulk_assign_alerts(
        sub.principal, _bulk_items(sub.form), assignee_id=sub.principal.user_id,
        idempotency_key=_bulk_key(sub),
    )  # fmt: skip
    return queue_redirect(sub.values["q"], "alerts.bulk_assign", rows_shown(sub.request))


@form_post(_bulk_refused, keep=_bulk_values)
async def bulk_close(sub: Submission) -> Response:
    await alert_service_bulk.bulk_close_alerts(
        sub.principal, _bulk_items(sub.form), disposition=sub.values["disposition"],
        comment=sub.values["comment"], idempotency_key=_bulk_key(sub),
    )  # fmt: skip
    return queue_redirect(sub.values["q"], "alerts.bulk_close", rows_shown(sub.request))


# Before `/alerts/{alert_id}/…` in ui/routes.py, which would otherwise read "bulk" as an alert id.
routes: list[Route] = [
    Route("/alerts/bulk/assign", bulk_assign, methods=["POST"]),
    Route("/alerts/bulk/close", bulk_close, methods=["POST"]),
]
