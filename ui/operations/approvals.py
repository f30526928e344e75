"""The approval trail page (issue 14): every request that needs a second person and its
decision, with names, filtered by kind and period, keyset-paged. For audit.approvals
(approvers, reviewers, admins), who need not read the whole audit log. Conventions are in
`riskops.ui.common`."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.errors import Invalid
from riskops.server.operations import approval_trail
from riskops.server.operations.approval_trail import KINDS, TrailEntry, TrailFilter
from riskops.ui.common.forms import form_text, parse_local
from riskops.ui.common.rendering import page, render, signed_in

TRAIL_PAGE_SIZE = 50
TRAIL_FILTERS = ("kind", "since", "until")


@page
async def approvals_page(request: Request) -> Response:
    principal = signed_in(request)
    params = request.query_params
    values = {name: form_text(params, name) for name in TRAIL_FILTERS}
    after = params.get("after") or None
    errors: dict[str, str] = {}
    flt = TrailFilter(
        kind=values["kind"] or None,
        since=parse_local(values["since"], "since", errors),
        until=parse_local(values["until"], "until", errors),
    )
    entries: list[TrailEntry] = []
    more_url = None
    try:
        result = await approval_trail.list_trail(principal, flt, first=TRAIL_PAGE_SIZE, after=after)
    except Invalid as exc:
        errors[exc.field or "_form"] = exc.message
    else:
        if not errors:  # a bound that did not parse: show the error, not a widened result
            entries = result.entries
            if result.has_next and result.end_cursor:
                kept = {k: v for k, v in values.items() if v}
                more_url = "/audit/approvals?" + urlencode({**kept, "after": result.end_cursor})
    ctx = {
        "values": values,
        "errors": errors,
        "entries": entries,
        "more_url": more_url,
        "KINDS": KINDS,
    }
    return render(
        request,
        "operations/approvals/index.html",
        ctx,
        422 if errors else 200,
        partials={
            "trail-results": "operations/approvals/_results.html",
            "trail-more": "operations/approvals/_rows.html",
        },
    )


routes: list[Route] = [
    Route("/audit/approvals", approvals_page, methods=["GET"]),
]
