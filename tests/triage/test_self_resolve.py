"""Resolving a case alone (issue 16, seed 002 Escalation Level 1): an operator resolves a SEV2/SEV3
case with a root cause and a note; a case of a SEV0/SEV1 run, or of severity critical/high,
still needs the approver's maker-checker. The rule is the versioned policy's
`operator_resolve_from_sev`. Service, GraphQL and page; SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.core.approvals import ChangeStatus
from riskops.server.core.errors import Conflict, Duplicate, Forbidden, Invalid, NotFound
from riskops.server.credit.models import PolicyVersion
from riskops.server.credit.terms import Policy
from riskops.server.triage import case_create, case_resolution, case_runs
from riskops.server.triage import cases as svc
from riskops.server.triage.models import Case, CaseEvent, CaseStatus
from tests.triage.support_runs import audited, case_state, runs
from tests.triage.test_case_pages import signed_in


async def _policy(org_id: int, **over: Any) -> None:
    """Put a policy version in force directly (its maker-checker has tests of its own)."""
    number = await PolicyVersion.filter(org_id=org_id).count() + 1
    data = {**Policy().to_dict(), **over}
    await PolicyVersion.create(
        org_id=org_id,
        number=number,
        data=data,
        reason="test",
        created_at=datetime.now(UTC),
        status=ChangeStatus.APPROVED,
    )


async def test_an_operator_resolves_a_sev2_case_alone_with_documentation(tenant):
    r2, r3 = await runs(tenant, "SEV2", "SEV3")
    _, op = await tenant.user("operator")
    case = (
        await case_create.create_case(op, title="Nightly export", run_ids=[r2.run_id, r3.run_id])
    ).case
    seq = await AuditEvent.filter(org_id=tenant.org_id).count()
    verdict = await case_resolution.resolve_alone(op, case)
    assert verdict.allowed and "SEV2 or SEV3" in verdict.reason

    done = await case_resolution.resolve_case(
        op, case.id, expected_version=1, root_cause="misconfig",
        note="max_items was missing; added it in deploy 412.",
    )  # fmt: skip
    c = await Case.get(id=case.id)
    assert (c.status, c.root_cause.value if c.root_cause else None) == (
        CaseStatus.RESOLVED, "misconfig")  # fmt: skip
    assert c.resolved_at is not None and c.version == 2 == done.case.version
    assert c.resolution_summary == "max_items was missing; added it in deploy 412."
    assert (c.requested_by_id, c.approved_by_id) == (None, None)  # nobody approved: alone
    ev = await CaseEvent.filter(case_id=case.id, action="resolve").first()
    assert ev is not None and ev.data["summary"].startswith("max_items")
    [audit] = await AuditEvent.filter(org_id=tenant.org_id, seq__gt=seq, action="case.resolve")
    facts = json.loads(audit.new_values)
    assert facts["root_cause"] == "misconfig" and facts["summary_length"] == 46
    assert "deploy 412" not in audit.new_values  # the note stays off the chain


async def test_a_case_of_a_sev1_run_or_of_high_severity_needs_an_approver(tenant):
    (sev1,) = await runs(tenant, "SEV1")
    _, op = await tenant.user("operator")
    auto = await Case.get(id=sev1.case_id)
    verdict = await case_resolution.resolve_alone(op, auto)
    assert not verdict.allowed
    assert f"it holds run {sev1.run_id} (SEV1)" in verdict.reason
    before = await case_state(auto.id), await audited(tenant.org_id)
    with pytest.raises(Conflict) as refused:
        await case_resolution.resolve_case(op, auto.id, expected_version=auto.version,
                                           root_cause="misconfig", note="n")  # fmt: skip
    assert refused.value.message.endswith("Request the resolution instead.")
    assert f"An approver must resolve case {auto.display_number}" in refused.value.message
    assert (await case_state(auto.id), await audited(tenant.org_id)) == before

    high = (await case_create.create_case(op, title="High", severity="high")).case
    v = await case_resolution.resolve_alone(op, high)
    assert not v.allowed and "its severity is high (Sev1)" in v.reason
    # An approver is held to the same rule: the maker-checker applies to everyone.
    _, approver = await tenant.user("approver")
    with pytest.raises(Conflict, match="An approver must resolve"):
        await case_resolution.resolve_case(approver, high.id, expected_version=1,
                                           root_cause="unknown", note="n")  # fmt: skip


async def test_lowering_the_severity_does_not_open_the_way(tenant):
    _, op = await tenant.user("operator")
    case = (await case_create.create_case(op, title="Was high", severity="high")).case
    await svc.update_case(op, case.id, expected_version=1, severity="medium")
    lowered = await Case.get(id=case.id)
    v = await case_resolution.resolve_alone(op, lowered)
    assert not v.allowed
    assert "it was high (Sev1) before its severity was lowered" in v.reason
    with pytest.raises(Conflict, match="before its severity was lowered"):
        await case_resolution.resolve_case(op, case.id, expected_version=2,
                                           root_cause="unknown", note="n")  # fmt: skip
    # Raised then lowered back the same way: the approver decides.
    low = (await case_create.create_case(op, title="Low", severity="low")).case
    await svc.update_case(op, low.id, expected_version=1, severity="critical")
    await svc.update_case(op, low.id, expected_version=2, severity="low")
    assert not (await case_resolution.resolve_alone(op, await Case.get(id=low.id))).allowed


async def test_the_rule_follows_the_policy_in_force(tenant):
    (r,) = await runs(tenant, "SEV2")
    _, op = await tenant.user("operator")
    case = (await case_create.create_case(op, title="t", run_ids=[r.run_id])).case
    await _policy(tenant.org_id, operator_resolve_from_sev=4)
    v = await case_resolution.resolve_alone(op, case)
    assert not v.allowed and v.reason == "By policy v1, every case needs an approver to resolve it."
    await _policy(tenant.org_id, operator_resolve_from_sev=3)
    v = await case_resolution.resolve_alone(op, case)
    assert not v.allowed and "its runs are SEV3" in v.reason and "(SEV2)" in v.reason
    await _policy(tenant.org_id, operator_resolve_from_sev=2)
    assert (await case_resolution.resolve_alone(op, case)).allowed


async def test_linking_a_sev1_run_takes_the_choice_away(tenant):
    (r3,) = await runs(tenant, "SEV3")
    (sev1,) = await runs(tenant, "SEV1")
    _, op = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    case = (await case_create.create_case(op, title="t", run_ids=[r3.run_id])).case
    assert (await case_resolution.resolve_alone(op, case)).allowed
    await case_runs.unlink_runs(approver, sev1.case_id, [sev1.run_id])
    await case_runs.link_runs(op, case.id, [sev1.run_id])
    assert not (await case_resolution.resolve_alone(op, case)).allowed


BAD = [
    ("viewer", {}, Forbidden, "case.work"),
    ("operator", {"root_cause": ""}, Invalid, "Root cause is required"),
    ("operator", {"root_cause": "gremlins"}, Invalid, "Root cause 'gremlins' is unknown"),
    ("operator", {"note": "  "}, Invalid, "Note is required"),
    ("operator", {"note": "x" * 4001}, Invalid, "the limit is 4000"),
    ("operator", {"expected_version": 7}, Conflict, "version"),
    ("operator", {"expected_version": "x"}, Invalid, "does not carry the version"),
    ("operator", {"case": "theirs"}, NotFound, "not found"),
    ("operator", {"case": "pending"}, Conflict, "while it is pending_approval"),
]


@pytest.mark.parametrize(("role", "over", "error", "message"), BAD,
                         ids=[f"{b[0]}-{sorted(b[1])}-{i}" for i, b in enumerate(BAD)])  # fmt: skip
async def test_bad_resolves_are_refused_and_change_nothing(
    tenant, other_tenant, role, over, error, message
):
    _, op = await tenant.user("operator")
    _, caller = await tenant.user(role)
    case = (await case_create.create_case(op, title="t", severity="low")).case
    if over.get("case") == "pending":
        await case_resolution.request_case_resolution(
            op, case.id, expected_version=1, summary="s", root_cause="unknown"
        )
    theirs = (
        await case_create.create_case((await other_tenant.user("operator"))[1], title="x")
    ).case
    target = theirs.id if over.get("case") == "theirs" else case.id
    version = (await Case.get(id=case.id)).version
    kwargs: dict[str, Any] = {"expected_version": version, "root_cause": "legit_load",
                              "note": "Month-end batch."}  # fmt: skip
    kwargs.update({k: v for k, v in over.items() if k != "case"})
    before = (await case_state(case.id), await case_state(theirs.id),
              await audited(tenant.org_id))  # fmt: skip
    with pytest.raises(error) as refused:
        await case_resolution.resolve_case(caller, target, **kwargs)
    assert message.lower() in refused.value.message.lower()
    assert (await case_state(case.id), await case_state(theirs.id),
            await audited(tenant.org_id)) == before  # fmt: skip


async def test_a_retry_under_the_same_key_replays(tenant):
    _, op = await tenant.user("operator")
    case = (await case_create.create_case(op, title="t", severity="low")).case
    kw = {"root_cause": "false_positive", "note": "n", "idempotency_key": "k-1"}
    first = await case_resolution.resolve_case(op, case.id, expected_version=1, **kw)
    again = await case_resolution.resolve_case(op, case.id, expected_version=1, **kw)
    assert (first.replayed, again.replayed, again.case.version) == (False, True, 2)
    other = (await case_create.create_case(op, title="u", severity="low")).case
    with pytest.raises(Duplicate):
        await case_resolution.resolve_case(op, other.id, expected_version=1, **kw)
    assert (await Case.get(id=other.id)).status is CaseStatus.OPEN


# --- GraphQL and the page ----------------------------------------------------------------------


async def test_graphql_resolve_case_and_resolve_alone(tenant, api):
    (sev1,) = await runs(tenant, "SEV1")
    user, op = await tenant.user("operator")
    secret = await api.token(tenant, user)
    low = (await case_create.create_case(op, title="Low", severity="low")).case
    detail = "query($id: ID!) { case(id: $id) { resolveAlone { allowed reason policyNumber } } }"
    resolve = """mutation($id: ID!, $v: Int!, $note: String!) {
      resolveCase(caseId: $id, expectedVersion: $v, rootCause: LEGIT_LOAD, note: $note) {
        case { status version resolutionSummary } errors { code field message } } }"""

    got = (await api.data(secret, detail, {"id": str(sev1.case_id)}))["case"]["resolveAlone"]
    assert got["allowed"] is False and sev1.run_id in got["reason"]
    out = (await api.data(secret, resolve, {"id": str(sev1.case_id), "v": 1, "note": "n"}))[
        "resolveCase"
    ]
    assert out["errors"][0]["code"] == "CONFLICT"
    assert out["case"]["status"] == "OPEN"  # the case as it is

    assert (await api.data(secret, detail, {"id": str(low.id)}))["case"]["resolveAlone"]["allowed"]
    out = (await api.data(secret, resolve, {"id": str(low.id), "v": 1, "note": ""}))["resolveCase"]
    assert (out["errors"][0]["code"], out["errors"][0]["field"]) == ("INVALID", "note")
    out = (await api.data(secret, resolve, {"id": str(low.id), "v": 1, "note": "Batch."}))[
        "resolveCase"
    ]
    assert out["errors"] == [] and out["case"]["status"] == "RESOLVED"
    assert out["case"]["resolutionSummary"] == "Batch."


async def test_the_page_offers_resolve_where_allowed_and_says_why_not(browser: Any, tenant: Any):
    (sev1,) = await runs(tenant, "SEV1")
    b = await signed_in(browser, tenant, "operator")
    low = (await case_create.create_case(b.principal, title="Low one", severity="low")).case

    page = await b.get(f"/cases/{sev1.case_id}")
    assert f'action="/cases/{sev1.case_id}/resolve"' not in page.text
    assert "An approver must resolve case" in page.text and sev1.run_id in page.text

    page = await b.get(f"/cases/{low.id}")
    assert f'action="/cases/{low.id}/resolve"' in page.text
    before = await case_state(low.id)
    form = {"expected_version": "1", "root_cause": "misconfig", "note": ""}
    r = await b.post(f"/cases/{low.id}/resolve", form)
    assert r.status_code == 422 and "Note is required" in r.text
    assert await case_state(low.id) == before
    r = await b.post(f"/cases/{low.id}/resolve", {**form, "note": "Fixed."})
    assert r.status_code == 303
    page = await b.get(f"/cases/{low.id}")
    assert "without an approver by" in page.text
