"""Item 3 of issue 11: a JSON body nested however deep answers 400 with a message that says why
(never a RecursionError and a 500), wherever the nesting is: variables, extensions, the body
itself, the GET parameters; and nothing is changed."""

from __future__ import annotations

import json

import pytest

from riskops.server.identity.models import User

MAX_JSON_DEPTH = 64

CREATE_USER = (
    'mutation($email: String!) { createUser(email: $email, name: "N", roles: ["viewer"]) '
    "{ user { id } errors { code message field } } }"
)
TOO_DEEP = f"nested deeper than {MAX_JSON_DEPTH} levels"


def _nested(kind: str, depth: int) -> str:
    """JSON text of `depth` nested arrays or objects around a 1."""
    if kind == "array":
        return "[" * depth + "1" + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}


@pytest.mark.parametrize("depth", [350, 100_000])
@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("where", ["variables", "extensions", "body"])
async def test_a_deeply_nested_body_is_400_and_changes_nothing(
    tenant, api, client, depth, kind, where
):
    secret = await api.token(tenant, tenant.admin_user)
    email = f"deep-{tenant.slug}@example.test"
    deep = _nested(kind, depth)
    query = json.dumps(CREATE_USER)
    if where == "variables":
        body = f'{{"query": {query}, "variables": {{"email": "{email}", "x": {deep}}}}}'
    elif where == "extensions":
        body = f'{{"query": {query}, "variables": {{"email": "{email}"}}, "extensions": {deep}}}'
    else:
        body = f'{{"query": {query}, "variables": {{"email": "{email}"}}, "other": {deep}}}'
    assert len(body) < 1_000_000
    r = await client.post("/graphql", content=body.encode(), headers=_bearer(secret))
    assert r.status_code == 400, r.text[:500]
    [error] = r.json()["errors"]
    assert TOO_DEEP in error["message"], error
    assert "flatten" in error["message"]
    assert error["extensions"]["code"] == "INVALID"
    assert not await User.filter(email=email).exists()


@pytest.mark.parametrize("param", ["variables", "extensions"])
async def test_a_deeply_nested_get_parameter_is_400(tenant, api, client, param):
    secret = await api.token(tenant, tenant.admin_user)
    r = await client.get(
        "/graphql",
        params={"query": "{ me { user { id } } }", param: _nested("object", 350)},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert r.status_code == 400, r.text[:500]
    assert TOO_DEEP in r.json()["errors"][0]["message"]


async def test_nesting_up_to_the_limit_is_accepted(tenant, api, client):
    secret = await api.token(tenant, tenant.admin_user)
    # the body object is level 1, variables 2, x 3...: exactly MAX_JSON_DEPTH levels in all
    deep = _nested("array", MAX_JSON_DEPTH - 2)
    body = f'{{"query": "{{ me {{ user {{ id }} }} }}", "variables": {{"x": {deep}}}}}'
    r = await client.post("/graphql", content=body.encode(), headers=_bearer(secret))
    assert r.status_code == 200, r.text[:500]
    assert r.json()["data"]["me"]["user"]["id"] == str(tenant.admin_user.id)


@pytest.mark.parametrize(
    ("text", "too_deep"),
    [
        ("[" * 65 + "]" * 65, True),
        ("[" * 64 + "]" * 64, False),
        # brackets inside strings, escaped quotes and backslashes do not count
        ('["' + "[" * 100 + '"]', False),
        ('["\\"' + "{" * 100 + '"]', False),
        ('["\\\\", ' + "[" * 70 + "]" * 70 + "]", True),
        ('{"a": "\\u005b"}', False),
        ("", False),
        ("1", False),
    ],
)
def test_json_too_deep_counts_only_structure(text, too_deep):
    from riskops.server.core.validation import json_too_deep

    assert json_too_deep(text) is too_deep
    assert json_too_deep(text.encode()) is too_deep


# --- the same class of defect outside /graphql: JSON lines read by the CLI and the ledger ------


async def test_a_deeply_nested_jsonl_line_is_a_line_error_not_a_traceback(tmp_path, tenant):
    from riskops.server.cli.jsonl import ImportSummary, import_jsonl

    source = tmp_path / "lines.jsonl"
    source.write_text(_nested("array", 100_000) + "\n" + '{"ok": 1}\n' + _nested("object", 350))
    sent: list[tuple[int, object]] = []

    async def send(principal, batch, summary: ImportSummary) -> None:  # type: ignore[no-untyped-def]
        sent.extend(batch)

    summary = await import_jsonl(str(source), tenant.admin, 10, send, "records")
    assert sent == [(2, {"ok": 1})]
    assert [(line, field) for line, field, _ in summary.errors] == [(1, "record"), (3, "record")]
    assert all(f"nested deeper than {MAX_JSON_DEPTH} levels" in m for _, _, m in summary.errors)


def test_a_deeply_nested_ledger_line_is_refused_with_its_reason():
    from riskops.server.core.errors import Invalid
    from riskops.server.credit.ledger import parse_line

    with pytest.raises(Invalid) as refused:
        parse_line(_nested("object", 100_000))
    assert refused.value.field == "record"
    assert f"nested deeper than {MAX_JSON_DEPTH} levels" in refused.value.message
