"""Bulk actions name what failed (issue 11, item 16): each failing alert by its external id and
why, in the service's refusal, on the page and in GraphQL's per-item result; a missing
disposition or comment is an error of that field, not "2 of 2 alerts cannot be changed".
SQLite and PostgreSQL; a refused request changes nothing."""

from __future__ import annotations

import html
from typing import Any

import pytest

from riskops.server.core.errors import ErrorCode, Invalid
from riskops.server.triage import alerts as svc
from riskops.server.triage import bulk
from riskops.server.triage.bulk import BulkFailed, BulkItem
from riskops.server.triage.models import Alert
from tests.triage.test_alert_pages import ingest, item, signed_in
from tests.triage.test_alerts_bulk import state
from tests.triage.test_alerts_bulk_api import BULK_CLOSE, items

BULK_CLOSE_NAMED = BULK_CLOSE.replace("itemErrors { index", "itemErrors { index alertId externalId")


async def _two_one_closed_meanwhile(tenant: Any) -> tuple[list[int], list[Alert], Any]:
    ids = await ingest(tenant, item(external_id="EXT-KEEP"), item(external_id="EXT-GONE"))
    _, strat = await tenant.user("strategist")
    await svc.close_alert(strat, ids[1], disposition="benign", comment="done", expected_version=1)
    return ids, list(await Alert.filter(id__in=ids).order_by("id")), strat


async def test_a_failed_bulk_close_names_each_alert_and_why(tenant):
    ids, alerts, strat = await _two_one_closed_meanwhile(tenant)
    before = await state(alerts, tenant.org_id)

    with pytest.raises(BulkFailed) as failed:
        await bulk.bulk_close_alerts(
            strat, [BulkItem(i, 1) for i in ids], disposition="benign", comment="batch"
        )

    [error] = failed.value.errors
    assert (error.index, error.code) == (1, ErrorCode.CONFLICT)
    assert "EXT-GONE" in error.message and "now closed" in error.message
    assert failed.value.external_ids == {0: "EXT-KEEP", 1: "EXT-GONE"}
    message = failed.value.message
    assert message.startswith("1 of 2 alerts cannot be changed, so none was")
    assert "EXT-GONE" in message and "now closed" in message and "EXT-KEEP" not in message
    assert await state(alerts, tenant.org_id) == before


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"disposition": "", "comment": "batch"}, "disposition"),
        ({"disposition": "nonsense", "comment": "batch"}, "disposition"),
        ({"disposition": "benign", "comment": " "}, "comment"),
    ],
)
async def test_a_missing_disposition_or_comment_is_an_error_of_that_field(tenant, params, field):
    ids = await ingest(tenant, item(), item())
    _, strat = await tenant.user("strategist")
    alerts = list(await Alert.filter(id__in=ids).order_by("id"))
    before = await state(alerts, tenant.org_id)

    with pytest.raises(Invalid) as refused:
        await bulk.bulk_close_alerts(strat, [BulkItem(i, 1) for i in ids], **params)

    assert not isinstance(refused.value, BulkFailed)
    assert refused.value.field == field
    assert "cannot be changed" not in refused.value.message
    assert await state(alerts, tenant.org_id) == before


async def test_bulk_assign_to_someone_who_cannot_read_alerts_is_one_form_error(tenant):
    ids = await ingest(tenant, item(), item())
    _, strat = await tenant.user("strategist")
    gone, _ = await tenant.user("strategist")
    gone.status = "suspended"
    await gone.save()
    with pytest.raises(Invalid) as refused:
        await bulk.bulk_assign_alerts(strat, [BulkItem(i, 1) for i in ids], assignee_id=gone.id)
    assert not isinstance(refused.value, BulkFailed) and refused.value.field == "assignee_id"
    assert {a.assignee_id for a in await Alert.filter(id__in=ids)} == {None}


async def test_the_page_names_the_alert_and_puts_a_missing_disposition_under_its_field(
    browser: Any, tenant: Any
) -> None:
    ids, _, _ = await _two_one_closed_meanwhile(tenant)
    b, _ = await signed_in(browser, tenant, "strategist")
    await b.get("/alerts")
    form = {"alert_id": [str(i) for i in ids], "q": "", "disposition": "benign",
            "comment": "batch", **{f"version_{i}": "1" for i in ids}}  # fmt: skip

    r = await b.post("/alerts/bulk/close", form)

    assert r.status_code in (409, 422)
    text = html.unescape(r.text)
    assert "1 of 2 alerts cannot be changed" in text
    assert "EXT-GONE" in text.split("cannot be changed", 1)[1].split("</div>", 1)[0]
    assert "now closed" in text

    r = await b.post("/alerts/bulk/close", {**form, "disposition": ""})
    assert r.status_code == 422
    text = html.unescape(r.text)
    assert "cannot be changed" not in text
    assert 'id="disposition-error"' in r.text or "disposition" in text.lower()
    assert 'aria-invalid="true"' in r.text.split('name="disposition"', 1)[1].split(">", 1)[0]
    assert (await Alert.get(id=ids[0])).status == "new"


async def test_graphql_names_each_failing_alert_and_refuses_an_empty_comment_whole(tenant, api):
    ids, _, _ = await _two_one_closed_meanwhile(tenant)
    user, _ = await tenant.user("strategist")
    secret = await api.token(tenant, user)

    out = (await api.data(secret, BULK_CLOSE_NAMED, {"items": items(ids), "comment": "b"}))[
        "bulkCloseAlerts"
    ]
    assert [(e["index"], e["alertId"], e["externalId"], e["code"]) for e in out["itemErrors"]] == [
        (1, str(ids[1]), "EXT-GONE", "CONFLICT")
    ]
    assert "EXT-GONE" in out["errors"][0]["message"]

    out = (await api.data(secret, BULK_CLOSE_NAMED, {"items": items(ids), "comment": " "}))[
        "bulkCloseAlerts"
    ]
    assert out["itemErrors"] == []
    assert [(e["code"], e["field"]) for e in out["errors"]] == [("INVALID", "comment")]
    assert (await Alert.get(id=ids[0])).status == "new"
