"""Recording runs through the service layer, on SQLite and PostgreSQL: classification, the automatic
actions in the same transaction (cases, quarantine, outbox), idempotency, per-item errors, the
rerun gate and quarantine release. Refused requests must leave nothing behind."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from riskops.audit.models import AuditEvent, AuditHead
from riskops.server.core import approvals
from riskops.server.core.errors import Conflict, ErrorCode, Forbidden, Invalid, NotFound
from riskops.server.credit import artifacts, quarantine, reruns, runs
from riskops.server.credit import recording as svc
from riskops.server.credit.models import (
    Baseline,
    BaselineSource,
    KillSwitch,
    RerunRequest,
    RerunStatus,
    Run,
    RunArtifact,
    Scenario,
)
from riskops.server.notify.models import OutboxMessage, OutboxStatus
from riskops.server.triage.models import Case, CaseNote, CaseSeverity, CaseStatus

NOW = datetime.now(UTC)


async def head(org_id: int) -> int:
    row = await AuditHead.get_or_none(org_id=org_id)
    return row.seq if row else 0


def rid() -> str:
    return f"RUN-{uuid.uuid4().hex[:10]}"


def run_item(scenario: str, credits: float, **over: object) -> dict[str, object]:
    item: dict[str, object] = {
        "run_id": rid(),
        "scenario": scenario,
        "credits_total": credits,
        "started_at": (NOW - timedelta(minutes=5)).isoformat(),
    }
    item.update(over)
    return item


async def with_baseline(tenant, key: str, median: float = 100.0) -> Scenario:
    scenario = await Scenario.create(org_id=tenant.org_id, key=key, name=key, created_at=NOW)
    await Baseline.create(
        org_id=tenant.org_id, scenario_id=scenario.id, median=median, cv=0.1, sample_size=20,
        source=BaselineSource.MANUAL, set_at=NOW,
    )  # fmt: skip
    return scenario


def key() -> str:
    return f"SCEN_{uuid.uuid4().hex[:8].upper()}"


async def org_state(org_id: int) -> tuple[int, ...]:
    return (
        await Run.filter(org_id=org_id).count(),
        await Case.filter(org_id=org_id).count(),
        await OutboxMessage.filter(org_id=org_id).count(),
        await RerunRequest.filter(org_id=org_id).count(),
        await head(org_id),
    )


# --- classification and automatic actions ------------------------------------------------------


async def test_a_scenario_without_baseline_gets_no_baseline_and_no_severity(tenant):
    k = key()
    result = await svc.record_runs(tenant.admin, [run_item(k, 5000.0)])
    assert result.errors == [] and len(result.recorded) == 1
    run = await Run.get(id=result.recorded[0].pk)
    assert run.severity is None and run.multiplier is None
    assert "no_baseline" in run.flags
    assert run.case_id is None and not run.quarantined and not run.rerun_gate
    assert await Scenario.filter(org_id=tenant.org_id, key=k).count() == 1
    assert await OutboxMessage.filter(org_id=tenant.org_id).count() == 0


async def test_sev0_quarantines_blocks_dispatch_opens_a_case_and_notifies_critical(tenant):
    k = key()
    await with_baseline(tenant, k)
    # A managed artifact in the store: it is moved aside and verified on release.
    stored = artifacts.stored_path(f"artifact:{tenant.org_id}/in/out.csv")
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(b"customer,email\n1,a@example.test\n")
    sha = hashlib.sha256(stored.read_bytes()).hexdigest()
    item = run_item(
        k, 1250.0, data_classification="pii", retry_count=7,
        artifacts=[{"uri": f"artifact:{tenant.org_id}/in/out.csv", "sha256": sha},
                   {"uri": "https://files.example.test/x.json"}],
    )  # fmt: skip
    seq0 = await head(tenant.org_id)
    result = await svc.record_runs(tenant.admin, [item])
    assert result.errors == []
    rec = result.recorded[0]
    assert rec.severity == "SEV0"
    assert set(rec.actions) >= {"quarantine", "block_dispatch", "open_case", "notify_critical"}
    run = await Run.get(id=rec.pk)
    assert run.quarantined and run.dispatch_blocked and run.rerun_gate
    assert run.multiplier == 12.5 and run.baseline_median == 100.0
    assert {"pii_exposure", "retry_loop"} <= set(run.flags)
    assert "\u00d712.5 the baseline median of 100.00" in run.explanations[0]
    case = await Case.get(id=run.case_id)
    assert case.severity is CaseSeverity.CRITICAL and rec.case_number == case.display_number
    msg = await OutboxMessage.get(org_id=tenant.org_id)
    assert (msg.channel, msg.kind, msg.status) == ("critical", "run.sev0", OutboxStatus.PENDING)
    assert msg.payload["case_number"] == case.display_number
    arts = await RunArtifact.filter(run_id=run.id).order_by("id")
    assert arts[0].quarantine_path is not None and arts[1].quarantine_path is None
    assert all(a.quarantined_at is not None for a in arts)
    # Moved aside after the commit, to <var>/quarantine/<org>/<run_id>/.
    assert not stored.exists()
    assert (artifacts.quarantine_root() / arts[0].quarantine_path).exists()
    actions = [
        e.action
        for e in await AuditEvent.filter(org_id=tenant.org_id, seq__gt=seq0).order_by("seq")
    ]
    assert actions.count("run.auto_actions") == 1 and "case.create" in actions
    assert actions[-1] == "run.record"


async def test_sev1_opens_a_case_notifies_alerts_and_arms_the_rerun_gate(tenant):
    k = key()
    await with_baseline(tenant, k)
    result = await svc.record_runs(tenant.admin, [run_item(k, 600.0)])
    run = await Run.get(id=result.recorded[0].pk)
    assert run.severity == "SEV1" and run.rerun_gate and not run.quarantined
    assert (await Case.get(id=run.case_id)).severity is CaseSeverity.HIGH
    msg = await OutboxMessage.get(org_id=tenant.org_id)
    assert (msg.channel, msg.kind) == ("alerts", "run.sev1")


async def test_sev2_persistent_pattern_opens_one_case_per_scenario(tenant):
    k = key()
    await with_baseline(tenant, k)
    first = await svc.record_runs(tenant.admin, [run_item(k, 250.0), run_item(k, 260.0)])
    assert all(r.case_number is None for r in first.recorded)
    third = await svc.record_runs(tenant.admin, [run_item(k, 270.0)])
    assert third.recorded[0].case_number is not None
    fourth = await svc.record_runs(tenant.admin, [run_item(k, 280.0)])
    assert fourth.recorded[0].case_number == third.recorded[0].case_number
    assert await Case.filter(org_id=tenant.org_id).count() == 1
    assert (await OutboxMessage.filter(org_id=tenant.org_id).first()).kind == "run.sev2_pattern"


async def test_sev2_runs_older_than_the_pattern_window_do_not_count(tenant):
    k = key()
    await with_baseline(tenant, k)
    old = (NOW - timedelta(days=9)).isoformat()
    await svc.record_runs(
        tenant.admin, [run_item(k, 250.0, started_at=old), run_item(k, 250.0, started_at=old)]
    )
    result = await svc.record_runs(tenant.admin, [run_item(k, 250.0)])
    assert result.recorded[0].case_number is None


async def test_suppression_switch_records_notifications_as_suppressed(tenant):
    k = key()
    await with_baseline(tenant, k)
    await KillSwitch.create(
        org_id=tenant.org_id, name="alert_suppression", scope="", reason="maintenance",
        set_at=NOW,
    )  # fmt: skip
    result = await svc.record_runs(tenant.admin, [run_item(k, 600.0)])
    assert result.recorded[0].severity == "SEV1"
    msg = await OutboxMessage.get(org_id=tenant.org_id)
    assert msg.status is OutboxStatus.SUPPRESSED


async def test_expired_suppression_switch_is_off(tenant):
    k = key()
    await with_baseline(tenant, k)
    await KillSwitch.create(
        org_id=tenant.org_id, name="alert_suppression", scope="", reason="maintenance",
        set_at=NOW - timedelta(hours=2), expires_at=NOW - timedelta(hours=1),
    )  # fmt: skip
    await svc.record_runs(tenant.admin, [run_item(k, 600.0)])
    assert (await OutboxMessage.get(org_id=tenant.org_id)).status is OutboxStatus.PENDING


async def test_backfill_mode_relaxes_sev1(tenant):
    k = key()
    await with_baseline(tenant, k)
    await KillSwitch.create(
        org_id=tenant.org_id, name="backfill", scope=k, reason="Q3 backfill", set_at=NOW
    )
    result = await svc.record_runs(tenant.admin, [run_item(k, 600.0)])
    run = await Run.get(id=result.recorded[0].pk)
    assert run.severity == "SEV2" and "backfill" in run.flags and run.case_id is None


async def test_seed_ledger_field_names_are_accepted(tenant):
    k = key()
    await with_baseline(tenant, k)
    item = {
        "Run_ID": rid(), "Scenario_ID": k, "Credits_Total": 180.0, "Job_Type": "batch",
        "Risk_Flags": ["batch_job"], "retry_count": 0, "has_max_items_config": True,
    }  # fmt: skip
    result = await svc.record_runs(tenant.admin, [item])
    assert result.errors == []
    run = await Run.get(id=result.recorded[0].pk)
    assert run.severity == "SEV3" and run.job_type == "batch" and "batch_job" in run.flags


# --- idempotency and per-item errors -----------------------------------------------------------


async def test_recording_the_same_runs_again_changes_nothing(tenant):
    k = key()
    await with_baseline(tenant, k)
    items = [run_item(k, 600.0), run_item(k, 90.0)]
    first = await svc.record_runs(tenant.admin, items)
    before = await org_state(tenant.org_id)
    again = await svc.record_runs(tenant.admin, items)
    assert again.recorded == [] and [u.pk for u in again.unchanged] == [
        r.pk for r in first.recorded
    ]
    after = await org_state(tenant.org_id)
    assert after[:4] == before[:4] and after[4] == before[4] + 1  # only the batch event


async def test_invalid_items_are_reported_and_valid_ones_recorded(tenant):
    k = key()
    dup = rid()
    items = [
        run_item(k, 10.0, run_id=dup),
        {"run_id": "bad id with spaces", "scenario": k, "credits_total": -1},
        run_item(k, 11.0, run_id=dup),
        "not an object",
        run_item(k, 12.0, Credits_Total=5),
        run_item(k, 13.0, rerun_of="RUN-NOPE"),
    ]
    result = await svc.record_runs(tenant.admin, items)
    assert [r.index for r in result.recorded] == [0]
    by_index: dict[int, list[str]] = {}
    for e in result.errors:
        by_index.setdefault(e.index, []).append(e.field)
    assert set(by_index) == {1, 2, 3, 4, 5}
    assert {"run_id", "credits_total"} <= set(by_index[1])
    dup_error = next(e for e in result.errors if e.index == 2)
    assert dup_error.code is ErrorCode.DUPLICATE and "twice" in dup_error.message
    assert next(e for e in result.errors if e.index == 5).code is ErrorCode.NOT_FOUND


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "input is empty"),
        ("x", "must be a list"),
        ([{"run_id": "a"}] * 1001, "at most 1000"),
    ],
)
async def test_malformed_or_oversized_batches_are_refused_whole(tenant, items, message):
    before = await org_state(tenant.org_id)
    with pytest.raises(Invalid, match=message):
        await svc.record_runs(tenant.admin, items)
    assert await org_state(tenant.org_id) == before


@pytest.mark.parametrize("role", ["viewer", "operator", "approver", "strategist"])
async def test_only_recorders_may_record(tenant, role):
    _, p = await tenant.user(role)
    before = await org_state(tenant.org_id)
    with pytest.raises(Forbidden):
        await svc.record_runs(p, [run_item(key(), 10.0)])
    assert await org_state(tenant.org_id) == before


async def test_run_ids_are_per_organization(tenant, other_tenant):
    item = run_item(key(), 10.0)
    a = await svc.record_runs(tenant.admin, [item])
    b = await svc.record_runs(other_tenant.admin, [item])
    assert a.recorded and b.recorded and a.recorded[0].pk != b.recorded[0].pk


# --- rerun gate --------------------------------------------------------------------------------


async def gated_run(tenant) -> Run:
    k = key()
    await with_baseline(tenant, k)
    result = await svc.record_runs(tenant.admin, [run_item(k, 600.0)])
    return await Run.get(id=result.recorded[0].pk)


async def test_rerun_of_a_gated_run_needs_an_approved_request(tenant):
    run = await gated_run(tenant)
    _, operator = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    rerun = run_item((await run.scenario).key, 90.0)
    rerun["rerun_of"] = run.run_id

    refused = await svc.record_runs(tenant.admin, [rerun])
    assert refused.recorded == [] and refused.errors[0].code is ErrorCode.FORBIDDEN
    assert "approved rerun request" in refused.errors[0].message

    req = await reruns.request_rerun(operator, run.id, "max_items now 1000")
    with pytest.raises(Conflict, match="already has a pending"):
        await reruns.request_rerun(operator, run.id, "again")
    approved = await reruns.approve_rerun(
        approver, req.id, "max_items limit added, retry_loop fixed", expected_version=1
    )
    assert approved.status is RerunStatus.APPROVED and approved.version == 2

    ok = await svc.record_runs(tenant.admin, [rerun])
    assert ok.errors == [] and (await Run.get(id=ok.recorded[0].pk)).rerun_of_id == run.id
    assert (await RerunRequest.get(id=req.id)).status is RerunStatus.USED
    second = dict(rerun, run_id=rid())
    again = await svc.record_runs(tenant.admin, [second])
    assert again.errors and again.errors[0].code is ErrorCode.FORBIDDEN


async def test_the_run_detail_says_what_the_caller_may_do_about_its_gate(tenant):
    run = await gated_run(tenant)
    _, operator = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    _, viewer = await tenant.user("viewer")
    assert (await runs.get_run_detail(operator, run.id)).can_request_rerun
    assert not (await runs.get_run_detail(viewer, run.id)).can_request_rerun
    req = await reruns.request_rerun(operator, run.id, "max_items now 1000")
    asked = await runs.get_run_detail(operator, run.id)
    assert not asked.can_request_rerun  # one open request at a time, as request_rerun enforces
    assert asked.rerun_decisions[req.id] == approvals.Decision(own=True, can_decide=False)
    other = await runs.get_run_detail(approver, run.id)
    assert other.rerun_decisions[req.id] == approvals.Decision(own=False, can_decide=True)
    assert not other.can_release  # not quarantined (a SEV1 run)


async def test_a_decision_through_another_runs_address_is_not_found(tenant):
    run, other = await gated_run(tenant), await gated_run(tenant)
    _, operator = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    req = await reruns.request_rerun(operator, run.id, "max_items now 1000")
    with pytest.raises(NotFound, match=f"RerunRequest {req.id} not found"):
        await reruns.approve_rerun(approver, req.id, "fixed", expected_version=1, run_pk=other.id)
    with pytest.raises(NotFound, match="Run 2147483000 not found"):
        await reruns.deny_rerun(approver, req.id, "no", expected_version=1, run_pk=2147483000)
    assert (await RerunRequest.get(id=req.id)).status is RerunStatus.PENDING  # nothing changed
    done = await reruns.approve_rerun(approver, req.id, "fixed", expected_version=1, run_pk=run.id)
    assert done.status is RerunStatus.APPROVED


async def test_rerun_decisions_follow_maker_checker_roles_and_versions(tenant):
    run = await gated_run(tenant)
    _, operator = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    _, approver2 = await tenant.user("approver")
    req = await reruns.request_rerun(approver, run.id, "fixed the iterator")
    before = await org_state(tenant.org_id)
    with pytest.raises(Forbidden, match="maker-checker"):
        await reruns.approve_rerun(approver, req.id, "self", expected_version=1)
    with pytest.raises(Forbidden):
        await reruns.approve_rerun(operator, req.id, "not mine to approve", expected_version=1)
    with pytest.raises(Conflict, match="version 1"):
        await reruns.approve_rerun(approver2, req.id, "m", expected_version=7)
    with pytest.raises(Invalid, match="Mitigation is required"):
        await reruns.approve_rerun(approver2, req.id, "  ", expected_version=1)
    assert await org_state(tenant.org_id) == before
    denied = await reruns.deny_rerun(
        approver2, req.id, "root cause not yet identified", expected_version=1
    )
    assert denied.status is RerunStatus.DENIED and denied.deny_reason
    with pytest.raises(Conflict, match="only a pending request"):
        await reruns.approve_rerun(approver2, req.id, "m", expected_version=2)


async def test_a_run_without_gate_needs_no_request(tenant):
    result = await svc.record_runs(tenant.admin, [run_item(key(), 10.0)])
    _, operator = await tenant.user("operator")
    with pytest.raises(Invalid, match="no rerun gate"):
        await reruns.request_rerun(operator, result.recorded[0].pk, "why not")


async def test_other_organizations_runs_and_requests_look_missing(tenant, other_tenant):
    run = await gated_run(other_tenant)
    _, operator = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    with pytest.raises(NotFound) as e1:
        await reruns.request_rerun(operator, run.id, "x")
    with pytest.raises(NotFound) as e2:
        await reruns.request_rerun(operator, 2**31 - 2, "x")
    assert str(e1.value).replace(str(run.id), "N") == str(e2.value).replace(str(2**31 - 2), "N")
    _, other_op = await other_tenant.user("operator")
    req = await reruns.request_rerun(other_op, run.id, "x")
    with pytest.raises(NotFound):
        await reruns.approve_rerun(approver, req.id, "m", expected_version=1)
    with pytest.raises(NotFound):
        await runs.get_run_detail(operator, run.id)
    with pytest.raises(NotFound):
        await quarantine.release_quarantine(approver, run.id, "x", expected_version=1)


# --- quarantine release ------------------------------------------------------------------------


async def sev0_with_file(tenant) -> tuple[Run, str]:
    k = key()
    await with_baseline(tenant, k)
    name = f"{uuid.uuid4().hex[:6]}.csv"
    uri = f"artifact:{tenant.org_id}/in/{name}"
    path = artifacts.stored_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"id\n1\n")
    sha = hashlib.sha256(b"id\n1\n").hexdigest()
    result = await svc.record_runs(
        tenant.admin,
        [run_item(k, 2000.0, data_classification="regulatory",
                  artifacts=[{"uri": uri, "sha256": sha}])],
    )  # fmt: skip
    return await Run.get(id=result.recorded[0].pk), uri


async def test_release_needs_an_approver_a_resolved_case_and_intact_files(tenant):
    run, uri = await sev0_with_file(tenant)
    _, operator = await tenant.user("operator")
    _, approver = await tenant.user("approver", name="Olive")
    with pytest.raises(Forbidden):
        await quarantine.release_quarantine(operator, run.id, "false positive", expected_version=1)
    with pytest.raises(Conflict, match="Resolve the case first"):
        await quarantine.release_quarantine(approver, run.id, "false positive", expected_version=1)
    await Case.filter(id=run.case_id).update(status=CaseStatus.RESOLVED, resolved_at=NOW)

    art = await RunArtifact.get(run_id=run.id)
    qfile = artifacts.quarantine_root() / art.quarantine_path
    original = qfile.read_bytes()
    qfile.write_bytes(b"tampered")
    seq = await head(tenant.org_id)
    with pytest.raises(Conflict, match="failed verification"):
        await quarantine.release_quarantine(approver, run.id, "false positive", expected_version=1)
    assert (await Run.get(id=run.id)).quarantined and await head(tenant.org_id) == seq
    qfile.write_bytes(original)

    with pytest.raises(Conflict, match="version"):
        await quarantine.release_quarantine(approver, run.id, "false positive", expected_version=9)
    released = await quarantine.release_quarantine(
        approver, run.id, "false positive: test data", expected_version=1
    )
    assert released.checks[0].ok and released.checks[0].held
    run = await Run.get(id=run.id)
    assert not run.quarantined and not run.dispatch_blocked and run.version == 2
    assert artifacts.stored_path(uri).exists() and not qfile.exists()
    note = await CaseNote.get(case_id=run.case_id)
    assert "released" in note.body and "Olive" in note.body
    assert await AuditEvent.filter(org_id=tenant.org_id, action="run.release").count() == 1
    with pytest.raises(Conflict, match="not quarantined"):
        await quarantine.release_quarantine(approver, run.id, "again", expected_version=2)


# --- reading -----------------------------------------------------------------------------------


async def test_ledger_filters_and_keyset_pages(tenant):
    k1, k2 = key(), key()
    await with_baseline(tenant, k1)
    items = [
        run_item(k1, 600.0, started_at=(NOW - timedelta(hours=1)).isoformat()),
        run_item(k1, 90.0, retry_count=9, started_at=(NOW - timedelta(hours=2)).isoformat()),
        run_item(k2, 50.0, started_at=(NOW - timedelta(hours=3)).isoformat()),
    ]
    await svc.record_runs(tenant.admin, items)
    _, viewer = await tenant.user("viewer")
    page = await runs.list_runs(viewer, runs.RunFilter(severities=["SEV1"]))
    assert [r.run_id for r in page.runs] == [items[0]["run_id"]]
    page = await runs.list_runs(viewer, runs.RunFilter(severities=["none"]))
    assert {r.run_id for r in page.runs} == {items[1]["run_id"], items[2]["run_id"]}
    page = await runs.list_runs(viewer, runs.RunFilter(flag="retry_loop"))
    assert [r.run_id for r in page.runs] == [items[1]["run_id"]]
    page = await runs.list_runs(viewer, runs.RunFilter(scenario=k2))
    assert [r.run_id for r in page.runs] == [items[2]["run_id"]]
    first = await runs.list_runs(viewer, first=2)
    assert first.has_next and len(first.runs) == 2
    rest = await runs.list_runs(viewer, first=2, after=first.end_cursor)
    assert [r.run_id for r in first.runs + rest.runs] == [i["run_id"] for i in items]
    with pytest.raises(Invalid, match="cursor"):
        await runs.list_runs(viewer, after="bm9wZQ==")
    with pytest.raises(Invalid, match="SEV0, SEV1"):
        await runs.list_runs(viewer, runs.RunFilter(severities=["SEV9"]))
    with pytest.raises(Invalid, match="is unknown; choose one of retry loop"):
        await runs.list_runs(viewer, runs.RunFilter(flag="nope"))


async def test_viewing_a_run_is_a_data_access_event(tenant):
    result = await svc.record_runs(tenant.admin, [run_item(key(), 10.0)])
    _, viewer = await tenant.user("viewer")
    detail = await runs.get_run_detail(viewer, result.recorded[0].pk)
    assert detail.run.run_id == result.recorded[0].run_id
    event = await AuditEvent.filter(org_id=tenant.org_id, action="run.view").first()
    assert event is not None and event.entity_id == str(detail.run.id)
    _, strategist = await tenant.user("strategist")
    with pytest.raises(Forbidden):
        await runs.get_run_detail(strategist, detail.run.id)


async def test_a_cli_principal_without_user_records_and_opens_cases(tenant):
    system = dataclasses.replace(tenant.admin, user_id=0)
    k = key()
    await with_baseline(tenant, k)
    result = await svc.record_runs(system, [run_item(k, 700.0)])
    case = await Case.get(id=(await Run.get(id=result.recorded[0].pk)).case_id)
    assert case.opened_by_id is None


# --- review findings ---------------------------------------------------------------------------


async def test_a_run_cannot_reference_another_organizations_artifacts(tenant, other_tenant):
    k = key()
    await with_baseline(tenant, k)
    theirs = f"artifact:{other_tenant.org_id}/THEIR-RUN/report.json"
    path = artifacts.stored_path(theirs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"theirs")
    items = [
        run_item(k, 2000.0, data_classification="pii", artifacts=[{"uri": theirs}]),
        run_item(k, 2000.0, data_classification="pii", artifacts=[{"uri": "artifact:../x"}]),
        run_item(k, 90.0),
    ]
    result = await svc.record_runs(tenant.admin, items)
    assert [r.index for r in result.recorded] == [2]
    assert [(e.index, e.field) for e in result.errors] == [
        (0, "artifacts[0].uri"),
        (1, "artifacts[0].uri"),
    ]
    assert "not in your organization's store" in result.errors[0].message
    assert path.exists()  # not moved


async def test_the_scenarios_data_classification_is_what_gets_classified(tenant):
    k = key()
    scenario = await with_baseline(tenant, k)
    await Scenario.filter(id=scenario.id).update(data_classification="pii")
    result = await svc.record_runs(tenant.admin, [run_item(k, 1500.0)])  # no classification sent
    run = await Run.get(id=result.recorded[0].pk)
    assert run.severity == "SEV0" and run.data_classification == "pii" and run.quarantined


async def test_two_files_with_one_name_do_not_collide_in_quarantine(tenant):
    k = key()
    await with_baseline(tenant, k)
    run_id = "RUN/with/slashes"
    uris = [f"artifact:{tenant.org_id}/src/{d}/out.json" for d in ("a", "b")]
    for i, uri in enumerate(uris):
        p = artifacts.stored_path(uri)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(f"file {i}".encode())
    item = run_item(k, 2000.0, run_id=run_id, data_classification="pii",
                    artifacts=[{"uri": u} for u in uris])  # fmt: skip
    result = await svc.record_runs(tenant.admin, [item])
    arts = await RunArtifact.filter(run_id=result.recorded[0].pk).order_by("id")
    paths = [a.quarantine_path for a in arts]
    assert len(set(paths)) == 2 and all("RUN%2Fwith%2Fslashes" in p for p in paths)
    held = [(artifacts.quarantine_root() / p).read_bytes() for p in paths]
    assert held == [b"file 0", b"file 1"]


async def test_the_review_channel_hears_of_a_sev2_pattern_once(tenant):
    k = key()
    await with_baseline(tenant, k)
    for credits in (250.0, 260.0, 270.0, 280.0, 290.0):
        await svc.record_runs(tenant.admin, [run_item(k, credits)])
    msgs = await OutboxMessage.filter(org_id=tenant.org_id, kind="run.sev2_pattern")
    assert len(msgs) == 1
    assert await Case.filter(org_id=tenant.org_id).count() == 1


async def test_a_batch_of_pattern_runs_joins_one_case_with_one_update(tenant, monkeypatch):
    """Ten SEV2 runs of one scenario in one call: after the pattern starts (the third), each
    run joins the same case, the review channel hears once, and the batch links them with one
    UPDATE, not one per run."""
    from tortoise.backends.base.client import BaseDBAsyncClient

    k = key()
    await with_baseline(tenant, k)
    sent: list[str] = []
    # Inside the recording transaction the SQL goes through the backend's transaction client:
    # count on every client class that defines execute_query.
    pending = [BaseDBAsyncClient]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "execute_query" in vars(cls):

            def wrap(original):  # type: ignore[no-untyped-def]
                async def counted(self, query, values=None):  # type: ignore[no-untyped-def]
                    sent.append(query)
                    return await original(self, query, values)

                return counted

            monkeypatch.setattr(cls, "execute_query", wrap(vars(cls)["execute_query"]))
    done = await svc.record_runs(tenant.admin, [run_item(k, 250.0 + n) for n in range(10)])
    numbers = [r.case_number for r in done.recorded]
    assert numbers[:2] == [None, None] and len(set(numbers[2:])) == 1 and numbers[2]
    case = await Case.get(org_id=tenant.org_id)
    linked = await Run.filter(case_id=case.id).count()
    assert linked == 8
    assert await OutboxMessage.filter(org_id=tenant.org_id, kind="run.sev2_pattern").count() == 1
    updates = [q for q in sent if q.lstrip().upper().startswith('UPDATE "RUN" SET "CASE_ID"')]
    assert len(updates) == 1, updates


async def test_release_verifies_a_file_the_quarantine_move_never_reached(tenant):
    run, uri = await sev0_with_file(tenant)
    art = await RunArtifact.get(run_id=run.id)
    # As if the process had died between the commit and the move: the file is back in the store.
    qfile = artifacts.quarantine_root() / art.quarantine_path
    artifacts.stored_path(uri).write_bytes(qfile.read_bytes())
    qfile.unlink()
    await Case.filter(id=run.case_id).update(status=CaseStatus.RESOLVED)
    _, approver = await tenant.user("approver")
    released = await quarantine.release_quarantine(approver, run.id, "fp", expected_version=1)
    assert released.checks[0].ok and artifacts.stored_path(uri).exists()
    events = await AuditEvent.filter(org_id=tenant.org_id, action="case.add_note").count()
    assert events == 1  # the release note goes through the case's own history and audit


@pytest.mark.postgres_only
async def test_one_approval_allows_one_rerun_even_concurrently(tenant):
    import asyncio

    run = await gated_run(tenant)
    _, operator = await tenant.user("operator")
    _, approver = await tenant.user("approver")
    req = await reruns.request_rerun(operator, run.id, "fixed")
    await reruns.approve_rerun(approver, req.id, "max_items 1000", expected_version=1)
    k = (await run.scenario).key
    a = run_item(k, 90.0, rerun_of=run.run_id)
    b = run_item(k, 95.0, rerun_of=run.run_id)
    first, second = await asyncio.gather(
        svc.record_runs(tenant.admin, [a]), svc.record_runs(tenant.admin, [b])
    )
    assert len(first.recorded) + len(second.recorded) == 1
    refused = first.errors + second.errors
    assert len(refused) == 1 and refused[0].code is ErrorCode.FORBIDDEN
