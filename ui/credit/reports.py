"""Weekly report pages: the list with the "generate" form (report.generate holders), a report's
page (severity counts and top scenarios as server-rendered SVG bar charts, spike runs linking to
their run pages, policy violations, baseline candidates, the SHA-256) and the JSON download
(`/reports/{id}.json`, exactly the stored canonical JSON, as an attachment). Conventions are in
`riskops.ui.common`; everything is read and changed through `server/credit/reports.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.credit import reports as svc
from riskops.server.credit.models import Report
from riskops.ui.common.charts import Bar, bar_chart
from riskops.ui.common.forms import back
from riskops.ui.common.posts import Refusal, Submission, form_post
from riskops.ui.common.rendering import FLASH, page, render, signed_in

LIST_PAGE_SIZE = 20
SEVERITY_KEYS = ("SEV0", "SEV1", "SEV2", "SEV3", "none", "no_baseline")
VIOLATION_TITLES = {
    "sev0_sev1_without_case": "SEV0/SEV1 runs without a case",
    "stale_case": "Stale cases (open or investigating, no activity for 7 days)",
    "resolved_without_root_cause": "Resolved cases without a root cause",
}

FLASH.update(
    {
        "report.generated": "Weekly report generated.",
    }
)


# ------------------------------------------------------------------ SVG bar charts (ui/charts.py)


def severity_chart(counts: Mapping[str, int]) -> Markup:
    bars = [Bar(k.replace("_", " "), float(counts.get(k, 0)), f"report-bar sev-{k}",
                shown=f"{counts.get(k, 0):,}")
            for k in SEVERITY_KEYS]  # fmt: skip
    return bar_chart(bars, title="Runs by severity", label_width=110)


def scenario_chart(top: Sequence[Mapping[str, Any]]) -> Markup:
    bars = [
        Bar(str(t["scenario"])[:28], float(t["total"] or 0),
            "report-bar "
            + ("over" if (t.get("variance_multiplier") or 0) > svc.NOTABLE_VARIANCE else "ok"),
            shown=f"{t['total'] or 0:,.2f}")
        for t in top
    ]  # fmt: skip
    return bar_chart(bars, title="Credits by scenario (top 10)")


# ----------------------------------------------------------------------------- the list


async def _list_page(
    request: Request,
    principal: Principal,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    period_start: str | None = None,
) -> Response:
    after = request.query_params.get("after") or None
    list_error = None
    items: list[Report] = []
    cursor = None
    try:
        result = await svc.list_reports(principal, first=LIST_PAGE_SIZE, after=after)
    except Invalid as exc:
        list_error = exc.message
    else:
        items, cursor = result.items, result.end_cursor
    ctx = {
        "reports": items,
        "creators": await svc.creators(principal, items),
        "list_error": list_error,
        "more_url": f"/reports?{urlencode({'after': cursor})}" if cursor else None,
        "can_generate": principal.can(Perm.REPORT_GENERATE),
        "can_check": principal.can(Perm.REPORT_READ) or principal.can(Perm.RUN_READ),
        "errors": errors or {},
        "period_start": period_start or svc.last_complete_week().isoformat(),
    }
    code = status if status != 200 else (422 if list_error else 200)
    return render(request, "credit/reports/index.html", ctx, code,
                  partials={"report-more": "credit/reports/_rows.html"})  # fmt: skip


@page
async def reports_list(request: Request) -> Response:
    return await _list_page(request, signed_in(request))


async def _generate_refused(sub: Submission, refusal: Refusal) -> Response:
    period_start = sub.values["period_start"]
    return await _list_page(sub.request, sub.principal, status=refusal.status,
                            errors=refusal.errors, period_start=period_start)  # fmt: skip


@form_post(_generate_refused, keep=("period_start",), fields={"period_start": "period_start"})
async def report_generate(sub: Submission) -> Response:
    raw = sub.values["period_start"]
    report = await svc.generate_weekly_report(sub.principal, raw or svc.last_complete_week())
    return back(f"/reports/{report.id}", "report.generated")


# ----------------------------------------------------------------------------- one report


@page
async def report_detail(request: Request) -> Response:
    principal = signed_in(request)
    report = await svc.get_report(principal, request.path_params["report_id"])
    p = report.payload
    violations = p.get("policy_violations", [])
    grouped = {kind: [v for v in violations if v["kind"] == kind] for kind in VIOLATION_TITLES}
    ctx = {
        "report": report,
        "created_by": (await svc.creators(principal, [report]))[report.created_by],
        "p": p,
        "filename": svc.filename_of(report),
        "severity_chart": severity_chart(p.get("severity_counts", {})),
        "scenario_chart": scenario_chart(p.get("top_scenarios_by_total", [])),
        "notable_variance": svc.NOTABLE_VARIANCE,
        "violations": grouped,
        "violation_counts": p.get("policy_violation_counts", {}),
        "VIOLATION_TITLES": VIOLATION_TITLES,
        "MAX_VIOLATIONS": svc.MAX_VIOLATIONS,
    }
    return render(request, "credit/reports/detail.html", ctx)


@page
async def report_download(request: Request) -> Response:
    principal = signed_in(request)
    f = await svc.report_file(principal, request.path_params["report_id"])
    return Response(
        f.body,
        media_type="application/json",
        headers={
            "Content-Disposition": f"attachment; filename={f.filename}",
            "X-Content-SHA256": f.sha256,
            "Cache-Control": "no-store",
        },
    )


routes: list[Route] = [
    Route("/reports", reports_list, methods=["GET"]),
    Route("/reports", report_generate, methods=["POST"]),
    Route("/reports/{report_id}.json", report_download, methods=["GET"]),
    Route("/reports/{report_id}", report_detail, methods=["GET"]),
]
