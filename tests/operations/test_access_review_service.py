"""The access review (issue 15, seed 003 DO-002): inactive, privileged and token-holding users,
MFA, anomalous activity, and the review recorded with its decisions (suspending through
identity's suspend, which revokes sessions and tokens)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from riskops.audit.models import AuditEvent
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Forbidden, Invalid, NotFound
from riskops.server.identity import tokens
from riskops.server.identity.models import ApiToken, User, UserEvent, UserStatus
from riskops.server.operations import access_review
from riskops.server.operations.access_review import Decision
from riskops.server.operations.review_models import AccessReview

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def by_id(found: access_review.Review, user_id: int) -> access_review.Person:
    return next(p for p in found.people if p.user_id == user_id)


async def test_inactivity_is_more_than_n_days_exactly(tenant: Any) -> None:
    at_90, _ = await tenant.user("viewer", name="Ninety")
    at_91, _ = await tenant.user("viewer", name="NinetyOne")
    never, _ = await tenant.user("viewer", name="Never")
    await User.filter(id=at_90.id).update(last_login_at=NOW - timedelta(days=90))
    await User.filter(id=at_91.id).update(last_login_at=NOW - timedelta(days=91))
    await User.filter(id=never.id).update(created_at=NOW - timedelta(days=200))

    found = await access_review.review(tenant.admin, now=NOW)
    assert found.inactive_days == 90  # the setting's default
    assert not by_id(found, at_90.id).inactive
    assert by_id(found, at_90.id).idle_days == 90
    assert by_id(found, at_91.id).inactive
    never_row = by_id(found, never.id)
    assert never_row.inactive and never_row.last_active_at is None
    assert never_row.idle_days == 200

    # A per-review threshold; a token's use counts as activity.
    shorter = await access_review.review(tenant.admin, inactive_days=30, now=NOW)
    assert by_id(shorter, at_90.id).inactive
    _, owner = await tenant.user("viewer", name="Tokened")
    issued = await tokens.create_api_token(owner, name="t", roles=["viewer"])
    await ApiToken.filter(id=issued.token.id).update(last_used_at=NOW - timedelta(days=1))
    await User.filter(id=owner.user_id).update(last_login_at=NOW - timedelta(days=300))
    again = await access_review.review(tenant.admin, now=NOW)
    row = by_id(again, owner.user_id)
    assert not row.inactive and row.active_tokens == 1 and "tokens" in row.flags
    assert row in again.token_holders


async def test_privileged_mfa_and_suspended_people(tenant: Any) -> None:
    approver, _ = await tenant.user("approver", name="Appy")
    gone, _ = await tenant.user("admin", name="Gone")
    await User.filter(id=gone.id).update(
        status=UserStatus.SUSPENDED, last_login_at=NOW - timedelta(days=400)
    )
    await User.filter(id=approver.id).update(mfa_enabled=True)
    found = await access_review.review(tenant.admin, now=NOW)
    privileged = {p.user_id for p in found.privileged}
    assert privileged == {tenant.admin_user.id, approver.id}  # not the suspended admin
    assert not by_id(found, gone.id).inactive  # suspended: no access left to review
    assert by_id(found, approver.id).mfa_enabled
    assert "no_mfa" in by_id(found, tenant.admin_user.id).flags
    snap = found.snapshot()
    assert snap["summary"]["privileged"] == 2 and snap["inactive_days"] == 90
    viewed = await AuditEvent.filter(org_id=tenant.org_id, action="access_review.view").count()
    assert viewed == 1


async def _events(principal: Any, action: str, n: int) -> None:
    async with in_transaction() as conn:
        for i in range(n):
            await record(principal, conn, action, "probe", i)


async def test_anomalies_are_more_than_100_of_one_action_by_one_actor_in_7_days(
    tenant: Any,
) -> None:
    hundred, p100 = await tenant.user("viewer", name="Hundred")
    hundred_one, p101 = await tenant.user("viewer", name="HundredOne")
    await _events(p100, "probe.read", 100)
    await _events(p101, "probe.read", 101)
    await _events(p100, "probe.other", 50)  # another action does not add up

    found = await access_review.review(tenant.admin)
    assert [(a.user_id, a.action, a.count) for a in found.anomalies] == [
        (hundred_one.id, "probe.read", 101)
    ]
    assert found.anomalies[0].name == "HundredOne"
    assert by_id(found, hundred_one.id).anomalous
    assert not by_id(found, hundred.id).anomalous
    # Older than 7 days does not count.
    later = await access_review.review(tenant.admin, now=datetime.now(UTC) + timedelta(days=8))
    assert later.anomalies == []


async def test_recording_keeps_and_suspends_with_sessions_and_tokens_revoked(tenant: Any) -> None:
    keep, _ = await tenant.user("viewer", name="Keep")
    drop, drop_p = await tenant.user("approver", name="Drop")
    issued = await tokens.create_api_token(drop_p, name="t", roles=["approver"])

    row = await access_review.record_review(
        tenant.admin,
        [Decision(keep.id, "keep", "still on the desk"), Decision(str(drop.id), "Suspend", "left")],
        inactive_days=60,
        note="Q4 review",
    )
    assert (row.kept, row.suspended, row.inactive_days, row.note) == (1, 1, 60, "Q4 review")
    assert row.reviewer == "Admin" and row.reviewer_id == tenant.admin_user.id
    assert {d["decision"] for d in row.decisions} == {"keep", "suspend"}
    assert row.findings["summary"]["people"] == 3
    assert (await User.get(id=drop.id)).status == UserStatus.SUSPENDED
    assert (await ApiToken.get(id=issued.token.id)).revoked_at is not None
    actions = await AuditEvent.filter(org_id=tenant.org_id).values_list("action", flat=True)
    assert "user.suspend" in actions and "access_review.record" in actions
    # Free text stays off the chain: the notes on the review row and the reason in the user's
    # history; the chain records their lengths.
    event = await AuditEvent.get(org_id=tenant.org_id, action="access_review.record")
    assert "still on the desk" not in event.new_values and "Q4 review" not in event.new_values
    assert '"note_chars":9' in event.new_values.replace(" ", "")
    reason = (await UserEvent.get(user_id=drop.id, action="suspend")).data
    assert reason == {"reason": "Access review: left"}

    history = await access_review.list_reviews(tenant.admin)
    assert [r.id for r in history] == [row.id]
    assert (await access_review.get_review(tenant.admin, row.id)).id == row.id


async def _nothing_changed(tenant: Any, before: int) -> None:
    assert await AccessReview.filter(org_id=tenant.org_id).count() == 0
    assert await AuditEvent.filter(org_id=tenant.org_id).count() == before
    assert await User.filter(org_id=tenant.org_id, status=UserStatus.SUSPENDED).count() == 0


async def test_refusals_change_nothing(tenant: Any, other_tenant: Any) -> None:
    target, _ = await tenant.user("viewer", name="Target")
    _, reviewer = await tenant.user("compliance_reviewer", name="Rita")
    _, viewer = await tenant.user("viewer", name="Vic")
    foreign, _ = await other_tenant.user("viewer", name="Foreign")
    before = await AuditEvent.filter(org_id=tenant.org_id).count()

    with pytest.raises(Forbidden, match=r"access\.review"):
        await access_review.review(viewer)
    with pytest.raises(Forbidden, match=r"access\.review"):
        await access_review.record_review(viewer, [Decision(target.id, "keep")])
    with pytest.raises(Forbidden, match=r"access\.review"):
        await access_review.list_reviews(viewer)
    # A reviewer records keeps; a suspension also needs user.manage, before input is checked.
    with pytest.raises(Forbidden, match=r"user\.manage"):
        await access_review.record_review(reviewer, [Decision("garbage", "suspend", "")])
    with pytest.raises(NotFound, match="User"):
        await access_review.record_review(tenant.admin, [Decision(foreign.id, "keep")])
    with pytest.raises(NotFound, match="User"):
        await access_review.record_review(tenant.admin, [Decision("abc", "keep")])
    bad: list[tuple[list[Decision], dict[str, Any], str]] = [
        ([Decision(target.id, "delete")], {}, "not one of keep or suspend"),
        ([], {}, "at least one person"),
        ([Decision(target.id, "keep"), Decision(target.id, "keep")], {}, "two decisions"),
        ([Decision(target.id, "suspend", "")], {}, "Note is required"),
        ([Decision(target.id, "keep")], {"inactive_days": 0}, "between 1 and 3650"),
        ([Decision(target.id, "keep")], {"inactive_days": "ninety"}, "whole number"),
        ([Decision(target.id, "keep")], {"note": "x" * 501}, "limit is 500"),
        # Suspending oneself is refused by identity: the keep before it is not recorded either.
        ([Decision(target.id, "suspend", "gone"), Decision(tenant.admin_user.id, "suspend", "me")],
         {}, "your own account"),
    ]  # fmt: skip
    for decisions, extra, message in bad:
        with pytest.raises(Invalid, match=message):
            await access_review.record_review(tenant.admin, decisions, **extra)
    with pytest.raises(Invalid, match="between 1 and 3650"):
        await access_review.review(reviewer, inactive_days=4000)
    with pytest.raises(NotFound):
        await access_review.get_review(reviewer, 999999)
    await _nothing_changed(tenant, before)

    # Another organization's review reads as not found.
    row = await access_review.record_review(reviewer, [Decision(target.id, "keep")])
    with pytest.raises(NotFound):
        await access_review.get_review(other_tenant.admin, row.id)
    assert await access_review.list_reviews(other_tenant.admin) == []
