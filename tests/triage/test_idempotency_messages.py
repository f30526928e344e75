"""A reused idempotency key names what it was first used for, as the user knows it: the alert by
its external id, the case by its CASE-… reference, on both faces (issue 11, item 12). Before,
the message named the entity kind of the *new* request with the old row's internal id ("assign
on case 305" where 305 was an alert)."""

from __future__ import annotations

from typing import Any

import pytest

from riskops.server.core.errors import Duplicate
from riskops.server.core.models import IdempotencyKey
from riskops.server.triage import bulk, case_create, case_resolution
from riskops.server.triage.models import Alert, AlertEvent, Case
from tests.triage.test_alert_pages import hidden, ingest, item, signed_in

ERRORS = "errors { code message field }"
ASSIGN = f"""
mutation($id: ID!, $to: ID!, $v: Int!, $key: String) {{
  assignAlert(alertId: $id, assigneeId: $to, expectedVersion: $v, idempotencyKey: $key) {{
    alert {{ id version }} {ERRORS}
  }}
}}"""
CREATE_CASE = f"""
mutation($ids: [ID!]!, $key: String) {{
  createCase(title: "Ring", alertIds: $ids, severity: HIGH, idempotencyKey: $key) {{
    case {{ id number version }} {ERRORS}
  }}
}}"""
REQUEST = f"""
mutation($id: ID!, $v: Int!, $key: String) {{
  requestCaseResolution(caseId: $id, expectedVersion: $v, summary: "Known merchant.",
                        rootCause: FALSE_POSITIVE, idempotencyKey: $key) {{
    case {{ id version }} {ERRORS}
  }}
}}"""


async def _alert(tenant: Any, ext: str) -> Alert:
    (alert_id,) = await ingest(tenant, item(external_id=ext))
    return await Alert.get(id=alert_id)


async def test_graphql_key_of_an_alert_reused_on_a_case_names_the_alert(tenant, api) -> None:
    user, _ = await tenant.user("strategist")
    secret = await api.token(tenant, user)
    alert = await _alert(tenant, "EXT-ALERT-7")
    other = await _alert(tenant, "EXT-ALERT-8")
    made = await api.data(secret, CREATE_CASE, {"ids": [str(other.id)]})
    case = made["createCase"]["case"]

    done = await api.data(
        secret, ASSIGN, {"id": str(alert.id), "to": str(user.id), "v": 1, "key": "k-alert"}
    )
    assert done["assignAlert"]["errors"] == []

    out = await api.data(
        secret, REQUEST, {"id": case["id"], "v": case["version"], "key": "k-alert"}
    )
    (error,) = out["requestCaseResolution"]["errors"]
    assert error["code"] == "DUPLICATE" and error["field"] == "idempotency_key"
    assert "(assign on alert EXT-ALERT-7)" in error["message"], error["message"]
    assert "case" not in error["message"]
    assert (await Case.get(id=int(case["id"]))).version == case["version"]  # nothing changed


async def test_graphql_key_of_a_case_reused_on_an_alert_names_the_case(tenant, api) -> None:
    user, _ = await tenant.user("strategist")
    secret = await api.token(tenant, user)
    alert = await _alert(tenant, "EXT-ALERT-9")
    made = await api.data(secret, CREATE_CASE, {"ids": [str(alert.id)], "key": "k-case"})
    number = made["createCase"]["case"]["number"]

    out = await api.data(
        secret, ASSIGN, {"id": str(alert.id), "to": str(user.id), "v": 1, "key": "k-case"}
    )
    (error,) = out["assignAlert"]["errors"]
    assert error["code"] == "DUPLICATE"
    assert f"(create on case {number})" in error["message"], error["message"]
    assert (await Alert.get(id=alert.id)).version == 1


async def test_page_key_of_an_alert_reused_for_a_case_names_the_alert(browser, tenant) -> None:
    alert = await _alert(tenant, "EXT-PAGE-1")
    b, me = await signed_in(browser, tenant, "strategist")
    page = await b.get(f"/alerts/{alert.id}")
    assign = {**hidden(page.text, "action-assign"), "assignee_id": me.user_id}
    r = await b.post(f"/alerts/{alert.id}/assign", assign)
    assert r.status_code == 303

    page = await b.get(f"/alerts/{alert.id}")
    form = {**hidden(page.text, "action-case"), "idempotency_key": assign["idempotency_key"]}
    r = await b.post("/cases", {**form, "title": "Card testing ring", "severity": "high"})
    assert r.status_code == 409, r.text[:300]
    assert "(assign on alert EXT-PAGE-1)" in r.text
    assert await Case.filter(org_id=tenant.org_id).count() == 0


async def test_page_key_of_a_case_reused_on_an_alert_names_the_case(browser, tenant) -> None:
    alert = await _alert(tenant, "EXT-PAGE-2")
    b, me = await signed_in(browser, tenant, "strategist")
    page = await b.get(f"/alerts/{alert.id}")
    form = hidden(page.text, "action-case")
    r = await b.post("/cases", {**form, "title": "Card testing ring", "severity": "high"})
    assert r.status_code == 303
    case = await Case.get(org_id=tenant.org_id)

    page = await b.get(f"/alerts/{alert.id}")
    assign = {**hidden(page.text, "action-assign"), "assignee_id": me.user_id,
              "idempotency_key": form["idempotency_key"]}  # fmt: skip
    r = await b.post(f"/alerts/{alert.id}/assign", assign)
    assert r.status_code == 409, r.text[:300]
    assert f"(create on case {case.display_number})" in r.text
    assert await AlertEvent.filter(alert_id=alert.id, action="assign").count() == 0


async def test_the_case_form_of_the_alert_page_is_idempotent(browser, tenant) -> None:
    """Its key was sent but not passed on: a double submit opened two cases."""
    alert = await _alert(tenant, "EXT-PAGE-3")
    b, _ = await signed_in(browser, tenant, "strategist")
    page = await b.get(f"/alerts/{alert.id}")
    form = {**hidden(page.text, "action-case"), "title": "Card testing ring", "severity": "high"}
    for _ in range(2):
        r = await b.post("/cases", form)
        assert r.status_code == 303
    assert await Case.filter(org_id=tenant.org_id).count() == 1


async def test_bulk_and_older_keys_are_named_by_what_they_did(tenant) -> None:
    _, strat = await tenant.user("strategist")
    a, b_ = await _alert(tenant, "EXT-B-1"), await _alert(tenant, "EXT-B-2")
    items = [bulk.BulkItem(str(a.id), 1), bulk.BulkItem(str(b_.id), 1)]
    await bulk.bulk_assign_alerts(strat, items, assignee_id=strat.user_id, idempotency_key="kb")
    case = (await case_create.create_case(strat, title="t", alert_ids=[a.id])).case
    resolve = {"expected_version": 1, "summary": "s", "root_cause": "false_positive"}
    with pytest.raises(Duplicate) as refused:
        await case_resolution.request_case_resolution(
            strat, case.id, **resolve, idempotency_key="kb"
        )
    assert "(assign on 2 alerts (EXT-B-1, EXT-B-2))" in refused.value.message

    # A key remembered before entities were (no `entity`): named by its action's own kind.
    await IdempotencyKey.create(
        org_id=tenant.org_id, key="old", action="assign", entity_id=str(a.id),
        created_at=a.created_at,
    )  # fmt: skip
    with pytest.raises(Duplicate) as refused:
        await case_resolution.request_case_resolution(
            strat, case.id, **resolve, idempotency_key="old"
        )
    assert f"(assign on alert {a.id})" in refused.value.message
