"""The checks of a chosen period (`/reports/checks`, linked from the weekly reports): seed 002's
monthly *PII false-positive rate* and weekly step 5 *baseline candidates*, each a GET form
(Period start, Period end as UTC days) over the service function GraphQL's
`piiFalsePositiveRate` and `baselineCandidates` call (`server/credit/pii_rate.py`,
`server/credit/candidates.py`): they decide the permission, the default period and every
refusal; this module reads the two dates, calls each once and renders what they return.
Conventions are in `riskops.ui.common`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.errors import Forbidden, Invalid
from riskops.server.core.principal import Principal
from riskops.server.credit import candidates, pii_rate
from riskops.ui.common.forms import form_text, parse_day
from riskops.ui.common.rendering import fragment_of, page, render, signed_in

PATH = "/reports/checks"
# The element an htmx form swaps -> the partial that renders only that section.
PARTIALS = {
    "pii-rate": "credit/reports/_pii_rate.html",
    "baseline-candidates": "credit/reports/_candidates.html",
}


@dataclass
class Section:
    """One check's form and its result: `prefix` names its query parameters (`pii_start`,
    `pii_end`), `errors` are keyed by those names (or `_form`), `refused` is the service's
    permission refusal."""

    prefix: str
    default_days: int
    start: str = ""
    end: str = ""
    chosen: bool = False  # the caller gave a date (else the service's default period)
    errors: dict[str, str] = field(default_factory=dict)
    refused: Forbidden | None = None
    result: Any = None
    period: tuple[datetime, datetime] | None = None  # as the service settled it

    @property
    def start_name(self) -> str:
        return f"{self.prefix}_start"

    @property
    def end_name(self) -> str:
        return f"{self.prefix}_end"


async def _section(
    principal: Principal,
    params: QueryParams,
    prefix: str,
    default_days: int,
    named: tuple[str, str],
    service: Callable[[Principal, Any, Any], Awaitable[Any]],
    period_of: Callable[[Any, Any, Any], tuple[datetime, datetime]],
) -> Section:
    s = Section(prefix, default_days)
    s.start, s.end = form_text(params, s.start_name), form_text(params, s.end_name)
    s.chosen = bool(s.start or s.end)
    start = parse_day(s.start, s.start_name, named[0], s.errors)
    end = parse_day(s.end, s.end_name, named[1], s.errors)
    if not s.chosen:
        # The form shows the UTC days the default period (the service's) touches.
        today = datetime.now(UTC).date()
        s.start = (today - timedelta(days=default_days)).isoformat()
        s.end = (today + timedelta(days=1)).isoformat()
    try:
        s.result = await service(principal, start, end)
        s.period = period_of(s.result, start, end)
    except Forbidden as exc:
        s.refused, s.errors = exc, {}
    except Invalid as exc:
        # A date that did not parse keeps the page's message (the service's says "a date and
        # time with a time zone", which a date field cannot give).
        name = {"period_start": s.start_name, "period_end": s.end_name}.get(exc.field or "")
        s.errors.setdefault(name or "_form", exc.message)
    if s.errors:  # never a figure beside a date that did not parse
        s.result, s.period = None, None
    elif s.period is not None:  # a date left empty: the one the service used
        s.start = s.start or s.period[0].date().isoformat()
        s.end = s.end or s.period[1].date().isoformat()
    return s


@page
async def checks_page(request: Request) -> Response:
    principal = signed_in(request)
    params = request.query_params
    fragment = fragment_of(request, PARTIALS)
    ctx: dict[str, Any] = {"pii": None, "cand": None}
    if fragment != PARTIALS["baseline-candidates"]:
        ctx["pii"] = await _section(
            principal, params, "pii", pii_rate.FALSE_POSITIVE_DAYS, pii_rate.PERIOD_NAMES,
            pii_rate.pii_false_positive_rate,
            lambda rate, _start, _end: (rate.period_start, rate.period_end),
        )  # fmt: skip
    if fragment != PARTIALS["pii-rate"]:
        ctx["cand"] = await _section(
            principal, params, "candidates", candidates.CANDIDATE_DAYS, candidates.PERIOD_NAMES,
            candidates.baseline_candidates,
            lambda _rows, start, end: candidates.candidate_period(start, end),
        )  # fmt: skip
    sections = [s for s in (ctx["pii"], ctx["cand"]) if s is not None]
    refusals = [s.refused for s in sections]
    if refusals[0] is not None and all(refusals):  # nothing here for this caller: 403 page
        raise refusals[0]
    status = 422 if any(s.errors for s in sections) else 200
    return render(request, "credit/reports/checks.html", ctx, status, partials=PARTIALS)


routes: list[Route] = [
    Route(PATH, checks_page, methods=["GET"]),
]
