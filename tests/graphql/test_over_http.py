"""Item 26 of issue 11: GraphQL over HTTP. The application/graphql-response+json media type as
the spec says (request errors: 4xx and no `data`), application/json as before (200 with
`data: null`), and the reference implementation's audit (graphql-http's `auditServer`) run
against the real server: MUST 13/13 and SHOULD 23/23."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

GRAPHQL_RESPONSE = "application/graphql-response+json"
ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "node"
AUDIT_SCRIPT = NODE_DIR / "graphql_http_audit.mjs"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

PARSE_ERROR = "{"
VALIDATION_ERROR = "{ noSuchField }"
COERCION_ERROR = ("query Q($id: ID!) { user(id: $id) { id } }", {"id": None})


async def _post(api, secret, query, variables=None, accept=None):  # type: ignore[no-untyped-def]
    headers = {"Accept": accept} if accept else {}
    return await api.post(secret, query, variables, headers=headers)


# --- the media types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [
        GRAPHQL_RESPONSE,
        f"{GRAPHQL_RESPONSE}, application/json;q=0.9",
        f"application/json;q=0.5, {GRAPHQL_RESPONSE}",
        f"{GRAPHQL_RESPONSE};charset=utf-8",
    ],
)
async def test_a_client_that_accepts_graphql_response_json_gets_it(tenant, api, accept):
    secret = await api.token(tenant, tenant.admin_user)
    r = await _post(api, secret, "{ __typename }", accept=accept)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert r.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "application/json",
        "*/*",
        "application/*",
        f"application/json, {GRAPHQL_RESPONSE};q=0.5",
    ],
)
async def test_otherwise_the_answer_is_application_json(tenant, api, accept):
    secret = await api.token(tenant, tenant.admin_user)
    r = await _post(api, secret, "{ __typename }", accept=accept)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    ("query", "variables"),
    [(PARSE_ERROR, None), (VALIDATION_ERROR, None), COERCION_ERROR],
    ids=["parse", "validation", "variable-coercion"],
)
async def test_request_errors_are_400_without_data_in_graphql_response_json(
    tenant, api, query, variables
):
    secret = await api.token(tenant, tenant.admin_user)
    r = await _post(api, secret, query, variables, accept=GRAPHQL_RESPONSE)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    body = r.json()
    assert "data" not in body
    assert body["errors"] and all(e["message"] for e in body["errors"])


@pytest.mark.parametrize(
    ("query", "variables"),
    [(PARSE_ERROR, None), (VALIDATION_ERROR, None), COERCION_ERROR],
    ids=["parse", "validation", "variable-coercion"],
)
async def test_request_errors_stay_200_with_data_null_in_application_json(
    tenant, api, query, variables
):
    secret = await api.token(tenant, tenant.admin_user)
    r = await _post(api, secret, query, variables, accept="application/json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["data"] is None
    assert body["errors"]


async def test_a_field_error_is_200_with_data_in_graphql_response_json(tenant, api):
    """A field error is no request error: data is there (here `null` for `alert`), so 200."""
    secret = await api.token(tenant, tenant.admin_user)
    r = await _post(
        api, secret, '{ caseDetail: case(id: "Q2FzZTox") { id } }', accept=GRAPHQL_RESPONSE
    )
    assert r.status_code == 200, r.text
    assert "data" in r.json()


async def test_a_body_that_is_not_json_is_400_in_the_accepted_media_type(tenant, api, client):
    secret = await api.token(tenant, tenant.admin_user)
    r = await client.post(
        "/graphql",
        content=b"{not json",
        headers={
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/json",
            "Accept": GRAPHQL_RESPONSE,
        },
    )
    assert r.status_code == 400
    assert r.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert "data" not in r.json()
    assert r.json()["errors"][0]["extensions"]["code"] == "INVALID"


async def test_a_mutation_over_get_is_refused_in_the_accepted_media_type(tenant, api, client):
    secret = await api.token(tenant, tenant.admin_user)
    r = await client.get(
        "/graphql",
        params={"query": 'mutation { revokeApiToken(id: "1") { errors { code } } }'},
        headers={"Authorization": f"Bearer {secret}", "Accept": GRAPHQL_RESPONSE},
    )
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST"
    assert r.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert "data" not in r.json()


# --- the reference implementation's audit, against the real server ------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _require_node() -> str:
    node = shutil.which("node")
    installed = (NODE_DIR / "node_modules" / "graphql-http").is_dir()
    if node and installed:
        return node
    message = (
        "node is not installed" if not node else "tests/node is not installed (`make node`)"
    ) + "; the GraphQL-over-HTTP audit needs it"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest_asyncio.fixture
async def served(app) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """The app on a real socket (uvicorn in this process and event loop, so it shares the
    suite's database connections), on a free port."""
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


@pytest.mark.slow
async def test_the_graphql_over_http_audit_passes_every_must_and_should(tenant, api, served):
    node = _require_node()
    secret = await api.token(tenant, tenant.admin_user)
    proc = await asyncio.create_subprocess_exec(
        node,
        str(AUDIT_SCRIPT),
        f"{served}/graphql",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "GRAPHQL_AUDIT_TOKEN": secret},
        cwd=NODE_DIR,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    results = json.loads(out)
    by_level: dict[str, list[dict[str, str]]] = {"MUST": [], "SHOULD": [], "MAY": []}
    for result in results:
        by_level[result["name"].split(" ", 1)[0]].append(result)
    failing = [
        f"{r['id']} {r['name']}: {r.get('reason', '')}"
        for level in ("MUST", "SHOULD")
        for r in by_level[level]
        if r["status"] != "ok"
    ]
    assert (len(by_level["MUST"]), len(by_level["SHOULD"])) == (13, 23), results
    assert not failing, "\n".join(failing)


async def test_refusals_before_graphql_runs_answer_in_the_accepted_media_type(tenant, api, client):
    """401 (no credentials, a bad token) and 413 (too large), answered by the middleware."""
    accept = {"Accept": GRAPHQL_RESPONSE}
    anonymous = await client.post("/graphql", json={"query": "{ __typename }"}, headers=accept)
    bad_token = await client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={**accept, "Authorization": "Bearer rko_nope"},
    )
    too_large = await client.post(
        "/graphql",
        content=b"{" + b" " * 1_000_001 + b"}",
        headers={**accept, "Content-Type": "application/json"},
    )
    for r, status in ((anonymous, 401), (bad_token, 401), (too_large, 413)):
        assert r.status_code == status
        assert r.headers["content-type"].startswith(GRAPHQL_RESPONSE)
        assert "data" not in r.json() and r.json()["errors"]
