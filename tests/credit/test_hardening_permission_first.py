# ruff: noqa: F811  (harness is a fixture imported from the permission matrix)
"""Issue 11 item 13: permission is checked before input. Every page POST route, sent an empty
form by a role without its permission, answers 403 (not 422 for the missing fields); every
GraphQL mutation, called with invalid input by such a role, answers FORBIDDEN (not a validation
error). Nothing changes. The routes and their permissions come from
`tests/core/permission_table.py`, the roles from `MATRIX`."""

from __future__ import annotations

from typing import Any

import pytest
from graphql.pyutils import Undefined

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLType,
)
from riskops.server.core.permissions import Perm, Role
from riskops.server.security import csrf_token, digest
from tests.core.permission_pages import PAGES
from tests.core.permission_table import GRAPHQL
from tests.core.test_permission_matrix import (  # noqa: F401  (harness is a fixture)
    OPERATIONS,
    Harness,
    allowed,
    document,
    graphql_errors,
    harness,
)

# Deliberate exceptions, each an xfail(strict=True) so that a change of behaviour is seen: the
# right to act comes from the row itself, so an id that names no row is NOT_FOUND, with no
# permission to check yet. Answering an information request is the person asked's right
# (checked, before anything else, once the alert is read); revoking a token is its owner's.
ELSEWHERE = {
    "Mutation.answerAlertInfo": "the right comes from the alert (the person asked)",
    "Mutation.revokeApiToken": "the right comes from the token (its owner)",
}

# The least privileged role first: the one most likely to be refused.
ORDER = [Role.VIEWER.value, *[r.value for r in Role if r is not Role.VIEWER]]


def _refused_role(needs: Any) -> str | None:
    if not isinstance(needs, Perm):
        return None
    return next((r for r in ORDER if not allowed(needs, r)), None)


def _params(table: dict[str, Any], method: str | None) -> list[Any]:
    out = []
    for key, entry in sorted(table.items()):
        if method is not None and not key.startswith(method):
            continue
        role = _refused_role(entry.needs)
        if role is not None:
            marks = (
                [pytest.mark.xfail(strict=True, reason=ELSEWHERE[key])] if key in ELSEWHERE else []
            )
            out.append(pytest.param(key, role, id=f"{key}-{role}", marks=marks))
    return out


@pytest.mark.parametrize(("key", "role"), _params(PAGES, "POST "))
async def test_an_empty_form_from_a_role_without_the_permission_is_403(
    harness: Harness, key: str, role: str
) -> None:
    entry = PAGES[key]
    url = await harness.world.resolve(entry.url)
    session = harness.world.callers[role].session
    form = {"csrf_token": csrf_token(harness.backend.settings.key, digest(session))}
    before = await harness.changes()
    r = await harness.clients[role].post(url, data=form)
    assert r.status_code == 403, f"{key} as {role} with an empty form: {r.status_code}"
    assert await harness.changes() == before


def _invalid(t: GraphQLType) -> Any:
    """A value GraphQL accepts for type `t` that no service accepts: blank text, negative
    numbers, an empty list, an input object of such values."""
    if isinstance(t, GraphQLNonNull):
        return _invalid(t.of_type)
    if isinstance(t, GraphQLList):
        return []
    if isinstance(t, GraphQLEnumType):
        return next(iter(t.values))
    if isinstance(t, GraphQLInputObjectType):
        return {
            n: _invalid(f.type)
            for n, f in t.fields.items()
            if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined
        }
    assert isinstance(t, GraphQLScalarType)
    odd = {"Int": -1, "Float": -1.0, "Boolean": False, "JSON": {"nonsense": -1},
           "Date": "2026-11-25", "DateTime": "1999-01-01T00:00:00+00:00"}  # fmt: skip
    return odd.get(t.name, " ")


def _mutations() -> list[Any]:
    return [p for p in _params(GRAPHQL, None) if p.values[0].startswith("Mutation.")]


@pytest.mark.parametrize(("name", "role"), _mutations())
async def test_invalid_input_from_a_role_without_the_permission_is_forbidden(
    harness: Harness, name: str, role: str
) -> None:
    fld = OPERATIONS[name]
    variables = {a: _invalid(arg.type) for a, arg in fld.args.items()
                 if isinstance(arg.type, GraphQLNonNull)}  # fmt: skip
    before = await harness.changes()
    r = await harness.clients["anonymous"].post(
        "/graphql",
        json={"query": document(name, variables), "variables": variables},
        headers={"Authorization": f"Bearer {harness.world.callers[role].bearer}"},
    )
    errors = graphql_errors(r.json(), name)
    assert [e.get("code") for e in errors][:1] == ["FORBIDDEN"], f"{name} as {role}: {errors}"
    assert await harness.changes() == before
