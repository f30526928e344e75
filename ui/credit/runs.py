"""Run pages (seed 002): the ledger (`/runs`: filters, keyset "load more", severity badges) and a
run's page (`/runs/{run_id}`: why it got its severity, its facts and artifacts, the quarantine
release, the quarantine by hand and the declassification of a false-positive PII flag, and the
rerun gate with its requests and decisions). Thin adapters over
`server/credit/` (runs, reruns, quarantine): every rule, permission and refusal is the
services'; this module parses the request, calls them and shapes what they return for the
templates. Conventions are in `riskops.ui.common`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from riskops.server.assistant.targets import EXPLAINED_SEVERITIES
from riskops.server.core.errors import Conflict, DomainError, Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.credit import artifacts, quarantine, reruns, runs
from riskops.server.credit.models import Run
from riskops.server.credit.terms import RiskFlag, Severity
from riskops.server.identity import users
from riskops.server.views.models import ViewQueue
from riskops.ui.common.forms import back, form_text, int_or_none, parse_local, query_string
from riskops.ui.common.posts import Submission, form_post, shown_on
from riskops.ui.common.rendering import FLASH, fragment_of, page, render, signed_in
from riskops.ui.response.context import clock_views as response_clocks
from riskops.ui.response.context import run_context as response_context
from riskops.ui.views import picker as view_picker

LEDGER_PAGE_SIZE = 50
SEVERITY_CHOICES = (*(s.value for s in Severity), "none")
LEDGER_FIELDS = ("scenario", "flag", "since", "until", "quarantined")

FLASH.update(
    {
        "run.rerun_requested": "Rerun requested: an approver other than you decides it.",
        "run.rerun_approved": "Rerun approved: the next run recorded as its rerun may proceed.",
        "run.rerun_denied": "Rerun denied.",
        "run.released": "Quarantine released: artifacts verified and dispatch unblocked.",
        "run.quarantined": "Run quarantined: its artifacts are held aside and dispatch is blocked.",
        "run.declassified": "PII flag declassified as a false positive: the note is on the case.",
        "run.declassified_released": "PII flag declassified as a false positive and the "
        "quarantine released: artifacts verified and dispatch unblocked.",
    }
)

# The service's field names -> this page's form field names.
RELEASE_FIELDS = {"reason": "reason", "run_id": "_form"}
REQUEST_FIELDS = {"reason": "reason", "run_id": "_form"}
QUARANTINE_FIELDS = {"reason": "quarantine_reason", "run_id": "_form"}
DECLASSIFY_FIELDS = {"note": "note", "run_id": "_form", "release": "release"}
APPROVE_FIELDS = {"mitigation": "mitigation"}
DENY_FIELDS = {"deny_reason": "reason"}


def _run_path(run_pk: int | str) -> str:
    return f"/runs/{run_pk}"


# ----------------------------------------------------------------------------- the ledger


def ledger_values(params: QueryParams) -> dict[str, Any]:
    """The filter form's values as submitted (strings; severity repeats)."""
    values: dict[str, Any] = {name: form_text(params, name) for name in LEDGER_FIELDS}
    values["severity"] = [v for v in params.getlist("severity") if v]
    return values


def ledger_filter(values: Mapping[str, Any], errors: dict[str, str]) -> runs.RunFilter:
    """The service's filter; a time that does not parse is an error here, the rest (unknown
    severities or flags) the service judges."""
    return runs.RunFilter(
        severities=list(values["severity"]),
        scenario=values["scenario"] or None,
        flag=values["flag"] or None,
        since=parse_local(values["since"], "since", errors),
        until=parse_local(values["until"], "until", errors),
        quarantined=True if values["quarantined"] else None,
    )


async def _ledger_page(
    request: Request,
    principal: Principal,
    params: QueryParams,
    *,
    status: int = 200,
    picker: view_picker.Picker | None = None,
) -> Response:
    principal.require(Perm.RUN_READ)
    values = ledger_values(params)
    # The view picker: the view applied (?view=ID or the caller's default) and its columns; the
    # rows are within its filter (`within=`).
    if picker is None:
        full = fragment_of(request, {"runs-more": "more"}) != "more"
        picker = await view_picker.resolve(principal, ViewQueue.RUNS, params, full=full)
    within = {"within": picker.run_within} if picker.run_within else {}
    filter_errors: dict[str, str] = {}
    flt = ledger_filter(values, filter_errors)
    rows: list[Run] = []
    cursor: str | None = None
    if not filter_errors:  # a bound that did not parse: show the error, not a widened ledger
        try:
            result = await runs.list_runs(
                principal, flt, first=LEDGER_PAGE_SIZE, after=params.get("after") or None,
                **within,
            )  # fmt: skip
        except Invalid as exc:
            filter_errors[exc.field or "_form"] = exc.message
        else:
            rows = result.runs
            cursor = result.end_cursor if result.has_next else None
    edit = urlencode({"edit": picker.edit.id}) if picker.edit else ""
    query = "&".join(filter(None, [query_string(values), picker.view_param, edit]))
    ctx = {
        "values": values,
        "filter_errors": filter_errors,
        "runs": rows,
        "query": query,
        "more_url": f"/runs?{query}{'&' if query else ''}{urlencode({'after': cursor})}"
        if cursor
        else None,
        "SEVERITIES": SEVERITY_CHOICES,
        "FLAGS": [f.value for f in RiskFlag],
        "picker": picker,
        # An htmx Apply swaps the results: the picker comes along out of band, so "Save as
        # view" saves the filters now applied.
        "picker_oob": fragment_of(request, {"runs-results": "results"}) == "results",
        "page_query": urlencode([(k, v) for k, v in params.multi_items() if v.strip()]),
        "view_columns": [(c.name, c.label) for c in picker.spec.columns],
        # the response clocks of the page's SEV0/SEV1 runs, one query (issue 16)
        "clocks": await response_clocks(principal, "run", [r.id for r in rows]),
    }
    if filter_errors and status < 400:
        status = 422
    return render(
        request,
        "credit/runs/index.html",
        ctx,
        status,
        partials={
            "runs-results": "credit/runs/_results.html",
            "runs-more": "credit/runs/_rows.html",
        },
    )


@page
async def ledger_page(request: Request) -> Response:
    principal = signed_in(request)
    principal.require(Perm.RUN_READ)
    params = request.query_params
    if fragment_of(request, {"runs-more": "more"}) == "more":
        return await _ledger_page(request, principal, params)  # rows only: no picker to show
    picker = await view_picker.resolve(principal, ViewQueue.RUNS, params)
    target = view_picker.edit_redirect(picker, params)
    if target:  # ?edit=ID: the view's definition as the form's filters
        return RedirectResponse(target, status_code=303)
    return await _ledger_page(request, principal, params, picker=picker)


async def ledger_again(
    sub: Submission,
    params: QueryParams,
    status: int,
    errors: dict[str, str],
    values: Mapping[str, Any],
) -> Response:
    """The ledger again after a refused "Save as view": the form shows what was typed and why."""
    picker = await view_picker.resolve(sub.principal, ViewQueue.RUNS, params)
    picker.save_errors, picker.save_values = errors, dict(values)
    return await _ledger_page(sub.request, sub.principal, params, status=status, picker=picker)


view_picker.QUEUE_AGAIN[ViewQueue.RUNS.value] = ledger_again


# ----------------------------------------------------------------------------- one run


@dataclass(frozen=True)
class FlagLine:
    flag: str
    explanation: str


def flag_lines(run: Run) -> list[FlagLine]:
    """Each flag with its sentence: `explanations` is the severity sentence, then one sentence
    per flag in `flags` order."""
    flags: Sequence[str] = run.flags or []
    sentences: Sequence[str] = run.explanations or []
    return [
        FlagLine(str(f), str(sentences[i + 1]) if i + 1 < len(sentences) else "")
        for i, f in enumerate(flags)
    ]


async def _run_page(
    request: Request,
    principal: Principal,
    run_pk: str,
    *,
    status: int = 200,
    form: str = "",
    errors: Mapping[str, str] | None = None,
    conflict: str | None = None,
    values: Mapping[str, str] | None = None,
    checks: Sequence[artifacts.Check] | None = None,
    flash_code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The run page; after a refused action, `form` names the form whose `errors` it shows (a
    Conflict too, with the run as it is now). `checks`: the verification results of
    a release just made."""
    detail = await runs.get_run_detail(principal, run_pk)
    run = detail.run
    approver = principal.can(Perm.RUN_APPROVE)
    sensitive = quarantine.sensitive_flags(run)
    ctx = {
        "d": detail,
        "run": run,
        "flag_lines": flag_lines(run),
        "severity_disagrees": runs.severity_disagrees(run),
        "dispatch_disagrees": runs.dispatch_disagrees(run),
        "t": detail.classified_under,
        "open_request": detail.open_rerun_request,
        "form_name": form,
        "errors": errors or {},
        "conflict": conflict,
        "values": values or {},
        "checks": list(checks or []),
        # Manual quarantine and PII declassification (issue 16): approvers only.
        "can_quarantine": approver and not run.quarantined,
        "sensitive_flags": sensitive,
        "can_declassify": approver and bool(sensitive) and run.declassified_at is None,
        "declassified_by": (
            await users.name_of(principal, run.declassified_by_id)
            if run.declassified_at is not None
            else None
        ),
        # The assistant explains SEV0 to SEV2 runs only: its panel is shown on those.
        "assistant_on_run": run.severity in EXPLAINED_SEVERITIES,
        # the response target and acknowledgement (issue 16): response/_run.html
        "response": await response_context(principal, run),
    }
    if flash_code:
        ctx["flash"] = FLASH[flash_code]
    return render(request, "credit/runs/detail.html", ctx, status, headers=headers)


@page
async def run_page(request: Request) -> Response:
    return await _run_page(request, signed_in(request), request.path_params["run_id"])


async def _form_page(sub: Submission, **shown: Any) -> Response:
    return await _run_page(sub.request, sub.principal, sub.param("run_id"), **shown)


def _stale(exc: DomainError) -> bool:
    # Someone else changed it first: nothing was changed, reload and decide again.
    return isinstance(exc, Conflict) and exc.field == "expected_version"


# Every form of the run page: a stale version is shown in the form that was used, with the run as
# it is now; other refusals under it.
_refused = shown_on(_form_page)


def _version(sub: Submission) -> Any:
    # A missing or garbled version goes to the service as is: it refuses it with its message.
    return int_or_none(sub.text("expected_version"))


@form_post(_refused, name="release", keep=("reason",), fields=RELEASE_FIELDS, stale=_stale)
async def release(sub: Submission) -> Response:
    result = await quarantine.release_quarantine(
        sub.principal, sub.param("run_id"), sub.values["reason"], expected_version=_version(sub)
    )
    # The verification results exist only now: shown on this response (not a redirect), with
    # the run's address pushed for htmx so that a reload shows the run, not this POST.
    path = _run_path(result.run.id)
    return await _run_page(
        sub.request, sub.principal, str(result.run.id), checks=result.checks,
        flash_code="run.released",
        headers={"HX-Push-Url": path},
    )  # fmt: skip


@form_post(_refused, name="quarantine", keep=("quarantine_reason",), fields=QUARANTINE_FIELDS,
           stale=_stale)  # fmt: skip
async def quarantine_by_hand(sub: Submission) -> Response:
    run_pk = sub.param("run_id")
    await quarantine.quarantine_run(
        sub.principal, run_pk, sub.values["quarantine_reason"], expected_version=_version(sub)
    )
    return back(_run_path(run_pk), "run.quarantined")


@form_post(_refused, name="declassify", keep=("note", "release"), fields=DECLASSIFY_FIELDS,
           stale=_stale)  # fmt: skip
async def declassify(sub: Submission) -> Response:
    run_pk = sub.param("run_id")
    release_too = sub.text("release") in ("1", "on", "true")
    done = await quarantine.declassify_run(
        sub.principal, run_pk, sub.values["note"], expected_version=_version(sub),
        release=release_too,
    )  # fmt: skip
    if done.release is None:
        return back(_run_path(run_pk), "run.declassified")
    # As a release: its verification results exist only now, shown on this response.
    return await _run_page(
        sub.request, sub.principal, str(done.run.id), checks=done.release.checks,
        flash_code="run.declassified_released", headers={"HX-Push-Url": _run_path(done.run.id)},
    )  # fmt: skip


@form_post(_refused, name="request", keep=("reason",), fields=REQUEST_FIELDS, stale=_stale)
async def request_rerun(sub: Submission) -> Response:
    run_pk = sub.param("run_id")
    await reruns.request_rerun(sub.principal, run_pk, sub.values["reason"])
    return back(_run_path(run_pk), "run.rerun_requested")


async def _decide(sub: Submission, *, approve: bool) -> Response:
    run_pk, request_id = sub.param("run_id"), sub.param("request_id")
    decide = reruns.approve_rerun if approve else reruns.deny_rerun
    note = sub.values["mitigation" if approve else "reason"]
    await decide(sub.principal, request_id, note, expected_version=_version(sub), run_pk=run_pk)
    return back(_run_path(run_pk), "run.rerun_approved" if approve else "run.rerun_denied")


# An approver deciding their own request (maker-checker) is shown where they acted (`checker`).
@form_post(_refused, name="approve", keep=("mitigation",), fields=APPROVE_FIELDS, stale=_stale,
           checker=True)  # fmt: skip
async def approve_rerun(sub: Submission) -> Response:
    return await _decide(sub, approve=True)


@form_post(_refused, name="deny", keep=("reason",), fields=DENY_FIELDS, stale=_stale,
           checker=True)  # fmt: skip
async def deny_rerun(sub: Submission) -> Response:
    return await _decide(sub, approve=False)


# ----------------------------------------------------------------------------- routes

# The ids are spelled `{run_id:str}` / `{request_id:str}`: the CSRF sweep in
# tests/ui/test_pages.py substitutes only `{name}` placeholders it knows, so it posts to these
# routes with the literal placeholder and still reaches the handler, whose first act is the CSRF
# check.
routes: list[Route] = [
    Route("/runs", ledger_page, methods=["GET"]),
    Route("/runs/{run_id:str}", run_page, methods=["GET"]),
    Route("/runs/{run_id:str}/release", release, methods=["POST"]),
    Route("/runs/{run_id:str}/quarantine", quarantine_by_hand, methods=["POST"]),
    Route("/runs/{run_id:str}/declassify", declassify, methods=["POST"]),
    Route("/runs/{run_id:str}/rerun", request_rerun, methods=["POST"]),
    Route("/runs/{run_id:str}/reruns/{request_id:str}/approve", approve_rerun, methods=["POST"]),
    Route("/runs/{run_id:str}/reruns/{request_id:str}/deny", deny_rerun, methods=["POST"]),
]
