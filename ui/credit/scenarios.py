"""Scenario pages: the list of scenarios with their baselines, and a scenario's page (credits
chart with the baseline band and SEV2/SEV1 lines, baseline history, candidate status, and the
forms: calculate, propose, approve/reject, manual baseline, configuration). Conventions are in
`ui/common.py`; every rule is the services' (`baselines.py`, `scenarios.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.approvals import ChangeStatus
from riskops.server.core.errors import Conflict, DomainError, Forbidden, Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.credit import baselines as svc
from riskops.server.credit import scenarios as scen
from riskops.server.web import read_form
from riskops.ui.common.charts import Band, Line, Point, line_chart
from riskops.ui.common.forms import (
    FORM_ERRORS,
    back,
    directory,
    form_errors,
    form_text,
    int_or_none,
)
from riskops.ui.common.rendering import FLASH, page, render, signed_in, status_of

FLASH.update(
    {
        "baseline.proposed": "Baseline update proposed: an approver other than you decides it.",
        "baseline.approved": "Baseline update approved: the new baseline is in force.",
        "baseline.rejected": "Baseline update rejected.",
        "baseline.manual": "Manual baseline set: it is in force.",
        "scenario.updated": "Scenario configuration saved.",
    }
)

CALC_FIELDS = {"days": "days"}
PROPOSE_FIELDS = {"days": "days", "rationale": "rationale"}
DECIDE_FIELDS = {"rationale": "rationale", "reason": "reason",
                 "confirm_large_change": "confirm_large_change"}  # fmt: skip
MANUAL_FIELDS = {"median": "median", "rationale": "rationale",
                 "confirm_large_change": "confirm_large_change"}  # fmt: skip
CONFIG_FIELDS = {"name": "name", "max_items": "max_items",
                 "data_classification": "data_classification",
                 "dispatch_target": "dispatch_target", "expected_version": "_form"}  # fmt: skip
CLASSIFICATIONS = ("public", "internal", "confidential", "pii", "regulatory")


def _path(key: str) -> str:
    return f"/scenarios/{quote(key, safe='')}"


# ----------------------------------------------------------------------------- the list


@page
async def scenarios_list(request: Request) -> Response:
    principal = signed_in(request)
    rows = await scen.list_scenarios(principal)
    return render(request, "credit/scenarios/index.html", {"rows": rows, "path_of": _path})


# ----------------------------------------------------------------------------- one scenario


def credits_chart(detail: scen.ScenarioDetail) -> Markup:
    """Credits of the last 90 days, points coloured by severity, with the baseline band (median
    / SEV3 multiplier to median x SEV3 multiplier of the policy in force: inside it a run is
    not even SEV3) and dashed lines at the SEV2 and SEV1 thresholds."""
    points = [
        Point(
            p.started_at,
            p.credits_total,
            css_class=f"sev-{p.severity.value if p.severity else 'none'}",
            title=f"{p.started_at:%Y-%m-%d %H:%M} UTC: {p.credits_total:,.2f} credits"
            + (f" ({p.severity.value})" if p.severity else ""),
        )
        for p in detail.series
    ]
    band, lines = None, []
    if detail.baseline is not None:
        m, policy = detail.baseline.median, detail.policy
        k = policy.sev3_multiplier
        band = Band(m / k, m * k, f"baseline {m:,.2f} (/{k:g} to x{k:g})", "chart-baseline")
        lines = [
            Line(m * policy.sev2_multiplier, f"SEV2 x{policy.sev2_multiplier:g}", "sev-SEV2"),
            Line(m * policy.sev1_multiplier, f"SEV1 x{policy.sev1_multiplier:g}", "sev-SEV1"),
        ]
    return line_chart(
        points,
        band=band,
        lines=lines,
        title=f"Credits per run of {detail.scenario.key}, last {scen.SERIES_DAYS} days",
        connect=False,
        empty_text=f"No runs in the last {scen.SERIES_DAYS} days.",
    )


async def _scenario_page(
    request: Request,
    principal: Principal,
    *,
    status: int = 200,
    form: str = "",
    errors: Mapping[str, str] | None = None,
    conflict: str | None = None,
    values: Mapping[str, str] | None = None,
    calculation: svc.Calculation | None = None,
) -> Response:
    """The scenario page; after a refused action, `form` names the form whose `errors` it
    shows (a Conflict is shown at the top)."""
    detail = await scen.get_scenario_detail(principal, request.path_params["key"])
    people = await directory(principal)
    ctx = {
        "d": detail,
        "s": detail.scenario,
        "path": _path(detail.scenario.key),
        "chart": credits_chart(detail),
        "names": {u.id: u.name for u in people},
        "can_propose": principal.can(Perm.BASELINE_PROPOSE),
        "can_approve": principal.can(Perm.BASELINE_APPROVE),
        "proposal_needs_confirm": detail.proposal_needs_confirmation,
        "calc": calculation,
        "form_name": form,
        "errors": errors or {},
        "conflict": conflict,
        "values": values or {},
        "CLASSIFICATIONS": CLASSIFICATIONS,
        "window_days": detail.policy.baseline_window_days,
    }
    return render(request, "credit/scenarios/detail.html", ctx, status)


@page
async def scenario_detail(request: Request) -> Response:
    return await _scenario_page(request, signed_in(request))


async def _refused(
    request: Request,
    principal: Principal,
    exc: DomainError,
    form: str,
    fields: Mapping[str, str],
    values: Mapping[str, str],
) -> Response:
    code = status_of(exc)
    if isinstance(exc, Conflict) and exc.field in (None, "change_id", "expected_version"):
        return await _scenario_page(request, principal, status=code, conflict=exc.message)
    return await _scenario_page(
        request, principal, status=code, form=form, errors=form_errors(exc, fields),
        values=values,
    )  # fmt: skip


def _days(raw: str) -> Any:
    """Empty: the policy's window; a number goes to the service as is (it checks the range);
    anything else stays text so the service refuses it with its own message."""
    if not raw:
        return None
    value = int_or_none(raw)
    return value if value is not None else raw


@page
async def scenario_calculate(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    values = {"days": form_text(form, "days")}
    try:
        calc = await svc.calculate_baseline(principal, request.path_params["key"],
                                            _days(values["days"]))  # fmt: skip
    except FORM_ERRORS as exc:
        return await _refused(request, principal, exc, "calculate", CALC_FIELDS, values)
    return await _scenario_page(request, principal, form="calculate", values=values,
                                calculation=calc)  # fmt: skip


@page
async def scenario_propose(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    key = request.path_params["key"]
    values = {"days": form_text(form, "days"), "rationale": form_text(form, "rationale")}
    try:
        await svc.propose_baseline_update(principal, key, _days(values["days"]),
                                          values["rationale"])  # fmt: skip
    except FORM_ERRORS as exc:
        return await _refused(request, principal, exc, "propose", PROPOSE_FIELDS, values)
    return back(_path(key), "baseline.proposed")


async def _decide(request: Request, *, approve: bool) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    key = request.path_params["key"]
    name = "approve" if approve else "reject"
    change_id = form_text(form, "change_id")
    values = {"rationale": form_text(form, "rationale"), "reason": form_text(form, "reason")}
    try:
        if approve:
            confirm = form_text(form, "confirm_large_change") in ("1", "on", "true")
            await svc.approve_baseline_update(
                principal, change_id, values["rationale"], confirm, scenario_key=key
            )
        else:
            await svc.reject_baseline_update(
                principal, change_id, values["reason"], scenario_key=key
            )
    except FORM_ERRORS as exc:
        return await _refused(request, principal, exc, name, DECIDE_FIELDS, values)
    except Forbidden as exc:
        if not principal.can(Perm.BASELINE_APPROVE):
            raise  # not an approver at all: the 403 page
        # An approver deciding their own proposal (maker-checker): shown where they acted.
        return await _scenario_page(request, principal, status=403, form=name,
                                    errors={"_form": exc.message}, values=values)  # fmt: skip
    return back(_path(key), "baseline.approved" if approve else "baseline.rejected")


@page
async def scenario_approve(request: Request) -> Response:
    return await _decide(request, approve=True)


@page
async def scenario_reject(request: Request) -> Response:
    return await _decide(request, approve=False)


@page
async def scenario_manual(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    key = request.path_params["key"]
    values = {"median": form_text(form, "median"), "rationale": form_text(form, "rationale")}
    confirm = form_text(form, "confirm_large_change") in ("1", "on", "true")
    try:
        median = float(values["median"].replace(",", ""))
    except ValueError:
        exc = Invalid("median: enter a number of credits, like 1250.50.", field="median")
        return await _refused(request, principal, exc, "manual", MANUAL_FIELDS, values)
    try:
        change = await svc.set_manual_baseline(principal, key, median, values["rationale"], confirm)
    except FORM_ERRORS as exc:
        return await _refused(request, principal, exc, "manual", MANUAL_FIELDS, values)
    proposed = change.status is ChangeStatus.PROPOSED
    return back(_path(key), "baseline.proposed" if proposed else "baseline.manual")


@page
async def scenario_config(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    key = request.path_params["key"]
    values = {name: form_text(form, name) for name in
              ("name", "max_items", "data_classification", "dispatch_target")}  # fmt: skip
    raw_max = values["max_items"].replace(",", "").replace("_", "")
    max_items: Any = None if not raw_max else int_or_none(raw_max)
    if raw_max and max_items is None:
        max_items = raw_max  # the service refuses it with its own message
    try:
        await scen.update_scenario(
            principal, key,
            name=values["name"], max_items=max_items,
            data_classification=values["data_classification"],
            dispatch_target=values["dispatch_target"] or None,
            expected_version=int_or_none(form_text(form, "expected_version")),  # type: ignore[arg-type]
        )  # fmt: skip
    except FORM_ERRORS as exc:
        return await _refused(request, principal, exc, "config", CONFIG_FIELDS, values)
    return back(_path(key), "scenario.updated")


routes: list[Route] = [
    Route("/scenarios", scenarios_list, methods=["GET"]),
    Route("/scenarios/{key}", scenario_detail, methods=["GET"]),
    Route("/scenarios/{key}/calculate", scenario_calculate, methods=["POST"]),
    Route("/scenarios/{key}/propose", scenario_propose, methods=["POST"]),
    Route("/scenarios/{key}/approve", scenario_approve, methods=["POST"]),
    Route("/scenarios/{key}/reject", scenario_reject, methods=["POST"]),
    Route("/scenarios/{key}/manual", scenario_manual, methods=["POST"]),
    Route("/scenarios/{key}/config", scenario_config, methods=["POST"]),
]
