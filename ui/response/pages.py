"""The response loop on the run and case pages (issue 16): the target and the time left, the
"Acknowledge" button, and the incident record of a Sev0/Sev1 case (take command, timeline,
post-incident report). The run and case pages include `response/_run.html` and
`response/_case.html` with what `run_context` / `case_context` give; the forms post here and,
when refused, show their error on the run or case page as it is now (the pages' own
`_refused`)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from riskops.server.response import service as svc
from riskops.ui.common.forms import back, int_or_none
from riskops.ui.common.posts import Submission, form_post
from riskops.ui.common.rendering import FLASH
from riskops.ui.credit import runs as run_pages
from riskops.ui.triage import cases as case_pages

FLASH.update(
    {
        "response.acked": "Acknowledged: the escalation is stopped.",
        "response.already": "You had acknowledged it already; nothing changed.",
        "response.command": "You are the incident commander.",
        "response.timeline": "Timeline entry added.",
        "response.report": "Post-incident report saved.",
    }
)


def _version(sub: Submission) -> Any:
    return int_or_none(sub.text("expected_version"))


def _ack_flash(result: svc.AckResult) -> str:
    return "response.already" if result.already else "response.acked"


@form_post(case_pages._refused, name="ack")
async def case_acknowledge(sub: Submission) -> Response:
    case_id = sub.param("case_id")
    version = int_or_none(sub.text("expected_version")) if sub.text("expected_version") else None
    result = await svc.acknowledge(sub.principal, "case", case_id, expected_version=version)
    return back(f"/cases/{case_id}", _ack_flash(result))


@form_post(run_pages._refused, name="ack")
async def run_acknowledge(sub: Submission) -> Response:
    run_id = sub.param("run_id")
    version = int_or_none(sub.text("expected_version")) if sub.text("expected_version") else None
    result = await svc.acknowledge(sub.principal, "run", run_id, expected_version=version)
    return back(f"/runs/{run_id}", _ack_flash(result))


@form_post(case_pages._refused, name="command")
async def case_take_command(sub: Submission) -> Response:
    case_id = sub.param("case_id")
    await svc.take_command(sub.principal, case_id, expected_version=_version(sub))
    return back(f"/cases/{case_id}", "response.command")


@form_post(case_pages._refused, name="timeline", keep=("text",), fields={"text": "text"})
async def case_timeline(sub: Submission) -> Response:
    case_id = sub.param("case_id")
    await svc.add_timeline_entry(sub.principal, case_id, sub.values["text"])
    return back(f"/cases/{case_id}", "response.timeline")


@form_post(case_pages._refused, name="report", keep=("report",), fields={"report": "report"})
async def case_report(sub: Submission) -> Response:
    case_id = sub.param("case_id")
    await svc.submit_postmortem(
        sub.principal, case_id, sub.values["report"], expected_version=_version(sub)
    )
    return back(f"/cases/{case_id}", "response.report")


ROUTES = [
    Route("/runs/{run_id}/acknowledge", run_acknowledge, methods=["POST"]),
    Route("/cases/{case_id}/acknowledge", case_acknowledge, methods=["POST"]),
    Route("/cases/{case_id}/command", case_take_command, methods=["POST"]),
    Route("/cases/{case_id}/timeline", case_timeline, methods=["POST"]),
    Route("/cases/{case_id}/report", case_report, methods=["POST"]),
]
