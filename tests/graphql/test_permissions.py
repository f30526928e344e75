"""One generic permission test per list query (NetBox style): anonymous is refused, a role
without the permission is refused (or, for API tokens, sees only its own), an allowed role sees
exactly its organization's rows."""

from __future__ import annotations

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.core.permissions import ALL_ROLES, MATRIX, Perm, Role
from riskops.server.core.principal import Principal
from riskops.server.identity.auth import ClientInfo, login
from riskops.server.identity.models import ApiToken, Team, User
from riskops.server.identity.teams import create_team
from riskops.server.identity.tokens import create_api_token
from riskops.server.security import csrf_token, digest

PASSWORD = "correct horse battery staple"
NO_ROLE = "(no role)"

QUERIES = {
    "users": "{ users { id } }",
    "teams": "{ teams { id } }",
    "apiTokens": "{ apiTokens { id } }",
    "auditEvents": "{ auditEvents(first: 200) { edges { node { seq } } } }",
}

# The policy, written out (PRODUCT.md "People and roles"); checked against the matrix below.
ALLOWED = {
    "users": set(ALL_ROLES),
    "teams": set(ALL_ROLES),
    "auditEvents": {"admin", "compliance_reviewer", "product_reviewer"},
}
NEEDS = {"users": Perm.USER_READ, "teams": Perm.USER_READ, "auditEvents": Perm.AUDIT_READ}


def test_written_policy_is_the_matrix():
    for query, perm in NEEDS.items():
        assert {r.value for r, perms in MATRIX.items() if perm in perms} == ALLOWED[query], query


# The actions of alerts and cases (PRODUCT.md "People and roles"): who may do them.
ACTION_POLICY = {
    Perm.ALERT_INGEST: {"strategist", "admin"},  # automation pushes alerts with their tokens
    Perm.ALERT_TRIAGE: {"strategist"},
    Perm.ALERT_REOPEN: {"approver"},
    Perm.CASE_WORK: {"strategist", "operator", "approver"},
    Perm.CASE_APPROVE: {"approver"},
}


def test_written_action_policy_is_the_matrix():
    for perm, roles in ACTION_POLICY.items():
        assert {r.value for r, perms in MATRIX.items() if perm in perms} == roles, perm


async def _org_rows(query: str, org_id: int, caller: User) -> list[str]:
    if query == "users":
        ids = await User.filter(org_id=org_id, deleted_at=None).values_list("id", flat=True)
    elif query == "teams":
        ids = await Team.filter(org_id=org_id).values_list("id", flat=True)
    elif query == "apiTokens":
        tokens = ApiToken.filter(org_id=org_id)
        if Role.ADMIN.value not in caller.roles:
            tokens = tokens.filter(user_id=caller.id)  # non-admins see their own tokens
        ids = await tokens.values_list("id", flat=True)
    else:
        ids = await AuditEvent.filter(org_id=org_id).values_list("seq", flat=True)
    return sorted(str(i) for i in ids)


def _ids(query: str, data: dict) -> list[str]:
    if query == "auditEvents":
        return sorted(str(e["node"]["seq"]) for e in data["auditEvents"]["edges"])
    return sorted(row["id"] for row in data[query])


@pytest.fixture
async def populated(tenant, other_tenant):  # type: ignore[no-untyped-def]
    """Both organizations hold users, a team, tokens and events, so leaks would show."""
    for t in (tenant, other_tenant):
        member, member_p = await t.user("operator")
        await create_team(t.admin, name="Desk", member_ids=[str(member.id)])
        await create_api_token(t.admin, user_id=t.admin_user.id, name="a", roles=["admin"])
        await create_api_token(member_p, name="m", roles=["operator"])  # their own


async def _caller_headers(tenant, user, db) -> dict[str, str]:  # type: ignore[no-untyped-def]
    if not user.roles:
        # A token needs at least one role, so a user without roles calls with their session.
        secret = (await login(db.settings, user.email, PASSWORD, ClientInfo())).session_secret
        return {
            "Cookie": f"riskops_session={secret}",
            "X-CSRF-Token": csrf_token(db.settings.key, digest(secret)),
        }
    me = Principal(user_id=user.id, org_id=user.org_id, roles=frozenset(user.roles))
    issued = await create_api_token(me, name="caller", roles=list(user.roles))  # their own
    return {"Authorization": f"Bearer {issued.secret}"}


@pytest.mark.parametrize("role", [*ALL_ROLES, NO_ROLE])
@pytest.mark.parametrize("query", sorted(QUERIES))
async def test_list_query_permission(tenant, other_tenant, populated, client, db, query, role):
    roles = [] if role == NO_ROLE else [role]
    user, _ = await tenant.user(*roles)
    headers = await _caller_headers(tenant, user, db)

    r = await client.post("/graphql", json={"query": QUERIES[query]}, headers=headers)

    assert r.status_code == 200, r.text
    body = r.json()
    if query == "apiTokens" or role in ALLOWED[query]:
        assert "errors" not in body, body
        rows = _ids(query, body["data"])
        assert rows == await _org_rows(query, tenant.org_id, user)
        assert rows or role == NO_ROLE  # an allowed caller sees data, not an empty list
    else:
        assert body["data"] is None
        [error] = body["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert f"do not allow '{NEEDS[query].value}'" in error["message"]


@pytest.mark.parametrize("query", sorted(QUERIES))
async def test_list_query_refuses_anonymous(client, db, query):
    r = await client.post("/graphql", json={"query": QUERIES[query]})
    assert r.status_code == 401
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_operator_may_do_everything_a_viewer_may():
    assert MATRIX[Role.VIEWER] <= MATRIX[Role.OPERATOR] <= MATRIX[Role.APPROVER]
