"""Service accounts and who may mint a token (issue 11, item 1).

A person's token is created by that person only: nobody, an admin included, gets a secret that
acts as someone else. Automation gets service accounts (they cannot sign in; an admin creates
them and mints their tokens, audited), and maker-checker compares people: an act through a
service account's token is the act of the admin who minted it too, and a service account's
request is the request of every admin who minted a token for it. Every approval path is tried
both ways."""

from __future__ import annotations

from typing import Any

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.core import approvals
from riskops.server.core.errors import Conflict, Forbidden, Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.credit import baselines, kill_switches, policy, quarantine, reruns
from riskops.server.identity import auth, tokens, users
from riskops.server.identity.auth import ClientInfo
from riskops.server.identity.models import ApiToken, Session, User, UserKind
from riskops.server.triage import case_resolution
from riskops.server.triage.models import Case, CaseStatus
from tests.credit.test_baselines_service import add_history, add_runs, scenario, set_baseline
from tests.credit.test_runs_service import gated_run, sev0_with_file
from tests.triage.test_cases_service import new_case

# The one person who asks and, through a robot, tries to decide: admin (mints tokens) and
# approver (makes and decides every kind of request).
MAKER_ROLES = ("admin", "approver", "strategist")
ROBOT_ROLES = ["approver", "strategist"]


async def person(tenant: Any, user: User) -> Principal:
    """The person as authentication builds them now (after any token they minted)."""
    found = await auth.person(tenant.org_id, user.email, ClientInfo())
    assert found is not None
    return found


async def robot(tenant: Any, minter: User, roles: list[str] = ROBOT_ROLES) -> Principal:
    """A service account with a token `minter` minted, as a bearer of that token."""
    account = await users.create_service_account(tenant.admin, name="Robot", roles=roles)
    issued = await tokens.create_api_token(
        await person(tenant, minter), user_id=account.id, name="ci", roles=roles
    )
    found = await auth.from_bearer(issued.secret, ClientInfo())
    assert found is not None
    return found


async def maker_and_robot(tenant: Any) -> tuple[User, Principal]:
    maker, _ = await tenant.user(*MAKER_ROLES, name="Mallory")
    return maker, await robot(tenant, maker)


# ----------------------------------------------------------------------------- minting


async def test_an_admin_cannot_mint_a_token_for_another_person(tenant: Any) -> None:
    approver, _ = await tenant.user("approver")
    before = await ApiToken.filter(org_id=tenant.org_id).count()
    with pytest.raises(Forbidden, match="created by that person only"):
        await tokens.create_api_token(
            tenant.admin, user_id=approver.id, name="as them", roles=["approver"]
        )
    assert await ApiToken.filter(org_id=tenant.org_id).count() == before


async def test_a_person_creates_their_own_token_with_at_most_their_roles(tenant: Any) -> None:
    user, viewer = await tenant.user("viewer")
    issued = await tokens.create_api_token(viewer, name="mine", roles=["viewer"])
    assert issued.token.user_id == user.id and issued.token.created_by_id == user.id
    with pytest.raises(Invalid, match="roles you act with now") as exc:
        await tokens.create_api_token(viewer, name="more", roles=["approver"])
    assert exc.value.field == "roles"
    # Through that token, no more than the token carries.
    via = await auth.from_bearer(issued.secret, ClientInfo())
    assert via is not None and via.roles == {"viewer"}


async def test_service_account_created_minted_and_revoked_with_audit(tenant: Any) -> None:
    account = await users.create_service_account(tenant.admin, name="Importer", roles=["viewer"])
    assert account.kind == UserKind.SERVICE and account.password_hash is None
    issued = await tokens.create_api_token(
        tenant.admin, user_id=account.id, name="nightly", roles=["viewer"]
    )
    assert issued.token.created_by_id == tenant.admin.user_id
    await tokens.revoke_api_token(tenant.admin, issued.token.id)
    actions = await AuditEvent.filter(org_id=tenant.org_id).values_list("action", flat=True)
    assert {"service_account.create", "token.create", "token.revoke"} <= set(actions)
    minted = await AuditEvent.filter(org_id=tenant.org_id, action="token.create").first()
    assert minted is not None and '"minted_by":' in (minted.new_values or "")
    # The account itself never mints its own token.
    robot_token = await tokens.create_api_token(
        tenant.admin, user_id=account.id, name="second", roles=["viewer"]
    )
    as_robot = await auth.from_bearer(robot_token.secret, ClientInfo())
    assert as_robot is not None
    with pytest.raises(Forbidden, match="minted by an admin"):
        await tokens.create_api_token(as_robot, name="self", roles=["viewer"])


async def test_a_service_account_cannot_sign_in_or_get_a_password(tenant: Any, db: Any) -> None:
    account = await users.create_service_account(tenant.admin, name="Importer", roles=["viewer"])
    with pytest.raises(Forbidden, match="service account: it cannot sign in"):
        await auth.login(db.settings, account.email, "anything at all", ClientInfo(ip="192.0.2.9"))
    with pytest.raises(Invalid, match="service account"):
        await users.set_password(tenant.admin, account.id, "a long enough password")
    assert not await Session.filter(user_id=account.id).exists()
    assert (await User.get(id=account.id)).password_hash is None
    assert await auth.person(tenant.org_id, account.email, ClientInfo()) is None


def test_principal_people_default_to_the_user() -> None:
    p = Principal(user_id=7, org_id=1, roles=frozenset({"approver"}))
    assert p.own_makers == {7}
    assert approvals.may_decide(p, 8) and not approvals.may_decide(p, 7)
    assert approvals.decision_for(p, Perm.CASE_APPROVE, 7) == approvals.Decision(True, False)


# ----------------------------------------------------------------------------- every approval path


async def test_case_resolution(tenant: Any) -> None:
    maker, bot = await maker_and_robot(tenant)
    me = await person(tenant, maker)
    case = await new_case(me)
    await case_resolution.request_case_resolution(
        me, case.id, expected_version=1, summary="s", root_cause="legit_load"
    )
    with pytest.raises(Forbidden, match="maker-checker"):
        await case_resolution.approve_case_resolution(bot, case.id, expected_version=2)
    with pytest.raises(Forbidden, match="maker-checker"):
        await case_resolution.reject_case_resolution(bot, case.id, expected_version=2, reason="r")
    assert (await Case.get(id=case.id)).status == CaseStatus.PENDING_APPROVAL

    # The robot's request is the minting admin's too.
    other = await new_case(bot)
    await case_resolution.request_case_resolution(
        bot, other.id, expected_version=1, summary="s", root_cause="legit_load"
    )
    me = await person(tenant, maker)
    with pytest.raises(Forbidden, match="maker-checker"):
        await case_resolution.approve_case_resolution(me, other.id, expected_version=2)
    # Somebody else decides.
    _, second = await tenant.user("approver")
    done = await case_resolution.approve_case_resolution(second, other.id, expected_version=2)
    assert done.case.status == CaseStatus.RESOLVED


async def test_baseline_change(tenant: Any) -> None:
    maker, bot = await maker_and_robot(tenant)
    s = await scenario(tenant.org_id)
    await add_runs(s, [100.0, 101.0])
    await add_history(s)
    await set_baseline(s, 100.0)
    mine = await baselines.propose_baseline_update(await person(tenant, maker), s.key, 30, "mine")
    with pytest.raises(Forbidden, match="maker-checker"):
        await baselines.approve_baseline_update(bot, mine.id, "through the robot", True)
    await baselines.reject_baseline_update(await person(tenant, maker), mine.id, "withdrawn")

    theirs = await baselines.propose_baseline_update(bot, s.key, 30, "robot's")
    with pytest.raises(Forbidden, match="maker-checker"):
        await baselines.approve_baseline_update(await person(tenant, maker), theirs.id, "ok", True)
    _, second = await tenant.user("approver")
    await baselines.approve_baseline_update(second, theirs.id, "ok", True)


async def test_policy_change(tenant: Any) -> None:
    maker, bot = await maker_and_robot(tenant)
    mine = await policy.change_policy(await person(tenant, maker), {"retry_limit": 5}, "mine", 0)
    with pytest.raises(Forbidden, match="maker-checker"):
        await policy.approve_policy_change(bot, mine.number, "through the robot")
    # Rejecting through the robot is withdrawing one's own proposal, and is recorded so.
    await policy.reject_policy_change(bot, mine.number, "withdrawn")
    event = await AuditEvent.filter(org_id=tenant.org_id, action="policy.reject").first()
    assert event is not None and '"withdrawn":true' in (event.new_values or "")

    theirs = await policy.change_policy(bot, {"retry_limit": 6}, "robot's", 0)
    me = await person(tenant, maker)
    with pytest.raises(Forbidden, match="maker-checker"):
        await policy.approve_policy_change(me, theirs.number, "ok")
    proposal = await policy.open_policy_proposal(me)
    assert proposal is not None and proposal.decision == approvals.Decision(True, False)


async def test_rerun(tenant: Any) -> None:
    maker, bot = await maker_and_robot(tenant)
    run = await gated_run(tenant)
    req = await reruns.request_rerun(await person(tenant, maker), run.id, "fixed the iterator")
    with pytest.raises(Forbidden, match="maker-checker"):
        await reruns.approve_rerun(bot, req.id, "through the robot", expected_version=1)

    other = await gated_run(tenant)
    theirs = await reruns.request_rerun(bot, other.id, "robot's fix")
    with pytest.raises(Forbidden, match="maker-checker"):
        await reruns.approve_rerun(await person(tenant, maker), theirs.id, "ok", expected_version=1)
    _, second = await tenant.user("approver")
    done = await reruns.approve_rerun(second, theirs.id, "ok", expected_version=1)
    assert done.status.value == "approved"


async def test_quarantine_release_waits_for_a_resolution_nobody_approved_for_themself(
    tenant: Any,
) -> None:
    maker, bot = await maker_and_robot(tenant)
    run, _ = await sev0_with_file(tenant)
    case = await Case.get(id=run.case_id)
    await case_resolution.request_case_resolution(
        await person(tenant, maker), case.id, expected_version=case.version, summary="s",
        root_cause="legit_load",
    )  # fmt: skip
    with pytest.raises(Forbidden, match="maker-checker"):
        await case_resolution.approve_case_resolution(
            bot, case.id, expected_version=case.version + 1
        )
    with pytest.raises(Conflict, match="Resolve the case first"):
        await quarantine.release_quarantine(bot, run.id, "release", expected_version=1)
    _, second = await tenant.user("approver")
    await case_resolution.approve_case_resolution(
        second, case.id, expected_version=case.version + 1
    )
    # Releasing is one approver's act (no second person): the robot may, and the audit names
    # its token, whose row names the admin who minted it.
    await quarantine.release_quarantine(bot, run.id, "release", expected_version=1)
    event = await AuditEvent.filter(org_id=tenant.org_id, action="run.release").first()
    assert event is not None and event.actor == f"token:{bot.token_id}"
    assert (await ApiToken.get(id=bot.token_id)).created_by_id == maker.id


async def test_kill_switch_through_a_robot_is_attributed_to_its_minter(tenant: Any) -> None:
    maker, bot = await maker_and_robot(tenant)
    # A kill switch is one approver's act (PRODUCT.md): no request to decide, so nothing to
    # refuse; the act is the robot's token's, and the token names the admin who minted it.
    row = await kill_switches.set_kill_switch(bot, "alert_suppression", "", "incident")
    assert row.set_by_id == bot.user_id
    await kill_switches.clear_kill_switch(await person(tenant, maker), row.id, "over")
    event = await AuditEvent.filter(org_id=tenant.org_id, action="kill_switch.set").first()
    assert event is not None and event.actor == f"token:{bot.token_id}"
    assert (await ApiToken.get(id=bot.token_id)).created_by_id == maker.id
    assert maker.id in bot.own_makers and bot.user_id in (await person(tenant, maker)).own_makers


# ----------------------------------------------------------------------------- the faces

ERR = "errors { code message field }"
MINT = f"""
mutation($id: ID, $roles: [String!]!) {{
  createApiToken(userId: $id, name: "ci", roles: $roles) {{
    token {{ id ownerId mintedById roles }} secret {ERR}
  }}
}}"""
NEW_ROBOT = f"""
mutation($roles: [String!]!) {{
  createServiceAccount(name: "Ledger importer", roles: $roles) {{
    user {{ id kind name roles }} {ERR}
  }}
}}"""


async def test_graphql_refuses_minting_for_another_person(tenant: Any, api: Any) -> None:
    approver, _ = await tenant.user("approver")
    admin = await api.token(tenant, tenant.admin_user)
    before = await ApiToken.filter(org_id=tenant.org_id).count()
    payload = (await api.data(admin, MINT, {"id": approver.id, "roles": ["approver"]}))[
        "createApiToken"
    ]
    assert (payload["token"], payload["secret"]) == (None, None)
    assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"]
    assert "created by that person only" in payload["errors"][0]["message"]
    assert await ApiToken.filter(org_id=tenant.org_id).count() == before


async def test_graphql_own_token_and_service_account_token(tenant: Any, api: Any) -> None:
    viewer, _ = await tenant.user("viewer")
    mine = (await api.data(await api.token(tenant, viewer), MINT, {"roles": ["viewer"]}))[
        "createApiToken"
    ]
    assert mine["errors"] == []
    assert mine["token"]["ownerId"] == mine["token"]["mintedById"] == str(viewer.id)

    admin = await api.token(tenant, tenant.admin_user)
    made = (await api.data(admin, NEW_ROBOT, {"roles": ["viewer"]}))["createServiceAccount"]
    assert made["errors"] == [] and made["user"]["kind"] == "SERVICE"
    minted = (await api.data(admin, MINT, {"id": made["user"]["id"], "roles": ["viewer"]}))[
        "createApiToken"
    ]
    assert minted["errors"] == []
    assert minted["token"]["ownerId"] == made["user"]["id"]
    assert minted["token"]["mintedById"] == str(tenant.admin_user.id)
    me = (await api.data(minted["secret"], "{ me { user { id kind } viaApiToken } }"))["me"]
    assert me == {"user": {"id": made["user"]["id"], "kind": "SERVICE"}, "viaApiToken": True}

    # Not an admin: no service account.
    refused = (await api.data(await api.token(tenant, viewer), NEW_ROBOT, {"roles": ["viewer"]}))[
        "createServiceAccount"
    ]
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]


async def test_pages_own_tokens_and_service_accounts(browser: Any, tenant: Any) -> None:
    viewer, _ = await tenant.user("viewer", name="Vera")
    b = await browser(viewer, tenant.password)
    page = await b.get("/tokens")
    assert page.status_code == 200 and "My API tokens" in page.text
    r = await b.post("/tokens", {"name": "my script", "roles": ["viewer"], "expires_in_days": "7"})
    assert r.status_code == 201 and 'id="new-token-secret">rko_' in r.text
    token = await ApiToken.get(user_id=viewer.id)
    assert token.created_by_id == viewer.id
    r = await b.post(f"/tokens/{token.id}/revoke")
    assert r.status_code == 303
    assert (await ApiToken.get(id=token.id)).revoked_at is not None

    admin = await browser(tenant.admin_user, tenant.password)
    await admin.get("/admin/tokens")
    before = await ApiToken.filter(org_id=tenant.org_id).count()
    r = await admin.post("/admin/tokens", {"owner": str(viewer.id), "name": "x", "roles": "viewer"})
    assert r.status_code == 403
    assert await ApiToken.filter(org_id=tenant.org_id).count() == before

    r = await admin.post("/admin/service-accounts", {"name": "", "roles": "viewer"})
    assert r.status_code == 422
    assert not await User.filter(org_id=tenant.org_id, kind=UserKind.SERVICE).exists()
    r = await admin.post("/admin/service-accounts", {"name": "Nightly", "roles": "viewer"})
    assert r.status_code == 303
    account = await User.get(org_id=tenant.org_id, kind=UserKind.SERVICE)
    listing = await admin.get("/admin/tokens")
    assert "Nightly" in listing.text
    r = await admin.post(
        "/admin/tokens", {"owner": str(account.id), "name": "nightly", "roles": "viewer"}
    )
    assert r.status_code == 201 and "new-token-secret" in r.text
    assert (await ApiToken.get(user_id=account.id)).created_by_id == tenant.admin_user.id


async def test_a_token_minted_for_a_person_by_someone_else_acts_as_nobody(tenant: Any) -> None:
    """Such tokens exist from before the fix: they stop working."""
    from riskops.server.security import digest, new_api_token

    approver, _ = await tenant.user("approver")
    secret = new_api_token()
    await ApiToken.create(
        org_id=tenant.org_id, user_id=approver.id, name="legacy", prefix=secret[:10],
        token_hash=digest(secret), roles=["approver"], created_by_id=tenant.admin_user.id,
    )  # fmt: skip
    assert await auth.from_bearer(secret, ClientInfo()) is None


async def test_a_service_account_cannot_mint_tokens_to_hide_its_admin(tenant: Any) -> None:
    """Admin A mints an admin robot's token; the robot may not mint another robot's token (that
    robot's acts would name the first robot, not A)."""
    maker, _ = await tenant.user(*MAKER_ROLES)
    boss_bot = await robot(tenant, maker, roles=["admin"])
    other = await users.create_service_account(tenant.admin, name="Other", roles=["viewer"])
    with pytest.raises(Forbidden, match="minted by a person"):
        await tokens.create_api_token(boss_bot, user_id=other.id, name="x", roles=["viewer"])
    assert not await ApiToken.filter(user_id=other.id).exists()
