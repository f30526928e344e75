"""The run ledger over GraphQL, on SQLite and PostgreSQL, with bearer tokens: recordRuns with its
automatic actions and per-item errors, the ledger and run detail (an audited view), the rerun gate
and quarantine release. Refused calls change nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from riskops.audit.models import AuditEvent
from riskops.server.credit.models import Baseline, BaselineSource, Run, Scenario
from riskops.server.triage.models import Case, CaseStatus
from tests.support.gql import org_state

ERRORS = "errors { code message field }"
NOW = datetime.now(UTC)

RECORD = f"""
mutation($input: [RunInput!]!) {{
  recordRuns(input: $input) {{
    batchId
    recorded {{ index runId id severity actions caseNumber }}
    unchanged {{ index runId id }}
    itemErrors {{ index field code message }} {ERRORS}
  }}
}}"""

RUNS = """
query($filter: RunFilterInput, $first: Int, $after: String) {
  runs(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id runId scenario severity multiplier flags caseNumber quarantined } }
    pageInfo { hasNextPage endCursor }
  }
}"""

DETAIL = """
query($id: ID!) {
  run(id: $id) {
    run { id runId severity multiplier baselineMedian explanations quarantined
          dispatchBlocked rerunGate caseNumber version misconfigLikelihood }
    artifacts { uri sha256 managed quarantinePath }
    rerunRequests { id status version }
    openRerunRequest { id status }
    reruns { runId }
    rerunOf { runId }
    classifiedUnder { policyNumber policyInForce values { name value } }
  }
}"""

REQUEST = f"""
mutation($run: ID!, $reason: String!) {{
  requestRerun(runId: $run, reason: $reason) {{ rerunRequest {{ id status version }} {ERRORS} }}
}}"""

APPROVE = f"""
mutation($id: ID!, $m: String!, $v: Int!) {{
  approveRerun(requestId: $id, mitigation: $m, expectedVersion: $v) {{
    rerunRequest {{ id status version mitigation }} {ERRORS}
  }}
}}"""

RELEASE = f"""
mutation($run: ID!, $reason: String!, $v: Int!) {{
  releaseQuarantine(runId: $run, reason: $reason, expectedVersion: $v) {{
    run {{ quarantined dispatchBlocked version }} checks {{ uri held ok detail }} {ERRORS}
  }}
}}"""


def key() -> str:
    return f"SCEN_{uuid.uuid4().hex[:8].upper()}"


def rid() -> str:
    return f"RUN-{uuid.uuid4().hex[:10]}"


async def baseline(tenant, k: str, median: float = 100.0) -> None:
    s = await Scenario.create(org_id=tenant.org_id, key=k, name=k, created_at=NOW)
    await Baseline.create(
        org_id=tenant.org_id, scenario_id=s.id, median=median, sample_size=10,
        source=BaselineSource.MANUAL, set_at=NOW,
    )  # fmt: skip


async def test_record_runs_classifies_and_acts(api, tenant):
    token = await api.token(tenant, tenant.admin_user)
    k = key()
    await baseline(tenant, k)
    items = [
        {"runId": rid(), "scenario": k, "creditsTotal": 1500.0, "dataClassification": "PII",
         "startedAt": NOW.isoformat(), "riskFlags": ["RETRY_LOOP"],
         "artifacts": [{"uri": "https://files.example.test/a.json", "sha256": "a" * 64}]},
        {"runId": rid(), "scenario": k, "creditsTotal": 90.0},
        {"runId": "bad id", "scenario": k, "creditsTotal": 1.0},
    ]  # fmt: skip
    out = (await api.data(token, RECORD, {"input": items}))["recordRuns"]
    assert out["errors"] == []
    sev0 = out["recorded"][0]
    assert sev0["severity"] == "SEV0" and sev0["caseNumber"].startswith("CASE-")
    assert "QUARANTINE" not in sev0["actions"] and "quarantine" in sev0["actions"]
    assert out["recorded"][1]["severity"] is None
    assert [(e["index"], e["field"], e["code"]) for e in out["itemErrors"]] == [
        (2, "run_id", "INVALID")
    ]
    again = (await api.data(token, RECORD, {"input": items[:2]}))["recordRuns"]
    assert again["recorded"] == [] and len(again["unchanged"]) == 2

    _, viewer_p = await tenant.user("viewer")
    viewer_user = await _user(viewer_p)
    vt = await api.token(tenant, viewer_user)
    detail = (await api.data(vt, DETAIL, {"id": sev0["id"]}))["run"]
    run = detail["run"]
    assert run["quarantined"] and run["dispatchBlocked"] and run["rerunGate"]
    assert run["multiplier"] == 15.0 and run["baselineMedian"] == 100.0
    assert run["misconfigLikelihood"] == "MEDIUM"
    assert any("\u00d715 the baseline median" in e for e in run["explanations"])
    assert detail["artifacts"][0]["managed"] is False
    assert await AuditEvent.filter(org_id=tenant.org_id, action="run.view").count() == 1

    page = (await api.data(vt, RUNS, {"filter": {"severity": ["SEV0"]}}))["runs"]
    assert [e["node"]["runId"] for e in page["edges"]] == [items[0]["runId"]]
    page = (await api.data(vt, RUNS, {"filter": {"flag": "NO_BASELINE"}}))["runs"]
    assert page["edges"] == []


async def _user(principal):
    from riskops.server.identity.models import User

    return await User.get(id=principal.user_id)


async def test_recording_is_refused_to_readers_and_oversized_batches(api, tenant):
    _, viewer_p = await tenant.user("viewer")
    vt = await api.token(tenant, await _user(viewer_p))
    token = await api.token(tenant, tenant.admin_user)
    before = await org_state(tenant.org_id)
    item = {"runId": rid(), "scenario": key(), "creditsTotal": 1.0}
    out = (await api.data(vt, RECORD, {"input": [item]}))["recordRuns"]
    assert out["errors"][0]["code"] == "FORBIDDEN"
    out = (await api.data(token, RECORD, {"input": [item] * 1001}))["recordRuns"]
    assert out["errors"][0]["code"] == "INVALID" and "at most 1000" in out["errors"][0]["message"]
    assert await org_state(tenant.org_id) == before
    assert await Run.filter(org_id=tenant.org_id).count() == 0


async def test_bad_filters_and_cursors_are_errors_with_codes(api, tenant):
    token = await api.token(tenant, tenant.admin_user)
    _, viewer_p = await tenant.user("viewer")
    vt = await api.token(tenant, await _user(viewer_p))
    del token
    body = await api.gql(vt, RUNS, {"filter": {"severity": ["SEV9"]}})
    assert body["errors"][0]["extensions"]["code"] == "INVALID"
    body = await api.gql(vt, RUNS, {"after": "garbage"})
    assert "cursor" in body["errors"][0]["message"]
    body = await api.gql(vt, RUNS, {"first": 500})
    assert body["errors"][0]["extensions"]["field"] == "first"


async def test_rerun_gate_and_release_over_graphql(api, tenant, other_tenant):
    admin = await api.token(tenant, tenant.admin_user)
    k = key()
    await baseline(tenant, k)
    rec = (
        await api.data(
            admin, RECORD,
            {"input": [{"runId": rid(), "scenario": k, "creditsTotal": 2000.0,
                        "dataClassification": "REGULATORY"}]},
        )
    )["recordRuns"]["recorded"][0]  # fmt: skip
    _, op_p = await tenant.user("operator")
    _, ap_p = await tenant.user("approver")
    op = await api.token(tenant, await _user(op_p))
    ap = await api.token(tenant, await _user(ap_p))

    req = (await api.data(op, REQUEST, {"run": rec["id"], "reason": "fixed"}))["requestRerun"]
    request_id = req["rerunRequest"]["id"]
    stale = (await api.data(ap, APPROVE, {"id": request_id, "m": "limit", "v": 5}))["approveRerun"]
    assert stale["errors"][0]["code"] == "CONFLICT"
    ok = (await api.data(ap, APPROVE, {"id": request_id, "m": "max_items 1000", "v": 1}))[
        "approveRerun"
    ]
    assert ok["rerunRequest"]["status"] == "APPROVED"
    detail = (await api.data(ap, DETAIL, {"id": rec["id"]}))["run"]
    assert detail["openRerunRequest"] == {"id": request_id, "status": "APPROVED"}

    refused = (await api.data(ap, RELEASE, {"run": rec["id"], "reason": "fp", "v": 1}))[
        "releaseQuarantine"
    ]
    assert refused["errors"][0]["code"] == "CONFLICT" and refused["run"] is None
    run = await Run.get(id=int(rec["id"]))
    await Case.filter(id=run.case_id).update(status=CaseStatus.RESOLVED)
    released = (await api.data(ap, RELEASE, {"run": rec["id"], "reason": "fp", "v": 1}))[
        "releaseQuarantine"
    ]
    assert released["errors"] == [] and released["run"]["quarantined"] is False

    # Another organization's run is "not found", like a missing one.
    other = await api.token(other_tenant, other_tenant.admin_user)
    _, oap = await other_tenant.user("approver")
    other_ap = await api.token(other_tenant, await _user(oap))
    del other
    assert (await api.data(other_ap, DETAIL, {"id": rec["id"]}))["run"] is None
    out = (await api.data(other_ap, RELEASE, {"run": rec["id"], "reason": "x", "v": 2}))[
        "releaseQuarantine"
    ]
    missing = (await api.data(other_ap, RELEASE, {"run": "999999", "reason": "x", "v": 2}))[
        "releaseQuarantine"
    ]
    assert out["errors"][0]["code"] == missing["errors"][0]["code"] == "NOT_FOUND"
    assert out["errors"][0]["message"].replace(rec["id"], "N") == missing["errors"][0][
        "message"
    ].replace("999999", "N")


async def test_the_ledger_page_costs_one_query_whatever_its_size(api, tenant):
    """Scenario keys and case numbers come with the page's rows (select_related): no query per
    run, and none per relation either."""
    from tests.support.statements import Statements

    token = await api.token(tenant, tenant.admin_user)
    k = key()
    await baseline(tenant, k)
    items = [{"runId": rid(), "scenario": k, "creditsTotal": 600.0 if i % 10 == 0 else 90.0}
             for i in range(60)]  # fmt: skip
    assert (await api.data(token, RECORD, {"input": items}))["recordRuns"]["itemErrors"] == []
    _, viewer_p = await tenant.user("viewer")
    vt = await api.token(tenant, await _user(viewer_p))
    await api.data(vt, RUNS, {"first": 1})  # the token's first use is recorded once
    counts = {}
    for size in (5, 50):
        with Statements() as sql:
            edges = (await api.data(vt, RUNS, {"first": size}))["runs"]["edges"]
        counts[size] = len(sql.sent)
        assert len(edges) == size and all(e["node"]["scenario"] == k for e in edges)
    assert any(e["node"]["caseNumber"] for e in edges)  # the 50: SEV1 runs with their cases
    assert counts[5] == counts[50], counts
    assert counts[50] == 2  # the bearer token's lookup, then the one page query


DENY = f"""
mutation($id: ID!, $r: String!, $v: Int!) {{
  denyRerun(requestId: $id, reason: $r, expectedVersion: $v) {{
    rerunRequest {{ id status version reason denyReason mitigation }} {ERRORS}
  }}
}}"""


async def test_rerun_lineage_deny_and_release_checks_over_graphql(api, tenant):
    import hashlib

    from riskops.server.credit import artifacts
    from riskops.server.credit.models import RunArtifact

    admin = await api.token(tenant, tenant.admin_user)
    k = key()
    await baseline(tenant, k)
    uri = f"artifact:{tenant.org_id}/in/{uuid.uuid4().hex[:6]}.csv"
    path = artifacts.stored_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"id\n1\n")
    original = {
        "runId": rid(),
        "scenario": k,
        "creditsTotal": 2000.0,
        "dataClassification": "PII",
        "artifacts": [{"uri": uri, "sha256": hashlib.sha256(b"id\n1\n").hexdigest()}],
    }
    rec = (await api.data(admin, RECORD, {"input": [original]}))["recordRuns"]["recorded"][0]
    _, op_p = await tenant.user("operator")
    _, ap_p = await tenant.user("approver")
    op = await api.token(tenant, await _user(op_p))
    ap = await api.token(tenant, await _user(ap_p))

    # Deny, then a new request is accepted and approved; the reasons are what was sent.
    first = await api.data(op, REQUEST, {"run": rec["id"], "reason": "iterator bounded"})
    req1 = first["requestRerun"]["rerunRequest"]
    denied = await api.data(ap, DENY, {"id": req1["id"], "r": "root cause unknown", "v": 1})
    d = denied["denyRerun"]["rerunRequest"]
    assert (d["status"], d["reason"], d["denyReason"], d["mitigation"]) == (
        "DENIED", "iterator bounded", "root cause unknown", None
    )  # fmt: skip
    again = (await api.data(ap, DENY, {"id": req1["id"], "r": "twice", "v": 2}))["denyRerun"]
    assert again["errors"][0]["code"] == "CONFLICT"
    req2 = (await api.data(op, REQUEST, {"run": rec["id"], "reason": "max_items 1000"}))[
        "requestRerun"
    ]["rerunRequest"]
    await api.data(ap, APPROVE, {"id": req2["id"], "m": "max_items limit added", "v": 1})
    rerun = {"runId": rid(), "scenario": k, "creditsTotal": 90.0, "rerunOf": original["runId"]}
    rerun_rec = (await api.data(admin, RECORD, {"input": [rerun]}))["recordRuns"]["recorded"][0]

    detail = (await api.data(ap, DETAIL, {"id": rec["id"]}))["run"]
    assert detail["run"]["caseNumber"].startswith("CASE-")
    assert detail["reruns"] == [{"runId": rerun["runId"]}] and detail["rerunOf"] is None
    assert [r["status"] for r in detail["rerunRequests"]] == ["USED", "DENIED"]
    child = (await api.data(ap, DETAIL, {"id": rerun_rec["id"]}))["run"]
    assert child["rerunOf"] == {"runId": original["runId"]} and child["reruns"] == []

    # Release: a tampered held file refuses it and names the file; intact, the checks say so.
    await Case.filter(id=(await Run.get(id=int(rec["id"]))).case_id).update(
        status=CaseStatus.RESOLVED
    )
    art = await RunArtifact.get(run_id=int(rec["id"]))
    qfile = artifacts.quarantine_root() / art.quarantine_path
    good = qfile.read_bytes()
    qfile.write_bytes(b"tampered")
    bad = (await api.data(ap, RELEASE, {"run": rec["id"], "reason": "fp", "v": 1}))[
        "releaseQuarantine"
    ]
    assert bad["errors"][0]["code"] == "CONFLICT" and uri in bad["errors"][0]["message"]
    assert bad["run"] is None and (await Run.get(id=int(rec["id"]))).quarantined
    qfile.write_bytes(good)
    ok = (await api.data(ap, RELEASE, {"run": rec["id"], "reason": "fp", "v": 1}))[
        "releaseQuarantine"
    ]
    assert ok["checks"] == [
        {"uri": uri, "held": True, "ok": True,
         "detail": f"SHA-256 {hashlib.sha256(good).hexdigest()} verified"}
    ]  # fmt: skip


async def test_rerun_mutations_refuse_bad_input_and_change_nothing(api, tenant, other_tenant):
    from riskops.server.credit.models import RerunRequest

    admin = await api.token(tenant, tenant.admin_user)
    k = key()
    await baseline(tenant, k)
    rec = (
        await api.data(admin, RECORD, {"input": [{"runId": rid(), "scenario": k,
                                                  "creditsTotal": 700.0}]})
    )["recordRuns"]["recorded"][0]  # fmt: skip
    _, op_p = await tenant.user("operator")
    _, ap_p = await tenant.user("approver")
    _, viewer_p = await tenant.user("viewer")
    op = await api.token(tenant, await _user(op_p))
    ap = await api.token(tenant, await _user(ap_p))
    viewer = await api.token(tenant, await _user(viewer_p))
    req = (await api.data(op, REQUEST, {"run": rec["id"], "reason": "fixed"}))["requestRerun"]
    req_id = req["rerunRequest"]["id"]
    _, other_ap = await other_tenant.user("approver")
    theirs = await api.token(other_tenant, await _user(other_ap))
    before = (await org_state(tenant.org_id), await RerunRequest.filter(id=int(req_id)).values())
    long = "x" * 2001
    cases = [
        (viewer, REQUEST, {"run": rec["id"], "reason": "r"}, "requestRerun", "FORBIDDEN"),
        (op, REQUEST, {"run": rec["id"], "reason": long}, "requestRerun", "INVALID"),
        (theirs, REQUEST, {"run": rec["id"], "reason": "r"}, "requestRerun", "NOT_FOUND"),
        (op, APPROVE, {"id": req_id, "m": "m", "v": 1}, "approveRerun", "FORBIDDEN"),
        (ap, APPROVE, {"id": req_id, "m": long, "v": 1}, "approveRerun", "INVALID"),
        (theirs, APPROVE, {"id": req_id, "m": "m", "v": 1}, "approveRerun", "NOT_FOUND"),
        (ap, DENY, {"id": req_id, "r": "r", "v": 9}, "denyRerun", "CONFLICT"),
        (theirs, DENY, {"id": req_id, "r": "r", "v": 1}, "denyRerun", "NOT_FOUND"),
        (ap, DENY, {"id": "999999", "r": "r", "v": 1}, "denyRerun", "NOT_FOUND"),
    ]
    for token, query, variables, name, code in cases:
        out = (await api.data(token, query, variables))[name]
        assert out["errors"][0]["code"] == code, (name, variables, out)
        assert out["rerunRequest"] is None
    after = (await org_state(tenant.org_id), await RerunRequest.filter(id=int(req_id)).values())
    assert after == before


async def test_run_detail_names_the_policy_it_was_classified_under(api, tenant):
    from tests.credit.test_controls_service import propose_and_approve

    admin = await api.token(tenant, tenant.admin_user)
    k = key()
    await baseline(tenant, k)
    rec = (await api.data(admin, RECORD, {"input": [{"runId": rid(), "scenario": k,
                                                     "creditsTotal": 250.0}]}))[
        "recordRuns"
    ]["recorded"][0]  # fmt: skip
    _, op_p = await tenant.user("operator")
    op = await api.token(tenant, await _user(op_p))
    before = (await api.data(op, DETAIL, {"id": rec["id"]}))["run"]
    assert before["openRerunRequest"] is None
    under = before["classifiedUnder"]
    assert (under["policyNumber"], under["policyInForce"]) == (0, 0)
    assert {"name": "sev2_multiplier", "value": 2.0} in under["values"]

    await propose_and_approve(tenant, {"sev2_multiplier": 3.0}, expected=0)
    after = (await api.data(op, DETAIL, {"id": rec["id"]}))["run"]["classifiedUnder"]
    # Still the thresholds that classified it, and the version in force now beside them.
    assert (after["policyNumber"], after["policyInForce"]) == (0, 1)
    assert {"name": "sev2_multiplier", "value": 2.0} in after["values"]
