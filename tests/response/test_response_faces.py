"""The response loop on both faces: GraphQL (responseClock and incident fields, acknowledgeRun /
acknowledgeCase and the incident mutations, errors as data) and the run and case pages (the
target in words, the Acknowledge button, take command, the timeline and the report form; a
refused form changes nothing); "My work" lists unacknowledged items and overdue reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from riskops.server.response import escalation
from riskops.server.response import service as svc
from riskops.server.triage import case_resolution
from riskops.server.triage.models import Case
from riskops.server.work.service import my_work
from tests.response.helpers import ask_to_resolve, clock, sev0_run, sev1_run, state
from tests.support.pages import flash_code

CASE_Q = """query($id: ID!) { case(id: $id) { id number version
  responseClock { severity needsAck dueAt acknowledgedAt acknowledgedById level overdue state
                  text dedupKey version }
  incident { commanderId postmortemDueAt postmortemOverdue timeline { text actor } } } }"""
RUN_Q = """query($id: ID!) { run(id: $id) { run { id runId responseClock { severity dueAt text
  level acknowledgedById } } } }"""
ACK_CASE = """mutation($id: ID!, $v: Int) { acknowledgeCase(caseId: $id, expectedVersion: $v) {
  acknowledged already message clock { acknowledgedById state } errors { code message field } } }"""
ACK_RUN = """mutation($id: ID!) { acknowledgeRun(runId: $id) {
  acknowledged already message clock { acknowledgedById } errors { code message } } }"""
COMMAND = """mutation($id: ID!, $v: Int!) { takeIncidentCommand(caseId: $id, expectedVersion: $v) {
  case { id version } errors { code message } } }"""
TIMELINE = """mutation($id: ID!, $t: String!) { addTimelineEntry(caseId: $id, text: $t) {
  entry { text actor } errors { code message field } } }"""
REPORT = """mutation($id: ID!, $v: Int!, $r: String!) {
  submitPostIncidentReport(caseId: $id, expectedVersion: $v, report: $r) {
  case { id } errors { code message field } } }"""


async def test_graphql_clock_and_acknowledge(api: Any, tenant: Any, other_tenant: Any) -> None:
    run = await sev0_run(tenant)
    foreign = await sev0_run(other_tenant)
    user, _ = await tenant.user("operator")
    token = await api.token(tenant, user)
    case = (await api.data(token, CASE_Q, {"id": str(run.case_id)}))["case"]
    rc = case["responseClock"]
    assert rc["severity"] == "SEV0" and rc["needsAck"] and rc["level"] == 0
    assert rc["text"].endswith("min left") and rc["acknowledgedAt"] is None
    assert case["incident"] == {"commanderId": None, "postmortemDueAt": None,
                                "postmortemOverdue": False, "timeline": []}  # fmt: skip
    got = (await api.data(token, RUN_Q, {"id": str(run.id)}))["run"]["run"]["responseClock"]
    assert got["severity"] == "SEV0" and got["text"].endswith("min left")
    # errors are data, and change nothing
    before = await state(tenant.org_id), await state(other_tenant.org_id)
    for variables, code in [
        ({"id": str(foreign.case_id)}, "NOT_FOUND"),
        ({"id": "999999999"}, "NOT_FOUND"),
        ({"id": str(run.case_id), "v": rc["version"] + 7}, "CONFLICT"),
    ]:
        out = (await api.data(token, ACK_CASE, variables))["acknowledgeCase"]
        assert [e["code"] for e in out["errors"]] == [code], out
    out = (await api.data(token, ACK_RUN, {"id": str(foreign.id)}))["acknowledgeRun"]
    assert out["errors"][0]["code"] == "NOT_FOUND"
    assert (await state(tenant.org_id), await state(other_tenant.org_id)) == before
    # a viewer is refused
    viewer, _ = await tenant.user("viewer")
    body = await api.gql(await api.token(tenant, viewer), ACK_RUN, {"id": str(run.id)})
    assert "response.ack" in str(body)
    # (the token and the refusal write their own audit events; nothing else changed)
    assert (await state(tenant.org_id))[:4] == before[0][:4]
    # acknowledging the run acknowledges the case too
    out = (await api.data(token, ACK_RUN, {"id": str(run.id)}))["acknowledgeRun"]
    assert out["errors"] == [] and out["acknowledged"] == 2
    assert out["clock"]["acknowledgedById"] == str(user.id)
    case = (await api.data(token, CASE_Q, {"id": str(run.case_id)}))["case"]
    assert case["responseClock"]["state"] == "acknowledged"
    assert case["responseClock"]["acknowledgedById"] == str(user.id)
    again = (await api.data(token, ACK_CASE, {"id": str(run.case_id)}))["acknowledgeCase"]
    assert again["already"] and again["errors"] == [] and "already" in again["message"]


async def test_graphql_incident_record(api: Any, tenant: Any) -> None:
    run = await sev1_run(tenant)
    user, _ = await tenant.user("approver")
    token = await api.token(tenant, user)
    case = await Case.get(id=run.case_id)
    out = await api.data(token, COMMAND, {"id": str(case.id), "v": case.version})
    assert out["takeIncidentCommand"]["errors"] == []
    out = await api.data(token, TIMELINE, {"id": str(case.id), "t": "Rolled back deploy"})
    assert out["addTimelineEntry"]["entry"]["text"] == "Rolled back deploy"
    out = await api.data(token, TIMELINE, {"id": str(case.id), "t": "x" * 2001})
    assert out["addTimelineEntry"]["errors"][0]["code"] == "INVALID"
    got = (await api.data(token, CASE_Q, {"id": str(case.id)}))["case"]
    assert got["incident"]["commanderId"] == str(user.id)
    assert [t["text"] for t in got["incident"]["timeline"]] == ["Rolled back deploy"]
    case = await Case.get(id=case.id)
    out = await api.data(token, REPORT, {"id": str(case.id), "v": case.version, "r": "Report"})
    assert out["submitPostIncidentReport"]["errors"][0]["code"] == "CONFLICT"


# --- pages --------------------------------------------------------------------------------------


async def signed_in(browser: Any, tenant: Any, *roles: str, name: str | None = None) -> Any:
    user, principal = await tenant.user(*roles, name=name)
    b = await browser(user, tenant.password)
    b.user, b.principal = user, principal
    return b


async def test_case_page_acknowledge_and_incident(browser: Any, tenant: Any) -> None:
    run = await sev0_run(tenant)
    b = await signed_in(browser, tenant, "approver", name="Grace")
    page = (await b.get(f"/cases/{run.case_id}")).text
    assert "Response target" in page and "min left" in page and ">Acknowledge<" in page
    assert "Incident record" in page and "Take command" in page
    c = await clock("case", run.case_id)
    r = await b.post(f"/cases/{run.case_id}/acknowledge", {"expected_version": str(c.version)})
    assert r.status_code == 303 and flash_code(r) == "response.acked"
    page = (await b.get(f"/cases/{run.case_id}")).text
    assert "by <strong>Grace</strong>" in page and ">Acknowledge<" not in page
    assert (await clock("run", run.id)).acknowledged_by_id == b.user.id
    # again: nothing changes, said plainly
    before = await state(tenant.org_id)
    r = await b.post(f"/cases/{run.case_id}/acknowledge", {})
    assert r.status_code == 303 and flash_code(r) == "response.already"
    assert await state(tenant.org_id) == before
    case = await Case.get(id=run.case_id)
    r = await b.post(f"/cases/{case.id}/command", {"expected_version": str(case.version)})
    assert r.status_code == 303 and flash_code(r) == "response.command"
    r = await b.post(f"/cases/{case.id}/timeline", {"text": "Export paused"})
    assert r.status_code == 303
    page = (await b.get(f"/cases/{case.id}")).text
    assert "Export paused" in page and "took command" in page
    # a refused form: inline, nothing changed
    before = await state(tenant.org_id)
    r = await b.post(f"/cases/{case.id}/timeline", {"text": " "})
    assert r.status_code == 422 and "Text is required." in r.text
    # (showing the case again writes its `case.view` access event: the audit head moves)
    assert (await state(tenant.org_id))[:4] == before[:4]
    case = await Case.get(id=case.id)
    r = await b.post(f"/cases/{case.id}/report", {"expected_version": str(case.version),
                                                  "report": "Too early"})  # fmt: skip
    assert r.status_code == 409 and "once it is resolved" in r.text
    assert (await state(tenant.org_id))[:4] == before[:4]


async def test_run_page_acknowledge_and_viewer(browser: Any, tenant: Any) -> None:
    run = await sev1_run(tenant)
    viewer = await signed_in(browser, tenant, "viewer")
    page = (await viewer.get(f"/runs/{run.id}")).text
    assert "Response target" in page and ">Acknowledge<" not in page
    # the lists say it too: the ledger row and the case row
    ledger = (await viewer.get("/runs?severity=SEV1")).text
    row = ledger[ledger.index(f'id="run-{run.id}"') :].split("</tr>")[0]
    assert "response-clock" in row and "min left" in row
    cases = (await viewer.get("/cases")).text
    row = cases[cases.index(f'id="case-{run.case_id}"') :].split("</tr>")[0]
    assert "min left" in row
    before = await state(tenant.org_id)
    r = await viewer.post(f"/runs/{run.id}/acknowledge", {})
    assert r.status_code == 403 and (await state(tenant.org_id))[:4] == before[:4]
    b = await signed_in(browser, tenant, "operator")
    page = (await b.get(f"/runs/{run.id}")).text
    assert ">Acknowledge<" in page and "min left" in page
    r = await b.post(f"/runs/{run.id}/acknowledge", {})
    assert r.status_code == 303 and (await clock("case", run.case_id)).acknowledged_at


async def test_my_work_lists_unacknowledged_and_overdue_reports(tenant: Any) -> None:
    run = await sev0_run(tenant)
    _, operator = await tenant.user("operator")
    section = (await my_work(operator)).section("response")
    assert section is not None and section.key == "response"
    (item,) = section.items
    assert item.key == "response.unacknowledged" and item.count == 1
    assert run.run_id in item.entries[0].label and item.entries[0].state.endswith("min left")
    # overdue once its target passed
    await escalation.escalate_due(datetime.now(UTC) + timedelta(minutes=20))
    await svc.acknowledge(operator, "case", run.case_id)
    assert (await my_work(operator)).section("response").items == ()  # type: ignore[union-attr]
    # resolved, report due in 48 h; past due it shows
    _, approver = await tenant.user("approver")
    r = await ask_to_resolve(tenant, run.case_id, "Fixed")
    await case_resolution.approve_case_resolution(
        approver, run.case_id, expected_version=r.case.version
    )
    await Case.filter(id=run.case_id).update(
        postmortem_due_at=datetime.now(UTC) - timedelta(hours=2)
    )
    section = (await my_work(operator)).section("response")
    assert section is not None
    (item,) = section.items
    assert item.key == "response.reports_overdue" and item.entries[0].state.startswith("overdue by")
