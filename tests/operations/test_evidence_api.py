"""`exportEvidence` over GraphQL (issue 15): the same files as the CLI, with their hashes."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.support.gql import Api

EXPORT = """
mutation($period: String!) {
  exportEvidence(period: $period) {
    evidence { period periodFrom periodTo manifestSha256 files { name rows sha256 content } }
    errors { code message field }
  }
}"""


async def test_export_and_its_refusals(api: Api, tenant: Any) -> None:
    reviewer_user, _ = await tenant.user("compliance_reviewer", name="Rita")
    reviewer = await api.token(tenant, reviewer_user)
    done = (await api.data(reviewer, EXPORT, {"period": "2026-11"}))["exportEvidence"]
    found = done["evidence"]
    assert (found["period"], found["periodFrom"], found["periodTo"]) == (
        "2026-11",
        "2026-11-01",
        "2026-11-30",
    )
    names = [f["name"] for f in found["files"]]
    assert names[0] == "user_access.csv" and names[-2:] == ["manifest.json", "SHA256SUMS"]
    for f in found["files"]:
        assert hashlib.sha256(f["content"].encode()).hexdigest() == f["sha256"]

    bad = (await api.data(reviewer, EXPORT, {"period": "last year"}))["exportEvidence"]
    assert bad["evidence"] is None
    assert bad["errors"][0]["code"] == "INVALID" and bad["errors"][0]["field"] == "period"
    viewer_user, _ = await tenant.user("viewer", name="Vic")
    viewer = await api.token(tenant, viewer_user)
    refused = (await api.data(viewer, EXPORT, {"period": "2026-11"}))["exportEvidence"]
    assert refused["errors"][0]["code"] == "FORBIDDEN"
