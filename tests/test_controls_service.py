"""The controls through the service layer, on SQLite and PostgreSQL: the versioned policy (expected
number, merged values, validation, audit of changed fields only) and the kill switches (set,
clear, list, expiry by the scheduler). Every refused call must change nothing: same rows, same
audit head."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskops.audit.models import AuditEvent, AuditHead
from riskops.server.classification import Policy
from riskops.server.errors import Conflict, Forbidden, Invalid, NotFound
from riskops.server.run_models import KillSwitch, PolicyVersion, Scenario
from riskops.server.services import controls as svc


async def head(org_id: int) -> int:
    row = await AuditHead.get_or_none(org_id=org_id)
    return row.seq if row else 0


async def state(org_id: int) -> tuple[Any, ...]:
    """Everything a controls call could change in one organization."""
    versions = await PolicyVersion.filter(org_id=org_id).order_by("id").values_list("id", "data")
    switches = (
        await KillSwitch.filter(org_id=org_id)
        .order_by("id")
        .values_list("id", "reason", "cleared_at", "cleared_by_id", "expires_at")
    )
    return versions, switches, await head(org_id)


async def scenario(org_id: int, key: str | None = None) -> Scenario:
    key = key or f"SCN_{uuid.uuid4().hex[:8].upper()}"
    return await Scenario.create(org_id=org_id, key=key, name=key, created_at=datetime.now(UTC))


async def last_event(org_id: int, action: str) -> AuditEvent:
    ev = await AuditEvent.filter(org_id=org_id, action=action).order_by("-seq").first()
    assert ev is not None, f"no {action} event"
    return ev


# ----------------------------------------------------------------------------- the policy


async def test_policy_defaults_then_a_change_merges_and_audits_changed_fields(tenant) -> None:
    _, viewer = await tenant.user("viewer")
    _, approver = await tenant.user("approver", name="Ada")
    p = await svc.get_policy(viewer)
    assert p.number == 0 and p.policy == Policy() and p.version is None

    v = await svc.change_policy(
        approver, {"sev1_multiplier": 6, "retry_limit": 5}, "  Fewer SEV1 pages  ", 0
    )
    assert v.number == 1 and v.reason == "Fewer SEV1 pages" and v.set_by_id == approver.user_id
    now = await svc.get_policy(viewer)
    assert now.number == 1 and now.version is not None and now.version.id == v.id
    assert now.policy.sev1_multiplier == 6.0 and now.policy.retry_limit == 5
    assert now.policy.sev2_multiplier == Policy().sev2_multiplier  # merged over the old one
    ev = await last_event(tenant.org_id, "policy.change")
    assert json.loads(ev.old_values) == {"retry_limit": 3, "sev1_multiplier": 5.0}
    assert json.loads(ev.new_values) == {"retry_limit": 5, "sev1_multiplier": 6.0}
    assert "Fewer" not in ev.new_values  # the reason stays in our row

    v2 = await svc.change_policy(approver, {"retry_limit": 4}, "tune", 1)
    assert v2.number == 2
    assert [x.number for x in await svc.list_policy_versions(viewer)] == [2, 1]
    assert (await svc.get_policy(viewer)).policy.sev1_multiplier == 6.0  # kept from v1


@pytest.mark.parametrize(
    ("values", "reason", "expected", "error", "field", "says"),
    [
        ({"retry_limit": 5}, "why", 3, Conflict, "expected_number", "version 0 is in force"),
        ({"retry_limit": 3}, "why", 0, Invalid, "values", "change nothing"),
        ({}, "why", 0, Invalid, "values", "empty"),
        ([1], "why", 0, Invalid, "values", "object"),
        ({"bogus": 1}, "why", 0, Invalid, "bogus", "Unknown policy field"),
        ({"sev3_multiplier": 3}, "why", 0, Invalid, "sev3_multiplier", "sev2 > sev3"),
        ({"retry_limit": 2.5}, "why", 0, Invalid, "retry_limit", "whole number"),
        ({"retry_limit": 5}, "   ", 0, Invalid, "reason", "required"),
        ({"retry_limit": 5}, "x" * 2001, 0, Invalid, "reason", "limit is 2000"),
        ({"retry_limit": 5}, "bad\x00", 0, Invalid, "reason", "control characters"),
        ({"retry_limit": 5}, "why", "0", Invalid, "expected_number", "whole number"),
    ],
)
async def test_refused_policy_changes_change_nothing(
    tenant, values: Any, reason: str, expected: Any, error: type, field: str, says: str
) -> None:
    _, approver = await tenant.user("approver")
    before = await state(tenant.org_id)
    with pytest.raises(error) as exc:
        await svc.change_policy(approver, values, reason, expected)
    assert exc.value.field == field and says in exc.value.message, exc.value.message
    assert await state(tenant.org_id) == before


async def test_only_approvers_change_the_policy_and_viewers_read_it(tenant) -> None:
    before = await state(tenant.org_id)
    for role in ("viewer", "operator", "admin"):
        _, p = await tenant.user(role)
        with pytest.raises(Forbidden):
            await svc.change_policy(p, {"retry_limit": 5}, "why", 0)
    assert await state(tenant.org_id) == before
    _, admin = await tenant.user("admin")
    with pytest.raises(Forbidden):  # admins run the platform, they do not read runs
        await svc.get_policy(admin)


async def test_two_approvers_on_the_same_number_cannot_overwrite_each_other(tenant) -> None:
    _, a = await tenant.user("approver")
    _, b = await tenant.user("approver")
    results = await asyncio.gather(
        svc.change_policy(a, {"retry_limit": 5}, "a", 0),
        svc.change_policy(b, {"retry_limit": 7}, "b", 0),
        return_exceptions=True,
    )
    ok = [r for r in results if isinstance(r, PolicyVersion)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(ok) == 1 and len(refused) == 1, results
    assert "version 1 is in force" in refused[0].message
    assert await PolicyVersion.filter(org_id=tenant.org_id).count() == 1


async def test_policies_are_per_organization(tenant, other_tenant) -> None:
    _, a = await tenant.user("approver")
    _, other = await other_tenant.user("viewer")
    await svc.change_policy(a, {"retry_limit": 9}, "ours", 0)
    assert (await svc.get_policy(other)).number == 0
    assert await svc.list_policy_versions(other) == []


# ----------------------------------------------------------------------------- kill switches


async def test_set_list_and_clear_alert_suppression(tenant) -> None:
    _, approver = await tenant.user("approver", name="Grace")
    _, viewer = await tenant.user("viewer")
    until = datetime.now(UTC) + timedelta(hours=4)
    s = await svc.set_kill_switch(approver, "alert_suppression", "", "API outage storm", until)
    assert (s.name, s.scope, s.set_by_id) == ("alert_suppression", "", approver.user_id)
    on = await svc.active_switches(tenant.org_id, datetime.now(UTC))
    assert svc.suppression_on(on)
    assert [x.id for x in await svc.list_kill_switches(viewer)] == [s.id]
    ev = await last_event(tenant.org_id, "kill_switch.set")
    assert ev.risk_level == "medium" and json.loads(ev.new_values)["name"] == "alert_suppression"
    assert "outage" not in ev.new_values

    cleared = await svc.clear_kill_switch(approver, s.id, "storm over")
    assert cleared.cleared_by_id == approver.user_id and cleared.clear_reason == "storm over"
    assert not svc.suppression_on(await svc.active_switches(tenant.org_id, datetime.now(UTC)))
    assert await svc.list_kill_switches(viewer) == []
    history = await svc.list_kill_switches(viewer, include_inactive=True)
    assert [x.id for x in history] == [s.id]
    assert svc.switch_state(history[0], datetime.now(UTC)) == "cleared"
    assert (await last_event(tenant.org_id, "kill_switch.clear")).entity_id == str(s.id)


async def test_backfill_needs_an_existing_scenario_of_the_org(tenant, other_tenant) -> None:
    _, approver = await tenant.user("approver")
    mine = await scenario(tenant.org_id)
    theirs = await scenario(other_tenant.org_id)
    before = await state(tenant.org_id)
    for scope, says in (("", "needs a scope"), ("NOPE", "'NOPE' is not a scenario"),
                        (theirs.key, "is not a scenario")):  # fmt: skip
        with pytest.raises(Invalid) as exc:
            await svc.set_kill_switch(approver, "backfill", scope, "reprocess", None)
        assert exc.value.field == "scope" and says in exc.value.message
    assert await state(tenant.org_id) == before
    s = await svc.set_kill_switch(approver, "BACKFILL", mine.key, "reprocess Jan", None)
    assert (s.name, s.scope, s.expires_at) == ("backfill", mine.key, None)
    on = await svc.active_switches(tenant.org_id, datetime.now(UTC))
    assert svc.backfill_scenarios(on) == {mine.key}


@pytest.mark.parametrize(
    ("name", "scope", "reason", "expires", "field", "says"),
    [
        ("alert_suppression", "X", "r", None, "scope", "leave scope empty"),
        ("shutdown", "", "r", None, "name", "unknown"),
        ("", "", "r", None, "name", "required"),
        ("alert_suppression", "", "", None, "reason", "required"),
        ("alert_suppression", "", "x" * 2001, None, "reason", "limit is 2000"),
        ("alert_suppression", "", "r", timedelta(minutes=-1), "expires_at", "not in the future"),
        ("alert_suppression", "", "r", timedelta(days=91), "expires_at", "90 days"),
    ],
)
async def test_refused_switches_change_nothing(
    tenant, name: str, scope: str, reason: str, expires: timedelta | None, field: str, says: str
) -> None:
    _, approver = await tenant.user("approver")
    before = await state(tenant.org_id)
    when = datetime.now(UTC) + expires if expires is not None else None
    with pytest.raises(Invalid) as exc:
        await svc.set_kill_switch(approver, name, scope, reason, when)
    assert exc.value.field == field and says in exc.value.message, exc.value.message
    assert await state(tenant.org_id) == before


async def test_a_switch_in_force_is_a_conflict_naming_who_set_it(tenant) -> None:
    _, first = await tenant.user("approver", name="Margaret")
    _, second = await tenant.user("approver")
    await svc.set_kill_switch(first, "alert_suppression", None, "storm", None)
    before = await state(tenant.org_id)
    with pytest.raises(Conflict) as exc:
        await svc.set_kill_switch(second, "alert_suppression", "", "storm too", None)
    assert "already in force: set by Margaret at" in exc.value.message
    assert await state(tenant.org_id) == before


async def test_clearing_is_for_approvers_of_the_org_and_only_once(tenant, other_tenant) -> None:
    _, approver = await tenant.user("approver", name="Lin")
    _, operator = await tenant.user("operator")
    _, outsider = await other_tenant.user("approver")
    s = await svc.set_kill_switch(approver, "alert_suppression", "", "storm", None)
    before = await state(tenant.org_id)
    with pytest.raises(Forbidden):
        await svc.clear_kill_switch(operator, s.id, "done")
    with pytest.raises(Forbidden):
        await svc.set_kill_switch(operator, "alert_suppression", "", "x", None)
    with pytest.raises(NotFound) as theirs:
        await svc.clear_kill_switch(outsider, s.id, "done")
    with pytest.raises(NotFound) as missing:
        await svc.clear_kill_switch(outsider, 2**31 - 1, "done")
    assert theirs.value.message == f"KillSwitch {s.id} not found."
    assert missing.value.message == f"KillSwitch {2**31 - 1} not found."
    with pytest.raises(NotFound):
        await svc.clear_kill_switch(approver, "abc", "done")
    with pytest.raises(Invalid):
        await svc.clear_kill_switch(approver, s.id, "")
    assert await state(tenant.org_id) == before
    await svc.clear_kill_switch(approver, s.id, "done")
    after = await state(tenant.org_id)
    with pytest.raises(Conflict) as again:
        await svc.clear_kill_switch(approver, s.id, "done again")
    assert "already cleared by Lin" in again.value.message
    assert await state(tenant.org_id) == after


async def test_expired_switches_are_off_and_recorded_by_the_scheduler(tenant) -> None:
    _, approver = await tenant.user("approver")
    _, viewer = await tenant.user("viewer")
    now = datetime.now(UTC)
    past = await KillSwitch.create(
        org_id=tenant.org_id, name="alert_suppression", scope="", reason="old storm",
        set_by_id=approver.user_id, set_at=now - timedelta(hours=2),
        expires_at=now - timedelta(minutes=5),
    )  # fmt: skip
    # Off the moment it expired, before the job records it: not listed, can be set again.
    assert not svc.suppression_on(await svc.active_switches(tenant.org_id, now))
    assert svc.switch_state(past, now) == "expired"
    before = await state(tenant.org_id)
    with pytest.raises(Conflict) as exc:
        await svc.clear_kill_switch(approver, past.id, "late")
    assert "already expired" in exc.value.message
    assert await state(tenant.org_id) == before

    soon = await svc.set_kill_switch(approver, "alert_suppression", "", "new storm",
                                     now + timedelta(minutes=30))  # fmt: skip
    assert await svc.expire_kill_switches(now) >= 1
    row = await KillSwitch.get(id=past.id)
    assert row.cleared_at == past.expires_at and row.cleared_by_id is None
    ev = await last_event(tenant.org_id, "kill_switch.expired")
    assert (ev.actor, ev.actor_type, ev.entity_id) == ("scheduler", "system", str(past.id))
    assert (await KillSwitch.get(id=soon.id)).cleared_at is None  # not yet due
    assert (
        await svc.expire_kill_switches(now) == 0
        or (await KillSwitch.get(id=past.id)).cleared_at == past.expires_at
    )  # idempotent for ours (other tests' rows may be due)

    later = now + timedelta(hours=1)
    await svc.expire_kill_switches(later)
    assert (await KillSwitch.get(id=soon.id)).cleared_at == soon.expires_at
    history = await svc.list_kill_switches(viewer, include_inactive=True)
    assert {svc.switch_state(s, later) for s in history} == {"expired"}
    events = await AuditEvent.filter(org_id=tenant.org_id, action="kill_switch.expired").count()
    await svc.expire_kill_switches(later)
    assert (
        await AuditEvent.filter(org_id=tenant.org_id, action="kill_switch.expired").count()
        == events
    )
