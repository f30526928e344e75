"""Helpers for the page tests: a browser-like client that signs in through the login form and
posts forms with the CSRF token of the page it last loaded."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest_asyncio

_TOKEN_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
_HEADER_RE = re.compile(r'hx-headers=\'\{"X-CSRF-Token": "([0-9a-f]*)"\}\'')
# Each browser gets its own client address: failed logins are also counted per IP, and a test
# here must not be throttled by failures other tests made from a shared address.
_ADDRESSES = (f"198.51.100.{i}" for i in itertools.cycle(range(1, 255)))


def csrf_of(html: str) -> str:
    found = _TOKEN_RE.search(html) or _HEADER_RE.search(html)
    assert found and found.group(1), "no CSRF token on the page"
    return found.group(1)


@dataclass
class Browser:
    http: httpx.AsyncClient
    token: str = ""
    pages: list[httpx.Response] = field(default_factory=list)

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        r = await self.http.get(url, **kw)
        if r.headers.get("content-type", "").startswith("text/html") and "csrf_token" in r.text:
            self.token = csrf_of(r.text)
        return r

    async def post(
        self, url: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any
    ) -> httpx.Response:
        body = dict(data or {})
        if csrf:
            if not self.token:
                await self.get("/login" if "/login" in url else "/")
            body["csrf_token"] = self.token
        r = await self.http.post(url, data=body, **kw)
        if r.headers.get("content-type", "").startswith("text/html") and "csrf_token" in r.text:
            self.token = csrf_of(r.text)
        return r

    async def login(self, email: str, password: str, next: str = "/") -> httpx.Response:
        await self.get("/login")
        r = await self.post("/login", {"email": email, "password": password, "next": next})
        if r.status_code == 303:
            await self.get(r.headers["location"])  # the signed-in page's token
        return r

    @property
    def session_cookie(self) -> str | None:
        return self.http.cookies.get("riskops_session")


@pytest_asyncio.fixture
async def browser(app: Any) -> AsyncIterator[Callable[..., Any]]:
    """`await browser()` opens a fresh, signed-out browser; `await browser(user, password)` one
    signed in as `user` through the login form."""
    async with AsyncExitStack() as stack:

        async def open_browser(user: Any = None, password: str = "") -> Browser:
            transport = httpx.ASGITransport(app=app, client=(next(_ADDRESSES), 5000))
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://testserver")
            )
            b = Browser(http)
            if user is not None:
                r = await b.login(user.email, password)
                assert r.status_code == 303, r.text
            return b

        yield open_browser


def flash_code(r: httpx.Response) -> str | None:
    """The flash code a `back(path, code)` response sealed into its one-time cookie."""
    for header in r.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == "riskops_flash" and rest.split(";", 1)[0]:
            return rest.split(":", 1)[0]
    return None
