"""Cases from runs and the runs of a case (issue 16, seed 002 Related_Run_IDs): createCase with
runs, with alerts, or with neither; link and unlink runs on the service, in GraphQL and on the
case page. SQLite and PostgreSQL; every refusal names what is wrong and changes nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.core.errors import Conflict, Forbidden, Invalid, NotFound
from riskops.server.credit import recording
from riskops.server.credit.models import Run
from riskops.server.credit.runs import runs_of_case
from riskops.server.triage import case_create, case_resolution, case_runs
from riskops.server.triage.models import Case, CaseEvent, CaseStatus
from tests.triage.support_runs import audited, case_state, run_state, runs, scenario
from tests.triage.test_case_pages import signed_in


async def test_a_case_opens_from_runs_alone_and_from_nothing(tenant):
    r1, r2 = await runs(tenant, "SEV2", "SEV3")
    _, op = await tenant.user("operator")
    made = await case_create.create_case(op, title="Retry storm in nightly export",
                                 run_ids=[r1.run_id, r2.run_id, r1.run_id])  # fmt: skip
    case = made.case
    assert sorted(await Run.filter(case_id=case.id).values_list("run_id", flat=True)) == sorted(
        [r1.run_id, r2.run_id]
    )
    # The runs' updated_at moved (incremental sync sees the new case).
    for before, after in zip([r1, r2], await Run.filter(id__in=[r1.id, r2.id]).order_by("id"),
                             strict=True):  # fmt: skip
        assert after.updated_at > before.updated_at
    [ev] = await CaseEvent.filter(case_id=case.id)
    assert ev.action == "create" and ev.data["run_ids"] == [r1.run_id, r2.run_id]
    audit = await AuditEvent.filter(org_id=tenant.org_id, action="case.create").order_by("-seq")
    assert json.loads(audit[0].new_values)["run_ids"] == [r1.run_id, r2.run_id]

    spotted = (await case_create.create_case(op, title="Pattern I spotted", severity="low")).case
    assert spotted.status is CaseStatus.OPEN
    assert await Run.filter(case_id=spotted.id).count() == 0


async def test_link_and_unlink_runs_record_history_audit_and_bump_both(tenant):
    r1, r2 = await runs(tenant, "SEV2", None)
    _, op = await tenant.user("operator")
    case = (await case_create.create_case(op, title="t")).case
    before = await Case.get(id=case.id)

    await case_runs.link_runs(op, case.id, [r1.run_id, r2.run_id])
    after = await Case.get(id=case.id)
    assert after.updated_at > before.updated_at
    assert {r.case_id for r in await Run.filter(id__in=[r1.id, r2.id])} == {case.id}
    # Linking again leaves them as they are: no second history row.
    await case_runs.link_runs(op, case.id, [r1.run_id])
    events = [e.action for e in await CaseEvent.filter(case_id=case.id).order_by("id")]
    assert events == ["create", "link_runs"]

    await case_runs.unlink_runs(op, case.id, [r2.run_id])
    assert (await Run.get(id=r2.id)).case_id is None
    last = await CaseEvent.filter(case_id=case.id).order_by("-id").first()
    assert last is not None and (last.action, last.data) == (
        "unlink_runs",
        {"run_ids": [r2.run_id]},
    )
    actions = [e.action for e in await AuditEvent.filter(org_id=tenant.org_id).order_by("seq")]
    assert actions[-2:] == ["case.link_runs", "case.unlink_runs"]


async def test_a_run_in_another_case_is_refused_naming_that_case(tenant):
    (sev1,) = await runs(tenant, "SEV1")  # its automatic case holds it
    auto = await Case.get(id=sev1.case_id)
    _, op = await tenant.user("operator")
    mine = (await case_create.create_case(op, title="Mine")).case
    before = (await case_state(mine.id), await case_state(auto.id), await run_state(sev1.id))
    with pytest.raises(Conflict) as refused:
        await case_runs.link_runs(op, mine.id, [sev1.run_id])
    assert refused.value.field == "run_ids"
    assert refused.value.message == (
        f"A run belongs to one case at a time; run {sev1.run_id} is in case "
        f"{auto.display_number} (open): unlink it from {auto.display_number} first."
    )
    with pytest.raises(Conflict, match=auto.display_number):
        await case_create.create_case(op, title="Again", run_ids=[sev1.run_id])
    after = (await case_state(mine.id), await case_state(auto.id), await run_state(sev1.id))
    assert after == before
    assert await Case.filter(org_id=tenant.org_id, title="Again").count() == 0


async def test_a_run_of_a_resolved_case_stays_there(tenant):
    (r,) = await runs(tenant, "SEV3")
    _, op = await tenant.user("operator")
    done = (
        await case_create.create_case(op, title="Done", run_ids=[r.run_id], severity="low")
    ).case
    await case_resolution.resolve_case(op, done.id, expected_version=1, root_cause="legit_load",
                                       note="Month-end batch.")  # fmt: skip
    other = (await case_create.create_case(op, title="Other")).case
    with pytest.raises(Conflict, match="which is resolved and keeps its runs: link the run's "
                                       "rerun instead"):  # fmt: skip
        await case_runs.link_runs(op, other.id, [r.run_id])


async def test_unlinking_a_sev1_run_needs_an_approver(tenant):
    (sev1,) = await runs(tenant, "SEV1")
    _, op = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    before = await case_state(sev1.case_id)
    with pytest.raises(Forbidden, match=rf"Only an approver may unlink run {sev1.run_id} \(SEV1\)"):
        await case_runs.unlink_runs(op, sev1.case_id, [sev1.run_id])
    assert await case_state(sev1.case_id) == before
    await case_runs.unlink_runs(approver, sev1.case_id, [sev1.run_id])
    assert (await Run.get(id=sev1.id)).case_id is None


def _many(n: int) -> list[str]:
    return [f"RUN-{i}" for i in range(n)]


BAD_LINKS: list[tuple[str, str, Any, type[Exception], str]] = [
    ("viewer", "link", lambda r: [r], Forbidden, "case.work"),
    ("strategist", "empty", lambda r: [], Invalid, "Runs: give at least one run id"),
    ("operator", "blank", lambda r: ["  "], Invalid, "Runs: give at least one run id"),
    ("operator", "101 ids", lambda r: _many(101), Invalid, "Runs has 101 entries"),
    ("operator", "not text", lambda r: [12], Invalid, "Runs must be a list of run ids"),
    ("operator", "too long", lambda r: ["R" * 129], Invalid, "longer than 128 characters"),
    ("operator", "missing", lambda r: [r, "RUN-nope"], NotFound, "No run RUN-nope in your"),
    ("operator", "theirs", lambda r: ["THEIRS"], NotFound, "No run THEIRS in your organization"),
    ("operator", "not linked", lambda r: [r], Invalid, "is not linked to case"),
]  # fmt: skip


@pytest.mark.parametrize(("role", "what", "ids", "error", "message"), BAD_LINKS,
                         ids=[b[1] for b in BAD_LINKS])  # fmt: skip
async def test_bad_run_links_are_refused_and_change_nothing(
    tenant, other_tenant, role, what, ids, error, message
):
    (r,) = await runs(tenant, "SEV2")
    (theirs,) = await runs(other_tenant, "SEV3")
    _, op = await tenant.user("operator")
    _, caller = await tenant.user(role)
    case = (await case_create.create_case(op, title="t")).case
    given = [x if x != "THEIRS" else theirs.run_id for x in ids(r.run_id)]
    before = (await case_state(case.id), await run_state(r.id, theirs.id),
              await audited(tenant.org_id), await audited(other_tenant.org_id))  # fmt: skip
    change = case_runs.unlink_runs if what == "not linked" else case_runs.link_runs
    with pytest.raises(error) as refused:
        await change(caller, case.id, given)
    assert message.replace("THEIRS", theirs.run_id) in refused.value.message
    after = (await case_state(case.id), await run_state(r.id, theirs.id),
             await audited(tenant.org_id), await audited(other_tenant.org_id))  # fmt: skip
    assert after == before


async def test_another_organizations_case_and_run_read_as_not_found(tenant, other_tenant):
    (r,) = await runs(tenant, "SEV2")
    (theirs,) = await runs(other_tenant, "SEV2")
    _, op = await tenant.user("operator")
    _, their_op = await tenant.user("operator")
    their_case = (await case_create.create_case(
        (await other_tenant.user("operator"))[1], title="theirs")).case  # fmt: skip
    messages = []
    for ident in (their_case.id, 999_999_999):
        with pytest.raises(NotFound) as refused:
            await case_runs.link_runs(op, ident, [r.run_id])
        messages.append(refused.value.message.replace(str(ident), "X"))
    assert messages[0] == messages[1]
    missing = []
    for ref in (theirs.run_id, "RUN-does-not-exist"):
        with pytest.raises(NotFound) as refused:
            await case_create.create_case(their_op, title="x", run_ids=[ref])
        missing.append((refused.value.field, refused.value.message.replace(ref, "X")))
    assert missing[0] == missing[1]
    assert (await Run.get(id=theirs.id)).case_id is None


async def test_archived_or_resolved_cases_take_no_run_links(tenant):
    r1, r2 = await runs(tenant, "SEV2", "SEV3")
    _, op = await tenant.user("operator")
    case = (await case_create.create_case(op, title="t", run_ids=[r1.run_id], severity="low")).case
    await case_resolution.resolve_case(op, case.id, expected_version=1, root_cause="unknown",
                                       note="n")  # fmt: skip
    with pytest.raises(Conflict, match="while it is resolved"):
        await case_runs.link_runs(op, case.id, [r2.run_id])
    from riskops.server.triage import case_archive

    await case_archive.archive_case(op, case.id, expected_version=2)
    before = await case_state(case.id)
    with pytest.raises(Conflict, match=r"it is archived\. Unarchive it first"):
        await case_runs.unlink_runs(op, case.id, [r1.run_id])
    assert await case_state(case.id) == before


# --- GraphQL -----------------------------------------------------------------------------------

RESULT = "case { id number version } errors { code field message }"


async def test_graphql_create_link_unlink_runs(tenant, other_tenant, api):
    r1, r2 = await runs(tenant, "SEV2", "SEV3")
    (theirs,) = await runs(other_tenant, "SEV3")
    user, _ = await tenant.user("operator")
    secret = await api.token(tenant, user)
    create = f"""mutation($runs: [String!]) {{
      createCase(title: "From runs", runIds: $runs) {{ {RESULT} }} }}"""
    link = f"""mutation($id: ID!, $runs: [String!]!) {{
      linkRunsToCase(caseId: $id, runIds: $runs) {{ {RESULT} }} }}"""
    unlink = f"""mutation($id: ID!, $runs: [String!]!) {{
      unlinkRunsFromCase(caseId: $id, runIds: $runs) {{ {RESULT} }} }}"""
    detail = "query($id: ID!) { case(id: $id) { runIds archivedAt } }"

    made = (await api.data(secret, create, {"runs": [r1.run_id]}))["createCase"]
    assert made["errors"] == []
    case_id = made["case"]["id"]
    assert (await api.data(secret, detail, {"id": case_id}))["case"] == {
        "runIds": [r1.run_id], "archivedAt": None}  # fmt: skip

    out = (await api.data(secret, link, {"id": case_id, "runs": [theirs.run_id]}))["linkRunsToCase"]
    [error] = out["errors"]
    assert (error["code"], error["field"]) == ("NOT_FOUND", "run_ids")
    assert theirs.run_id in error["message"]

    out = (await api.data(secret, link, {"id": case_id, "runs": [r2.run_id]}))["linkRunsToCase"]
    assert out["errors"] == []
    got = (await api.data(secret, detail, {"id": case_id}))["case"]["runIds"]
    assert got == sorted([r1.run_id, r2.run_id])

    out = (await api.data(secret, unlink, {"id": case_id, "runs": [r1.run_id]}))[
        "unlinkRunsFromCase"
    ]
    assert out["errors"] == []
    assert (await api.data(secret, detail, {"id": case_id}))["case"]["runIds"] == [r2.run_id]

    over = (await api.data(secret, create, {"runs": _many(101)}))["createCase"]
    assert over["case"] is None and over["errors"][0]["code"] == "INVALID"
    assert "the limit is 100" in over["errors"][0]["message"]


# --- the pages ---------------------------------------------------------------------------------


async def test_pages_create_from_runs_and_link_unlink(browser: Any, tenant: Any) -> None:
    r1, r2 = await runs(tenant, "SEV2", "SEV3")
    (sev1,) = await runs(tenant, "SEV1")
    b = await signed_in(browser, tenant, "operator")
    page = await b.get("/cases")
    assert 'name="run_ids"' in page.text
    title = f"From runs {uuid.uuid4().hex[:6]}"
    r = await b.post("/cases", {"title": title, "severity": "medium",
                                "run_ids": f"{r1.run_id}, NOPE-1"})  # fmt: skip
    assert r.status_code == 404 or r.status_code == 422
    assert "No run NOPE-1 in your organization" in r.text
    assert f"{r1.run_id}, NOPE-1" in r.text  # what was typed is kept
    assert await Case.filter(org_id=tenant.org_id, title=title).count() == 0

    r = await b.post("/cases", {"title": title, "severity": "medium", "run_ids": r1.run_id})
    assert r.status_code == 303
    case = await Case.get(org_id=tenant.org_id, title=title)
    page = await b.get(f"/cases/{case.id}")
    assert r1.run_id in page.text and f'action="/cases/{case.id}/runs/unlink"' in page.text

    before = await case_state(case.id)
    r = await b.post(f"/cases/{case.id}/runs/link", {"run_ids": sev1.run_id})
    assert r.status_code == 409
    assert "unlink it from CASE-" in r.text
    assert await case_state(case.id) == before

    r = await b.post(f"/cases/{case.id}/runs/link", {"run_ids": r2.run_id})
    assert r.status_code == 303
    r = await b.post(f"/cases/{case.id}/runs/unlink", {"run_ids": r1.run_id})
    assert r.status_code == 303
    assert sorted(await Run.filter(case_id=case.id).values_list("run_id", flat=True)) == [r2.run_id]
    run_page = await b.get(f"/runs/{r2.id}")
    assert case.display_number in run_page.text

    # the SEV1 run's own case: the operator sees why its unlink is an approver's, no button
    page = await b.get(f"/cases/{sev1.case_id}")
    assert sev1.run_id in page.text and "approver unlinks" in page.text
    assert f'action="/cases/{sev1.case_id}/runs/unlink"' not in page.text
    approver = await signed_in(browser, tenant, "approver")
    page = await approver.get(f"/cases/{sev1.case_id}")
    assert "approver unlinks" not in page.text
    assert f'action="/cases/{sev1.case_id}/runs/unlink"' in page.text


async def test_a_case_shows_all_its_runs_on_both_faces(browser: Any, tenant: Any, api: Any) -> None:
    """One reading of a case's runs (`runs.runs_of_case`), no limit: past 200 runs, the page
    lists and counts every one and GraphQL's runIds names every one (the page used to stop at
    200 under a count that looked complete, while GraphQL named them all)."""
    key = await scenario(tenant.org_id)
    now = datetime.now(UTC)
    items = [
        {"run_id": f"RUN-{uuid.uuid4().hex[:10]}", "scenario": key, "credits_total": 100.0,
         "started_at": (now - timedelta(minutes=i + 1)).isoformat()}
        for i in range(201)
    ]  # fmt: skip
    assert (await recording.record_runs(tenant.admin, items)).errors == []
    user, op = await tenant.user("operator")
    case = (await case_create.create_case(op, title="Many runs")).case
    ids = [str(i["run_id"]) for i in items]
    for at in range(0, len(ids), 100):  # the most one call links
        await case_runs.link_runs(op, case.id, ids[at : at + 100])

    newest_first = await runs_of_case(op, case.id)
    assert [r.run_id for r in newest_first] == ids
    b = await signed_in(browser, tenant, "operator")
    page = (await b.get(f"/cases/{case.id}")).text
    assert 'Related runs <span class="count">201</span>' in page
    assert all(f"<code>{i}</code>" in page for i in ids)
    secret = await api.token(tenant, user)
    got = await api.data(secret, "query($id: ID!) { case(id: $id) { runIds } }", {"id": case.id})
    assert got["case"]["runIds"] == sorted(ids)
