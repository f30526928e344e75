"""The admin pages of issue 15's "platform status and emergencies": "Maintenance" (read-only
mode on and off with its reason, and the history) and "Platform status" (the report `riskops
status` prints). Each calls the service GraphQL and the CLI call; conventions are in
`riskops.ui.common`. The maintenance forms are the only ones that still work while a period is
on (`form_post(during_maintenance=True)`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.operations import maintenance, status
from riskops.server.web import settings_of
from riskops.ui.common.forms import back
from riskops.ui.common.posts import Refusal, Submission, form_post
from riskops.ui.common.rendering import page, render, signed_in


async def _maintenance_page(
    request: Request, principal: Principal, *, status_code: int = 200,
    errors: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None,
) -> Response:  # fmt: skip
    principal.require(Perm.MAINTENANCE_MANAGE)
    ctx = {
        "current": await maintenance.status(principal),
        "history": await maintenance.history(principal) if principal.can(Perm.OPS_READ) else [],
        "errors": errors or {},
        "values": values or {},
        "max_reason": maintenance.MAX_REASON,
    }
    return render(request, "operations/maintenance/maintenance.html", ctx, status_code)


@page
async def maintenance_page(request: Request) -> Response:
    return await _maintenance_page(request, signed_in(request))


async def _refused(sub: Submission, refusal: Refusal) -> Response:
    return await _maintenance_page(sub.request, sub.principal, status_code=refusal.status,
                                   errors=refusal.errors, values=sub.values)  # fmt: skip


@form_post(_refused, keep=("reason",), during_maintenance=True)
async def maintenance_start(sub: Submission) -> Response:
    await maintenance.start(sub.principal, sub.text("reason"))
    return back("/admin/maintenance", "maintenance.on")


@form_post(_refused, during_maintenance=True)
async def maintenance_end(sub: Submission) -> Response:
    await maintenance.end(sub.principal)
    return back("/admin/maintenance", "maintenance.off")


@page
async def status_page(request: Request) -> Response:
    report = await status.platform_status(signed_in(request), settings_of(request))
    return render(request, "operations/maintenance/status.html", {"report": report})


routes: list[Route] = [
    Route("/admin/maintenance", maintenance_page, methods=["GET"]),
    Route("/admin/maintenance/start", maintenance_start, methods=["POST"]),
    Route("/admin/maintenance/end", maintenance_end, methods=["POST"]),
    Route("/admin/status", status_page, methods=["GET"]),
]
