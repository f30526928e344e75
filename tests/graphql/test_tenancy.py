"""Tenancy: an id of another organization behaves exactly like an id that does not exist, and
lists never show another organization's rows (PRODUCT.md, "People and roles")."""

from __future__ import annotations

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.identity.models import ApiToken, Team, User
from riskops.server.identity.teams import create_team
from riskops.server.identity.tokens import create_api_token

MISSING_ID = 2_000_000_000  # a valid id that no row has

ERRORS = "errors { code message field }"

# (name, document, variables for a target id, kind named in the message)
BY_USER_ID = [
    (
        "updateUserRoles",
        f'mutation($id: ID!) {{ updateUserRoles(userId: $id, roles: ["viewer"]) '
        f"{{ user {{ id }} {ERRORS} }} }}",
        "User",
    ),
    (
        "updateUserRoles",
        f'mutation($id: ID!) {{ updateUserRoles(userId: $id, roles: ["viewer"], '
        f"expectedVersion: 1) {{ user {{ id }} {ERRORS} }} }}",
        "User",
    ),
    (
        "suspendUser",
        f'mutation($id: ID!) {{ suspendUser(userId: $id, reason: "x") '
        f"{{ user {{ id }} {ERRORS} }} }}",
        "User",
    ),
    (
        "reactivateUser",
        f"mutation($id: ID!) {{ reactivateUser(userId: $id) {{ user {{ id }} {ERRORS} }} }}",
        "User",
    ),
    (
        "revokeSessions",
        f"mutation($id: ID!) {{ revokeSessions(userId: $id) {{ revoked {ERRORS} }} }}",
        "User",
    ),
    (
        "createApiToken",
        f'mutation($id: ID!) {{ createApiToken(userId: $id, name: "x", roles: ["admin"]) '
        f"{{ token {{ id }} secret {ERRORS} }} }}",
        "User",
    ),
    (
        "createTeam",
        f'mutation($id: ID!) {{ createTeam(name: "Spies", memberIds: [$id]) '
        f"{{ team {{ id }} {ERRORS} }} }}",
        "User",
    ),
]
BY_TOKEN_ID = [
    (
        "revokeApiToken",
        f"mutation($id: ID!) {{ revokeApiToken(tokenId: $id) {{ token {{ id }} {ERRORS} }} }}",
        "API token",
    ),
]


def _strip_id(payload: dict, target: object) -> dict:
    """The payload with the target id replaced, so two answers can be compared as equal."""
    out = dict(payload)
    out["errors"] = [
        {**e, "message": e["message"].replace(str(target), "<id>")} for e in payload["errors"]
    ]
    return out


async def _both(snapshot, tenant, other_tenant):  # type: ignore[no-untyped-def]
    return await snapshot(tenant.org_id), await snapshot(other_tenant.org_id)


@pytest.mark.parametrize(
    ("field", "document", "kind"),
    [pytest.param(*c, id=f"{c[0]}-{i}") for i, c in enumerate(BY_USER_ID + BY_TOKEN_ID)],
)
async def test_foreign_id_answers_like_a_missing_one(
    tenant, other_tenant, api, snapshot, field, document, kind
):
    foreign_user, _ = await other_tenant.user("admin")
    await User.filter(id=foreign_user.id).update(status="suspended")  # reactivate would act
    foreign_token = await create_api_token(
        other_tenant.admin, user_id=other_tenant.admin_user.id, name="theirs", roles=["admin"]
    )
    foreign = foreign_token.token.id if kind == "API token" else foreign_user.id
    secret = await api.token(tenant, tenant.admin_user)
    await api.data(secret, "{ me { roles } }")  # first use stamps last_used_at; not a change
    before = await _both(snapshot, tenant, other_tenant)

    answers = {}
    for target in (foreign, MISSING_ID):
        payload = (await api.data(secret, document, {"id": str(target)}))[field]
        [error] = payload["errors"]
        assert error == {
            "code": "NOT_FOUND",
            "message": f"{kind} {target} not found.",
            "field": None,
        }
        answers[target] = _strip_id(payload, target)

    assert answers[foreign] == answers[MISSING_ID]
    assert await _both(snapshot, tenant, other_tenant) == before


@pytest.mark.parametrize("raw", ["abc", "0", "-5", "99999999999999999999", "1.5", ""])
async def test_malformed_ids_are_not_found_too(tenant, api, snapshot, raw):
    secret = await api.token(tenant, tenant.admin_user)
    before = await snapshot(tenant.org_id)
    payload = (await api.data(secret, BY_USER_ID[2][1], {"id": raw}))["suspendUser"]
    assert payload["errors"] == [
        {"code": "NOT_FOUND", "message": f"User {raw} not found.", "field": None}
    ]
    assert await snapshot(tenant.org_id) == before


async def test_user_query_returns_null_for_foreign_and_missing_ids(tenant, other_tenant, api):
    secret = await api.token(tenant, tenant.admin_user)
    query = "query($id: ID!) { user(id: $id) { id email } }"
    for target in (other_tenant.admin_user.id, MISSING_ID, "garbage"):
        body = await api.gql(secret, query, {"id": str(target)})
        assert body == {"data": {"user": None}}
    own = await api.data(secret, query, {"id": str(tenant.admin_user.id)})
    assert own["user"] == {"id": str(tenant.admin_user.id), "email": tenant.admin_user.email}


async def test_create_team_with_one_foreign_member_creates_nothing(
    tenant, other_tenant, api, snapshot
):
    mine, _ = await tenant.user("viewer")
    secret = await api.token(tenant, tenant.admin_user)
    before = await _both(snapshot, tenant, other_tenant)
    payload = (
        await api.data(
            secret,
            BY_USER_ID[6][1].replace("[$id]", "$ids").replace("$id: ID!", "$ids: [ID!]"),
            {"ids": [str(mine.id), str(other_tenant.admin_user.id)]},
        )
    )["createTeam"]
    assert payload["team"] is None
    assert payload["errors"] == [
        {
            "code": "NOT_FOUND",
            "message": f"User {other_tenant.admin_user.id} not found.",
            "field": None,
        }
    ]
    assert await _both(snapshot, tenant, other_tenant) == before


async def test_lists_never_show_another_organizations_rows(tenant, other_tenant, api):
    # Both organizations have users, teams, tokens and audit events.
    for t in (tenant, other_tenant):
        await t.user("viewer")
        await create_team(t.admin, name="Same name in both", member_ids=[str(t.admin_user.id)])
        await create_api_token(t.admin, user_id=t.admin_user.id, name="t", roles=["admin"])
    secret = await api.token(tenant, tenant.admin_user)

    data = await api.data(
        secret,
        """{
          users { id }
          teams { id members { id } }
          apiTokens { id ownerId }
          auditEvents(first: 200) { edges { node { seq hash } } pageInfo { hasNextPage } }
        }""",
    )

    org = tenant.org_id
    user_ids = await User.filter(org_id=org).values_list("id", flat=True)
    assert sorted(int(u["id"]) for u in data["users"]) == sorted(user_ids)
    team_ids = await Team.filter(org_id=org).values_list("id", flat=True)
    assert sorted(int(t["id"]) for t in data["teams"]) == sorted(team_ids)
    assert all(int(m["id"]) in user_ids for t in data["teams"] for m in t["members"])
    token_ids = await ApiToken.filter(org_id=org).values_list("id", flat=True)
    assert sorted(int(t["id"]) for t in data["apiTokens"]) == sorted(token_ids)
    assert all(int(t["ownerId"]) in user_ids for t in data["apiTokens"])
    conn = data["auditEvents"]
    assert conn["pageInfo"]["hasNextPage"] is False
    hashes = await AuditEvent.filter(org_id=org).order_by("-seq").values_list("hash", flat=True)
    assert [e["node"]["hash"] for e in conn["edges"]] == list(hashes)
    foreign = set(
        await AuditEvent.filter(org_id=other_tenant.org_id).values_list("hash", flat=True)
    )
    assert foreign and not foreign & {e["node"]["hash"] for e in conn["edges"]}
