"""The assistant's usage page `/assistant/usage` (approvers and admins: `assistant.usage`): for
a period (today, 7 days, 30 days, all) and a grouping (person, model, case, kind), the responses,
failures, tokens and cost (`usage.usage`), and today's spending against the organization's daily
budget (`service.status`). Conventions are in `riskops.ui.common`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.assistant import service
from riskops.server.assistant import usage as svc
from riskops.server.core.errors import Invalid
from riskops.ui.common.forms import form_text
from riskops.ui.common.rendering import page, render, signed_in

PERIODS = {
    svc.UsagePeriod.TODAY.value: "Today (UTC)",
    svc.UsagePeriod.LAST_7_DAYS.value: "Last 7 days",
    svc.UsagePeriod.LAST_30_DAYS.value: "Last 30 days",
    svc.UsagePeriod.ALL.value: "All time",
}
GROUPS = {
    svc.UsageGroup.USER.value: "Person",
    svc.UsageGroup.MODEL.value: "Model",
    svc.UsageGroup.CASE.value: "Case",
    svc.UsageGroup.KIND.value: "Kind",
}
# The service's field names -> the filter form's.
FIELDS = {"period": "period", "group_by": "group", "groupBy": "group"}


@page
async def usage_page(request: Request) -> Response:
    principal = signed_in(request)
    params = request.query_params
    values = {
        "period": form_text(params, "period") or svc.UsagePeriod.LAST_7_DAYS.value,
        "group": form_text(params, "group") or svc.UsageGroup.USER.value,
    }
    errors: dict[str, str] = {}
    rows: list[svc.UsageRow] = []
    try:
        rows = await svc.usage(principal, values["period"], values["group"])
    except Invalid as exc:
        errors[FIELDS.get(exc.field or "", "_form")] = exc.message
    budget = await service.status(principal)
    ctx = {
        "values": values,
        "errors": errors,
        "rows": rows,
        "totals": {
            "responses": sum(r.responses for r in rows),
            "failures": sum(r.failures for r in rows),
            "tokens_in": sum(r.tokens_in for r in rows),
            "tokens_out": sum(r.tokens_out for r in rows),
            "cost": sum((r.cost for r in rows), start=0),
        },
        "budget": budget,
        "spent_share": float(budget.spent / budget.budget * 100) if budget.budget else None,
        "PERIODS": PERIODS,
        "GROUPS": GROUPS,
    }
    return render(request, "assistant/usage.html", ctx, 422 if errors else 200)


routes: list[Route] = [Route("/assistant/usage", usage_page, methods=["GET"])]
