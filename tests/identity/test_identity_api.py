"""Identity over GraphQL: users, roles, suspension, teams, API tokens, `me`.

Every failing call is checked twice: the typed error it answers with, and an unchanged
organization (users, teams, tokens, sessions, audit chain) read back from the database.
"""

from __future__ import annotations

import pytest

from riskops.audit.models import AuditEvent
from riskops.audit.verify import verify_org
from riskops.server.core.permissions import ALL_ROLES, MATRIX, Role
from riskops.server.identity import users
from riskops.server.identity.auth import ClientInfo, from_session, login
from riskops.server.identity.models import ApiToken, Session, Team, User, UserEvent, UserStatus
from riskops.server.security import digest

PASSWORD = "correct horse battery staple"  # tests/conftest.py sets it for every user

USER_FIELDS = "user { id email name roles status version teams { id name } }"
ERRORS = "errors { code message field }"

CREATE_USER = f"""
mutation($email: String!, $name: String!, $roles: [String!]!) {{
  createUser(email: $email, name: $name, roles: $roles) {{ {USER_FIELDS} {ERRORS} }}
}}"""

UPDATE_ROLES = f"""
mutation($id: ID!, $roles: [String!]!, $v: Int) {{
  updateUserRoles(userId: $id, roles: $roles, expectedVersion: $v) {{ {USER_FIELDS} {ERRORS} }}
}}"""

SUSPEND = f"""
mutation($id: ID!) {{
  suspendUser(userId: $id, reason: "left the company") {{ {USER_FIELDS} {ERRORS} }}
}}"""

CREATE_TEAM = f"""
mutation($name: String!, $ids: [ID!]) {{
  createTeam(name: $name, memberIds: $ids) {{
    team {{ id name members {{ id name }} }} {ERRORS}
  }}
}}"""

CREATE_TOKEN = f"""
mutation($id: ID!, $roles: [String!]!, $days: Int) {{
  createApiToken(userId: $id, name: "ci", roles: $roles, expiresInDays: $days) {{
    token {{ id name prefix ownerId roles expiresAt revokedAt }} secret {ERRORS}
  }}
}}"""

REVOKE_TOKEN = f"""
mutation($id: ID!) {{ revokeApiToken(tokenId: $id) {{ token {{ id revokedAt }} {ERRORS} }} }}"""

ME = "{ me { user { id } roles permissions viaApiToken organization { id slug } } }"


async def _token_id(secret: str) -> int:
    return (await ApiToken.get(token_hash=digest(secret))).id


# --- createUser ------------------------------------------------------------------------------


async def test_create_user_and_its_audit_event_in_the_org_chain(
    tenant, other_tenant, api, snapshot, db
):
    secret = await api.token(tenant, tenant.admin_user)
    other_before = await snapshot(other_tenant.org_id)
    head_before = (await snapshot(tenant.org_id))["audit_head"][0]

    r = await api.post(
        secret,
        CREATE_USER,
        {
            "email": f" New.Person.{tenant.slug}@Example.test ",
            "name": " New Person ",
            "roles": ["viewer", "operator"],
        },
        headers={"X-Request-ID": "create-user-0001"},
    )
    assert r.status_code == 200, r.text
    payload = r.json()["data"]["createUser"]
    assert payload["errors"] == []
    created = payload["user"]
    email = f"new.person.{tenant.slug}@example.test"
    row = await User.get(email=email)
    assert created == {
        "id": str(row.id),
        "email": email,
        "name": "New Person",
        "roles": ["operator", "viewer"],
        "status": "ACTIVE",
        "version": 1,
        "teams": [],
    }
    assert row.org_id == tenant.org_id
    assert row.password_hash is None

    events = await AuditEvent.filter(org_id=tenant.org_id, seq__gt=head_before).order_by("seq")
    # Without a password the user is invited in the same transaction (issue 14).
    assert [(e.seq, e.action, e.entity_type, e.entity_id) for e in events] == [
        (head_before + 1, "user.create", "user", str(row.id)),
        (head_before + 2, "user.invite", "user", str(row.id)),
    ]
    event = events[0]
    assert event.actor == f"token:{await _token_id(secret)}"
    assert event.actor_type == "token"
    assert event.request_id == "create-user-0001" == r.headers["x-request-id"]
    assert event.ip == "203.0.113.7"
    assert event.new_values == '{"has_password":false,"roles":["operator","viewer"]}'
    assert event.risk_level == "low"
    assert (await verify_org(tenant.org_id, db.settings.key)).ok
    assert await snapshot(other_tenant.org_id) == other_before


async def test_create_user_with_a_privileged_role_is_a_medium_risk_event(tenant, api):
    secret = await api.token(tenant, tenant.admin_user)
    data = await api.data(
        secret,
        CREATE_USER,
        {"email": f"boss-{tenant.slug}@example.test", "name": "Boss", "roles": ["approver"]},
    )
    user_id = data["createUser"]["user"]["id"]
    event = await AuditEvent.get(org_id=tenant.org_id, action="user.create", entity_id=user_id)
    assert event.risk_level == "medium"


@pytest.mark.parametrize("where", ["same org", "other org"])
async def test_create_user_duplicate_email(tenant, other_tenant, api, snapshot, where):
    existing = tenant.admin_user if where == "same org" else other_tenant.admin_user
    secret = await api.token(tenant, tenant.admin_user)
    before = await snapshot(tenant.org_id), await snapshot(other_tenant.org_id)

    data = await api.data(
        secret, CREATE_USER, {"email": existing.email.upper(), "name": "Copy", "roles": ["viewer"]}
    )
    assert data["createUser"] == {
        "user": None,
        "errors": [
            {
                "code": "DUPLICATE",
                "message": f"The e-mail address {existing.email} is already in use.",
                "field": "email",
            }
        ],
    }
    assert (await snapshot(tenant.org_id), await snapshot(other_tenant.org_id)) == before


INVALID_CREATE = [
    pytest.param(
        {"email": "not-an-email"},
        "email",
        "'not-an-email' is not an e-mail address (like name@example.com).",
        id="bad-email",
    ),
    pytest.param(
        {"roles": ["viewer", "wizard"]},
        "roles",
        "Roles: unknown role(s) wizard; choose from "
        + ", ".join(r.replace("_", " ") for r in ALL_ROLES)
        + ".",
        id="unknown-role",
    ),
    pytest.param({"roles": []}, "roles", None, id="no-role"),
    pytest.param({"name": "   "}, "name", "Name is required.", id="empty-name"),
    pytest.param(
        {"name": "x" * 201},
        "name",
        "Name is 201 characters long; the limit is 200.",
        id="name-201",
    ),
    pytest.param(
        {"roles": ["viewer"] * 17}, "roles", "roles: at most 16 items.", id="17-roles-list-cap"
    ),
    pytest.param(
        {"roles": ["viewer"] * 8},
        "roles",
        f"Roles: at most {len(ALL_ROLES)} roles.",
        id="8-roles-service-cap",
    ),
]


@pytest.mark.parametrize(("change", "field", "message"), INVALID_CREATE)
async def test_create_user_invalid_input(tenant, api, snapshot, change, field, message):
    secret = await api.token(tenant, tenant.admin_user)
    before = await snapshot(tenant.org_id)
    email = f"valid-{tenant.slug}@example.test"
    variables = {"email": email, "name": "Valid", "roles": ["viewer"], **change}

    payload = (await api.data(secret, CREATE_USER, variables))["createUser"]

    assert payload["user"] is None
    [error] = payload["errors"]
    assert (error["code"], error["field"]) == ("INVALID", field)
    if message is not None:
        assert error["message"] == message
    assert await snapshot(tenant.org_id) == before
    assert not await User.filter(email=email).exists()


async def test_create_user_name_of_200_characters_is_accepted(tenant, api):
    secret = await api.token(tenant, tenant.admin_user)
    data = await api.data(
        secret,
        CREATE_USER,
        {"email": f"long-{tenant.slug}@example.test", "name": "y" * 200, "roles": ["viewer"]},
    )
    assert data["createUser"]["errors"] == []
    assert data["createUser"]["user"]["name"] == "y" * 200


@pytest.mark.parametrize("role", ["viewer", "operator", "strategist"])
async def test_create_user_forbidden_for_non_admin_is_data(tenant, api, snapshot, role):
    user, _ = await tenant.user(role)
    secret = await api.token(tenant, user)
    before = await snapshot(tenant.org_id)

    body = await api.gql(
        secret,
        CREATE_USER,
        {"email": f"intruder-{tenant.slug}@example.test", "name": "I", "roles": ["admin"]},
    )

    assert "errors" not in body  # an expected refusal is data, not a GraphQL error
    payload = body["data"]["createUser"]
    assert payload["user"] is None
    [error] = payload["errors"]
    assert error["code"] == "FORBIDDEN"
    assert error["message"] == (
        f"Your roles ({role}) do not allow 'user.manage'. "
        "Ask an admin of your organization for a role that does."
    )
    assert await snapshot(tenant.org_id) == before
    assert not await User.filter(email=f"intruder-{tenant.slug}@example.test").exists()


# --- updateUserRoles -------------------------------------------------------------------------


async def test_update_user_roles_bumps_version_and_audits(tenant, api):
    target, _ = await tenant.user("viewer")
    secret = await api.token(tenant, tenant.admin_user)

    payload = (
        await api.data(
            secret, UPDATE_ROLES, {"id": target.id, "roles": ["operator", "strategist"], "v": 1}
        )
    )["updateUserRoles"]

    assert payload["errors"] == []
    assert payload["user"]["roles"] == ["operator", "strategist"]
    assert payload["user"]["version"] == 2
    row = await User.get(id=target.id)
    assert (sorted(row.roles), row.version) == (["operator", "strategist"], 2)
    event = await AuditEvent.filter(org_id=tenant.org_id).order_by("-seq").first()
    assert (event.action, event.entity_id) == ("user.roles_change", str(target.id))
    assert event.old_values == '{"roles":["viewer"]}'
    assert event.new_values == '{"roles":["operator","strategist"]}'


async def test_update_user_roles_without_change_keeps_version(tenant, api, snapshot):
    target, _ = await tenant.user("viewer")
    secret = await api.token(tenant, tenant.admin_user)
    before = await snapshot(tenant.org_id)

    payload = (await api.data(secret, UPDATE_ROLES, {"id": target.id, "roles": ["viewer"]}))[
        "updateUserRoles"
    ]

    assert (payload["errors"], payload["user"]["version"]) == ([], 1)
    assert await snapshot(tenant.org_id) == before


async def test_update_user_roles_stale_version_is_conflict_with_current_state(
    tenant, api, snapshot
):
    target, _ = await tenant.user("viewer")
    secret = await api.token(tenant, tenant.admin_user)
    await api.data(secret, UPDATE_ROLES, {"id": target.id, "roles": ["operator"], "v": 1})
    before = await snapshot(tenant.org_id)

    payload = (await api.data(secret, UPDATE_ROLES, {"id": target.id, "roles": ["admin"], "v": 1}))[
        "updateUserRoles"
    ]

    assert payload["user"]["roles"] == ["operator"]
    assert payload["user"]["version"] == 2
    assert payload["user"]["id"] == str(target.id)
    [error] = payload["errors"]
    assert error["code"] == "CONFLICT"
    assert error["field"] is None  # as before the version checks were folded into one
    assert error["message"] == (
        f"User {target.id} was changed by someone else: it is at version 2 (you had version 1). "
        "Reload it and apply your change again."
    )
    assert await snapshot(tenant.org_id) == before


async def test_removing_admin_from_the_last_active_admin_is_invalid(tenant, api, snapshot):
    # Another admin who is suspended does not count.
    spare, _ = await tenant.user("admin")
    await User.filter(id=spare.id).update(status=UserStatus.SUSPENDED)
    secret = await api.token(tenant, tenant.admin_user)
    before = await snapshot(tenant.org_id)

    payload = (
        await api.data(secret, UPDATE_ROLES, {"id": tenant.admin_user.id, "roles": ["viewer"]})
    )["updateUserRoles"]

    assert payload["user"] is None
    assert payload["errors"] == [
        {
            "code": "INVALID",
            "message": "This is the last active admin of the organization; give another user "
            "the admin role first.",
            "field": "roles",
        }
    ]
    assert await snapshot(tenant.org_id) == before


async def test_removing_admin_works_when_another_active_admin_exists(tenant, api):
    await tenant.user("admin")
    secret = await api.token(tenant, tenant.admin_user)
    payload = (
        await api.data(secret, UPDATE_ROLES, {"id": tenant.admin_user.id, "roles": ["viewer"]})
    )["updateUserRoles"]
    assert payload["errors"] == []
    assert payload["user"]["roles"] == ["viewer"]
    # The caller's own token shrank with them: it no longer carries admin.
    token = await ApiToken.get(token_hash=digest(secret))
    assert token.roles == []


async def test_update_user_roles_17_roles_is_invalid_and_changes_nothing(tenant, api, snapshot):
    target, _ = await tenant.user("viewer")
    secret = await api.token(tenant, tenant.admin_user)
    before = await snapshot(tenant.org_id)
    payload = (await api.data(secret, UPDATE_ROLES, {"id": target.id, "roles": ["operator"] * 17}))[
        "updateUserRoles"
    ]
    assert payload["errors"] == [
        {"code": "INVALID", "message": "roles: at most 16 items.", "field": "roles"}
    ]
    assert await snapshot(tenant.org_id) == before


# --- suspendUser -----------------------------------------------------------------------------


async def test_suspend_user_revokes_their_token_and_session_at_once(tenant, api, db):
    target, _ = await tenant.user("operator")
    target_secret = await api.token(tenant, target)
    assert (await api.data(target_secret, ME))["me"]["user"]["id"] == str(target.id)
    session = await login(db.settings, target.email, PASSWORD, ClientInfo())
    assert await from_session(session.session_secret, ClientInfo()) is not None
    admin_secret = await api.token(tenant, tenant.admin_user)

    payload = (await api.data(admin_secret, SUSPEND, {"id": target.id}))["suspendUser"]

    assert payload["errors"] == []
    assert (payload["user"]["status"], payload["user"]["version"]) == ("SUSPENDED", 2)
    assert (await User.get(id=target.id)).status == UserStatus.SUSPENDED
    r = await api.post(target_secret, ME)
    assert r.status_code == 401
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await from_session(session.session_secret, ClientInfo()) is None
    assert await Session.filter(user_id=target.id, revoked_at=None).count() == 0
    assert await ApiToken.filter(user_id=target.id, revoked_at=None).count() == 0
    event = await AuditEvent.filter(org_id=tenant.org_id).order_by("-seq").first()
    assert (event.action, event.entity_id, event.risk_level) == (
        "user.suspend",
        str(target.id),
        "high",
    )
    # The free-text reason is kept off the chain (docs/AUDIT.md): the chain has its length, the
    # user's history the reason, which the admin sees on the user (GraphQL and page).
    assert event.new_values == (
        '{"reason_chars":16,"sessions_revoked":1,"status":"suspended","tokens_revoked":1}'
    )
    admin_token = await ApiToken.get(token_hash=digest(admin_secret))
    history = await UserEvent.filter(user_id=target.id).values("action", "actor", "data")
    assert history == [
        {"action": "suspend", "actor": f"token:{admin_token.id}",
         "data": {"reason": "left the company"}}
    ]  # fmt: skip
    listed = await api.data(admin_secret, "{ users { id status suspensionReason } }")
    mine = {u["id"]: u for u in listed["users"]}
    assert mine[str(target.id)]["suspensionReason"] == "left the company"
    assert mine[str(tenant.admin_user.id)]["suspensionReason"] is None
    # a reader of the directory without user.manage: the status, never the reason (one rule,
    # in the service, for GraphQL and the admin page)
    _, viewer = await tenant.user("viewer")
    assert await users.suspension_reasons(viewer, [target.id]) == {}
    assert await users.suspension_reasons(tenant.admin, [target.id]) == {
        target.id: "left the company"
    }


async def test_users_ask_the_suspension_reasons_once_for_the_whole_list(tenant, api, monkeypatch):
    """`users { suspensionReason }` reads the reasons of every suspended user listed in one
    call (a DataLoader over `users.suspension_reasons`), not one per user."""
    suspended = []
    for reason in ("left the company", "on leave", "contract ended"):
        target, _ = await tenant.user("operator")
        await users.suspend_user(tenant.admin, target.id, reason=reason)
        suspended.append((target.id, reason))
    secret = await api.token(tenant, tenant.admin_user)
    calls: list[list[int]] = []
    real = users.suspension_reasons

    async def counted(principal, ids):
        ids = list(ids)
        calls.append(ids)
        return await real(principal, ids)

    monkeypatch.setattr(users, "suspension_reasons", counted)
    listed = await api.data(secret, "{ users { id status suspensionReason } }")
    reasons = {u["id"]: u["suspensionReason"] for u in listed["users"]}
    assert {uid: reasons[str(uid)] for uid, _ in suspended} == dict(suspended)
    assert len(calls) == 1 and sorted(calls[0]) == sorted(uid for uid, _ in suspended)


async def test_suspending_yourself_is_invalid(tenant, api, snapshot):
    await tenant.user("admin")  # not the last admin, so only the self-rule applies
    secret = await api.token(tenant, tenant.admin_user)
    before = await snapshot(tenant.org_id)

    payload = (await api.data(secret, SUSPEND, {"id": tenant.admin_user.id}))["suspendUser"]

    assert payload == {
        "user": None,
        "errors": [
            {
                "code": "INVALID",
                "message": "You cannot suspend your own account.",
                "field": "userId",
            }
        ],
    }
    assert await snapshot(tenant.org_id) == before
    assert (await api.data(secret, ME))["me"]["user"]["id"] == str(tenant.admin_user.id)


async def test_suspend_user_forbidden_for_operator(tenant, api, snapshot):
    victim, _ = await tenant.user("viewer")
    caller, _ = await tenant.user("operator")
    secret = await api.token(tenant, caller)
    before = await snapshot(tenant.org_id)
    payload = (await api.data(secret, SUSPEND, {"id": victim.id}))["suspendUser"]
    assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"]
    assert await snapshot(tenant.org_id) == before


# --- createTeam ------------------------------------------------------------------------------


async def test_create_team_with_members_then_duplicate_name(tenant, api, snapshot):
    ann, _ = await tenant.user("viewer", name="Ann")
    bob, _ = await tenant.user("operator", name="Bob")
    secret = await api.token(tenant, tenant.admin_user)

    payload = (await api.data(secret, CREATE_TEAM, {"name": "Fraud L1", "ids": [bob.id, ann.id]}))[
        "createTeam"
    ]

    assert payload["errors"] == []
    team = await Team.get(org_id=tenant.org_id, name="Fraud L1")
    assert payload["team"]["id"] == str(team.id)
    assert payload["team"]["name"] == "Fraud L1"
    assert sorted(payload["team"]["members"], key=lambda m: m["name"]) == [
        {"id": str(ann.id), "name": "Ann"},
        {"id": str(bob.id), "name": "Bob"},
    ]
    event = await AuditEvent.filter(org_id=tenant.org_id).order_by("-seq").first()
    assert (event.action, event.entity_id) == ("team.create", str(team.id))
    assert event.new_values == (
        f'{{"member_ids":[{min(ann.id, bob.id)},{max(ann.id, bob.id)}],"name":"Fraud L1"}}'
    )
    listed = (await api.data(secret, f"{{ user(id: {ann.id}) {{ teams {{ id name }} }} }}"))["user"]
    assert listed["teams"] == [{"id": str(team.id), "name": "Fraud L1"}]

    before = await snapshot(tenant.org_id)
    dup = (await api.data(secret, CREATE_TEAM, {"name": "Fraud L1", "ids": []}))["createTeam"]
    assert dup == {
        "team": None,
        "errors": [
            {
                "code": "DUPLICATE",
                "message": "A team named 'Fraud L1' exists already.",
                "field": "name",
            }
        ],
    }
    assert await snapshot(tenant.org_id) == before


async def test_create_team_member_list_cap(tenant, api, snapshot):
    secret = await api.token(tenant, tenant.admin_user)
    before = await snapshot(tenant.org_id)
    payload = (await api.data(secret, CREATE_TEAM, {"name": "Big", "ids": ["1"] * 201}))[
        "createTeam"
    ]
    assert payload["errors"] == [
        {"code": "INVALID", "message": "memberIds: at most 200 items.", "field": "memberIds"}
    ]
    assert await snapshot(tenant.org_id) == before


# --- API tokens ------------------------------------------------------------------------------


async def test_create_api_token_with_roles_the_owner_lacks_is_invalid(tenant, api, snapshot):
    owner = await users.create_service_account(tenant.admin, name="Bot", roles=["viewer"])
    secret = await api.token(tenant, tenant.admin_user)
    before = await snapshot(tenant.org_id)

    payload = (
        await api.data(secret, CREATE_TOKEN, {"id": owner.id, "roles": ["viewer", "admin"]})
    )["createApiToken"]

    assert payload == {
        "token": None,
        "secret": None,
        "errors": [
            {
                "code": "INVALID",
                "message": "Roles: the token may only carry roles Bot has; not admin.",
                "field": "roles",
            }
        ],
    }
    assert await snapshot(tenant.org_id) == before


@pytest.mark.parametrize("days", [0, 366, -1])
async def test_create_api_token_expiry_out_of_range_is_invalid(tenant, api, snapshot, days):
    secret = await api.token(tenant, tenant.admin_user)
    before = await snapshot(tenant.org_id)
    payload = (
        await api.data(
            secret, CREATE_TOKEN, {"id": tenant.admin_user.id, "roles": ["admin"], "days": days}
        )
    )["createApiToken"]
    assert payload["errors"] == [
        {
            "code": "INVALID",
            "message": "Expires in (days) must be between 1 and 365.",
            "field": "expiresInDays",
        }
    ]
    assert (payload["token"], payload["secret"]) == (None, None)
    assert await snapshot(tenant.org_id) == before


async def test_created_token_works_until_revoked(tenant, api):
    owner = await users.create_service_account(
        tenant.admin, name="Bot", roles=["viewer", "operator"]
    )
    admin_secret = await api.token(tenant, tenant.admin_user)

    payload = (
        await api.data(
            admin_secret, CREATE_TOKEN, {"id": owner.id, "roles": ["viewer"], "days": 365}
        )
    )["createApiToken"]

    assert payload["errors"] == []
    new_secret = payload["secret"]
    assert new_secret.startswith("rko_")
    token = payload["token"]
    row = await ApiToken.get(token_hash=digest(new_secret))
    assert token["id"] == str(row.id)
    assert (token["prefix"], token["ownerId"], token["roles"]) == (
        new_secret[:10],
        str(owner.id),
        ["viewer"],
    )
    assert token["revokedAt"] is None
    assert new_secret not in str(await ApiToken.filter(id=row.id).values())  # stored hashed only

    me = (await api.data(new_secret, ME))["me"]
    assert (me["user"]["id"], me["roles"], me["viaApiToken"]) == (str(owner.id), ["viewer"], True)

    revoked = (await api.data(admin_secret, REVOKE_TOKEN, {"id": row.id}))["revokeApiToken"]
    assert revoked["errors"] == []
    assert revoked["token"]["id"] == str(row.id)
    assert revoked["token"]["revokedAt"] is not None
    r = await api.post(new_secret, ME)
    assert r.status_code == 401
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_owner_may_revoke_own_token_but_not_anothers(tenant, api, snapshot):
    owner, _ = await tenant.user("viewer")
    other, _ = await tenant.user("viewer")
    owner_secret = await api.token(tenant, owner)
    other_secret = await api.token(tenant, other)
    before = await snapshot(tenant.org_id)

    refused = (await api.data(owner_secret, REVOKE_TOKEN, {"id": await _token_id(other_secret)}))[
        "revokeApiToken"
    ]
    assert refused["token"] is None
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    assert await snapshot(tenant.org_id) == before

    own = (await api.data(owner_secret, REVOKE_TOKEN, {"id": await _token_id(owner_secret)}))[
        "revokeApiToken"
    ]
    assert own["errors"] == []
    assert (await api.post(owner_secret, ME)).status_code == 401
    assert (await api.post(other_secret, ME)).status_code == 200


async def test_token_scoped_to_viewer_cannot_act_as_admin(tenant, api, snapshot):
    """Effective roles are the intersection of the user's and the token's."""
    user, _ = await tenant.user("admin", "viewer")
    secret = await api.token(tenant, user, roles=["viewer"])

    me = (await api.data(secret, ME))["me"]
    assert me["roles"] == ["viewer"]
    assert me["permissions"] == sorted(p.value for p in MATRIX[Role.VIEWER])

    before = await snapshot(tenant.org_id)
    payload = (
        await api.data(
            secret,
            CREATE_USER,
            {"email": f"via-token-{tenant.slug}@example.test", "name": "T", "roles": ["viewer"]},
        )
    )["createUser"]
    assert payload["user"] is None
    assert payload["errors"][0]["code"] == "FORBIDDEN"
    assert payload["errors"][0]["message"].startswith(
        "Your roles (viewer) do not allow 'user.manage'."
    )
    assert await snapshot(tenant.org_id) == before


# --- me --------------------------------------------------------------------------------------

EXPECTED_PERMISSIONS = {
    "viewer": [
        "alert.read", "assistant.read", "audit.verify", "case.read", "report.read", "run.read",
        "user.read",
    ],
    "operator": [
        "alert.read", "assistant.read", "assistant.runs", "audit.verify", "baseline.propose",
        "case.read", "case.work", "report.generate", "report.read", "rerun.request",
        "response.ack", "run.read", "user.read", "view.save",
    ],
    "approver": [
        "alert.read", "alert.reopen", "assistant.read", "assistant.runs", "assistant.usage",
        "audit.approvals", "audit.verify", "baseline.approve", "baseline.propose",
        "case.approve", "case.read", "case.work", "policy.manage", "report.generate",
        "report.read", "rerun.request", "response.ack", "run.approve", "run.read", "user.read",
        "view.save",
    ],
    "strategist": [
        "alert.ingest", "alert.read", "alert.triage", "assistant.read", "assistant.use",
        "case.read", "case.work", "response.ack", "user.read", "view.save",
    ],
    "compliance_reviewer": [
        "access.review", "audit.approvals", "audit.read", "audit.verify", "evidence.export",
        "gdpr.approve", "gdpr.request", "user.read", "view.review",
    ],
    "product_reviewer": [
        "audit.approvals", "audit.read", "audit.verify", "user.read", "view.review",
    ],
    "admin": [
        "access.review", "alert.ingest", "assistant.usage", "audit.approvals", "audit.read",
        "audit.verify", "channel.manage", "evidence.export", "gdpr.approve", "gdpr.request",
        "maintenance.manage", "ops.read", "retention.manage", "run.record", "security.manage",
        "team.manage", "token.manage", "user.manage", "user.read",
    ],
}  # fmt: skip


def test_expected_permissions_cover_every_role():
    assert set(EXPECTED_PERMISSIONS) == set(ALL_ROLES)
    for role, perms in EXPECTED_PERMISSIONS.items():
        assert perms == sorted(p.value for p in MATRIX[Role(role)]), role


@pytest.mark.parametrize("role", sorted(EXPECTED_PERMISSIONS))
async def test_me_permissions_match_the_role_matrix(tenant, api, role):
    user, _ = await tenant.user(role)
    secret = await api.token(tenant, user)
    me = (await api.data(secret, ME))["me"]
    assert me == {
        "user": {"id": str(user.id)},
        "roles": [role],
        "permissions": EXPECTED_PERMISSIONS[role],
        "viaApiToken": True,
        "organization": {"id": str(tenant.org_id), "slug": tenant.slug},
    }


async def test_me_with_several_roles_unions_their_permissions(tenant, api):
    user, _ = await tenant.user("strategist", "compliance_reviewer")
    secret = await api.token(tenant, user)
    me = (await api.data(secret, ME))["me"]
    assert me["roles"] == ["compliance_reviewer", "strategist"]
    assert me["permissions"] == sorted(
        set(EXPECTED_PERMISSIONS["strategist"]) | set(EXPECTED_PERMISSIONS["compliance_reviewer"])
    )


async def test_reactivate_user_restores_login_but_not_revoked_tokens(tenant, api, db):
    target, _ = await tenant.user("viewer")
    old_secret = await api.token(tenant, target)
    admin_secret = await api.token(tenant, tenant.admin_user)
    await api.data(admin_secret, SUSPEND, {"id": target.id})

    payload = (
        await api.data(
            admin_secret,
            f"mutation($id: ID!) {{ reactivateUser(userId: $id) {{ {USER_FIELDS} {ERRORS} }} }}",
            {"id": target.id},
        )
    )["reactivateUser"]

    assert payload["errors"] == []
    assert (payload["user"]["status"], payload["user"]["version"]) == ("ACTIVE", 3)
    assert (await api.post(old_secret, ME)).status_code == 401  # suspension revoked it for good
    session = await login(db.settings, target.email, PASSWORD, ClientInfo())
    assert (await from_session(session.session_secret, ClientInfo())).user_id == target.id


async def test_revoke_sessions_of_yourself_without_user_manage(tenant, api, db):
    user, _ = await tenant.user("viewer")
    other, _ = await tenant.user("viewer")
    session = await login(db.settings, user.email, PASSWORD, ClientInfo())
    secret = await api.token(tenant, user)
    mutation = f"mutation($id: ID!) {{ revokeSessions(userId: $id) {{ revoked {ERRORS} }} }}"

    refused = (await api.data(secret, mutation, {"id": other.id}))["revokeSessions"]
    assert (refused["revoked"], [e["code"] for e in refused["errors"]]) == (0, ["FORBIDDEN"])

    own = (await api.data(secret, mutation, {"id": user.id}))["revokeSessions"]
    assert own == {"revoked": 1, "errors": []}
    assert await from_session(session.session_secret, ClientInfo()) is None
