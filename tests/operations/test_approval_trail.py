"""The approval trail (issue 14): every request that needs a second person and its decision,
with names, for approvers (who do not read the whole audit log), reviewers and admins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskops.server.core.errors import Forbidden, Invalid
from riskops.server.credit import policy
from riskops.server.operations import approval_trail, audit_log
from riskops.server.operations.approval_trail import TrailFilter
from riskops.server.triage import case_resolution
from tests.triage.test_cases_service import new_case


async def decided_case(tenant: Any, *, approve: bool) -> Any:
    _, maker = await tenant.user("operator", name="Olga")
    _, checker = await tenant.user("approver", name="Abe")
    case = await new_case(maker)
    await case_resolution.request_case_resolution(
        maker, case.id, expected_version=1, summary="s", root_cause="legit_load"
    )
    if approve:
        await case_resolution.approve_case_resolution(checker, case.id, expected_version=2)
    else:
        await case_resolution.reject_case_resolution(
            checker, case.id, expected_version=2, reason="not yet"
        )
    return case, checker


async def test_approvers_read_the_trail_with_names_and_not_the_audit_log(tenant):
    case, checker = await decided_case(tenant, approve=True)
    with pytest.raises(Forbidden, match=r"audit\.read"):
        await audit_log.list_events(checker, audit_log.AuditFilter())

    page = await approval_trail.list_trail(checker, TrailFilter())
    assert [(e.kind, e.step, e.actor, e.requested_by) for e in page.entries] == [
        ("case_resolution", "approved", "Abe", "Olga"),
        ("case_resolution", "requested", "Olga", None),
    ]
    assert {e.entity_id for e in page.entries} == {str(case.id)}
    assert page.has_next is False and page.end_cursor is not None
    assert all("user:" not in e.actor for e in page.entries)  # names, never references


@pytest.mark.parametrize("role", ["compliance_reviewer", "product_reviewer", "admin", "approver"])
async def test_who_reads_the_trail(tenant, role):
    _, who = await tenant.user(role)
    assert (await approval_trail.list_trail(who, TrailFilter())).entries == []


@pytest.mark.parametrize("role", ["viewer", "operator", "strategist"])
async def test_others_may_not(tenant, role):
    _, who = await tenant.user(role)
    with pytest.raises(Forbidden, match=r"audit\.approvals"):
        await approval_trail.list_trail(who, TrailFilter())


async def test_filter_by_kind_and_period_and_page_by_keyset(tenant):
    await decided_case(tenant, approve=False)
    _, maker = await tenant.user("approver", name="Pia")
    _, checker = await tenant.user("approver", name="Quinn")
    proposed = await policy.change_policy(maker, {"retry_limit": 5}, "more retries", 0)
    await policy.approve_policy_change(checker, proposed.number, "fine")

    everything = await approval_trail.list_trail(tenant.admin, TrailFilter())
    assert [(e.kind, e.step) for e in everything.entries] == [
        ("policy", "approved"),
        ("policy", "requested"),
        ("case_resolution", "rejected"),
        ("case_resolution", "requested"),
    ]
    policies = await approval_trail.list_trail(tenant.admin, TrailFilter(kind="policy"))
    assert [(e.step, e.actor, e.requested_by) for e in policies.entries] == [
        ("approved", "Quinn", "Pia"),
        ("requested", "Pia", None),
    ]

    first = await approval_trail.list_trail(tenant.admin, TrailFilter(), first=3)
    assert first.has_next and len(first.entries) == 3
    rest = await approval_trail.list_trail(tenant.admin, TrailFilter(), first=3,
                                           after=first.end_cursor)  # fmt: skip
    assert not rest.has_next
    assert [e.seq for e in first.entries + rest.entries] == [e.seq for e in everything.entries]

    later = datetime.now(UTC) + timedelta(minutes=1)
    assert (await approval_trail.list_trail(tenant.admin, TrailFilter(since=later))).entries == []
    earlier = datetime.now(UTC) - timedelta(days=1)
    within = await approval_trail.list_trail(tenant.admin, TrailFilter(since=earlier, until=later))
    assert len(within.entries) == 4


async def test_bad_inputs_say_what_is_wrong(tenant):
    with pytest.raises(Invalid, match="Kind: 'everything' is not a kind of approval") as exc:
        await approval_trail.list_trail(tenant.admin, TrailFilter(kind="everything"))
    assert exc.value.field == "kind"
    with pytest.raises(Invalid, match="not a cursor"):
        await approval_trail.list_trail(tenant.admin, TrailFilter(), after="garbage")
    now = datetime.now(UTC)
    with pytest.raises(Invalid, match="Until must be after since"):
        await approval_trail.list_trail(tenant.admin, TrailFilter(since=now, until=now))
    with pytest.raises(Invalid):
        await approval_trail.list_trail(tenant.admin, TrailFilter(), first=0)


async def test_another_organizations_approvals_stay_there(tenant, other_tenant):
    await decided_case(other_tenant, approve=True)
    assert (await approval_trail.list_trail(tenant.admin, TrailFilter())).entries == []
