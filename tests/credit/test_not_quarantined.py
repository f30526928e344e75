"""Releasing, or declassifying with release, a run that is not quarantined (issue 16): refused
with the run named and what is wrong, and nothing changes (the declassification is not kept
without its release either). Service, GraphQL and the run page; SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from riskops.server.core.errors import Conflict
from riskops.server.credit import quarantine
from riskops.server.credit.models import Run
from riskops.server.triage import case_create
from tests.credit.test_declassify import (
    DECLASSIFY,
    NOTE,
    _token,
    record,
    scenario_with_baseline,
    snapshot,
)
from tests.credit.test_manual_quarantine import RELEASE

NOT_QUARANTINED = "is not quarantined"


async def flagged_in_a_case(tenant: Any) -> Run:
    """A run flagged regulatory_data, in a case, not quarantined: everything a declassification
    needs, nothing a release needs."""
    k = await scenario_with_baseline(tenant)
    run = await record(tenant, k, 101.0, data_classification="regulatory")
    _, op = await tenant.user("operator")
    await case_create.create_case(op, title="Regulatory run", run_ids=[run.run_id])
    run = await Run.get(id=run.id)
    assert "regulatory_data" in run.flags and run.case_id is not None and not run.quarantined
    return run


async def test_the_service_refuses_and_changes_nothing(tenant):
    run = await flagged_in_a_case(tenant)
    _, approver = await tenant.user("approver")
    before = await snapshot(tenant.org_id, run.id)
    with pytest.raises(Conflict) as release:
        await quarantine.release_quarantine(
            approver, run.id, "checked", expected_version=run.version
        )
    assert release.value.message == f"Run {run.run_id} is not quarantined."
    assert release.value.field == "run_id"
    with pytest.raises(Conflict) as both:
        await quarantine.declassify_run(approver, run.id, NOTE, expected_version=run.version,
                                        release=True)  # fmt: skip
    assert both.value.message == f"Run {run.run_id} is not quarantined."
    assert await snapshot(tenant.org_id, run.id) == before  # not declassified either

    # Declassifying alone needs no quarantine.
    done = await quarantine.declassify_run(approver, run.id, NOTE, expected_version=run.version)
    assert done.release is None and done.run.declassified_at is not None


async def test_graphql_answers_conflict_and_changes_nothing(api, tenant):
    run = await flagged_in_a_case(tenant)
    ap, _ = await _token(api, tenant, "approver")
    before = await snapshot(tenant.org_id, run.id)
    v = {"run": str(run.id), "v": run.version}
    released = (await api.data(ap, RELEASE, {**v, "reason": "checked"}))["releaseQuarantine"]
    both = (await api.data(ap, DECLASSIFY, {**v, "note": NOTE, "release": True}))["declassifyRun"]
    for out in (released, both):
        assert out["run"] is None
        [error] = out["errors"]
        assert (error["code"], error["field"]) == ("CONFLICT", "run_id")
        assert error["message"] == f"Run {run.run_id} is not quarantined."
    assert await snapshot(tenant.org_id, run.id) == before


async def test_the_run_page_shows_no_release_and_refuses_a_forged_one(browser, tenant):
    run = await flagged_in_a_case(tenant)
    ap_user, _ = await tenant.user("approver")
    b = await browser(ap_user, tenant.password)
    page = await b.get(f"/runs/{run.id}")
    assert f'action="/runs/{run.id}/release"' not in page.text
    before = await snapshot(tenant.org_id, run.id)
    v = str(run.version)
    forged = await b.post(f"/runs/{run.id}/release", {"expected_version": v, "reason": "x"})
    both = await b.post(f"/runs/{run.id}/declassify",
                        {"expected_version": v, "note": NOTE, "release": "1"})  # fmt: skip
    for r in (forged, both):
        assert r.status_code == 409 and f"Run {run.run_id} {NOT_QUARANTINED}." in r.text
    assert await snapshot(tenant.org_id, run.id) == before
