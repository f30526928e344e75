"""The controls through the service layer, on SQLite and PostgreSQL: the versioned policy
(maker-checker: proposed by one approver, approved or rejected by another; expected number,
merged values, validation, audit of changed fields only) and the kill switches (set,
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
from riskops.server.core.approvals import ChangeStatus
from riskops.server.core.errors import Conflict, Forbidden, Invalid, NotFound
from riskops.server.credit import kill_switches
from riskops.server.credit import policy as svc
from riskops.server.credit.models import (
    Baseline,
    BaselineSource,
    KillSwitch,
    PolicyVersion,
    Run,
    Scenario,
)
from riskops.server.credit.recording import record_runs
from riskops.server.credit.terms import Policy, Severity


async def head(org_id: int) -> int:
    row = await AuditHead.get_or_none(org_id=org_id)
    return row.seq if row else 0


async def state(org_id: int) -> tuple[Any, ...]:
    """Everything a controls call could change in one organization."""
    versions = (
        await PolicyVersion.filter(org_id=org_id)
        .order_by("id")
        .values_list("id", "data", "status", "decided_by_id", "decided_at", "decision_reason")
    )
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


async def propose_and_approve(
    tenant: Any, values: dict[str, Any], expected: int, reason: str = "tune"
) -> PolicyVersion:
    """A version put in force the normal way: one approver proposes, another approves."""
    _, maker = await tenant.user("approver")
    _, checker = await tenant.user("approver")
    v = await svc.change_policy(maker, values, reason, expected)
    return await svc.approve_policy_change(checker, v.number, "ok")


async def test_a_change_is_proposed_and_in_force_once_another_approver_approves(tenant) -> None:
    _, viewer = await tenant.user("viewer")
    _, maker = await tenant.user("approver", name="Ada")
    _, checker = await tenant.user("approver", name="Bob")
    p = await svc.get_policy(viewer)
    assert p.number == 0 and p.policy == Policy() and p.version is None

    v = await svc.change_policy(
        maker, {"sev1_multiplier": 6, "retry_limit": 5}, "  Fewer SEV1 pages  ", 0
    )
    assert (v.number, v.status, v.reason) == (1, ChangeStatus.PROPOSED, "Fewer SEV1 pages")
    assert v.set_by_id == maker.user_id and v.decided_by_id is None
    assert (await svc.get_policy(viewer)).number == 0  # proposed is not in force
    ev = await last_event(tenant.org_id, "policy.propose")
    assert json.loads(ev.old_values) == {"retry_limit": 3, "sev1_multiplier": 5.0}
    assert json.loads(ev.new_values) == {"number": 1, "retry_limit": 5, "sev1_multiplier": 6.0}
    assert "Fewer" not in ev.new_values  # the reason stays in our row
    proposal = await svc.open_policy_proposal(viewer)
    assert proposal is not None and proposal.version.id == v.id and proposal.in_force.number == 0
    assert proposal.changes == {"sev1_multiplier": (5.0, 6.0), "retry_limit": (3, 5)}

    done = await svc.approve_policy_change(checker, 1, "  agreed  ")
    assert (done.status, done.decided_by_id, done.decision_reason) == (
        ChangeStatus.APPROVED, checker.user_id, "agreed",
    )  # fmt: skip
    assert done.decided_at is not None
    now = await svc.get_policy(viewer)
    assert now.number == 1 and now.version is not None and now.version.id == v.id
    assert now.policy.sev1_multiplier == 6.0 and now.policy.retry_limit == 5
    assert now.policy.sev2_multiplier == Policy().sev2_multiplier  # merged over the old one
    assert await svc.open_policy_proposal(viewer) is None
    ev = await last_event(tenant.org_id, "policy.change")
    assert ev.entity_id == str(v.id)
    assert json.loads(ev.old_values) == {"retry_limit": 3, "sev1_multiplier": 5.0}
    assert json.loads(ev.new_values) == {"retry_limit": 5, "sev1_multiplier": 6.0}
    assert "agreed" not in ev.new_values

    v2 = await svc.change_policy(checker, {"retry_limit": 4}, "tune", 1)
    await svc.approve_policy_change(maker, v2.number, "ok")
    assert [x.number for x in await svc.list_policy_versions(viewer)] == [2, 1]
    assert (await svc.get_policy(viewer)).policy.sev1_multiplier == 6.0  # kept from v1


@pytest.mark.parametrize(
    ("values", "reason", "expected", "error", "field", "says"),
    [
        ({"retry_limit": 5}, "why", 3, Conflict, "expected_number", "version 0 is in force"),
        ({"retry_limit": 3}, "why", 0, Invalid, "values", "change nothing"),
        ({}, "why", 0, Invalid, "values", "Nothing to change"),
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
    _, approver = await tenant.user("approver")
    v = await svc.change_policy(approver, {"retry_limit": 5}, "why", 0)
    before = await state(tenant.org_id)
    for role in ("viewer", "operator", "admin"):
        _, p = await tenant.user(role)
        with pytest.raises(Forbidden):
            await svc.change_policy(p, {"retry_limit": 6}, "why", 0)
        with pytest.raises(Forbidden):
            await svc.approve_policy_change(p, v.number, "ok")
        with pytest.raises(Forbidden):
            await svc.reject_policy_change(p, v.number, "no")
    assert await state(tenant.org_id) == before
    _, admin = await tenant.user("admin")
    with pytest.raises(Forbidden):  # admins run the platform, they do not read runs
        await svc.get_policy(admin)
    with pytest.raises(Forbidden):
        await svc.open_policy_proposal(admin)


async def test_one_open_proposal_per_org_a_second_is_a_conflict_naming_it(tenant) -> None:
    _, a = await tenant.user("approver", name="Ada")
    _, b = await tenant.user("approver")
    await svc.change_policy(a, {"retry_limit": 5}, "a", 0)
    before = await state(tenant.org_id)
    with pytest.raises(Conflict) as exc:
        await svc.change_policy(b, {"retry_limit": 7}, "b", 0)
    assert "Policy version 1 proposed by Ada at" in exc.value.message
    assert "still open" in exc.value.message and exc.value.field == "values"
    assert await state(tenant.org_id) == before


async def test_two_approvers_proposing_at_once_make_one_proposal(tenant) -> None:
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
    assert "Policy version 1 proposed by" in refused[0].message
    assert await PolicyVersion.filter(org_id=tenant.org_id).count() == 1


async def test_nobody_approves_their_own_policy_change(tenant) -> None:
    _, maker = await tenant.user("approver")
    v = await svc.change_policy(maker, {"retry_limit": 5}, "mine", 0)
    before = await state(tenant.org_id)
    with pytest.raises(Forbidden) as exc:
        await svc.approve_policy_change(maker, v.number, "looks good to me")
    assert "another approver must (maker-checker)" in exc.value.message
    assert await state(tenant.org_id) == before
    assert (await PolicyVersion.get(id=v.id)).status is ChangeStatus.PROPOSED


async def test_a_stale_proposal_is_refused(tenant) -> None:
    _, maker = await tenant.user("approver")
    _, checker = await tenant.user("approver")
    _, viewer = await tenant.user("viewer")
    v = await svc.change_policy(maker, {"retry_limit": 5}, "proposed on 0", 0)
    # Another version came in force meanwhile (e.g. one written before maker-checker existed).
    await PolicyVersion.create(
        org_id=tenant.org_id, number=v.number + 1, data={"retry_limit": 8}, reason="direct",
        created_at=datetime.now(UTC), status=ChangeStatus.APPROVED,
    )  # fmt: skip
    before = await state(tenant.org_id)
    with pytest.raises(Conflict) as exc:
        await svc.approve_policy_change(checker, v.number, "ok")
    assert exc.value.field == "number"
    assert f"Version 2 came in force after version {v.number} was proposed" in exc.value.message
    assert "propose the change again from version 2" in exc.value.message
    assert await state(tenant.org_id) == before
    assert (await svc.get_policy(viewer)).policy.retry_limit == 8
    # It can be rejected, and the next proposal gets a fresh number.
    await svc.reject_policy_change(checker, v.number, "stale")
    again = await svc.change_policy(maker, {"retry_limit": 6}, "from 2", 2)
    assert again.number == 3


async def test_reject_and_withdraw_keep_the_version_in_force(tenant) -> None:
    _, maker = await tenant.user("approver", name="Ada")
    _, checker = await tenant.user("approver", name="Bob")
    _, viewer = await tenant.user("viewer")
    v = await svc.change_policy(maker, {"retry_limit": 5}, "try", 0)
    done = await svc.reject_policy_change(checker, v.number, "  too loose  ")
    assert (done.status, done.decided_by_id, done.decision_reason) == (
        ChangeStatus.REJECTED, checker.user_id, "too loose",
    )  # fmt: skip
    assert (await svc.get_policy(viewer)).number == 0
    ev = await last_event(tenant.org_id, "policy.reject")
    assert json.loads(ev.new_values) == {"status": "rejected", "number": 1, "withdrawn": False}
    assert "loose" not in ev.new_values

    before = await state(tenant.org_id)
    with pytest.raises(Conflict) as exc:
        await svc.approve_policy_change(maker, v.number, "ok")
    assert "Policy version 1 was already rejected by Bob at" in exc.value.message
    with pytest.raises(Conflict):
        await svc.reject_policy_change(checker, v.number, "again")
    assert await state(tenant.org_id) == before

    # The proposer withdraws their own; numbers are never reused.
    w = await svc.change_policy(maker, {"retry_limit": 6}, "second try", 0)
    assert w.number == 2
    await svc.reject_policy_change(maker, w.number, "withdrawn")
    ev = await last_event(tenant.org_id, "policy.reject")
    assert json.loads(ev.new_values)["withdrawn"] is True
    assert (await svc.get_policy(viewer)).number == 0
    assert await svc.open_policy_proposal(viewer) is None
    statuses = [(x.number, x.status) for x in await svc.list_policy_versions(viewer)]
    assert statuses == [(2, ChangeStatus.REJECTED), (1, ChangeStatus.REJECTED)]


@pytest.mark.parametrize(
    ("number", "reason", "error", "field", "says"),
    [
        (0, "ok", Invalid, "number", "not a policy version"),
        ("1", "ok", Invalid, "number", "whole number"),
        (True, "ok", Invalid, "number", "whole number"),
        (1, "", Invalid, "reason", "required"),
        (1, "x" * 2001, Invalid, "reason", "limit is 2000"),
        (1, "bad\x07", Invalid, "reason", "control characters"),
        (99, "ok", NotFound, None, "PolicyVersion 99 not found."),
    ],
)
async def test_refused_decisions_change_nothing(
    tenant, number: Any, reason: str, error: type, field: str | None, says: str
) -> None:
    _, maker = await tenant.user("approver")
    _, checker = await tenant.user("approver")
    await svc.change_policy(maker, {"retry_limit": 5}, "try", 0)
    before = await state(tenant.org_id)
    for decide in (svc.approve_policy_change, svc.reject_policy_change):
        with pytest.raises(error) as exc:
            await decide(checker, number, reason)
        assert says in exc.value.message, exc.value.message
        if field is not None:
            assert exc.value.field == field
    assert await state(tenant.org_id) == before


async def test_another_orgs_proposal_looks_exactly_like_a_missing_one(tenant, other_tenant) -> None:
    _, maker = await tenant.user("approver")
    _, outsider = await other_tenant.user("approver")
    v = await svc.change_policy(maker, {"retry_limit": 5}, "ours", 0)
    before = await state(tenant.org_id), await state(other_tenant.org_id)
    for decide in (svc.approve_policy_change, svc.reject_policy_change):
        with pytest.raises(NotFound) as theirs:
            await decide(outsider, v.number, "ok")
        assert theirs.value.message == f"PolicyVersion {v.number} not found."
    assert (await state(tenant.org_id), await state(other_tenant.org_id)) == before


async def test_policies_are_per_organization(tenant, other_tenant) -> None:
    _, other = await other_tenant.user("viewer")
    await propose_and_approve(tenant, {"retry_limit": 9}, 0)
    assert (await svc.get_policy(other)).number == 0
    assert await svc.list_policy_versions(other) == []
    assert await svc.open_policy_proposal(other) is None


async def test_runs_recorded_while_a_proposal_is_open_use_the_version_in_force(tenant) -> None:
    key = f"SCN_{uuid.uuid4().hex[:8].upper()}"
    s = await scenario(tenant.org_id, key)
    await Baseline.create(
        org_id=tenant.org_id, scenario_id=s.id, median=100.0, cv=0.1, sample_size=20,
        source=BaselineSource.MANUAL, set_at=datetime.now(UTC),
    )  # fmt: skip
    await propose_and_approve(tenant, {"sev1_multiplier": 6}, 0)  # version 1 in force
    _, maker = await tenant.user("approver")
    # Proposed: SEV1 from 4x. A run at 5.5x would be SEV1 under it, SEV2 under version 1.
    await svc.change_policy(maker, {"sev1_multiplier": 4}, "more pages", 1)

    def item() -> dict[str, Any]:
        return {
            "run_id": f"run-{uuid.uuid4().hex[:12]}", "scenario": key, "credits_total": 550.0,
            "started_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        }  # fmt: skip

    result = await record_runs(tenant.admin, [item()])
    assert not result.errors, result.errors
    run = await Run.get(id=result.recorded[0].pk)
    assert run.policy_number == 1 and run.severity == Severity.SEV2

    _, checker = await tenant.user("approver")
    await svc.approve_policy_change(checker, 2, "ok")
    result = await record_runs(tenant.admin, [item()])
    run = await Run.get(id=result.recorded[0].pk)
    assert run.policy_number == 2 and run.severity == Severity.SEV1


# ----------------------------------------------------------------------------- kill switches


async def test_set_list_and_clear_alert_suppression(tenant) -> None:
    _, approver = await tenant.user("approver", name="Grace")
    _, viewer = await tenant.user("viewer")
    until = datetime.now(UTC) + timedelta(hours=4)
    s = await kill_switches.set_kill_switch(
        approver, "alert_suppression", "", "API outage storm", until
    )
    assert (s.name, s.scope, s.set_by_id) == ("alert_suppression", "", approver.user_id)
    on = await kill_switches.active_switches(tenant.org_id, datetime.now(UTC))
    assert kill_switches.suppression_on(on)
    assert [x.id for x in await kill_switches.list_kill_switches(viewer)] == [s.id]
    ev = await last_event(tenant.org_id, "kill_switch.set")
    assert ev.risk_level == "medium" and json.loads(ev.new_values)["name"] == "alert_suppression"
    assert "outage" not in ev.new_values

    cleared = await kill_switches.clear_kill_switch(approver, s.id, "storm over")
    assert cleared.cleared_by_id == approver.user_id and cleared.clear_reason == "storm over"
    assert not kill_switches.suppression_on(
        await kill_switches.active_switches(tenant.org_id, datetime.now(UTC))
    )
    assert await kill_switches.list_kill_switches(viewer) == []
    history = await kill_switches.list_kill_switches(viewer, include_inactive=True)
    assert [x.id for x in history] == [s.id]
    assert kill_switches.switch_state(history[0], datetime.now(UTC)) == "cleared"
    assert (await last_event(tenant.org_id, "kill_switch.clear")).entity_id == str(s.id)


async def test_backfill_needs_an_existing_scenario_of_the_org(tenant, other_tenant) -> None:
    _, approver = await tenant.user("approver")
    mine = await scenario(tenant.org_id)
    theirs = await scenario(other_tenant.org_id)
    before = await state(tenant.org_id)
    for scope, says in (("", "needs a scope"), ("NOPE", "'NOPE' is not a scenario"),
                        (theirs.key, "is not a scenario")):  # fmt: skip
        with pytest.raises(Invalid) as exc:
            await kill_switches.set_kill_switch(approver, "backfill", scope, "reprocess", None)
        assert exc.value.field == "scope" and says in exc.value.message
    assert await state(tenant.org_id) == before
    s = await kill_switches.set_kill_switch(approver, "BACKFILL", mine.key, "reprocess Jan", None)
    assert (s.name, s.scope, s.expires_at) == ("backfill", mine.key, None)
    on = await kill_switches.active_switches(tenant.org_id, datetime.now(UTC))
    assert kill_switches.backfill_scenarios(on) == {mine.key}


@pytest.mark.parametrize(
    ("name", "scope", "reason", "expires", "field", "says"),
    [
        ("alert_suppression", "X", "r", None, "scope", "leave scope empty"),
        ("assistant", "X", "r", None, "scope", "assistant applies to the whole organization"),
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
        await kill_switches.set_kill_switch(approver, name, scope, reason, when)
    assert exc.value.field == field and says in exc.value.message, exc.value.message
    assert await state(tenant.org_id) == before


async def test_the_assistant_switch_is_organization_wide_audited_and_found(tenant) -> None:
    _, approver = await tenant.user("approver", name="Ada")
    _, operator = await tenant.user("operator")
    before = await state(tenant.org_id)
    with pytest.raises(Forbidden):
        await kill_switches.set_kill_switch(operator, "assistant", "", "prompt injection", None)
    assert await state(tenant.org_id) == before
    s = await kill_switches.set_kill_switch(approver, "Assistant", None, "prompt injection", None)
    on = await kill_switches.active_switches(tenant.org_id, datetime.now(UTC))
    found = kill_switches.assistant_off(on)
    assert found is not None and found.id == s.id and not kill_switches.suppression_on(on)
    ev = await last_event(tenant.org_id, "kill_switch.set")
    assert json.loads(ev.new_values)["name"] == "assistant"
    await kill_switches.clear_kill_switch(approver, s.id, "guardrails updated")
    on = await kill_switches.active_switches(tenant.org_id, datetime.now(UTC))
    assert kill_switches.assistant_off(on) is None


async def test_a_switch_in_force_is_a_conflict_naming_who_set_it(tenant) -> None:
    _, first = await tenant.user("approver", name="Margaret")
    _, second = await tenant.user("approver")
    await kill_switches.set_kill_switch(first, "alert_suppression", None, "storm", None)
    before = await state(tenant.org_id)
    with pytest.raises(Conflict) as exc:
        await kill_switches.set_kill_switch(second, "alert_suppression", "", "storm too", None)
    assert "already in force: set by Margaret at" in exc.value.message
    assert await state(tenant.org_id) == before


async def test_clearing_is_for_approvers_of_the_org_and_only_once(tenant, other_tenant) -> None:
    _, approver = await tenant.user("approver", name="Lin")
    _, operator = await tenant.user("operator")
    _, outsider = await other_tenant.user("approver")
    s = await kill_switches.set_kill_switch(approver, "alert_suppression", "", "storm", None)
    before = await state(tenant.org_id)
    with pytest.raises(Forbidden):
        await kill_switches.clear_kill_switch(operator, s.id, "done")
    with pytest.raises(Forbidden):
        await kill_switches.set_kill_switch(operator, "alert_suppression", "", "x", None)
    with pytest.raises(NotFound) as theirs:
        await kill_switches.clear_kill_switch(outsider, s.id, "done")
    with pytest.raises(NotFound) as missing:
        await kill_switches.clear_kill_switch(outsider, 2**31 - 1, "done")
    assert theirs.value.message == f"KillSwitch {s.id} not found."
    assert missing.value.message == f"KillSwitch {2**31 - 1} not found."
    with pytest.raises(NotFound):
        await kill_switches.clear_kill_switch(approver, "abc", "done")
    with pytest.raises(Invalid):
        await kill_switches.clear_kill_switch(approver, s.id, "")
    assert await state(tenant.org_id) == before
    await kill_switches.clear_kill_switch(approver, s.id, "done")
    after = await state(tenant.org_id)
    with pytest.raises(Conflict) as again:
        await kill_switches.clear_kill_switch(approver, s.id, "done again")
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
    assert not kill_switches.suppression_on(await kill_switches.active_switches(tenant.org_id, now))
    assert kill_switches.switch_state(past, now) == "expired"
    before = await state(tenant.org_id)
    with pytest.raises(Conflict) as exc:
        await kill_switches.clear_kill_switch(approver, past.id, "late")
    assert "already expired" in exc.value.message
    assert await state(tenant.org_id) == before

    soon = await kill_switches.set_kill_switch(approver, "alert_suppression", "", "new storm",
                                     now + timedelta(minutes=30))  # fmt: skip
    assert await kill_switches.expire_kill_switches(now) >= 1
    row = await KillSwitch.get(id=past.id)
    assert row.cleared_at == past.expires_at and row.cleared_by_id is None
    ev = await last_event(tenant.org_id, "kill_switch.expired")
    assert (ev.actor, ev.actor_type, ev.entity_id) == ("scheduler", "system", str(past.id))
    assert (await KillSwitch.get(id=soon.id)).cleared_at is None  # not yet due
    events = await AuditEvent.filter(org_id=tenant.org_id, action="kill_switch.expired").count()
    await kill_switches.expire_kill_switches(now)  # again: ours is recorded once (idempotent)
    assert (
        await AuditEvent.filter(org_id=tenant.org_id, action="kill_switch.expired").count()
        == events
    )

    later = now + timedelta(hours=1)
    await kill_switches.expire_kill_switches(later)
    assert (await KillSwitch.get(id=soon.id)).cleared_at == soon.expires_at
    history = await kill_switches.list_kill_switches(viewer, include_inactive=True)
    assert {kill_switches.switch_state(s, later) for s in history} == {"expired"}
    events = await AuditEvent.filter(org_id=tenant.org_id, action="kill_switch.expired").count()
    await kill_switches.expire_kill_switches(later)
    assert (
        await AuditEvent.filter(org_id=tenant.org_id, action="kill_switch.expired").count()
        == events
    )
