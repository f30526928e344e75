"""The controls over GraphQL, on SQLite and PostgreSQL, with bearer tokens: the policy, its
versions and the open proposal, changePolicy (proposes) with expected numbers, approve / reject
(maker-checker, stale proposals), kill switches, and the notification outbox;
permissions and other organizations' ids, each refusal changing nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from riskops.server.credit.models import KillSwitch, PolicyVersion, Scenario
from riskops.server.notify import outbox
from riskops.server.notify.outbox import Channel
from tests.support.gql import changes_head

ERRORS = "errors { code message field }"
POLICY_FIELDS = (
    "number status values { name value meaning } changes { name before after } reason "
    "setBy { id name } createdAt decidedBy { name } decidedAt decisionReason"
)
SWITCH_FIELDS = (
    "id name scope reason state setBy { name } setAt expiresAt clearedAt clearedBy { name }"
)

POLICY = f"""query {{
  policy {{ {POLICY_FIELDS} }} policyVersions {{ number status reason }}
  policyProposal {{ {POLICY_FIELDS} }}
}}"""
CHANGE = f"""
mutation($values: JSON!, $reason: String!, $n: Int!) {{
  changePolicy(values: $values, reason: $reason, expectedNumber: $n) {{
    policy {{ {POLICY_FIELDS} }} {ERRORS}
  }}
}}"""
APPROVE = f"""
mutation($n: Int!, $reason: String!) {{
  approvePolicyChange(number: $n, reason: $reason) {{ policy {{ {POLICY_FIELDS} }} {ERRORS} }}
}}"""
REJECT = f"""
mutation($n: Int!, $reason: String!) {{
  rejectPolicyChange(number: $n, reason: $reason) {{ policy {{ {POLICY_FIELDS} }} {ERRORS} }}
}}"""
SWITCHES = f"""
query($all: Boolean!) {{ killSwitches(includeInactive: $all) {{ {SWITCH_FIELDS} }} }}"""
SET = f"""
mutation($name: KillSwitchName!, $scope: String!, $reason: String!, $until: DateTime) {{
  setKillSwitch(name: $name, scope: $scope, reason: $reason, expiresAt: $until) {{
    killSwitch {{ {SWITCH_FIELDS} }} {ERRORS}
  }}
}}"""
CLEAR = f"""
mutation($id: ID!, $reason: String!) {{
  clearKillSwitch(id: $id, reason: $reason) {{ killSwitch {{ id state }} {ERRORS}
  }}
}}"""
NOTIFICATIONS = """
query($status: NotificationStatus, $first: Int!) {
  notifications(status: $status, first: $first) {
    id channel kind status attempts lastError payload createdAt sentAt
  }
}"""


async def state(org_id: int) -> tuple[Any, ...]:
    head = await changes_head(org_id)
    return (
        await PolicyVersion.filter(org_id=org_id)
        .order_by("id")
        .values_list("id", "status", "decided_by_id", "decision_reason"),
        await KillSwitch.filter(org_id=org_id).order_by("id").values_list("id", "cleared_at"),
        head.seq if head else 0,
    )


async def secret_for(api: Any, tenant: Any, role: str, name: str | None = None) -> str:
    user, _ = await tenant.user(role, name=name)
    return await api.token(tenant, user)  # type: ignore[no-any-return]


async def test_policy_proposed_then_approved_by_another_approver(api, tenant) -> None:
    viewer = await secret_for(api, tenant, "viewer")
    maker = await secret_for(api, tenant, "approver", name="Ada")
    checker = await secret_for(api, tenant, "approver", name="Bob")
    data = await api.data(viewer, POLICY)
    assert data["policy"]["number"] == 0 and data["policyVersions"] == []
    assert data["policy"]["status"] == "APPROVED" and data["policyProposal"] is None
    values = {v["name"]: v for v in data["policy"]["values"]}
    assert values["sev1_multiplier"]["value"] == 5.0
    assert "SEV1" in values["sev1_multiplier"]["meaning"]

    change = {"values": {"sev1_multiplier": 6}, "reason": "fewer pages", "n": 0}
    out = (await api.data(maker, CHANGE, change))["changePolicy"]
    assert out["errors"] == []
    proposed = out["policy"]
    assert (proposed["number"], proposed["status"]) == (1, "PROPOSED")
    assert proposed["setBy"]["name"] == "Ada" and proposed["reason"] == "fewer pages"
    assert proposed["changes"] == [{"name": "sev1_multiplier", "before": 5.0, "after": 6.0}]
    data = await api.data(viewer, POLICY)
    assert data["policy"]["number"] == 0  # not in force yet
    assert data["policyProposal"]["number"] == 1
    assert data["policyProposal"]["changes"] == proposed["changes"]
    assert [(v["number"], v["status"]) for v in data["policyVersions"]] == [(1, "PROPOSED")]

    out = (await api.data(checker, APPROVE, {"n": 1, "reason": "agreed"}))["approvePolicyChange"]
    assert out["errors"] == [], out
    done = out["policy"]
    assert (done["number"], done["status"], done["decidedBy"]["name"]) == (1, "APPROVED", "Bob")
    assert done["decisionReason"] == "agreed" and done["decidedAt"]
    data = await api.data(viewer, POLICY)
    assert data["policy"]["number"] == 1 and data["policyProposal"] is None
    assert data["policy"]["changes"] == proposed["changes"]
    assert [(v["number"], v["status"]) for v in data["policyVersions"]] == [(1, "APPROVED")]


async def test_self_approval_stale_and_reject_over_graphql(api, tenant, other_tenant) -> None:
    maker = await secret_for(api, tenant, "approver")
    checker = await secret_for(api, tenant, "approver", name="Bob")
    operator = await secret_for(api, tenant, "operator")
    outsider = await secret_for(api, other_tenant, "approver")
    await api.data(maker, CHANGE, {"values": {"retry_limit": 4}, "reason": "r", "n": 0})
    before = await state(tenant.org_id)
    refusals = [
        (maker, APPROVE, "approvePolicyChange", {"n": 1, "reason": "me"}, "FORBIDDEN", None),
        (operator, APPROVE, "approvePolicyChange", {"n": 1, "reason": "r"}, "FORBIDDEN", None),
        (operator, REJECT, "rejectPolicyChange", {"n": 1, "reason": "r"}, "FORBIDDEN", None),
        (outsider, APPROVE, "approvePolicyChange", {"n": 1, "reason": "r"}, "NOT_FOUND", None),
        (outsider, REJECT, "rejectPolicyChange", {"n": 1, "reason": "r"}, "NOT_FOUND", None),
        (checker, APPROVE, "approvePolicyChange", {"n": 0, "reason": "r"}, "INVALID", "number"),
        (checker, APPROVE, "approvePolicyChange", {"n": 1, "reason": " "}, "INVALID", "reason"),
        (checker, REJECT, "rejectPolicyChange", {"n": 1, "reason": "x" * 2001}, "INVALID",
         "reason"),
    ]  # fmt: skip
    for secret, doc, name, variables, code, field in refusals:
        out = (await api.data(secret, doc, variables))[name]
        assert [(e["code"], e["field"]) for e in out["errors"]] == [(code, field)], out
        assert out["policy"] is None
    assert await state(tenant.org_id) == before
    self_ = (await api.data(maker, APPROVE, {"n": 1, "reason": "me"}))["approvePolicyChange"]
    assert "maker-checker" in self_["errors"][0]["message"]
    theirs = (await api.data(outsider, APPROVE, {"n": 1, "reason": "r"}))["approvePolicyChange"]
    assert theirs["errors"][0]["message"] == "PolicyVersion 1 not found."

    # Stale: another version came in force after the proposal.
    await PolicyVersion.create(
        org_id=tenant.org_id, number=2, data={"retry_limit": 8}, reason="direct",
        created_at=datetime.now(UTC),
    )  # fmt: skip
    before = await state(tenant.org_id)
    out = (await api.data(checker, APPROVE, {"n": 1, "reason": "ok"}))["approvePolicyChange"]
    assert [(e["code"], e["field"]) for e in out["errors"]] == [("CONFLICT", "number")]
    assert out["policy"]["number"] == 2  # the version in force
    assert await state(tenant.org_id) == before

    out = (await api.data(checker, REJECT, {"n": 1, "reason": "stale"}))["rejectPolicyChange"]
    assert out["errors"] == [] and out["policy"]["status"] == "REJECTED"
    assert out["policy"]["decidedBy"]["name"] == "Bob"
    again = (await api.data(checker, REJECT, {"n": 1, "reason": "x"}))["rejectPolicyChange"]
    assert [e["code"] for e in again["errors"]] == ["CONFLICT"]
    assert "already rejected by Bob" in again["errors"][0]["message"]


async def test_change_policy_refusals_are_data_and_change_nothing(api, tenant) -> None:
    approver = await secret_for(api, tenant, "approver", name="Ada")
    checker = await secret_for(api, tenant, "approver")
    operator = await secret_for(api, tenant, "operator")
    await api.data(approver, CHANGE, {"values": {"retry_limit": 4}, "reason": "r", "n": 0})
    await api.data(checker, APPROVE, {"n": 1, "reason": "ok"})
    await api.data(approver, CHANGE, {"values": {"retry_limit": 6}, "reason": "r", "n": 1})
    before = await state(tenant.org_id)
    cases = [
        (approver, {"values": {"retry_limit": 5}, "reason": "r", "n": 0}, "CONFLICT",
         "expected_number"),
        (checker, {"values": {"retry_limit": 5}, "reason": "r", "n": 1}, "CONFLICT", "values"),
        (approver, {"values": {"retry_limit": 4}, "reason": "r", "n": 1}, "CONFLICT", "values"),
        (approver, {"values": {"nope": 1}, "reason": "r", "n": 1}, "CONFLICT", "values"),
        (approver, {"values": "6", "reason": "r", "n": 1}, "INVALID", "values"),
        (approver, {"values": {"retry_limit": 5}, "reason": "x" * 2001, "n": 1}, "INVALID",
         "reason"),
        (operator, {"values": {"retry_limit": 5}, "reason": "r", "n": 1}, "FORBIDDEN", None),
    ]  # fmt: skip
    for secret, variables, code, field in cases:
        out = (await api.data(secret, CHANGE, variables))["changePolicy"]
        assert [(e["code"], e["field"]) for e in out["errors"]] == [(code, field)], out
        if code == "CONFLICT":
            assert out["policy"]["number"] == 1  # the version in force
            assert out["policy"]["status"] == "APPROVED"
        else:
            assert out["policy"] is None
    assert await state(tenant.org_id) == before
    conflict = (await api.data(checker, CHANGE, cases[1][1]))["changePolicy"]
    assert "Policy version 2 proposed by Ada" in conflict["errors"][0]["message"]
    stale = (await api.data(approver, CHANGE, cases[0][1]))["changePolicy"]
    assert "version 1 is in force" in stale["errors"][0]["message"]
    # With no proposal open, a change equal to the version in force is INVALID.
    await api.data(approver, REJECT, {"n": 2, "reason": "withdrawn"})
    same = {"values": {"retry_limit": 4}, "reason": "r", "n": 1}
    out = (await api.data(approver, CHANGE, same))["changePolicy"]
    assert [(e["code"], e["field"]) for e in out["errors"]] == [("INVALID", "values")]


async def test_admins_cannot_read_the_policy(api, tenant) -> None:
    admin = await secret_for(api, tenant, "admin")
    body = await api.gql(admin, "{ policy { number } }")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_kill_switches_set_list_clear(api, tenant, other_tenant) -> None:
    approver = await secret_for(api, tenant, "approver", name="Grace")
    viewer = await secret_for(api, tenant, "viewer")
    outsider = await secret_for(api, other_tenant, "approver")
    await Scenario.create(org_id=tenant.org_id, key="BINDER_EXPORT_WEEKLY", name="Binder",
                          created_at=datetime.now(UTC))  # fmt: skip
    until = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    backfill = {"name": "BACKFILL", "scope": "BINDER_EXPORT_WEEKLY", "reason": "reprocess",
                "until": until}  # fmt: skip
    out = (await api.data(approver, SET, backfill))["setKillSwitch"]
    assert out["errors"] == [], out
    ks = out["killSwitch"]
    assert (ks["name"], ks["scope"], ks["state"], ks["setBy"]["name"]) == (
        "BACKFILL",
        "BINDER_EXPORT_WEEKLY",
        "in_force",
        "Grace",
    )
    listed = (await api.data(viewer, SWITCHES, {"all": False}))["killSwitches"]
    assert [s["id"] for s in listed] == [ks["id"]]
    assert (await api.data(outsider, SWITCHES, {"all": True}))["killSwitches"] == []

    before = await state(tenant.org_id)
    refusals = [
        (approver, SET, {"name": "BACKFILL", "scope": "BINDER_EXPORT_WEEKLY", "reason": "again"},
         "setKillSwitch", "CONFLICT"),
        (approver, SET, {"name": "BACKFILL", "scope": "NOPE", "reason": "r"}, "setKillSwitch",
         "INVALID"),
        (approver, SET, {"name": "ALERT_SUPPRESSION", "scope": "", "reason": "r",
                         "until": "2001-01-01T00:00:00Z"}, "setKillSwitch", "INVALID"),
        (viewer, SET, {"name": "ALERT_SUPPRESSION", "scope": "", "reason": "r"}, "setKillSwitch",
         "FORBIDDEN"),
        (outsider, CLEAR, {"id": ks["id"], "reason": "r"}, "clearKillSwitch", "NOT_FOUND"),
        (approver, CLEAR, {"id": "999999999", "reason": "r"}, "clearKillSwitch", "NOT_FOUND"),
        (viewer, CLEAR, {"id": ks["id"], "reason": "r"}, "clearKillSwitch", "FORBIDDEN"),
    ]  # fmt: skip
    messages = {}
    for secret, doc, variables, name, code in refusals:
        got = (await api.data(secret, doc, variables))[name]
        assert [e["code"] for e in got["errors"]] == [code], got
        messages[(secret, variables.get("id"))] = got["errors"][0]["message"]
    assert messages[(outsider, ks["id"])] == f"KillSwitch {ks['id']} not found."
    assert await state(tenant.org_id) == before

    out = (await api.data(approver, CLEAR, {"id": ks["id"], "reason": "done"}))["clearKillSwitch"]
    assert out["errors"] == [] and out["killSwitch"]["state"] == "cleared"
    assert (await api.data(viewer, SWITCHES, {"all": False}))["killSwitches"] == []
    history = (await api.data(viewer, SWITCHES, {"all": True}))["killSwitches"]
    assert history[0]["clearedBy"]["name"] == "Grace"


async def test_notifications_newest_first_and_per_org(api, tenant, other_tenant) -> None:
    viewer = await secret_for(api, tenant, "viewer")
    outsider = await secret_for(api, other_tenant, "viewer")
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        a = await outbox.add(conn, tenant.org_id, Channel.ALERTS, "run.sev1", {"run_id": "r1"},
                             suppressed=False, now=now - timedelta(minutes=1))  # fmt: skip
        b = await outbox.add(conn, tenant.org_id, Channel.CRITICAL, "run.sev0", {"run_id": "r2"},
                             suppressed=True, now=now)  # fmt: skip
    rows = (await api.data(viewer, NOTIFICATIONS, {"first": 10}))["notifications"]
    assert [r["id"] for r in rows] == [str(b.id), str(a.id)]
    assert rows[0]["status"] == "SUPPRESSED" and rows[1]["payload"] == {"run_id": "r1"}
    only = await api.data(viewer, NOTIFICATIONS, {"first": 10, "status": "PENDING"})
    assert [r["id"] for r in only["notifications"]] == [str(a.id)]
    assert (await api.data(outsider, NOTIFICATIONS, {"first": 10}))["notifications"] == []
    body = await api.gql(viewer, NOTIFICATIONS, {"first": 1000})
    assert body["errors"][0]["extensions"]["code"] == "INVALID"
