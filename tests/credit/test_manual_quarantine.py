"""Quarantine by hand (issue 16, seed 002 "Quarantine Procedure"), on SQLite and PostgreSQL, on
both faces: an approver quarantines a run's artifacts with a reason, the managed files move aside
as for a SEV0, dispatch is blocked, the reason stays on the run (and on its case) and the audit
event carries only its length; release works as before (a run quarantined by hand in no case has
no case to wait for). Every refusal changes nothing."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.core.errors import Conflict, Forbidden, Invalid, NotFound
from riskops.server.credit import artifacts, quarantine
from riskops.server.credit import recording as svc
from riskops.server.credit.models import Baseline, BaselineSource, Run, RunArtifact, Scenario
from riskops.server.identity.models import User
from riskops.server.triage.models import Case, CaseNote, CaseStatus
from tests.support.pages import flash_code

NOW = datetime.now(UTC)
CHANGES = ("run.quarantine", "run.release", "run.declassify", "case.add_note")
REASON = "The export may hold customer e-mails: hold it until checked."

QUARANTINE = """
mutation($run: ID!, $reason: String!, $v: Int!) {
  quarantineRun(runId: $run, reason: $reason, expectedVersion: $v) {
    run { id runId quarantined dispatchBlocked quarantineReason version }
    errors { code message field }
  }
}"""
RELEASE = """
mutation($run: ID!, $reason: String!, $v: Int!) {
  releaseQuarantine(runId: $run, reason: $reason, expectedVersion: $v) {
    run { quarantined dispatchBlocked version } checks { uri held ok detail }
    errors { code message field }
  }
}"""


def key() -> str:
    return f"SCEN_{uuid.uuid4().hex[:8].upper()}"


async def ordinary_run_with_file(tenant: Any, *, sev0: bool = False) -> tuple[Run, str]:
    """A run of a scenario with a baseline, holding one managed file: an ordinary run (no case,
    not quarantined), or with `sev0` one that the automatic rules quarantined (with a case)."""
    k = key()
    scenario = await Scenario.create(org_id=tenant.org_id, key=k, name=k, created_at=NOW)
    await Baseline.create(
        org_id=tenant.org_id, scenario_id=scenario.id, median=100.0, cv=0.1, sample_size=20,
        source=BaselineSource.MANUAL, set_at=NOW,
    )  # fmt: skip
    uri = f"artifact:{tenant.org_id}/in/{uuid.uuid4().hex[:6]}.csv"
    path = artifacts.stored_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"id,email\n1,a@example.test\n")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    result = await svc.record_runs(
        tenant.admin,
        [{"run_id": f"RUN-{uuid.uuid4().hex[:10]}", "scenario": k,
          "credits_total": 2000.0 if sev0 else 101.0, "data_classification":
          "regulatory" if sev0 else "internal",
          "started_at": (NOW - timedelta(minutes=5)).isoformat(),
          "artifacts": [{"uri": uri, "sha256": sha}]}],
    )  # fmt: skip
    assert not result.errors, result.errors
    return await Run.get(id=result.recorded[0].pk), uri


async def snapshot(org_id: int, run_id: int) -> tuple[object, ...]:
    """Everything a quarantine may change: the run, its artifacts, case notes, the audit chain."""
    run = await Run.get(id=run_id)
    arts = await RunArtifact.filter(run_id=run_id).order_by("id").values_list(
        "quarantine_path", "quarantined_at", "released_at"
    )  # fmt: skip
    # Changes only: viewing a run (run.view) is an audited access, and so is a refused call.
    changes = await AuditEvent.filter(org_id=org_id, action__in=CHANGES).count()
    return (
        run.quarantined, run.dispatch_blocked, run.quarantine_reason, run.version, arts,
        await CaseNote.filter(case__org_id=org_id).count(), changes,
    )  # fmt: skip


# --- the service ---------------------------------------------------------------------------------


async def test_an_approver_quarantines_a_run_by_hand_and_releases_it(tenant):
    run, uri = await ordinary_run_with_file(tenant)
    assert not run.quarantined and run.case_id is None
    _, approver = await tenant.user("approver", name="Olive")

    done = await quarantine.quarantine_run(approver, run.id, REASON, expected_version=1)
    assert (done.quarantined, done.dispatch_blocked, done.version) == (True, True, 2)
    row = await Run.get(id=run.id)
    assert row.quarantined and row.dispatch_blocked and row.quarantine_reason == REASON
    art = await RunArtifact.get(run_id=run.id)
    assert art.quarantine_path and art.quarantined_at is not None and art.released_at is None
    qfile = artifacts.quarantine_root() / art.quarantine_path
    # The same move as the automatic quarantine: the file left the store for the quarantine.
    assert qfile.exists() and not artifacts.stored_path(uri).exists()
    event = await AuditEvent.filter(org_id=tenant.org_id, action="run.quarantine").get()
    new = json.loads(event.new_values)
    assert new == {"quarantined": True, "dispatch_blocked": True, "manual": True,
                   "reason_length": len(REASON), "artifacts_held": 1, "case": None}  # fmt: skip
    assert "e-mails" not in (event.new_values or "") + (event.old_values or "")
    assert event.risk_level == "high"

    # In no case: nothing to resolve first; the file is verified and moved back.
    released = await quarantine.release_quarantine(
        approver, run.id, "checked: no customer data", expected_version=2
    )
    assert released.checks[0].ok and released.checks[0].held
    row = await Run.get(id=run.id)
    assert not row.quarantined and not row.dispatch_blocked and row.version == 3
    assert artifacts.stored_path(uri).exists() and not qfile.exists()
    assert row.quarantine_reason == REASON  # kept: the last manual quarantine's reason


async def test_a_run_with_a_case_notes_it_and_waits_for_the_case(tenant):
    _, approver = await tenant.user("approver", name="Olive")
    sev0, _ = await ordinary_run_with_file(tenant, sev0=True)
    await Case.filter(id=sev0.case_id).update(status=CaseStatus.RESOLVED, resolved_at=NOW)
    await quarantine.release_quarantine(approver, sev0.id, "test data", expected_version=1)
    # Quarantined again by hand while its case is reopened: the case gets the note with the
    # reason, and the release waits for the case again.
    await Case.filter(id=sev0.case_id).update(status=CaseStatus.INVESTIGATING)
    again = await quarantine.quarantine_run(approver, sev0.id, REASON, expected_version=2)
    assert again.quarantined and again.version == 3
    notes = await CaseNote.filter(case_id=sev0.case_id).order_by("id")
    assert "quarantined by hand" in notes[-1].body and REASON in notes[-1].body
    assert "Olive" in notes[-1].body
    art = await RunArtifact.get(run_id=sev0.id)
    assert art.released_at is None and art.quarantined_at is not None
    assert (artifacts.quarantine_root() / art.quarantine_path).exists()
    with pytest.raises(Conflict, match="Resolve the case first"):
        await quarantine.release_quarantine(approver, sev0.id, "x", expected_version=3)


async def test_refusals_change_nothing(tenant, other_tenant):
    run, _ = await ordinary_run_with_file(tenant)
    _, approver = await tenant.user("approver")
    before = await snapshot(tenant.org_id, run.id)

    for role in ("viewer", "operator", "strategist", "compliance_reviewer"):
        _, who = await tenant.user(role)
        with pytest.raises(Forbidden):
            await quarantine.quarantine_run(who, run.id, REASON, expected_version=1)
    _, stranger = await other_tenant.user("approver")
    with pytest.raises(NotFound) as theirs:
        await quarantine.quarantine_run(stranger, run.id, REASON, expected_version=1)
    with pytest.raises(NotFound) as missing:
        await quarantine.quarantine_run(stranger, 2_000_000_000, REASON, expected_version=1)
    assert theirs.value.message.replace(str(run.id), "N") == missing.value.message.replace(
        "2000000000", "N"
    )
    with pytest.raises(Conflict, match="version") as stale:
        await quarantine.quarantine_run(approver, run.id, REASON, expected_version=7)
    assert stale.value.field == "expected_version"
    bad: list[tuple[Any, str]] = [
        ("", "is required"), ("   ", "is required"), ("x" * 2001, "limit is 2000"),
        ("bad\x00byte", "control characters"), (42, "must be text"),
    ]  # fmt: skip
    for reason, why in bad:
        with pytest.raises(Invalid, match=why) as exc:
            await quarantine.quarantine_run(approver, run.id, reason, expected_version=1)
        assert exc.value.field == "reason"
    with pytest.raises(Invalid):
        await quarantine.quarantine_run(approver, run.id, REASON, expected_version="1")  # type: ignore[arg-type]
    assert await snapshot(tenant.org_id, run.id) == before

    await quarantine.quarantine_run(approver, run.id, REASON, expected_version=1)
    after = await snapshot(tenant.org_id, run.id)
    with pytest.raises(Conflict, match="already quarantined \\(by hand\\)"):
        await quarantine.quarantine_run(approver, run.id, "again", expected_version=2)
    assert await snapshot(tenant.org_id, run.id) == after


async def test_an_automatically_quarantined_run_is_refused_clearly(tenant):
    sev0, _ = await ordinary_run_with_file(tenant, sev0=True)
    _, approver = await tenant.user("approver")
    before = await snapshot(tenant.org_id, sev0.id)
    with pytest.raises(Conflict, match="already quarantined \\(automatically \\(SEV0\\)\\)"):
        await quarantine.quarantine_run(approver, sev0.id, REASON, expected_version=1)
    assert await snapshot(tenant.org_id, sev0.id) == before


async def test_by_run_id_is_refused_to_non_approvers_before_any_lookup(tenant):
    run, _ = await ordinary_run_with_file(tenant)
    _, operator = await tenant.user("operator")
    with pytest.raises(Forbidden):
        await quarantine.quarantine_run_by_run_id(operator, "NO-SUCH-RUN", REASON)
    _, approver = await tenant.user("approver")
    with pytest.raises(NotFound, match="Run NO-SUCH-RUN not found"):
        await quarantine.quarantine_run_by_run_id(approver, "NO-SUCH-RUN", REASON)
    done = await quarantine.quarantine_run_by_run_id(approver, run.run_id, REASON)
    assert done.quarantined and done.version == 2


# --- GraphQL -------------------------------------------------------------------------------------


async def _token(api: Any, tenant: Any, role: str) -> str:
    _, p = await tenant.user(role)
    return await api.token(tenant, await User.get(id=p.user_id))


async def test_quarantine_run_over_graphql(api, tenant, other_tenant):
    run, _ = await ordinary_run_with_file(tenant)
    ap = await _token(api, tenant, "approver")
    op = await _token(api, tenant, "operator")
    before = await snapshot(tenant.org_id, run.id)
    v = {"run": str(run.id), "reason": REASON, "v": 1}

    denied = (await api.data(op, QUARANTINE, v))["quarantineRun"]
    assert denied["errors"][0]["code"] == "FORBIDDEN" and denied["run"] is None
    empty = (await api.data(ap, QUARANTINE, {**v, "reason": " "}))["quarantineRun"]
    assert empty["errors"][0]["code"] == "INVALID" and empty["errors"][0]["field"] == "reason"
    stale = (await api.data(ap, QUARANTINE, {**v, "v": 3}))["quarantineRun"]
    assert stale["errors"][0]["code"] == "CONFLICT"
    theirs = await _token(api, other_tenant, "approver")
    other = (await api.data(theirs, QUARANTINE, v))["quarantineRun"]
    assert other["errors"][0]["code"] == "NOT_FOUND"
    assert await snapshot(tenant.org_id, run.id) == before

    done = (await api.data(ap, QUARANTINE, v))["quarantineRun"]
    assert done["errors"] == []
    assert done["run"] == {"id": str(run.id), "runId": run.run_id, "quarantined": True,
                           "dispatchBlocked": True, "quarantineReason": REASON,
                           "version": 2}  # fmt: skip
    again = (await api.data(ap, QUARANTINE, {**v, "v": 2}))["quarantineRun"]
    assert again["errors"][0]["code"] == "CONFLICT"
    assert "already quarantined" in again["errors"][0]["message"]
    released = (await api.data(ap, RELEASE, {"run": str(run.id), "reason": "ok", "v": 2}))[
        "releaseQuarantine"
    ]
    assert released["errors"] == [] and released["run"]["quarantined"] is False
    assert released["checks"][0]["ok"] is True


# --- the run page --------------------------------------------------------------------------------


async def test_the_run_page_quarantines_by_hand(browser, tenant):
    run, _ = await ordinary_run_with_file(tenant)
    ap_user, _ = await tenant.user("approver")
    op_user, _ = await tenant.user("operator")
    op = await browser(op_user, tenant.password)
    page = await op.get(f"/runs/{run.id}")
    assert f'action="/runs/{run.id}/quarantine"' not in page.text  # approvers only

    b = await browser(ap_user, tenant.password)
    page = await b.get(f"/runs/{run.id}")
    assert f'action="/runs/{run.id}/quarantine"' in page.text and "Quarantine by hand" in page.text
    before = await snapshot(tenant.org_id, run.id)
    empty = await b.post(
        f"/runs/{run.id}/quarantine", {"expected_version": "1", "quarantine_reason": " "}
    )
    assert empty.status_code == 422 and 'id="quarantine_reason-error"' in empty.text
    assert '<details class="run-quarantine-by-hand" open>' in empty.text
    stale = await b.post(
        f"/runs/{run.id}/quarantine", {"expected_version": "5", "quarantine_reason": REASON}
    )
    assert stale.status_code == 409 and "Nothing was changed" in stale.text
    assert await snapshot(tenant.org_id, run.id) == before

    ok = await b.post(
        f"/runs/{run.id}/quarantine", {"expected_version": "1", "quarantine_reason": REASON}
    )
    assert ok.status_code == 303 and flash_code(ok) == "run.quarantined"
    shown = await b.get(ok.headers["location"])
    assert "quarantined by hand" in shown.text and "customer e-mails" in shown.text
    assert "Quarantined by hand and in no case" in shown.text
    assert f'action="/runs/{run.id}/release"' in shown.text
    assert f'action="/runs/{run.id}/quarantine"' not in shown.text
    again = await b.post(
        f"/runs/{run.id}/quarantine", {"expected_version": "2", "quarantine_reason": REASON}
    )
    assert again.status_code == 409 and "is already quarantined (by hand)" in again.text
