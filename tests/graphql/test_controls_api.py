"""The controls over GraphQL, on SQLite and PostgreSQL, with bearer tokens: the policy and its
versions, changePolicy with expected numbers, kill switches, and the notification outbox;
permissions and other organizations' ids, each refusal changing nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from riskops.audit.models import AuditHead
from riskops.server.run_models import KillSwitch, PolicyVersion, Scenario
from riskops.server.services import outbox
from riskops.server.services.outbox import Channel

ERRORS = "errors { code message field }"
POLICY_FIELDS = "number values { name value meaning } reason setBy { id name } createdAt"
SWITCH_FIELDS = (
    "id name scope reason state setBy { name } setAt expiresAt clearedAt clearedBy { name }"
)

POLICY = f"query {{ policy {{ {POLICY_FIELDS} }} policyVersions {{ number reason }} }}"
CHANGE = f"""
mutation($values: JSON!, $reason: String!, $n: Int!) {{
  changePolicy(values: $values, reason: $reason, expectedNumber: $n) {{
    policy {{ {POLICY_FIELDS} }} {ERRORS}
  }}
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
    head = await AuditHead.get_or_none(org_id=org_id)
    return (
        await PolicyVersion.filter(org_id=org_id).count(),
        await KillSwitch.filter(org_id=org_id).order_by("id").values_list("id", "cleared_at"),
        head.seq if head else 0,
    )


async def secret_for(api: Any, tenant: Any, role: str, name: str | None = None) -> str:
    user, _ = await tenant.user(role, name=name)
    return await api.token(tenant, user)  # type: ignore[no-any-return]


async def test_policy_read_and_change(api, tenant) -> None:
    viewer = await secret_for(api, tenant, "viewer")
    approver = await secret_for(api, tenant, "approver", name="Ada")
    data = await api.data(viewer, POLICY)
    assert data["policy"]["number"] == 0 and data["policyVersions"] == []
    values = {v["name"]: v for v in data["policy"]["values"]}
    assert values["sev1_multiplier"]["value"] == 5.0
    assert "SEV1" in values["sev1_multiplier"]["meaning"]

    change = {"values": {"sev1_multiplier": 6}, "reason": "fewer pages", "n": 0}
    out = (await api.data(approver, CHANGE, change))["changePolicy"]
    assert out["errors"] == []
    assert out["policy"]["number"] == 1 and out["policy"]["setBy"]["name"] == "Ada"
    assert out["policy"]["reason"] == "fewer pages"
    data = await api.data(viewer, POLICY)
    assert data["policy"]["number"] == 1
    assert [v["number"] for v in data["policyVersions"]] == [1]


async def test_change_policy_refusals_are_data_and_change_nothing(api, tenant) -> None:
    approver = await secret_for(api, tenant, "approver")
    operator = await secret_for(api, tenant, "operator")
    await api.data(approver, CHANGE, {"values": {"retry_limit": 4}, "reason": "r", "n": 0})
    before = await state(tenant.org_id)
    cases = [
        (approver, {"values": {"retry_limit": 5}, "reason": "r", "n": 0}, "CONFLICT",
         "expected_number"),
        (approver, {"values": {"retry_limit": 4}, "reason": "r", "n": 1}, "INVALID", "values"),
        (approver, {"values": {"nope": 1}, "reason": "r", "n": 1}, "INVALID", "nope"),
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
            assert "version 1 is in force" in out["errors"][0]["message"]
        else:
            assert out["policy"] is None
    assert await state(tenant.org_id) == before


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
