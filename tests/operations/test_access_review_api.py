"""The access review over GraphQL (issue 15): findings, recording with decisions (errors as
data, another organization's user not found, suspending needs user.manage) and the history."""

from __future__ import annotations

from typing import Any

from riskops.server.identity.models import User, UserStatus
from riskops.server.operations.review_models import AccessReview
from tests.support.gql import Api

FINDINGS = """
query($days: Int) {
  accessReview(inactiveDays: $days) {
    inactiveDays anomalyThreshold
    people { userId name mfaEnabled flags }
    privileged { name }
    inactive { name }
    tokenHolders { name }
    anomalies { name action count }
  }
}"""

RECORD = """
mutation($decisions: [AccessDecisionInput!]!, $note: String!) {
  recordAccessReview(decisions: $decisions, note: $note) {
    review { id reviewer kept suspended note decisions { userId name decision note } findings }
    errors { code message field }
  }
}"""

HISTORY = "{ accessReviews { id reviewer kept suspended } }"


async def test_findings_record_and_history(api: Api, tenant: Any, other_tenant: Any) -> None:
    keep, _ = await tenant.user("viewer", name="Keep")
    drop, _ = await tenant.user("viewer", name="Drop")
    reviewer_user, _ = await tenant.user("compliance_reviewer", name="Rita")
    foreign, _ = await other_tenant.user("viewer", name="Foreign")
    admin = await api.token(tenant, tenant.admin_user)
    reviewer = await api.token(tenant, reviewer_user)

    found = (await api.data(reviewer, FINDINGS, {"days": 30}))["accessReview"]
    assert found["inactiveDays"] == 30 and found["anomalyThreshold"] == 100
    assert [p["name"] for p in found["privileged"]] == ["Admin"]
    assert {p["name"] for p in found["tokenHolders"]} == {"Admin", "Rita"}

    # A reviewer records keeps; suspending needs user.manage: a refusal as data.
    refused = (await api.data(reviewer, RECORD, {
        "decisions": [{"userId": str(drop.id), "decision": "suspend", "note": "left"}],
        "note": "",
    }))["recordAccessReview"]  # fmt: skip
    assert refused["review"] is None and refused["errors"][0]["code"] == "FORBIDDEN"
    missing = (await api.data(admin, RECORD, {
        "decisions": [{"userId": str(foreign.id), "decision": "keep"}], "note": "",
    }))["recordAccessReview"]  # fmt: skip
    assert missing["errors"][0]["code"] == "NOT_FOUND"
    assert str(foreign.id) in missing["errors"][0]["message"]
    assert await AccessReview.filter(org_id=tenant.org_id).count() == 0

    done = (await api.data(admin, RECORD, {
        "decisions": [{"userId": str(keep.id), "decision": "keep"},
                      {"userId": str(drop.id), "decision": "suspend", "note": "left the team"}],
        "note": "Q4",
    }))["recordAccessReview"]  # fmt: skip
    assert done["errors"] == []
    review = done["review"]
    assert (review["kept"], review["suspended"], review["note"]) == (1, 1, "Q4")
    assert review["decisions"][1] == {
        "userId": str(drop.id),
        "name": "Drop",
        "decision": "suspend",
        "note": "left the team",
    }
    assert review["findings"]["summary"]["people"] == 4
    assert (await User.get(id=drop.id)).status == UserStatus.SUSPENDED

    history = (await api.data(reviewer, HISTORY))["accessReviews"]
    assert [(h["id"], h["kept"], h["suspended"]) for h in history] == [(review["id"], 1, 1)]
    other = await api.token(other_tenant, other_tenant.admin_user)
    assert (await api.data(other, HISTORY))["accessReviews"] == []


async def test_wrong_role_and_bad_input(api: Api, tenant: Any) -> None:
    viewer_user, _ = await tenant.user("viewer", name="Vic")
    viewer = await api.token(tenant, viewer_user)
    body = await api.gql(viewer, FINDINGS, {"days": None})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    admin = await api.token(tenant, tenant.admin_user)
    body = await api.gql(admin, FINDINGS, {"days": 0})
    assert body["errors"][0]["extensions"]["code"] == "INVALID"
    bad = (await api.data(admin, RECORD, {
        "decisions": [{"userId": str(viewer_user.id), "decision": "fire"}], "note": "",
    }))["recordAccessReview"]  # fmt: skip
    assert (
        bad["errors"][0]["code"] == "INVALID" and "keep or suspend" in bad["errors"][0]["message"]
    )
    assert await AccessReview.filter(org_id=tenant.org_id).count() == 0
