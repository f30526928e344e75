"""Linking alerts to a case by the external ids the queue shows (issue 11, item 21): on the page,
in GraphQL and in the service, with an error naming every id not found; another organization's
external id reads exactly like a missing one. SQLite and PostgreSQL; a refusal changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from riskops.server.core.errors import Invalid, NotFound
from riskops.server.triage import case_create, ingest
from riskops.server.triage import cases as case_svc
from riskops.server.triage.models import Case, CaseAlert
from tests.triage.test_case_pages import signed_in, snapshot


async def _alerts(tenant: Any, *names: str) -> dict[str, int]:
    _, strat = await tenant.user("strategist")
    items = [{"external_id": n, "source": "card-rules", "title": f"Alert {n}", "score": 50,
              "priority": "high"} for n in names]  # fmt: skip
    result = await ingest.ingest_alerts(strat, items)
    assert result.errors == []
    return {c.external_id: c.alert_id for c in result.created}


async def _linked(case_id: int) -> list[int]:
    return sorted(await CaseAlert.filter(case_id=case_id).values_list("alert_id", flat=True))


async def test_link_and_create_by_external_ids_name_every_one_not_found(tenant, other_tenant):
    t = uuid.uuid4().hex[:6]
    mine = await _alerts(tenant, f"EXT-A-{t}", f"EXT-B-{t}", f"EXT-C-{t}")
    theirs = await _alerts(other_tenant, f"THEIRS-{t}")
    _, lead = await tenant.user("strategist")

    made = await case_create.create_case(lead, title="By external id",
                                      alert_external_ids=[f"EXT-A-{t}"])  # fmt: skip
    case = made.case
    assert await _linked(case.id) == [mine[f"EXT-A-{t}"]]

    await case_svc.link_alerts(lead, case.id, alert_external_ids=[f"EXT-B-{t}", f"EXT-C-{t}"])
    assert await _linked(case.id) == sorted(mine.values())

    before = await snapshot(case.id, tenant.org_id)
    with pytest.raises(NotFound) as refused:
        await case_svc.link_alerts(
            lead, case.id, alert_external_ids=[f"EXT-A-{t}", f"NOPE-{t}", f"THEIRS-{t}"]
        )
    assert refused.value.field == "alert_external_ids"
    assert f"NOPE-{t}" in refused.value.message and f"THEIRS-{t}" in refused.value.message
    assert f"EXT-A-{t}" not in refused.value.message
    assert await snapshot(case.id, tenant.org_id) == before

    # Another organization's external id reads exactly like a missing one.
    messages = []
    for ext in (f"THEIRS-{t}", f"NONE0-{t}"):
        with pytest.raises(NotFound) as one:
            await case_svc.link_alerts(lead, case.id, alert_external_ids=[ext])
        messages.append((one.value.code, one.value.field, one.value.message.replace(ext, "X")))
    assert messages[0] == messages[1]
    assert theirs  # still theirs, never linked
    assert await snapshot(case.id, tenant.org_id) == before

    # Internal ids missing are all named too.
    with pytest.raises(NotFound) as refused:
        await case_svc.link_alerts(lead, case.id, [999999998, 999999999])
    assert "999999998" in refused.value.message and "999999999" in refused.value.message


async def test_the_page_takes_the_external_ids_the_queue_shows(browser: Any, tenant: Any) -> None:
    t = uuid.uuid4().hex[:6]
    mine = await _alerts(tenant, f"EXT-A-{t}", f"EXT-B-{t}", f"EXT-C-{t}")
    b = await signed_in(browser, tenant, "strategist")

    page = await b.get("/cases")
    assert 'name="alert_external_ids"' in page.text
    r = await b.post("/cases", {"title": "Typed", "severity": "low",
                                "alert_external_ids": f"EXT-A-{t}, EXT-B-{t}"})  # fmt: skip
    assert r.status_code == 303
    case = await Case.get(org_id=tenant.org_id, title="Typed")
    assert await _linked(case.id) == sorted([mine[f"EXT-A-{t}"], mine[f"EXT-B-{t}"]])

    page = await b.get(f"/cases/{case.id}")
    assert 'name="alert_external_ids"' in page.text
    before = await snapshot(case.id, tenant.org_id)
    r = await b.post(f"/cases/{case.id}/link",
                     {"alert_external_ids": f"EXT-C-{t} NOPE-{t} GONE-{t}"})  # fmt: skip
    assert r.status_code == 422
    assert f"NOPE-{t}" in r.text and f"GONE-{t}" in r.text
    assert f"EXT-C-{t} NOPE-{t} GONE-{t}" in r.text  # what was typed is kept
    assert await snapshot(case.id, tenant.org_id) == before

    r = await b.post(f"/cases/{case.id}/link", {"alert_external_ids": f"EXT-C-{t}"})
    assert r.status_code == 303
    assert await _linked(case.id) == sorted(mine.values())


async def test_graphql_links_and_creates_by_external_ids(tenant, other_tenant, api):
    t = uuid.uuid4().hex[:6]
    mine = await _alerts(tenant, f"EXT-A-{t}", f"EXT-B-{t}")
    await _alerts(other_tenant, f"THEIRS-{t}")
    user, _ = await tenant.user("strategist")
    secret = await api.token(tenant, user)
    result = "case { id } errors { code field message }"
    create = f"""mutation($ext: [String!]) {{
      createCase(title: "By ext", alertExternalIds: $ext) {{ {result} }} }}"""
    link = f"""mutation($id: ID!, $ext: [String!]) {{
      linkAlertsToCase(caseId: $id, alertExternalIds: $ext) {{ {result} }} }}"""

    made = (await api.data(secret, create, {"ext": [f"EXT-A-{t}"]}))["createCase"]
    assert made["errors"] == []
    case_id = made["case"]["id"]
    assert await _linked(int(case_id)) == [mine[f"EXT-A-{t}"]]

    out = (await api.data(secret, link, {"id": case_id, "ext": [f"THEIRS-{t}", f"NO-{t}"]}))[
        "linkAlertsToCase"
    ]
    [error] = out["errors"]
    assert (error["code"], error["field"]) == ("NOT_FOUND", "alert_external_ids")
    assert f"THEIRS-{t}" in error["message"] and f"NO-{t}" in error["message"]
    assert await _linked(int(case_id)) == [mine[f"EXT-A-{t}"]]

    out = (await api.data(secret, link, {"id": case_id, "ext": [f"EXT-B-{t}"]}))["linkAlertsToCase"]
    assert out["errors"] == []
    assert await _linked(int(case_id)) == sorted(mine.values())


async def test_unlinking_alerts_not_linked_names_each_by_external_id(tenant):
    t = uuid.uuid4().hex[:6]
    mine = await _alerts(tenant, f"EXT-A-{t}", f"EXT-B-{t}", f"EXT-C-{t}")
    _, lead = await tenant.user("strategist")
    case = (await case_create.create_case(lead, title="x", alert_ids=[mine[f"EXT-A-{t}"]])).case
    before = await snapshot(case.id, tenant.org_id)
    with pytest.raises(Invalid) as refused:
        await case_svc.unlink_alerts(lead, case.id, alert_external_ids=[f"EXT-B-{t}", f"EXT-C-{t}"])
    assert refused.value.message == (
        f"Alerts EXT-B-{t}, EXT-C-{t} are not linked to case {case.display_number}."
    )
    assert await snapshot(case.id, tenant.org_id) == before
