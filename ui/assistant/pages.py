"""The assistant panel of an alert, a case or a run, and its forms. Thin adapters over
`server/assistant/service.py`: who may ask what, on which target, whether the assistant is on
and every refusal are the service's; this module parses the request, calls it and renders.
Conventions are in `riskops.ui.common`.

The detail pages load the panel lazily (`assistant/_slot.html`: `hx-get` on load), so they never
wait on it. Its parts:

- `GET /assistant/{target_type}/{target_id}`: the panel (`service.panel`), the `#assistant-panel`
  partial for htmx, a page of its own without script;
- `POST …/ask`: one button per kind the caller may ask for (`service.request_response`, with the
  form's idempotency key), then the panel again, where the new answer is pending;
- `GET /assistant/responses/{response_id}`: what a pending answer polls every second
  (`service.get_response`); finished, it loads the panel once more (the answer with its forms,
  or the reason and the structured explanation) and polls no longer;
- `POST /assistant/responses/{response_id}/rate` (`service.rate_response`) and `…/note`
  (`service.save_draft_as_note`: to the case page, where the note is).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.assistant import service
from riskops.server.assistant.models import FINISHED, ResponseKind, ResponseStatus
from riskops.server.web import is_htmx, redirect_htmx
from riskops.ui.assistant import display
from riskops.ui.common.forms import back
from riskops.ui.common.posts import Refusal, Submission, form_post
from riskops.ui.common.rendering import FLASH, fragment_of, page, render, signed_in

FLASH.update(
    {
        "assistant.asked": "Asked the assistant: its answer appears here when it is ready.",
        "assistant.rated": "Thank you: your feedback on the answer is saved.",
        "assistant.note": "The draft is saved as a note of the case.",
    }
)

PANEL = "assistant-panel"  # the element the panel's forms and loads swap
TARGET_PAGES = {"alert": "/alerts/{}", "case": "/cases/{}", "run": "/runs/{}"}
NOT_SHOWN = {ResponseStatus.FAILED.value, ResponseStatus.UNAVAILABLE.value}
# The service's field names -> the forms' (a refusal about anything else is about the whole form).
RATE_FIELDS = {"comment": "comment", "helpful": "helpful"}
NOTE_FIELDS = {"body": "body", "case_id": "case_id", "caseId": "case_id"}
HELPFUL = {"yes": True, "no": False}


def panel_path(target_type: Any, target_id: Any) -> str:
    return f"/assistant/{display.value_of(target_type)}/{target_id}"


def target_path(target_type: Any, target_id: Any) -> str | None:
    """The page of the alert, case or run the panel is about."""
    pattern = TARGET_PAGES.get(display.value_of(target_type))
    return pattern.format(target_id) if pattern else None


def _shown(request: Request, response_id: int | str) -> bool:
    """The request is a pending answer's poll (htmx targets that answer's element)."""
    box = f"assistant-response-{response_id}"
    return fragment_of(request, {box: box}) == box


# ----------------------------------------------------------------------------- the panel


async def _panel_page(
    request: Request,
    target_type: str,
    target_id: str,
    *,
    status: int = 200,
    form: str = "",
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
) -> Response:
    """The panel; after a refused form, `form` names it (`ask`, `rate-<id>`, `note-<id>`) and
    it shows `errors` there, with what was typed (`values`)."""
    panel = await service.panel(signed_in(request), target_type, target_id)
    answers = [panel.latest[k] for k in ResponseKind if k in panel.latest]
    ctx = {
        "panel": panel,
        "answers": answers,
        "off": not panel.availability.on,
        # The structured explanation, whenever the assistant cannot answer (off, failed).
        "fallback": not panel.availability.on
        or any(display.value_of(r.status) in NOT_SHOWN for r in answers),
        "panel_url": panel_path(panel.target_type, panel.target_id),
        "target_url": target_path(panel.target_type, panel.target_id),
        "keys": {display.value_of(k): uuid.uuid4().hex for k in panel.kinds},
        "readonly": False,
        "form_name": form,
        "errors": errors or {},
        "values": values or {},
        "MAX_COMMENT": service.MAX_COMMENT,
        "MAX_NOTE": service.MAX_NOTE,
        **_display_globals(),
    }
    return render(request, "assistant/panel.html", ctx, status,
                  partials={PANEL: "assistant/_panel.html"})  # fmt: skip


def _display_globals() -> dict[str, Any]:
    return {
        "ASK": display.ASK,
        "HEADING": display.HEADING,
        "STATUS_TEXT": display.STATUS_TEXT,
        "linked": display.linked,
        "plain": display.plain,
        "cite_link": display.cite_link,
        "latency": display.latency,
        "value_of": display.value_of,
    }


@page
async def panel_page(request: Request) -> Response:
    params = request.path_params
    return await _panel_page(request, params["target_type"], params["target_id"])


async def _ask_refused(sub: Submission, refusal: Refusal) -> Response:
    return await _panel_page(sub.request, sub.param("target_type"), sub.param("target_id"),
                             status=refusal.status, form="ask",
                             errors={"_form": refusal.message})  # fmt: skip


@form_post(_ask_refused, name="ask", keep=("kind",))
async def ask(sub: Submission) -> Response:
    result = await service.request_response(
        sub.principal, sub.values["kind"], sub.param("target_type"), sub.param("target_id"),
        idempotency_key=sub.text("idempotency_key") or None,
    )  # fmt: skip
    r = result.response
    return back(panel_path(r.target_type, r.target_id), "assistant.asked")


# ----------------------------------------------------------------------------- one answer


@page
async def response_page(request: Request) -> Response:
    """A pending answer polls here: the same pending box until it is finished, then a box that
    loads the panel once (the answer with its forms, or why not and the structured explanation).
    Opened as a page, it is the answer on its own (a case note that began as it links here)."""
    response_id = request.path_params["response_id"]
    r = await service.get_response(signed_in(request), response_id)
    url = panel_path(r.target_type, r.target_id)
    ctx = {"r": r, "panel_url": url, "target_url": target_path(r.target_type, r.target_id),
           "readonly": True, **_display_globals()}  # fmt: skip
    if not _shown(request, r.id):  # the answer's own page (a case note links to it)
        return render(request, "assistant/response.html", ctx)
    template = "assistant/_finished.html" if r.status in FINISHED else "assistant/_pending.html"
    box = f"assistant-response-{r.id}"
    return render(request, "assistant/response.html", ctx, partials={box: template})


async def _response_form_refused(sub: Submission, refusal: Refusal) -> Response:
    """The panel of the answer's target, the refusal shown in the form that was used."""
    r = await service.get_response(sub.principal, sub.param("response_id"))
    return await _panel_page(sub.request, display.value_of(r.target_type), str(r.target_id),
                             status=refusal.status, form=sub.name, errors=refusal.errors,
                             values=sub.values)  # fmt: skip


def _rate_name(sub: Submission) -> str:
    return f"rate-{sub.param('response_id')}"


async def _rate_refused(sub: Submission, refusal: Refusal) -> Response:
    return await _response_form_refused(_named(sub, _rate_name(sub)), refusal)


async def _note_refused(sub: Submission, refusal: Refusal) -> Response:
    return await _response_form_refused(_named(sub, f"note-{sub.param('response_id')}"), refusal)


def _named(sub: Submission, name: str) -> Submission:
    return Submission(sub.request, sub.principal, sub.form, name, sub.values)


@form_post(_rate_refused, keep=("helpful", "comment"), fields=RATE_FIELDS)
async def rate(sub: Submission) -> Response:
    helpful = HELPFUL.get(sub.values["helpful"])  # None: the service says what to choose
    r = await service.rate_response(
        sub.principal, sub.param("response_id"), helpful, sub.values["comment"] or None
    )
    return back(panel_path(r.target_type, r.target_id), "assistant.rated")


@form_post(_note_refused, keep=("body", "case_id"), fields=NOTE_FIELDS)
async def save_note(sub: Submission) -> Response:
    note = await service.save_draft_as_note(
        sub.principal, sub.param("response_id"), sub.values["body"],
        case_id=sub.values["case_id"] or None,
    )  # fmt: skip
    return _to_case(sub.request, f"/cases/{note.case_id}#note-{note.id}")


def _to_case(request: Request, path: str) -> Response:
    """To the case page with the flash: a 303, or for htmx (whose panel is the target) a
    navigation of the whole page (HX-Redirect), which the one-time flash cookie follows."""
    response = back(path, "assistant.note")
    if is_htmx(request):
        response.status_code = 200
        redirect_htmx(response, path)
    return response


# `/assistant/responses/…` before `/assistant/{target_type}/{target_id}`, which would match it.
routes: list[Route] = [
    Route("/assistant/responses/{response_id}", response_page, methods=["GET"]),
    Route("/assistant/responses/{response_id}/rate", rate, methods=["POST"]),
    Route("/assistant/responses/{response_id}/note", save_note, methods=["POST"]),
    Route("/assistant/{target_type}/{target_id}", panel_page, methods=["GET"]),
    Route("/assistant/{target_type}/{target_id}/ask", ask, methods=["POST"]),
]
