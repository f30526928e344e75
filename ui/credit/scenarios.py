"""Scenario pages: the list of scenarios with their baselines, and a scenario's page (credits
chart with the baseline band and SEV2/SEV1 lines, baseline history, candidate status, the
prerequisites checklist of a baseline update, and the forms: calculate, propose, approve/reject,
manual baseline, configuration). Conventions are in
`riskops.ui.common`; every rule is the services' (`server/credit/baselines.py`,
`scenarios.py`).
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
from riskops.server.core.errors import Conflict, DomainError
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.credit import baselines as svc
from riskops.server.credit import scenarios as scen
from riskops.ui.common.charts import Band, Line, Point, line_chart
from riskops.ui.common.forms import back, directory, int_or_none
from riskops.ui.common.posts import FieldErrors, Submission, form_post, shown_on
from riskops.ui.common.rendering import FLASH, page, render, signed_in

FLASH.update(
    {
        "baseline.proposed": "Baseline update proposed: an approver other than you decides it.",
        "baseline.approved": "Baseline update approved: the new baseline is in force.",
        "baseline.rejected": "Baseline update rejected.",
        "baseline.manual": "Manual baseline proposed: another approver must approve it.",
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
# What the configuration form shows again after a refusal.
CONFIG_KEPT = ("name", "max_items", "data_classification", "dispatch_target")
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
    shows (a Conflict too, with the scenario as it is now)."""
    detail = await scen.get_scenario_detail(principal, request.path_params["key"])
    key = detail.scenario.key
    people = await directory(principal)
    # Seed 002's prerequisites, shown before anyone proposes or approves (the services check
    # them again): over the window just calculated, else the policy's.
    prerequisites = await svc.baseline_prerequisites(
        principal, key, calculation.days if calculation else None
    )
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
        "pre": prerequisites,
        "approval_pre": await svc.approval_prerequisites(principal, key),
    }
    return render(request, "credit/scenarios/detail.html", ctx, status)


@page
async def scenario_detail(request: Request) -> Response:
    return await _scenario_page(request, signed_in(request))


async def _form_page(sub: Submission, **shown: Any) -> Response:
    return await _scenario_page(sub.request, sub.principal, **shown)


def _stale(exc: DomainError) -> bool:
    # The proposal was decided, or the scenario changed, meanwhile: decide on what is there now.
    return isinstance(exc, Conflict) and exc.field in (None, "change_id", "expected_version")


# Every form of the scenario page: a stale conflict is shown in the form that was used, with the
# scenario as it is now; other refusals under it.
_refused = shown_on(_form_page)


def _days(raw: str) -> Any:
    """Empty: the policy's window; a number goes to the service as is (it checks the range);
    anything else stays text so the service refuses it with its own message."""
    if not raw:
        return None
    value = int_or_none(raw)
    return value if value is not None else raw


def _confirmed(sub: Submission) -> bool:
    return sub.text("confirm_large_change") in ("1", "on", "true")


@form_post(_refused, name="calculate", keep=("days",), fields=CALC_FIELDS, stale=_stale)
async def scenario_calculate(sub: Submission) -> Response:
    calc = await svc.calculate_baseline(sub.principal, sub.param("key"),
                                        _days(sub.values["days"]))  # fmt: skip
    return await _scenario_page(sub.request, sub.principal, form="calculate", values=sub.values,
                                calculation=calc)  # fmt: skip


@form_post(_refused, name="propose", keep=("days", "rationale"), fields=PROPOSE_FIELDS,
           stale=_stale)  # fmt: skip
async def scenario_propose(sub: Submission) -> Response:
    key = sub.param("key")
    await svc.propose_baseline_update(sub.principal, key, _days(sub.values["days"]),
                                      sub.values["rationale"])  # fmt: skip
    return back(_path(key), "baseline.proposed")


# An approver deciding their own proposal (maker-checker) is shown where they acted (`checker`).
@form_post(_refused, name="approve", keep=("rationale", "reason"), fields=DECIDE_FIELDS,
           stale=_stale, checker=True)  # fmt: skip
async def scenario_approve(sub: Submission) -> Response:
    key = sub.param("key")
    await svc.approve_baseline_update(sub.principal, sub.text("change_id"),
                                      sub.values["rationale"], _confirmed(sub),
                                      scenario_key=key)  # fmt: skip
    return back(_path(key), "baseline.approved")


@form_post(_refused, name="reject", keep=("rationale", "reason"), fields=DECIDE_FIELDS,
           stale=_stale, checker=True)  # fmt: skip
async def scenario_reject(sub: Submission) -> Response:
    key = sub.param("key")
    await svc.reject_baseline_update(sub.principal, sub.text("change_id"), sub.values["reason"],
                                     scenario_key=key)  # fmt: skip
    return back(_path(key), "baseline.rejected")


@form_post(_refused, name="manual", keep=("median", "rationale"), fields=MANUAL_FIELDS,
           stale=_stale)  # fmt: skip
async def scenario_manual(sub: Submission) -> Response:
    # Permission before input: a viewer's empty form is the 403 page, not "median: enter …".
    sub.principal.require(Perm.BASELINE_APPROVE)
    key = sub.param("key")
    try:
        median = float(sub.values["median"].replace(",", ""))
    except ValueError:
        raise FieldErrors({"median": "median: enter a number of credits, like 1250.50."}) from None
    change = await svc.set_manual_baseline(sub.principal, key, median, sub.values["rationale"],
                                           _confirmed(sub))  # fmt: skip
    proposed = change.status is ChangeStatus.PROPOSED
    return back(_path(key), "baseline.proposed" if proposed else "baseline.manual")


@form_post(_refused, name="config", keep=CONFIG_KEPT, fields=CONFIG_FIELDS, stale=_stale)
async def scenario_config(sub: Submission) -> Response:
    values = sub.values
    raw_max = values["max_items"].replace(",", "").replace("_", "")
    max_items: Any = None if not raw_max else int_or_none(raw_max)
    if raw_max and max_items is None:
        max_items = raw_max  # the service refuses it with its own message
    await scen.update_scenario(
        sub.principal, sub.param("key"),
        name=values["name"], max_items=max_items,
        data_classification=values["data_classification"],
        dispatch_target=values["dispatch_target"] or None,
        expected_version=int_or_none(sub.text("expected_version")),  # type: ignore[arg-type]
    )  # fmt: skip
    return back(_path(sub.param("key")), "scenario.updated")


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
