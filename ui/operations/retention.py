"""The retention page (`/admin/retention`, retention.manage): the organization's retention
periods, enforcing them now, and what the recent enforcements removed. Every handler calls
`riskops.server.operations.retention`. Conventions are in `riskops.ui.common`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.principal import Principal
from riskops.server.operations import retention
from riskops.ui.common.forms import back
from riskops.ui.common.posts import Refusal, Submission, form_post
from riskops.ui.common.rendering import page, render, signed_in

FIELDS = tuple(f"{kind}_days" for kind in retention.KINDS)
HINTS = {
    "alerts": "Closed alerts, counted from closing. An alert an open case holds is kept.",
    "runs": "Counted from the start of the run. Quarantined runs, runs an open case holds and "
    "runs waiting for a rerun decision are kept.",
    "assistant": "Finished assistant answers, counted from the request.",
    "sessions": "Sessions that ended (expired or revoked), counted from the end.",
}


async def _show(
    request: Request,
    principal: Principal,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, Any] | None = None,
) -> Response:
    policy = await retention.get_policy(principal)  # retention.manage, before anything else
    periods = retention.periods_of(policy)
    current = {f"{k}_days": "" if periods.of(k) is None else str(periods.of(k))
               for k in retention.KINDS}  # fmt: skip
    ctx = {
        "kinds": [(k, retention.KIND_TEXT[k], HINTS[k]) for k in retention.KINDS],
        "form": {**current, **(form or {})},
        "errors": errors or {},
        "policy": policy,
        "runs": [
            (run, _counts(run.removed) or "nothing", _counts(run.kept, zeros=False) or "none")
            for run in await retention.list_runs(principal, 20)
        ],
    }
    return render(request, "operations/retention/index.html", ctx, status)


def _counts(counts: Mapping[str, int], *, zeros: bool = True) -> str:
    """Counts per kind in the page's order (PostgreSQL's JSON keeps no order of its own)."""
    shown = [k for k in retention.KINDS if k in counts and (zeros or counts[k])]
    text = [f"{k} {counts[k]}" for k in shown]
    if retention.FILES_REMOVED in counts:  # the files of the removed runs' artifacts
        missing = counts.get(retention.FILES_MISSING) or 0
        text.append(
            f"artifact files {counts[retention.FILES_REMOVED]}"
            + (f" ({missing} already missing)" if missing else "")
        )
    return ", ".join(text)


@page
async def retention_page(request: Request) -> Response:
    return await _show(request, signed_in(request))


async def _refused(sub: Submission, refusal: Refusal) -> Response:
    return await _show(sub.request, sub.principal, status=refusal.status, errors=refusal.errors,
                       form=sub.values)  # fmt: skip


@form_post(_refused, keep=FIELDS, fields={name: name for name in FIELDS})
async def retention_save(sub: Submission) -> Response:
    # An empty field keeps that kind forever (the service reads "" as no period).
    await retention.set_policy(sub.principal, **{name: sub.text(name) for name in FIELDS})
    return back("/admin/retention", "retention.saved")


@form_post(None)
async def retention_run(sub: Submission) -> Response:
    run = await retention.enforce(sub.principal, trigger="page")
    return back("/admin/retention", "retention.ran" if run is not None else "retention.nothing")


routes: list[Route] = [
    Route("/admin/retention", retention_page, methods=["GET"]),
    Route("/admin/retention", retention_save, methods=["POST"]),
    Route("/admin/retention/run", retention_run, methods=["POST"]),
]
