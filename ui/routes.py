"""Every page route: one list per domain, composed here (only `riskops.server.app` imports this
module). Conventions for the pages are in `riskops.ui.common`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.ui.assistant import pages as assistant_pages
from riskops.ui.assistant import usage as assistant_usage
from riskops.ui.common.rendering import page, render_error
from riskops.ui.credit import checks, controls, reports, runs, scenarios
from riskops.ui.identity import access as access_pages
from riskops.ui.identity import admin, mfa_pages, pages
from riskops.ui.identity import passwords as password_pages
from riskops.ui.identity import sso as sso_pages
from riskops.ui.notify import channels as notify_channels
from riskops.ui.notify import pages as notify_pages
from riskops.ui.operations import access_review, approvals, audit, gdpr
from riskops.ui.operations import backups as backup_pages
from riskops.ui.operations import maintenance as maintenance_pages
from riskops.ui.operations import retention as retention_pages
from riskops.ui.response import pages as response_pages
from riskops.ui.triage import alerts, alerts_bulk, cases
from riskops.ui.views import pages as view_pages
from riskops.ui.work import pages as work_pages


@page
async def unknown_page(request: Request) -> Response:
    return render_error(request, 404, f"There is no page at {request.url.path}.")


routes: list[Route] = [
    *work_pages.routes,
    *sso_pages.routes,  # before pages': `/login/sso/…`
    *pages.routes,
    *mfa_pages.routes,
    *admin.routes,
    *password_pages.routes,
    *access_pages.routes,
    *approvals.routes,  # before audit's
    *access_review.routes,
    *gdpr.routes,
    *audit.routes,
    *backup_pages.routes,
    *maintenance_pages.routes,
    *retention_pages.routes,
    *alerts_bulk.routes,  # before alerts': `/alerts/bulk/…` is not an alert
    *alerts.routes,
    *response_pages.ROUTES,  # before cases' and runs': `/cases/{id}/acknowledge`…
    *cases.routes,
    *runs.routes,
    *scenarios.routes,
    *checks.routes,  # before reports': `/reports/checks` is not a report
    *reports.routes,
    *controls.routes,
    *notify_pages.routes,
    *notify_channels.routes,
    *view_pages.routes,
    *assistant_usage.routes,  # before the panel's `/assistant/{target_type}/{target_id}`
    *assistant_pages.routes,
    # Last: any other GET gets the friendly 404 page rather than a bare "Not Found".
    Route("/{path:path}", unknown_page, methods=["GET"]),
]
