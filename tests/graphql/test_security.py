"""The /graphql endpoint's defences: authentication, query limits, transport rules, body size,
CSRF for cookie callers, error masking in prod, and the request id."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from riskops.server.app import create_app
from riskops.server.identity import users as users_service
from riskops.server.identity.auth import ClientInfo, login
from riskops.server.identity.models import ApiToken, User
from riskops.server.security import csrf_token, digest
from riskops.server.settings import Settings, load_settings, use_settings

PASSWORD = "correct horse battery staple"
ME = "{ me { user { id } } }"
CREATE_USER = (
    'mutation { createUser(email: "%s", name: "N", roles: ["viewer"]) '
    "{ user { id } errors { code message field } } }"
)


def _settings_like(db, **overrides) -> Settings:  # type: ignore[no-untyped-def]
    base = db.settings
    return load_settings(
        database_url=base.database_url,
        var_dir=base.var_dir,
        secret_key=base.secret_key,
        redis_url=None,
        **overrides,
    )


@pytest.fixture
async def custom_client(db):  # type: ignore[no-untyped-def]
    """A client factory for apps built with other settings; restores the suite's settings."""
    opened: list[httpx.AsyncClient] = []

    async def make(**overrides) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
        app = create_app(_settings_like(db, **overrides), manage_db=False)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
        c = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append(c)
        return c

    yield make
    for c in opened:
        await c.aclose()
    use_settings(db.settings)  # create_app installed its settings process-wide


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


# --- authentication --------------------------------------------------------------------------


async def test_anonymous_post_is_401_json(client):
    r = await client.post("/graphql", json={"query": ME})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/json"
    assert r.headers["www-authenticate"] == 'Bearer realm="riskops"'
    [error] = r.json()["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    assert "Authorization: Bearer" in error["message"]


async def test_anonymous_get_is_401_too(client):
    r = await client.get("/graphql", params={"query": ME})
    assert r.status_code == 401
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer rko_not-a-real-token",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "rko_nothing",
        "Bearer " + "x" * 300,
    ],
)
async def test_invalid_bearer_is_401(client, tenant, authorization):
    r = await client.post("/graphql", json={"query": ME}, headers={"Authorization": authorization})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="riskops"'
    assert r.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}


async def test_expired_token_is_401(tenant, api):
    secret = await api.token(tenant, tenant.admin_user)
    await ApiToken.filter(token_hash=digest(secret)).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert (await api.post(secret, ME)).status_code == 401


# --- query limits ----------------------------------------------------------------------------

DEEP = "{ me { user { teams { id } } } }"  # `id` sits at depth 3, the schema's deepest
DEEP_VIA_FRAGMENTS = """
query { ...Q }
fragment Q on Query { me { ...M } }
fragment M on Me { user { ...U } }
fragment U on User { teams { id } }
"""


async def test_the_deepest_query_of_the_schema_is_within_the_default_limit(tenant, api, db):
    assert db.settings.graphql_max_depth == 10
    secret = await api.token(tenant, tenant.admin_user)
    data = await api.data(secret, DEEP_VIA_FRAGMENTS)
    assert data == {"me": {"user": {"teams": []}}}


@pytest.mark.parametrize("query", [DEEP, DEEP_VIA_FRAGMENTS], ids=["nested", "fragments"])
async def test_depth_limit_from_settings_refuses_deeper_queries(tenant, api, custom_client, query):
    # The schema cannot reach depth 11, so the limit is lowered to show it is the setting
    # that is enforced (fragments counted as if inlined).
    secret = await api.token(tenant, tenant.admin_user)
    client = await custom_client(graphql_max_depth=2)

    r = await client.post("/graphql", json={"query": query}, headers=_bearer(secret))

    body = r.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "'anonymous' exceeds maximum operation depth of 2"
    ok = await client.post(
        "/graphql", json={"query": "{ me { user { id } } }"}, headers=_bearer(secret)
    )
    assert ok.json() == {"data": {"me": {"user": {"id": str(tenant.admin_user.id)}}}}


def _aliases(n: int) -> str:
    return "{ " + " ".join(f"a{i}: me {{ viaApiToken }}" for i in range(n)) + " }"


async def test_alias_limit(tenant, api, db):
    assert db.settings.graphql_max_aliases == 15
    secret = await api.token(tenant, tenant.admin_user)

    refused = await api.gql(secret, _aliases(16))
    assert refused["data"] is None
    assert [e["message"] for e in refused["errors"]] == ["16 aliases found. Allowed: 15"]

    allowed = await api.data(secret, _aliases(15))
    assert allowed == {f"a{i}": {"viaApiToken": True} for i in range(15)}


async def test_alias_limit_counts_aliases_in_fragments(tenant, api):
    secret = await api.token(tenant, tenant.admin_user)
    fields = " ".join(f"b{i}: roles" for i in range(16))
    body = await api.gql(secret, f"{{ me {{ ...F }} }} fragment F on Me {{ {fields} }}")
    assert body["data"] is None
    assert body["errors"][0]["message"] == "16 aliases found. Allowed: 15"


async def test_token_limit(tenant, api, db):
    assert db.settings.graphql_max_tokens == 2_000
    secret = await api.token(tenant, tenant.admin_user)
    huge = "{ me { " + "roles " * 2_100 + "} }"
    assert len(huge.encode()) < db.settings.max_body_bytes  # refused for tokens, not size

    r = await api.post(secret, huge)

    body = r.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert (
        error["message"]
        == "Syntax Error: Document contains more than 2000 tokens. Parsing aborted."
    )
    ok = await api.data(secret, "{ me { " + "roles " * 400 + "} }")
    assert ok == {"me": {"roles": ["admin"]}}


# --- transport -------------------------------------------------------------------------------


async def test_mutation_over_get_is_refused_and_creates_nothing(tenant, api, client):
    secret = await api.token(tenant, tenant.admin_user)
    email = f"via-get-{tenant.slug}@example.test"

    r = await client.get("/graphql", params={"query": CREATE_USER % email}, headers=_bearer(secret))

    assert r.status_code in (400, 405)
    assert "mutations are not allowed when using GET" in r.text
    assert not await User.filter(email=email).exists()
    q = await client.get("/graphql", params={"query": ME}, headers=_bearer(secret))
    assert q.json() == {"data": {"me": {"user": {"id": str(tenant.admin_user.id)}}}}


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"[1, 2",
        b"\xe9",
        b"\xff\xfe{}",
        b"123",
        b'"query"',
        b"null",
        b"[]",
        b'{"query": 5}',
        b'{"query": "{ me { roles } }", "variables": "x"}',
    ],
)
async def test_malformed_json_is_400(tenant, api, client, body):
    secret = await api.token(tenant, tenant.admin_user)
    r = await client.post(
        "/graphql",
        content=body,
        headers={**_bearer(secret), "Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text


async def test_body_over_the_limit_is_413(tenant, api, client, db):
    secret = await api.token(tenant, tenant.admin_user)
    limit = db.settings.max_body_bytes
    assert limit == 1_000_000
    email = f"big-{tenant.slug}@example.test"
    payload = json.dumps({"query": CREATE_USER % email, "variables": {"pad": "x" * limit}})

    r = await client.post(
        "/graphql", content=payload, headers={**_bearer(secret), "Content-Type": "application/json"}
    )

    assert r.status_code == 413
    [error] = r.json()["errors"]
    assert error["extensions"] == {"code": "TOO_LARGE"}
    assert error["message"].startswith(f"Request body is larger than {limit} bytes")
    assert not await User.filter(email=email).exists()


async def test_streamed_body_over_the_limit_is_413(tenant, api, client, db):
    """No Content-Length to trust: the limit is counted while the body arrives."""
    secret = await api.token(tenant, tenant.admin_user)
    email = f"stream-{tenant.slug}@example.test"
    payload = json.dumps({"query": CREATE_USER % email, "variables": {"pad": "x" * 1_100_000}})

    async def chunks() -> AsyncIterator[bytes]:
        data = payload.encode()
        for i in range(0, len(data), 64_000):
            yield data[i : i + 64_000]

    r = await client.post(
        "/graphql",
        content=chunks(),
        headers={**_bearer(secret), "Content-Type": "application/json"},
    )

    assert "content-length" not in r.request.headers
    assert r.status_code == 413
    assert r.json()["errors"][0]["extensions"] == {"code": "TOO_LARGE"}
    assert not await User.filter(email=email).exists()


# --- CSRF for cookie-authenticated calls -----------------------------------------------------


async def _session(db, user) -> str:  # type: ignore[no-untyped-def]
    return (await login(db.settings, user.email, PASSWORD, ClientInfo())).session_secret


async def test_cookie_post_needs_the_csrf_header(tenant, client, db):
    secret = await _session(db, tenant.admin_user)
    cookie = {"Cookie": f"riskops_session={secret}"}
    email = f"csrf-{tenant.slug}@example.test"
    good = csrf_token(db.settings.key, digest(secret))

    for bad in (
        {},
        {"X-CSRF-Token": "0" * 64},
        {"X-CSRF-Token": csrf_token(db.settings.key, "other")},
    ):
        r = await client.post(
            "/graphql", json={"query": CREATE_USER % email}, headers={**cookie, **bad}
        )
        assert r.status_code == 403, bad
        [error] = r.json()["errors"]
        assert error["extensions"] == {"code": "FORBIDDEN"}
        assert "X-CSRF-Token" in error["message"]
    assert not await User.filter(email=email).exists()

    ok = await client.post(
        "/graphql", json={"query": CREATE_USER % email}, headers={**cookie, "X-CSRF-Token": good}
    )
    assert ok.status_code == 200
    created = ok.json()["data"]["createUser"]
    assert created["errors"] == []
    assert created["user"]["id"] == str((await User.get(email=email)).id)


async def test_cookie_get_query_needs_no_csrf_header(tenant, client, db):
    secret = await _session(db, tenant.admin_user)
    r = await client.get(
        "/graphql", params={"query": ME}, headers={"Cookie": f"riskops_session={secret}"}
    )
    assert r.status_code == 200
    assert r.json() == {"data": {"me": {"user": {"id": str(tenant.admin_user.id)}}}}


async def test_bearer_calls_need_no_csrf_header(tenant, api):
    secret = await api.token(tenant, tenant.admin_user)
    email = f"bearer-{tenant.slug}@example.test"
    data = await api.data(secret, CREATE_USER % email)
    assert data["createUser"]["errors"] == []


async def test_stale_session_cookie_is_anonymous(tenant, client, db):
    r = await client.post(
        "/graphql",
        json={"query": ME},
        headers={"Cookie": "riskops_session=not-a-session", "X-CSRF-Token": "x"},
    )
    assert r.status_code == 401
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- error masking ---------------------------------------------------------------------------

MASKED = "Internal error; quote the X-Request-ID header when reporting it."


async def _explode(*args, **kwargs):  # type: ignore[no-untyped-def]
    raise RuntimeError("database password is hunter2")


async def test_prod_masks_unexpected_errors_but_not_domain_errors(
    tenant, api, custom_client, monkeypatch
):
    monkeypatch.setattr(users_service, "list_users", _explode)
    admin = await api.token(tenant, tenant.admin_user)
    viewer_user, _ = await tenant.user("viewer")
    viewer = await api.token(tenant, viewer_user)
    client = await custom_client(env="prod")

    r = await client.post("/graphql", json={"query": "{ users { id } }"}, headers=_bearer(admin))
    assert r.status_code == 200
    assert "hunter2" not in r.text
    [error] = r.json()["errors"]
    assert error["message"] == MASKED
    assert error["path"] == ["users"]
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])

    forbidden = await client.post(
        "/graphql", json={"query": "{ auditEvents { edges { cursor } } }"}, headers=_bearer(viewer)
    )
    [error] = forbidden.json()["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN", "field": None}
    assert error["message"].startswith("Your roles (viewer) do not allow 'audit.read'.")

    invalid = await client.post("/graphql", json={"query": "{ nope }"}, headers=_bearer(admin))
    assert invalid.json()["errors"][0]["message"] == "Cannot query field 'nope' on type 'Query'."

    as_data = await client.post(
        "/graphql",
        json={"query": CREATE_USER % f"prod-{tenant.slug}@example.test"},
        headers=_bearer(viewer),
    )
    [error] = as_data.json()["data"]["createUser"]["errors"]
    assert error["code"] == "FORBIDDEN"
    assert error["message"].startswith("Your roles (viewer) do not allow 'user.manage'.")


async def test_dev_shows_unexpected_errors(tenant, api, monkeypatch):
    monkeypatch.setattr(users_service, "list_users", _explode)
    secret = await api.token(tenant, tenant.admin_user)
    body = await api.gql(secret, "{ users { id } }")
    assert body["errors"][0]["message"] == "database password is hunter2"


VENDOR = Path(__file__).resolve().parents[2] / "ui" / "static" / "vendor"


async def test_graphiql_only_in_dev(tenant, api, custom_client, client, db):
    """Dev: a vendored GraphiQL page (no CDN, no inline script, its own strict CSP).
    Prod: no IDE at all."""
    secret = await api.token(tenant, tenant.admin_user)
    html = {"Accept": "text/html", **_bearer(secret)}

    page = await client.get("/graphql", headers=html)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>GraphiQL (dev)" in page.text
    assert "/static/vendor/graphiql/graphiql-3." in page.text
    assert not re.search(r"(?i)(https?:)?//[a-z0-9]", page.text), "an external URL"
    assert "<script>" not in page.text and "style=" not in page.text
    assert '<meta name="csrf-token" content="">' in page.text  # bearer: CSRF does not apply
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "unsafe" not in csp
    assert "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["cache-control"] == "no-store"

    # Every script and stylesheet is served by this site and matches its integrity hash.
    refs = re.findall(r'(?:src|href)="([^"]+)" integrity="sha256-([^"]+)"', page.text)
    assert {ref.split("?")[0].rsplit("/", 1)[1] for ref, _ in refs} == {
        "graphiql-3.9.0.min.css",
        "react-18.3.1.production.min.js",
        "react-dom-18.3.1.production.min.js",
        "graphiql-3.9.0.min.js",
        "graphiql-init.js",
    }
    for ref, sri in refs:
        asset = await client.get(ref)
        assert asset.status_code == 200, ref
        assert base64.b64encode(hashlib.sha256(asset.content).digest()).decode() == sri, ref

    # A session caller gets the token its fetcher must send back as X-CSRF-Token.
    session = await _session(db, tenant.admin_user)
    cookie = {"Cookie": f"riskops_session={session}"}
    own = await client.get("/graphql", headers={"Accept": "text/html", **cookie})
    token = csrf_token(db.settings.key, digest(session))
    assert f'<meta name="csrf-token" content="{token}">' in own.text

    # A browser opening /graphql?query=... gets the IDE (which fills it in); scripts get JSON.
    opened = await client.get("/graphql", params={"query": ME}, headers=html)
    assert "<title>GraphiQL (dev)" in opened.text
    answered = await client.get("/graphql", params={"query": ME}, headers=_bearer(secret))
    assert answered.json() == {"data": {"me": {"user": {"id": str(tenant.admin_user.id)}}}}

    # Anonymous browsers get no IDE either.
    anonymous = await client.get("/graphql", headers={"Accept": "text/html"})
    assert anonymous.status_code == 401
    assert "graphiql" not in anonymous.text.lower()

    prod = await custom_client(env="prod")
    for params in ({}, {"query": ME}):
        r = await prod.get("/graphql", params=params, headers=html)
        assert "graphiql" not in r.text.lower()
        assert r.status_code == (404 if not params else 200)
    answered = await prod.get("/graphql", params={"query": ME}, headers=html)
    assert answered.json() == {"data": {"me": {"user": {"id": str(tenant.admin_user.id)}}}}


def test_vendored_files_match_their_checksums():
    """Every line of SHA256SUMS holds, and nothing unlisted hides under vendor/graphiql/."""
    listed = set()
    for line in (VENDOR / "SHA256SUMS").read_text().splitlines():
        expected, name = line.split("  ")
        listed.add(name)
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == expected, name
    present = {f"graphiql/{p.name}" for p in (VENDOR / "graphiql").iterdir()}
    assert present == {n for n in listed if n.startswith("graphiql/")}
    assert len(present) == 6


# --- request id ------------------------------------------------------------------------------


async def test_response_carries_a_request_id(tenant, api):
    secret = await api.token(tenant, tenant.admin_user)
    r = await api.post(secret, ME)
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
    other = await api.post(secret, ME)
    assert other.headers["x-request-id"] != r.headers["x-request-id"]


async def test_a_sane_incoming_request_id_is_honoured(tenant, api, client):
    secret = await api.token(tenant, tenant.admin_user)
    r = await api.post(secret, ME, headers={"X-Request-ID": "lb-2f1c.9a_77-abc"})
    assert r.headers["x-request-id"] == "lb-2f1c.9a_77-abc"
    refused = await client.post(
        "/graphql", json={"query": ME}, headers={"X-Request-ID": "anon-req-0001"}
    )
    assert refused.status_code == 401
    assert refused.headers["x-request-id"] == "anon-req-0001"


@pytest.mark.parametrize(
    "incoming",
    [
        "short",
        "has spaces in it",
        "x" * 65,
        "<script>alert(1)</script>",
        "id\u00e9\u00e9\u00e9\u00e9\u00e9",
    ],
)
async def test_an_insane_incoming_request_id_is_replaced(tenant, api, incoming):
    secret = await api.token(tenant, tenant.admin_user)
    r = await api.post(secret, ME, headers={"X-Request-ID": incoming.encode("utf-8")})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
