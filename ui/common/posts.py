"""The one shape of a page's form POST, `form_post`: a real `<form method="post">` that works
without JavaScript (htmx only enhances it), handled in four steps that every page shares:

1. read the form, which checks its CSRF token before anything else is looked at (`read_form`);
2. know who is signed in (anonymous: to the login page, through `page`);
3. run the handler's *action*: it calls the service and returns what success looks like, most
   often `back(path, code)` (303 to the page, which shows the flash message `code` selects), or a
   page when the result exists only now (a new token's secret, a calculation);
4. when the service refuses with an error the form can show (`FORM_ERRORS`), hand a `Refusal` to
   the page's *show*, which renders the page the form is on again: the message under the field
   it names (or at the top of the form), what was typed kept in the form, 422 for invalid input
   and 409 for a conflict. A conflict about the object's current state (`stale`) is shown with
   the page as it is now, so the user decides again on what is there; its message is shown in
   the form that was used, which keeps what was typed.

The feedback is where the user acted: the form's message (`form_error`) or its first invalid
field takes the focus once the page (or htmx's swap) is shown, which scrolls it into view and
announces it (role=alert); a success's flash does the same at the top of the page it lands on.

Everything else is `page`'s: a caller without the permission gets the 403 page, an unknown id or
one of another organization the 404 page. One exception, `checker`: a maker-checker refusal (an
approver deciding their own request) is shown inline with 403 where they acted. Whether an htmx
request gets the whole page, its `main` block or a named partial is `render`'s decision, so a
refusal reaches the browser like any other page.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from riskops.server.core.errors import Conflict, DomainError, Forbidden, Invalid
from riskops.server.core.principal import Principal
from riskops.server.operations.maintenance import UnderMaintenance
from riskops.server.web import read_form
from riskops.ui.common.forms import FORM_ERRORS, form_errors, form_text, form_texts
from riskops.ui.common.rendering import Handler, page, refused_post, signed_in, status_of


@dataclass(frozen=True)
class Submission:
    """One posted form: who sent it, what it holds, and what of it the page shows again."""

    request: Request
    principal: Principal
    form: FormData
    # Which of the page's forms was used: a page with several shows the errors under that one.
    name: str
    # What was typed, as the form shows it again after a refusal (see `form_post`'s `keep`).
    values: Mapping[str, Any]

    def text(self, name: str) -> str:
        return form_text(self.form, name)

    def texts(self, name: str) -> list[str]:
        return form_texts(self.form, name)

    def param(self, name: str) -> str:
        """A path parameter (the id in `/cases/{case_id}/update`)."""
        return str(self.request.path_params[name])


@dataclass(frozen=True)
class Refusal:
    """Why the action was refused, ready for the page: the status, the message under the form
    field it concerns (`_form`: about the whole form), and for a stale conflict its message."""

    error: DomainError
    status: int
    errors: dict[str, str]
    conflict: str | None = None

    @property
    def message(self) -> str:
        return self.error.message


class FieldErrors(Invalid):
    """Text the page cannot even pass on to the service (not a number, not a date, not a list of
    ids), keyed by *form* field; refused like the service's own invalid input, with 422."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        field, message = next(iter(errors.items()))
        super().__init__(message, field=field)
        self.errors = dict(errors)


def is_conflict(exc: DomainError) -> bool:
    """The default `stale`: every Conflict is about the state the form was filled against."""
    return isinstance(exc, Conflict)


Action = Callable[[Submission], Awaitable[Response]]
Show = Callable[[Submission, Refusal], Awaitable[Response]]
# Form field names (kept as typed, trimmed), or a function that reads what the form shows again.
Keep = Iterable[str] | Callable[[FormData], Mapping[str, Any]]


def _kept(keep: Keep, form: FormData) -> Mapping[str, Any]:
    if callable(keep):
        return keep(form)
    return {name: form_text(form, name) for name in keep}


def refusal_of(
    exc: DomainError, fields: Mapping[str, str], stale: Callable[[DomainError], bool]
) -> Refusal:
    """`fields` maps the service's field names (the GraphQL API's, e.g. `expiresInDays`) to the
    form's; a `FieldErrors` is already keyed by form field."""
    if stale(exc):  # about the whole form: what it was filled against has changed
        return Refusal(exc, status_of(exc), {"_form": exc.message}, exc.message)
    errors = exc.errors if isinstance(exc, FieldErrors) else form_errors(exc, fields)
    return Refusal(exc, status_of(exc), errors)


def form_post(
    show: Show | None,
    *,
    name: str = "",
    keep: Keep = (),
    fields: Mapping[str, str] | None = None,
    stale: Callable[[DomainError], bool] = is_conflict,
    checker: bool = False,
    during_maintenance: bool = False,
) -> Callable[[Action], Handler]:
    """Make `action` a page's POST endpoint (see the module docstring for the steps).

    `show` renders the form's page with a `Refusal`; None when the form has nothing to show
    inline (a button whose every refusal is the error page). `name` says which of the page's
    forms this is, `keep` what of it is shown again, `fields` how the service's field names map
    to the form's, `stale` which errors show the current state instead of what was typed,
    `checker` whether a maker-checker refusal (the service marks it) is shown inline on this
    form (any other Forbidden is the 403 page), `during_maintenance` whether it still works
    while the organization is read-only (the maintenance page's own forms and signing out
    everywhere: every other form writes, and answers 503 with the reason,
    `maintenance.UnderMaintenance`)."""

    def decorate(action: Action) -> Handler:
        @page
        @functools.wraps(action)
        async def endpoint(request: Request) -> Response:
            form = await read_form(request)  # first: nothing is looked up before the CSRF check
            principal = signed_in(request)
            period = getattr(request.state, "maintenance", None)  # `page` read it
            if period is not None and not during_maintenance:
                raise UnderMaintenance(period)
            sub = Submission(request, principal, form, name, _kept(keep, form))
            if show is None:
                return await action(sub)
            try:
                return await action(sub)
            except FORM_ERRORS as exc:
                refusal = refusal_of(exc, fields or {}, stale)
            except Forbidden as exc:
                if not (checker and exc.extra.get("maker_checker")):
                    raise  # not allowed at all: the 403 page (audited by `page`)
                await refused_post(request, exc)
                refusal = Refusal(exc, 403, {"_form": exc.message})
            return await show(sub, refusal)

        _FORM_POSTS.add(endpoint)
        return endpoint

    return decorate


# Every endpoint `form_post` made, so that a test can hold each page POST route to it.
_FORM_POSTS: weakref.WeakSet[Handler] = weakref.WeakSet()


def is_form_post(endpoint: object) -> bool:
    return endpoint in _FORM_POSTS


def shown_on(form_page: Callable[..., Awaitable[Response]]) -> Show:
    """The usual `show` of a page with several forms: `form_page(sub, status=…, …)` renders it
    with the errors in the form `sub.name` and what was typed in it. A stale conflict (nothing
    was changed) also passes `conflict`: the page shows the object as it is now, and the form
    keeps what was typed so that the user decides again on what is there."""

    async def show(sub: Submission, refusal: Refusal) -> Response:
        return await form_page(
            sub, status=refusal.status, form=sub.name, errors=refusal.errors, values=sub.values,
            conflict=refusal.conflict,
        )  # fmt: skip

    return show
