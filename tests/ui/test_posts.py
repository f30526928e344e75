"""The page POST skeleton (`riskops.ui.common.posts.form_post`), on a tiny page of its own: a
"thing" with a title and a version, renamed through a form. The page is mounted on the real
app (sessions, CSRF, htmx rendering) and driven like a browser; each refusal of the tiny
service must come back the way every page shows it: inline with 422, 409 with the current state,
403 inline for a maker-checker refusal, or the error pages; success as a 303 with a flash code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from jinja2 import ChoiceLoader, DictLoader
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.errors import Conflict, Duplicate, Forbidden, Invalid, NotFound
from riskops.server.core.permissions import Perm
from riskops.ui.common.forms import back, int_or_none
from riskops.ui.common.posts import FieldErrors, Submission, form_post, is_form_post, shown_on
from riskops.ui.common.rendering import (
    FLASH,
    FLASH_COOKIE,
    env,
    flash_cookie,
    page,
    render,
    signed_in,
)
from riskops.ui.routes import routes as page_routes

# Signing in and out are the POSTs written by hand (see their comments in ui/identity/pages.py):
# nobody is signed in yet, or the session may already be gone.
BY_HAND = {"/login", "/logout"}
# Issue 14: the pages of a one-time link and "forgot password" are for people not signed in.
BY_HAND |= {"/invite/{token}", "/reset-password/{token}", "/forgot-password"}
# The second login step: a password was right, no session yet (only its challenge cookie).
BY_HAND |= {"/login/code", "/login/enrol"}

PAGE = """{% extends "base.html" %}
{% block title %}Thing{% endblock %}
{% block main %}
{% from "_macros.html" import csrf, field_error, invalid, form_error with context %}
<h1>Thing</h1>
{% include "_flash.html" %}
<p id="state">{{ thing.title }} (version {{ thing.version }})</p>
{% if thing.title != "locked" %}
<form method="post" action="/thing/rename">
  {{ csrf() }}
  <input type="hidden" name="version" value="{{ thing.version }}">
  {% set e = errors if form_name == "rename" else {} %}
  {{ form_error(e) }}
  <input name="title" value="{{ values.get('title', '') if e else '' }}"{{ invalid(e, "title") }}>
  {{ field_error(e, "title") }}
  {{ field_error(e, "version") }}
</form>
{% endif %}
{% include "_feedback.html" %}
{% endblock %}
"""


class Thing:
    """The tiny service: its refusals are chosen by the title typed."""

    def __init__(self) -> None:
        self.title, self.version = "first", 1

    async def rename(self, principal: Any, title: str, expected_version: int | None) -> None:
        if not title:
            raise Invalid("Title is required.", field="newTitle")  # the API's field name
        if title == "mine":
            principal.require(Perm.RUN_APPROVE)  # a plain refusal: the 403 page
            raise Forbidden(  # marked as the real services' require_checker marks it
                "You asked for this: another approver decides it (maker-checker).",
                maker_checker=True,
            )
        if title == "missing":
            raise NotFound("Thing 404 not found.")
        if title == "taken":
            raise Duplicate("The title 'taken' is in use.", field="newTitle")
        if expected_version != self.version:
            raise Conflict(f"Changed meanwhile: it is at version {self.version}.")
        self.title, self.version = title, self.version + 1


@pytest.fixture
def thing(app: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Thing]:
    state = Thing()

    async def thing_page(sub_or_request: Any, **shown: Any) -> Response:
        request = getattr(sub_or_request, "request", sub_or_request)
        ctx = {"thing": state, "form_name": shown.get("form", ""),
               "errors": shown.get("errors") or {}, "values": shown.get("values") or {},
               "conflict": shown.get("conflict")}  # fmt: skip
        return render(request, "test/thing.html", ctx, shown.get("status", 200))

    @page
    async def show_thing(request: Any) -> Response:
        signed_in(request)
        return await thing_page(request)

    @form_post(shown_on(thing_page), name="rename", keep=("title",),
               fields={"newTitle": "title"}, checker=True)  # fmt: skip
    async def rename(sub: Submission) -> Response:
        if sub.values["title"].startswith("#"):
            raise FieldErrors({"title": "title: no #.", "version": "version: check it."})
        await state.rename(sub.principal, sub.values["title"], int_or_none(sub.text("version")))
        return back("/thing", "thing.renamed")

    @form_post(None)
    async def touch(sub: Submission) -> Response:
        await state.rename(sub.principal, sub.text("title"), state.version)
        return back("/thing", "thing.renamed")

    monkeypatch.setattr(env, "loader", ChoiceLoader([DictLoader({"test/thing.html": PAGE}),
                                                     env.loader]))  # fmt: skip
    monkeypatch.setitem(FLASH, "thing.renamed", "Thing renamed.")
    routes = [
        Route("/thing", show_thing, methods=["GET"]),
        Route("/thing/rename", rename, methods=["POST"]),
        Route("/thing/touch", touch, methods=["POST"]),
    ]
    monkeypatch.setattr(app.router, "routes", [*routes, *app.router.routes])
    yield state


HX = {"HX-Request": "true", "HX-Target": "main"}


def app_settings(b: Any) -> Any:
    return b.http._transport.app.state.settings


async def approver(browser: Any, tenant: Any) -> Any:
    user, _ = await tenant.user("approver")
    b = await browser(user, tenant.password)
    await b.get("/thing")
    return b


def feedback(html: str) -> str | None:
    """The form's focused message box (`form_error`, or the page's conflict fallback)."""
    found = re.search(
        r'<div class="flash flash-error form-feedback[^"]*" role="alert" tabindex="-1" autofocus>'
        r"(.*?)</div>", html, re.S,
    )  # fmt: skip
    return found.group(1) if found else None


def field_error(html: str, name: str) -> str | None:
    found = re.search(rf'<p class="field-error" id="{name}-error">([^<]*)</p>', html)
    return found.group(1) if found else None


async def test_success_is_a_303_to_the_page_with_its_flash(
    browser: Any, tenant: Any, thing: Thing
) -> None:
    b = await approver(browser, tenant)
    r = await b.post("/thing/rename", {"title": "second", "version": "1"})
    assert r.status_code == 303
    assert r.headers["location"] == "/thing"  # the address holds no `?ok=`
    assert (thing.title, thing.version) == ("second", 2)
    shown = await b.get(r.headers["location"])
    assert "Thing renamed." in shown.text
    assert "second (version 2)" in shown.text


async def test_the_flash_is_shown_once_and_never_from_the_address(
    browser: Any, tenant: Any, thing: Thing
) -> None:
    b = await approver(browser, tenant)
    r = await b.post("/thing/rename", {"title": "second", "version": "1"})
    assert r.status_code == 303 and "?" not in r.headers["location"]
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{FLASH_COOKIE}=thing.renamed:") and "HttpOnly" in cookie
    sealed = b.http.cookies[FLASH_COOKIE]
    shown = await b.get("/thing")
    assert "Thing renamed." in shown.text
    assert f"{FLASH_COOKIE}=;" in shown.headers["set-cookie"]  # consumed by this render
    reloaded = await b.get("/thing")
    assert "Thing renamed." not in reloaded.text
    # An old address with `?ok=` (a shared link, a bookmark) selects nothing any more.
    shared = await b.get("/thing?ok=thing.renamed")
    assert "Thing renamed." not in shared.text
    # Only a sealed, unexpired cookie counts: not one written by hand, nor a replayed old one.
    _, expires, mac = sealed.split(":")
    for forged in (f"thing.renamed:{expires}:{'0' * 64}", "thing.renamed",
                   f"user.created:{expires}:{mac}", f"thing.renamed:1:{mac}"):  # fmt: skip
        b.http.cookies.set(FLASH_COOKIE, forged)
        assert "Thing renamed." not in (await b.get("/thing")).text, forged
        assert "User created." not in (await b.get("/thing")).text, forged
    old = flash_cookie(app_settings(b), "thing.renamed", now=0).decode()
    b.http.cookies.set(FLASH_COOKIE, old.split(";")[0].split("=", 1)[1])
    assert "Thing renamed." not in (await b.get("/thing")).text  # expired


async def test_the_flash_reaches_an_htmx_swap_once(browser: Any, tenant: Any, thing: Thing) -> None:
    b = await approver(browser, tenant)
    r = await b.post("/thing/rename", {"title": "second", "version": "1"}, headers=HX)
    assert r.status_code == 303 and r.headers["location"] == "/thing"
    swapped = await b.get("/thing", headers=HX)  # htmx follows the 303 inside the request
    assert "<html" not in swapped.text and "Thing renamed." in swapped.text
    assert "Thing renamed." not in (await b.get("/thing", headers=HX)).text


async def test_invalid_is_422_under_its_field_with_what_was_typed(
    browser: Any, tenant: Any, thing: Thing
) -> None:
    b = await approver(browser, tenant)
    r = await b.post("/thing/rename", {"title": "", "version": "1"})
    assert r.status_code == 422
    # The service's field name (`newTitle`) is mapped to the form's (`title`).
    assert field_error(r.text, "title") == "Title is required."
    assert 'aria-invalid="true"' in r.text
    assert "<html" in r.text  # a plain form post gets the whole page
    assert thing.version == 1

    typed = await b.post("/thing/rename", {"title": "taken", "version": "1"})
    assert typed.status_code == 409  # Duplicate: 409, still under its field
    assert field_error(typed.text, "title") == "The title &#39;taken&#39; is in use."
    assert 'value="taken"' in typed.text  # the form keeps what was typed
    assert 'class="conflict"' not in typed.text


async def test_field_errors_of_the_page_itself_are_422_by_form_field(
    browser: Any, tenant: Any, thing: Thing
) -> None:
    b = await approver(browser, tenant)
    r = await b.post("/thing/rename", {"title": "#x", "version": "1"})
    assert r.status_code == 422
    assert field_error(r.text, "title") == "title: no #."
    assert field_error(r.text, "version") == "version: check it."
    assert 'value="#x"' in r.text
    assert thing.version == 1


async def test_conflict_is_409_with_the_current_state(
    browser: Any, tenant: Any, thing: Thing
) -> None:
    b = await approver(browser, tenant)
    thing.title, thing.version = "changed elsewhere", 2  # someone else renamed it first
    r = await b.post("/thing/rename", {"title": "mine too", "version": "1"})
    assert r.status_code == 409
    # In the form that was used (where the user is), focused and announced.
    box = feedback(r.text)
    assert box and "Nothing was changed." in box and "Changed meanwhile: it is at version 2." in box
    form = r.text.index('action="/thing/rename"')
    assert form < r.text.index(box) < r.text.index("</form>", form)
    assert 'value="mine too"' in r.text  # the form keeps what was typed
    assert 'name="version" value="2"' in r.text  # to decide again on the state as it is now
    assert r.text.count("autofocus") == 1
    assert "changed elsewhere (version 2)" in r.text  # the page as it is now
    assert field_error(r.text, "title") is None
    assert (thing.title, thing.version) == ("changed elsewhere", 2)


async def test_a_conflict_whose_form_is_gone_is_shown_at_the_end_not_nowhere(
    browser: Any, tenant: Any, thing: Thing
) -> None:
    b = await approver(browser, tenant)
    thing.title, thing.version = "locked", 2  # the page no longer offers the form
    r = await b.post("/thing/rename", {"title": "mine too", "version": "1"}, headers=HX)
    assert r.status_code == 409 and 'action="/thing/rename"' not in r.text
    box = feedback(r.text)
    assert box and "Changed meanwhile: it is at version 2." in box
    assert r.text.count("autofocus") == 1


async def test_the_feedback_takes_the_focus_where_the_user_acted(
    browser: Any, tenant: Any, thing: Thing
) -> None:
    """Focus (after a page load, or after htmx swaps in the response) scrolls the message into
    view and announces it, however far down the form is."""
    b = await approver(browser, tenant)
    r = await b.post("/thing/rename", {"title": "", "version": "1"}, headers=HX)
    assert re.search(r'<input name="title"[^>]* aria-invalid="true"[^>]* autofocus>', r.text)
    assert r.text.count("autofocus") == 1
    r = await b.post("/thing/rename", {"title": "mine", "version": "1"}, headers=HX)
    assert feedback(r.text) and r.text.count("autofocus") == 1  # maker-checker, in the form
    ok = await b.post("/thing/rename", {"title": "second", "version": "1"}, headers=HX)
    landed = await b.get(ok.headers["location"], headers=HX)
    assert re.search(r'<div class="flash flash-ok" role="status" tabindex="-1" autofocus>'
                     r"Thing renamed.</div>", landed.text)  # fmt: skip


async def test_htmx_gets_the_main_block_and_a_plain_post_the_whole_page(
    browser: Any, tenant: Any, thing: Thing
) -> None:
    b = await approver(browser, tenant)
    partial = await b.post("/thing/rename", {"title": "", "version": "1"}, headers=HX)
    assert partial.status_code == 422
    assert "<html" not in partial.text and "<h1>Thing</h1>" in partial.text
    assert field_error(partial.text, "title") == "Title is required."
    full = await b.post("/thing/rename", {"title": "", "version": "1"})
    assert full.status_code == 422
    assert full.text.lstrip().startswith("<!doctype html>") and "<h1>Thing</h1>" in full.text
    # Success under htmx is the same 303: htmx follows it and swaps in the page it lands on.
    ok = await b.post("/thing/rename", {"title": "second", "version": "1"}, headers=HX)
    assert ok.status_code == 303 and ok.headers["location"] == "/thing"


async def test_maker_checker_is_403_inline_for_a_checker_and_the_403_page_for_others(
    browser: Any, tenant: Any, thing: Thing
) -> None:
    b = await approver(browser, tenant)
    r = await b.post("/thing/rename", {"title": "mine", "version": "1"})
    assert r.status_code == 403
    assert "another approver decides it (maker-checker)." in r.text
    assert feedback(r.text)  # at the top of the form used
    assert "<h1>Thing</h1>" in r.text

    viewer, _ = await tenant.user("viewer")
    v = await browser(viewer, tenant.password)
    await v.get("/thing")
    r = await v.post("/thing/rename", {"title": "mine", "version": "1"})
    assert r.status_code == 403
    assert "<h1>Thing</h1>" not in r.text  # the error page, not the form
    assert "Not allowed" in r.text


async def test_not_found_is_the_404_page(browser: Any, tenant: Any, thing: Thing) -> None:
    b = await approver(browser, tenant)
    r = await b.post("/thing/rename", {"title": "missing", "version": "1"})
    assert r.status_code == 404
    assert "Thing 404 not found." in r.text and "<h1>Thing</h1>" not in r.text


async def test_without_a_show_every_refusal_is_the_error_page(
    browser: Any, tenant: Any, thing: Thing
) -> None:
    b = await approver(browser, tenant)
    r = await b.post("/thing/touch", {"title": ""})
    assert r.status_code == 422
    assert "Title is required." in r.text and "<h1>Thing</h1>" not in r.text
    ok = await b.post("/thing/touch", {"title": "touched"})
    assert ok.status_code == 303 and thing.title == "touched"


async def test_csrf_is_checked_before_anything_and_anonymous_goes_to_login(
    browser: Any, tenant: Any, thing: Thing
) -> None:
    b = await approver(browser, tenant)
    for path in ("/thing/rename", "/thing/touch"):
        r = await b.post(path, {"title": "", "version": "1"}, csrf=False)
        assert r.status_code == 403 and "security token" in r.text
    anonymous = await browser()
    await anonymous.get("/login")
    r = await anonymous.post("/thing/rename", {"title": "second", "version": "1"})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    hx = await anonymous.post("/thing/rename", {"title": "second", "version": "1"}, headers=HX)
    assert hx.headers["hx-redirect"] == "/login"
    assert (thing.title, thing.version) == ("first", 1)


def test_every_page_post_goes_through_the_skeleton() -> None:
    posts = {r.path: r.endpoint for r in page_routes if "POST" in (r.methods or ())}
    assert len(posts) >= 40
    assert {path for path, endpoint in posts.items() if not is_form_post(endpoint)} == BY_HAND
