"""Item 25 of issue 11: a database outage answers 503 with Retry-After and a message (the styled
page, or a GraphQL error with code UNAVAILABLE), never a bare 500; /health and /metrics answer on
their own, with or without a session cookie; and everything works again once the database is
back, with no restart.

The app runs in its own process (uvicorn) against this suite's PostgreSQL database *through the
TCP proxy* of the audit outage test (tests/audit/_outage.py), which this test cuts (every
connection reset, new ones refused, as a crashed server) and restores. The machine's PostgreSQL
is never touched.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import pytest_asyncio

from riskops.server.identity.auth import ClientInfo, login
from riskops.server.outage import database_unavailable
from riskops.server.security import csrf_token, digest
from tests.audit._outage import Proxy
from tests.conftest import PASSWORD

ME = "{ me { user { id } } }"
OUTAGE_TEXT = "The database is not reachable"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SERVE = (
    "import sys, uvicorn\n"
    "from riskops.server.app import create_app\n"
    "uvicorn.run(create_app(), host='127.0.0.1', port=int(sys.argv[1]), log_level='warning')\n"
)


@pytest_asyncio.fixture
async def proxied(db, tmp_path) -> AsyncIterator[tuple[str, Proxy]]:  # type: ignore[no-untyped-def]
    """(the app's URL, the proxy between the app and PostgreSQL)."""
    parts = urlsplit(db.settings.db_url)
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxy_port = await proxy.start()
    netloc = parts.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{proxy_port}"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env.update(
        PYTHONUNBUFFERED="1",
        RISKOPS_ENV="dev",
        RISKOPS_LOG_LEVEL="WARNING",
        RISKOPS_DATABASE_URL=urlunsplit(parts._replace(netloc=netloc)),
        RISKOPS_SECRET_KEY=db.settings.secret_key,
        RISKOPS_VAR_DIR=str(tmp_path / "var"),
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SERVE, str(port), env=env, stdout=out, stderr=out, cwd=tmp_path
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2) as c:
            for _ in range(300):
                if proc.returncode is not None:
                    pytest.fail(f"the app exited:\n{log.read_text()}")
                try:
                    if (await c.get(f"{url}/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            else:
                pytest.fail(f"the app did not become healthy:\n{log.read_text()}")
        yield url, proxy
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await proxy.close()


async def _until(check, what: str, seconds: float = 20) -> None:  # type: ignore[no-untyped-def]
    """Poll an async check until it holds (the pool reconnects on the next request)."""
    last = None
    for _ in range(int(seconds / 0.2)):
        last = await check()
        if last is True:
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"{what}: {last}")


@pytest.mark.postgres_only
@pytest.mark.slow
async def test_a_database_outage_answers_503_with_retry_after_then_recovers(
    db, tenant, api, proxied
):
    url, proxy = proxied
    token = await api.token(tenant, tenant.admin_user)
    session = (
        await login(db.settings, tenant.admin_user.email, PASSWORD, ClientInfo())
    ).session_secret
    cookie = {"Cookie": f"riskops_session={session}"}
    csrf = csrf_token(db.settings.key, digest(session))
    bearer = {"Authorization": f"Bearer {token}"}

    async with httpx.AsyncClient(base_url=url, timeout=10) as c:

        async def all_ok() -> bool | str:
            answers = {
                "health": await c.get("/health", headers=cookie),
                "page": await c.get("/admin/users", headers=cookie),
                "graphql": await c.post("/graphql", json={"query": ME}, headers=bearer),
                "graphql-cookie": await c.post(
                    "/graphql", json={"query": ME}, headers={**cookie, "X-CSRF-Token": csrf}
                ),
            }
            bad = {k: r.status_code for k, r in answers.items() if r.status_code != 200}
            return True if not bad else f"not yet 200: {bad}"

        await _until(all_ok, "before the outage")

        for cycle in (1, 2):  # a second outage after recovering: nothing is left broken
            proxy.cut()

            # /health: 503 (degraded, the database named), with or without a session cookie
            for headers in ({}, cookie):
                r = await c.get("/health", headers=headers)
                assert r.status_code == 503, (cycle, headers, r.text)
                body = r.json()
                assert body["status"] == "degraded"
                assert body["database"]["ok"] is False
            # /metrics answers, cookie or not
            for headers in ({}, cookie):
                r = await c.get("/metrics", headers=headers)
                assert r.status_code == 200, (cycle, r.text[:300])
                assert "riskops_http_requests_total" in r.text

            # a page, signed in: the styled 503 page, Retry-After
            r = await c.get("/admin/users", headers=cookie)
            assert r.status_code == 503, r.text[:500]
            assert r.headers["retry-after"].isdigit()
            assert r.headers["content-type"].startswith("text/html")
            assert OUTAGE_TEXT in r.text and "retries on its own" in r.text
            assert "/static/app.css" in r.text  # the styled page, not plain text
            assert (await c.get(_stylesheet(r.text), headers=cookie)).status_code == 200
            # a page POST too (the form's session lookup is what fails)
            r = await c.post("/logout", headers=cookie, data={"csrf_token": csrf})
            assert r.status_code == 503 and OUTAGE_TEXT in r.text
            # and signing in, anonymous (the handler is what meets the outage)
            form = await c.get("/login")
            assert form.status_code == 200
            token_field = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token_field, form.text[:500]
            r = await c.post(
                "/login",
                data={
                    "email": tenant.admin_user.email,
                    "password": PASSWORD,
                    "csrf_token": token_field.group(1),
                },
            )
            assert r.status_code == 503, r.text[:500]
            assert OUTAGE_TEXT in r.text and r.headers["retry-after"].isdigit()

            # GraphQL, bearer and cookie: UNAVAILABLE, 503, Retry-After, in the accepted type
            for headers in (bearer, {**cookie, "X-CSRF-Token": csrf}):
                for accept in ("application/json", "application/graphql-response+json"):
                    r = await c.post(
                        "/graphql", json={"query": ME}, headers={**headers, "Accept": accept}
                    )
                    assert r.status_code == 503, r.text
                    assert r.headers["retry-after"].isdigit()
                    assert r.headers["content-type"].startswith(accept)
                    body = r.json()
                    assert "data" not in body
                    [error] = body["errors"]
                    assert error["extensions"] == {"code": "UNAVAILABLE"}
                    assert OUTAGE_TEXT in error["message"]

            proxy.restore()
            await _until(all_ok, f"after the database came back (cycle {cycle})")

    assert proxy.cut_connections >= 1 and proxy.refused >= 1


def _stylesheet(html: str) -> str:
    start = html.index("/static/app.css")
    return html[start : html.index('"', start)]


# --- what counts as "the database is not reachable" -----------------------------------------


def test_only_connection_failures_count_as_an_outage():
    import asyncpg.exceptions as pg
    from tortoise.exceptions import DBConnectionError, IntegrityError, OperationalError

    assert database_unavailable(DBConnectionError("can't connect"))
    assert database_unavailable(pg.ConnectionDoesNotExistError("closed in the middle"))
    assert database_unavailable(pg.CannotConnectNowError("the database system is starting up"))
    assert database_unavailable(pg.AdminShutdownError("terminating connection"))
    wrapped = OperationalError("boom")
    wrapped.__cause__ = pg.ConnectionDoesNotExistError("closed")
    assert database_unavailable(wrapped)

    assert not database_unavailable(None)
    assert not database_unavailable(IntegrityError("duplicate key"))
    assert not database_unavailable(pg.QueryCanceledError("statement timeout"))
    assert not database_unavailable(ValueError("bad input"))
    # a network error from anything but the database client (a webhook, say) is no outage
    assert not database_unavailable(ConnectionRefusedError(111, "refused"))


async def test_a_resolver_that_meets_the_outage_makes_the_answer_unavailable(db):
    """The proxy test meets the outage in the session lookup, before any resolver; when the
    database goes away between authentication and a resolver, the answer is the same 503."""
    import asyncpg.exceptions as pg
    from starlette.requests import Request
    from strawberry.types import ExecutionResult

    from graphql import GraphQLError
    from riskops.graphql.app import RiskopsGraphQL, _expected

    view = RiskopsGraphQL(db.settings)
    request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": []})
    request.state.graphql_media_type = "application/json"
    sub_response = await view.get_sub_response(request)
    lost = GraphQLError("x", path=["me"], original_error=pg.ConnectionDoesNotExistError("closed"))
    assert _expected(lost)  # not masked in prod: it is answered as UNAVAILABLE instead
    answer = await view.process_result(request, ExecutionResult(data={"me": None}, errors=[lost]))
    assert answer == {
        "errors": [
            {"message": answer["errors"][0]["message"], "extensions": {"code": "UNAVAILABLE"}}
        ]
    }
    assert OUTAGE_TEXT in answer["errors"][0]["message"]
    assert sub_response.status_code == 503
    assert sub_response.headers["retry-after"].isdigit()
