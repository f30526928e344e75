"""The generic permission test (NetBox's `utilities/testing/api.py` is the model), generated from
the permission matrix and the contract in `permission_table.py`, for every GraphQL operation
(every field of Query and Mutation) and every page route (GET and POST):

- anonymous is refused: GraphQL 401 UNAUTHENTICATED; a page GET redirects to the login form
  (coming back to the page), a page POST with a valid form token redirects to /login; nothing
  changes;
- each role without the permission is refused: GraphQL FORBIDDEN naming the permission, a page
  the 403 page; nothing changes (in either organization);
- each role with it is not refused for permission (its answer may still be NOT_FOUND or INVALID
  for the sample arguments);
- every id argument (and every id in a page's address or form) of another organization answers
  exactly like a missing id: same status, same error code, same message with the id swapped;
- an operation or route without an entry in the table fails, naming it.

Which roles hold a permission comes from `MATRIX` only. One organization with a user, an API
token and a session per role (and another organization with the same objects) is built once per
backend; each test is one call.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio
from graphql.pyutils import Undefined
from starlette.routing import Match

from graphql import GraphQLNamedType, GraphQLObjectType, get_named_type, is_non_null_type
from riskops.audit.models import AuditRefusal
from riskops.graphql.schema import schema
from riskops.jobs.runner import drain
from riskops.server.core.permissions import MATRIX, Perm, Role
from riskops.server.credit.models import Baseline, BaselineSource, Scenario
from riskops.server.security import csrf_token, digest
from riskops.server.web import ANON_COOKIE, SESSION_COOKIE
from riskops.ui.routes import routes
from tests.conftest import Backend, make_user
from tests.core.permission_pages import PAGES
from tests.core.permission_table import (
    ANYONE,
    GRAPHQL,
    AllOf,
    AnyOf,
    Marker,
    Needs,
    Op,
    Page,
)
from tests.core.permission_world import (
    MISSING,
    NOT_IDS,
    Caller,
    World,
    build_world,
    fingerprint,
    missing_value,
    open_session,
    placeholders,
)

ANONYMOUS = "anonymous"
ROLES = [role.value for role in Role]
ERRORS = "errors { code message field }"


# ----------------------------------------------------------------------------- what exists


def graphql_operations() -> dict[str, Any]:
    """Every field of Query and Mutation of the served schema, as "Query.<name>"."""
    gql = schema._schema
    found = {}
    for root in (gql.query_type, gql.mutation_type):
        assert root is not None
        for name, fld in root.fields.items():
            found[f"{root.name}.{name}"] = fld
    return found


def page_routes() -> set[str]:
    """Every page route and method, as "<METHOD> <path as routed>" (HEAD goes with GET)."""
    return {
        f"{method} {route.path}"
        for route in routes
        for method in sorted((getattr(route, "methods", None) or set()) - {"HEAD"})
    }


OPERATIONS = graphql_operations()


def allowed_roles(needs: Needs) -> list[str]:
    if isinstance(needs, Marker):
        return list(ROLES)
    if isinstance(needs, AnyOf):
        return [role.value for role in Role if any(p in MATRIX[role] for p in needs.perms)]
    if isinstance(needs, AllOf):
        return [role.value for role in Role if all(p in MATRIX[role] for p in needs.perms)]
    return [role.value for role in Role if needs in MATRIX[role]]


def allowed(needs: Needs, role: str) -> bool:
    return role in allowed_roles(needs)


# ----------------------------------------------------------------------------- the contract


def test_every_graphql_operation_has_a_matrix_entry() -> None:
    missing = sorted(set(OPERATIONS) - set(GRAPHQL))
    assert not missing, (
        f"GraphQL operations without an entry in tests/core/permission_table.py GRAPHQL: "
        f"{', '.join(missing)}. Add each with the permission it needs and sample arguments."
    )
    stale = sorted(set(GRAPHQL) - set(OPERATIONS))
    assert not stale, f"permission_table.GRAPHQL names operations that do not exist: {stale}"


def test_every_page_route_has_a_matrix_entry() -> None:
    missing = sorted(page_routes() - set(PAGES))
    assert not missing, (
        f"Page routes without an entry in tests/core/permission_pages.py PAGES: "
        f"{', '.join(missing)}. Add each with the permission it needs and a sample address."
    )
    stale = sorted(set(PAGES) - page_routes())
    assert not stale, f"permission_pages.PAGES names routes that do not exist: {stale}"


@pytest.mark.parametrize("name", sorted(GRAPHQL))
def test_sample_arguments_are_the_operations_own(name: str) -> None:
    args = OPERATIONS[name].args
    required = {a for a, arg in args.items() if is_non_null_type(arg.type) and
                arg.default_value is Undefined}  # fmt: skip
    given = set(GRAPHQL[name].args)
    assert required <= given, f"{name}: sample arguments lack {sorted(required - given)}"
    assert given <= set(args), f"{name}: no argument(s) {sorted(given - set(args))}"


@pytest.mark.parametrize("key", sorted(PAGES))
def test_sample_addresses_reach_their_own_route(key: str) -> None:
    """A sample address that another route would answer tests the wrong handler."""
    method = key.split(" ", 1)[0]
    url = re.sub(r"\{[a-z0-9_]+(?:\.version)?\}", "1", PAGES[key].url)
    scope = {"type": "http", "method": method, "path": url, "path_params": {}}
    first = next(
        f"{method} {route.path}" for route in routes if route.matches(scope)[0] is Match.FULL
    )
    assert first == key, f"{PAGES[key].url} ({method}) is answered by {first}"


def test_every_permission_is_needed_somewhere() -> None:
    """A permission no operation or page needs is a matrix entry nobody tests (or a dead one)."""
    needed = {e.needs for e in [*GRAPHQL.values(), *PAGES.values()]}
    assert set(Perm) <= needed, f"needed by nothing: {sorted(set(Perm) - needed)}"


# ----------------------------------------------------------------------------- the harness


@dataclass
class Harness:
    backend: Backend
    app: Any
    world: World
    other: World
    clients: dict[str, httpx.AsyncClient]  # role or ANONYMOUS -> a browser-like client
    anon_csrf: str

    async def changes(self) -> tuple[Any, ...]:
        # Jobs an earlier call enqueued run in-process: let them finish first, so that what a
        # call changed is its own doing.
        await drain()
        return await fingerprint(self.world.org_id, self.other.org_id)


def _client(app: Any, n: int) -> httpx.AsyncClient:
    # Each caller its own client address: failed logins are also counted per address.
    transport = httpx.ASGITransport(app=app, client=(f"192.0.2.{n}", 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest_asyncio.fixture(scope="module")
async def harness(backend: Backend) -> AsyncIterator[Harness]:
    from riskops.server.app import create_app

    app = create_app(backend.settings, manage_db=False)
    world = await build_world(backend.settings, make_user, "perm")
    other = await build_world(backend.settings, make_user, "perm-other")
    clients = {}
    for n, role in enumerate([*ROLES, ANONYMOUS], start=1):
        clients[role] = _client(app, n)
        if role != ANONYMOUS:
            clients[role].cookies.set(SESSION_COOKIE, world.callers[role].session)
    anon = "perm-matrix-anonymous-browser"
    clients[ANONYMOUS].cookies.set(ANON_COOKIE, anon)
    try:
        yield Harness(backend, app, world, other, clients,
                      csrf_token(backend.settings.key, digest(anon)))  # fmt: skip
    finally:
        for c in clients.values():
            await c.aclose()


# ----------------------------------------------------------------------------- GraphQL


def document(name: str, variables: dict[str, Any]) -> str:
    """The smallest document that runs operation `name` with `variables`: the payload's type
    name and, for a mutation payload, its errors."""
    root, field_name = name.split(".")
    fld = OPERATIONS[name]
    declared = ", ".join(f"${a}: {fld.args[a].type}" for a in variables)
    passed = ", ".join(f"{a}: ${a}" for a in variables)
    call = f"{field_name}({passed})" if variables else field_name
    named: GraphQLNamedType = get_named_type(fld.type)
    if isinstance(named, GraphQLObjectType):
        call += " { __typename" + (f" {ERRORS}" if "errors" in named.fields else "") + " }"
    head = ("query" if root == "Query" else "mutation") + (f"({declared})" if variables else "")
    return f"{head} {{ {call} }}"


async def call_graphql(
    h: Harness,
    name: str,
    role: str,
    override: dict[str, Any] | None = None,
    new_runs: bool = False,
) -> httpx.Response:
    template = GRAPHQL[name].args
    if new_runs:  # the new run ids of recordRuns made unique: it records, never skips known runs
        template = _new_run_ids(template, uuid.uuid4().hex[:8])
    variables = await h.world.resolve(template, override)
    headers = {}
    if role != ANONYMOUS:
        headers["Authorization"] = f"Bearer {h.world.callers[role].bearer}"
    client = h.clients[ANONYMOUS]  # bearer callers need no cookie; this one has none of theirs
    body = {"query": document(name, variables), "variables": variables}
    return await client.post("/graphql", json=body, headers=headers)


def _new_run_ids(value: Any, tag: str) -> Any:
    if isinstance(value, dict):
        return {
            k: f"{v}-{tag}" if k == "runId" and "{" not in v else _new_run_ids(v, tag)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_new_run_ids(v, tag) for v in value]
    return value


def graphql_errors(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Every error of the answer: GraphQL errors (code in extensions) and payload errors."""
    found = [
        {"code": (e.get("extensions") or {}).get("code"), "message": e.get("message", "")}
        for e in body.get("errors") or []
    ]
    payload = (body.get("data") or {}).get(name.split(".")[1])
    if isinstance(payload, dict):
        found += payload.get("errors") or []
    return found


def _xfail(entry: Op | Page, check: str) -> list[Any]:
    reason = entry.holes.get(check)
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


def _role_params(table: dict[str, Any]) -> list[Any]:
    params = []
    for name, entry in sorted(table.items()):
        # Open to anyone: the role makes no difference, one signed-in caller stands for all (the
        # login form checks a password, deliberately slow).
        callers = [Role.VIEWER.value] if entry.needs is ANYONE else ROLES
        for role in [*callers, ANONYMOUS]:
            refused = role == ANONYMOUS or not allowed(entry.needs, role)
            marks = _xfail(entry, "refused") if refused and role != ANONYMOUS else []
            params.append(pytest.param(name, role, id=f"{name}-{role}", marks=marks))
    return params


@pytest.mark.parametrize(("name", "role"), _role_params(GRAPHQL))
async def test_graphql_operation_permission(harness: Harness, name: str, role: str) -> None:
    entry = GRAPHQL[name]
    refused = role == ANONYMOUS or not allowed(entry.needs, role)
    before = await harness.changes() if refused else None
    r = await call_graphql(harness, name, role)

    if role == ANONYMOUS:
        assert r.status_code == 401, r.text
        assert [e["extensions"]["code"] for e in r.json()["errors"]] == ["UNAUTHENTICATED"]
        assert await harness.changes() == before, "an anonymous call changed something"
        return
    assert r.status_code == 200, r.text
    errors = graphql_errors(r.json(), name)
    uncoded = [e for e in errors if not e.get("code")]
    assert not uncoded, f"{name} as {role}: an unexpected error: {uncoded}"
    if allowed(entry.needs, role):
        forbidden = [e for e in errors if e["code"] == "FORBIDDEN"]
        assert not forbidden, f"{name} refused {role}, whose roles allow {entry.needs}: {forbidden}"
        return
    forbidden = [e for e in errors if e["code"] == "FORBIDDEN"]
    assert forbidden, f"{name} did not refuse {role} (needs {entry.needs}): {r.text}"
    names = [p.value for p in (entry.needs, *entry.names) if isinstance(p, Perm)]
    assert any(p in e["message"] for e in forbidden for p in names), (
        f"{name}: the refusal does not name {' or '.join(names)}: {forbidden}"
    )
    assert await harness.changes() == before, f"{name} refused {role} but changed something"
    if name.startswith("Mutation."):  # a refused attempt is audited (AUDIT.md, refusals)
        operation = f"mutation {name.removeprefix('Mutation.')}"
        assert await refusal_counted(harness, operation), f"{name} refused {role}: not audited"


async def refusal_counted(h: Harness, operation: str) -> bool:
    return await AuditRefusal.filter(org_id=h.world.org_id, operation=operation).exists()


# ----------------------------------------------------------------------------- pages


def login_redirect(url: str) -> str:
    return "/login" if url == "/" else f"/login?{urlencode({'next': url})}"


def refused_page(r: httpx.Response) -> bool:
    location = r.headers.get("location", "")
    to_login = r.status_code == 303 and (location == "/login" or location.startswith("/login?next"))
    # Signing out also lands on /login, with its one-time "You are signed out." flash.
    signed_out = "riskops_flash=signed_out" in ";".join(r.headers.get_list("set-cookie"))
    return r.status_code == 403 or (to_login and not signed_out)


async def call_page(
    h: Harness,
    key: str,
    role: str,
    override: dict[str, Any] | None = None,
    client: httpx.AsyncClient | None = None,
    session: str | None = None,
) -> tuple[str, httpx.Response]:
    entry = PAGES[key]
    method = key.split(" ", 1)[0]
    url = await h.world.resolve(entry.url, override)
    http = client or h.clients[role]
    if method == "GET":
        return url, await http.get(url)
    form = await h.world.resolve(entry.form, override)
    if role == ANONYMOUS:
        form["csrf_token"] = h.anon_csrf
    else:
        secret = session or h.world.callers[role].session
        form["csrf_token"] = csrf_token(h.backend.settings.key, digest(secret))
    return url, await http.post(url, data=form)


async def _fresh_session(h: Harness, caller: Caller) -> str:
    return await open_session(h.backend.settings, caller.user_id, caller.org_id)


@pytest.mark.parametrize(("key", "role"), _role_params(PAGES))
async def test_page_route_permission(harness: Harness, key: str, role: str) -> None:
    entry = PAGES[key]
    method = key.split(" ", 1)[0]
    refused = entry.needs is not ANYONE and (role == ANONYMOUS or not allowed(entry.needs, role))
    before = await harness.changes() if refused else None
    if entry.signs_out and role != ANONYMOUS:
        # Signing out ends the session: a session of its own, in a client of its own.
        session = await _fresh_session(harness, harness.world.callers[role])
        async with _client(harness.app, 200) as http:
            http.cookies.set(SESSION_COOKIE, session)
            url, r = await call_page(harness, key, role, client=http, session=session)
        # "Sign out everywhere" ended the caller's usual session too: a new one for the tests
        # after this one.
        caller = harness.world.callers[role]
        caller.session = await _fresh_session(harness, caller)
        harness.clients[role].cookies.set(SESSION_COOKIE, caller.session)
    else:
        url, r = await call_page(harness, key, role)

    if entry.needs is ANYONE:
        assert not refused_page(r), f"{key} refused {role}: {r.status_code} {r.headers}"
        return
    if role == ANONYMOUS:
        expected = login_redirect(url) if method == "GET" else "/login"
        assert (r.status_code, r.headers.get("location")) == (303, expected), r.text[:500]
        assert await harness.changes() == before, f"{key}: an anonymous request changed something"
        return
    if allowed(entry.needs, role):
        assert r.status_code != 403, f"{key} refused {role} (allowed: {entry.needs}): {r.text}"
        assert r.status_code < 500, r.text
        return
    assert r.status_code == 403, (
        f"{key} did not refuse {role} (needs {entry.needs}): {r.status_code}"
    )
    assert "Not allowed" in r.text
    assert await harness.changes() == before, f"{key} refused {role} but changed something"
    if method != "GET":  # a refused attempt is audited (AUDIT.md, refusals)
        assert await refusal_counted(harness, key), f"{key} refused {role}: not audited"


# ----------------------------------------------------------------------------- other organizations


def _foreign_params(table: dict[str, Any], template: Any) -> list[Any]:
    params = []
    for name, entry in sorted(table.items()):
        for ref in sorted(placeholders(template(entry)) - NOT_IDS):
            marks = _xfail(entry, f"foreign:{ref}")
            params.append(pytest.param(name, ref, id=f"{name}-{ref}", marks=marks))
    return params


def _same_shape(text: str, value: str) -> str:
    """`text` with the id `value` replaced, so the answers for two ids can be compared."""
    return re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w-])", "<id>", text)


async def _probes(h: Harness, ref: str) -> tuple[Any, Any]:
    """Another organization's `ref` and a missing one, for one test.

    A scenario key is a name inside an organization, not a global id: recording a run under a
    key the caller's organization lacks creates that scenario there. So each test takes keys of
    its own, a new scenario of the other organization (with a baseline, like the world's) and a
    new missing key, that no other test looks up, whatever the order the tests run in."""
    if ref != "scenario":
        return h.other.values[ref], missing_value(ref)
    tag = uuid.uuid4().hex[:8].upper()
    key, now = f"PERM_OTHER_{tag}", datetime.now(UTC)
    scenario = await Scenario.create(org_id=h.other.org_id, key=key, name=key, created_at=now)
    await Baseline.create(
        org_id=h.other.org_id, scenario_id=scenario.id, median=100.0, sample_size=10,
        source=BaselineSource.MANUAL, set_at=now,
    )  # fmt: skip
    return key, f"{MISSING['key']}_{tag}"


def _first_allowed(needs: Needs) -> str:
    roles = allowed_roles(needs)
    # Operations open to everyone act on the caller's own things: an admin may act on others'.
    return Role.ADMIN.value if isinstance(needs, Marker) else roles[0]


@pytest.mark.parametrize(("name", "ref"), _foreign_params(GRAPHQL, lambda e: e.args))
async def test_graphql_foreign_id_answers_like_a_missing_one(
    harness: Harness, name: str, ref: str
) -> None:
    role = _first_allowed(GRAPHQL[name].needs)
    answers = []
    for value in await _probes(harness, ref):
        before = await harness.changes()
        r = await call_graphql(harness, name, role, {ref: value}, new_runs=True)
        answers.append(
            (
                r.status_code,
                _same_shape(r.text, str(value)),
                _delta(before, await harness.changes()),
            )
        )
    foreign, missing = answers
    assert foreign == missing, f"{name}: another organization's {ref} answers differently"


def _delta(before: tuple[Any, ...], after: tuple[Any, ...]) -> tuple[Any, ...]:
    # What a call changed (e.g. the audit event of a page shown again): the same for both ids.
    return tuple(b - a for a, b in zip(before, after, strict=True))


# What a page says went wrong: the error page's title and message, inline errors, conflicts.
_SAID = re.compile(
    r'<(div|p)[^>]*(?:role="alert"|class="field-error")[^>]*>(.*?)</\1>'
    r'|<section class="card error-card">(.*?)<p class="muted small">',
    re.DOTALL,
)


def _messages(r: httpx.Response) -> list[str]:
    return [" ".join((m.group(2) or m.group(3)).split()) for m in _SAID.finditer(r.text)]


@pytest.mark.parametrize(
    ("key", "ref"), _foreign_params(PAGES, lambda e: {"url": e.url, "form": e.form})
)
async def test_page_foreign_id_answers_like_a_missing_one(
    harness: Harness, key: str, ref: str
) -> None:
    role = _first_allowed(PAGES[key].needs)
    answers = []
    for value in await _probes(harness, ref):
        before = await harness.changes()
        _, r = await call_page(harness, key, role, {ref: value})
        answers.append(
            (r.status_code, _same_shape(r.headers.get("location", ""), str(value)),
             [_same_shape(m, str(value)) for m in _messages(r)],
             _delta(before, await harness.changes()))
        )  # fmt: skip
    foreign, missing = answers
    assert foreign == missing, f"{key}: another organization's {ref} answers differently"
