"""Retention per organization (`riskops.server.operations.retention`), on both backends: the
policy (RETENTION_MANAGE, permission first, validated, audited), and enforcement: what is past
its period goes with the rows that point at it, open work stays, other organizations are
untouched, and each run is reported (a RetentionRun row and one audit event)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.assistant.models import AssistantResponse, ResponseStatus
from riskops.server.core.errors import Forbidden, Invalid
from riskops.server.credit import artifacts
from riskops.server.credit.models import RerunRequest, RerunStatus, Run, RunArtifact, Scenario
from riskops.server.identity.models import Session
from riskops.server.operations import retention
from riskops.server.operations.retention_models import RetentionPolicy, RetentionRun
from riskops.server.triage.models import (
    Alert,
    AlertEvent,
    AlertStatus,
    Case,
    CaseAlert,
    CaseStatus,
    RuleHit,
)

NOW = datetime.now(UTC)
LONG_AGO = NOW - timedelta(days=400)


async def alert(org_id: int, *, closed: datetime | None, status=AlertStatus.CLOSED) -> Alert:
    row = await Alert.create(
        org_id=org_id, external_id=uuid.uuid4().hex, source="test", title="old", score=50.0,
        priority="medium", status=status, created_at=LONG_AGO, updated_at=LONG_AGO,
        due_at=LONG_AGO, closed_at=closed,
    )  # fmt: skip
    await RuleHit.create(alert_id=row.id, rule_id="R-1", name="r", version="1",
                         score_contribution=1.0)  # fmt: skip
    await AlertEvent.create(alert_id=row.id, org_id=org_id, action="close", actor="user:1",
                            at=LONG_AGO)  # fmt: skip
    return row


async def case(org_id: int, status: CaseStatus) -> Case:
    number = uuid.uuid4().int % 1_000_000
    return await Case.create(org_id=org_id, number=number, title="c", status=status,
                             opened_at=LONG_AGO)  # fmt: skip


async def run(org_id: int, scenario: Scenario, *, started: datetime, **extra) -> Run:
    row = await Run.create(
        org_id=org_id, run_id=uuid.uuid4().hex, scenario_id=scenario.id, started_at=started,
        recorded_at=started, credits_total=1.0, misconfig_likelihood="low", policy_number=1,
        **extra,
    )  # fmt: skip
    await RunArtifact.create(run_id=row.id, uri="file:///x", sha256="0" * 64)
    return row


async def events(org_id: int, action: str) -> list[AuditEvent]:
    return await AuditEvent.filter(org_id=org_id, action=action).order_by("seq")


# --- the policy ---------------------------------------------------------------------------------


async def test_an_admin_sets_the_policy_and_it_is_audited(db, tenant) -> None:
    assert await retention.get_policy(tenant.admin) is None
    policy = await retention.set_policy(tenant.admin, alerts_days=365, sessions_days="30")
    assert (policy.alerts_days, policy.runs_days, policy.sessions_days) == (365, None, 30)
    again = await retention.set_policy(tenant.admin, runs_days=90, sessions_days=None)
    assert (again.alerts_days, again.runs_days, again.sessions_days) == (365, 90, None)
    assert again.version == 2
    (first, second) = await events(tenant.org_id, "retention.policy_set")
    assert json.loads(first.new_values)["alerts_days"] == 365
    assert json.loads(second.old_values)["sessions_days"] == 30
    assert json.loads(second.new_values)["runs_days"] == 90


async def test_only_retention_managers_set_it_checked_before_the_input(db, tenant) -> None:
    _, operator = await tenant.user("operator")
    with pytest.raises(Forbidden, match=r"retention\.manage"):
        await retention.set_policy(operator, alerts_days="not a number")
    with pytest.raises(Forbidden):
        await retention.get_policy(operator)
    with pytest.raises(Forbidden):
        await retention.enforce(operator)
    assert not await RetentionPolicy.filter(org_id=tenant.org_id).exists()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"alerts_days": 0}, "must be a whole number from 1 to 36,500"),
        ({"runs_days": 36_501}, "must be a whole number from 1 to 36,500"),
        ({"sessions_days": "ten"}, "'ten' is not a whole number of days"),
        ({"assistant_days": 1.5}, "must be a whole number"),
        ({"assistant_days": True}, "must be a whole number"),
        ({"audit_days": 10}, "unknown retention period"),
    ],
)
async def test_bad_periods_are_refused_and_change_nothing(db, tenant, raw, message) -> None:
    await retention.set_policy(tenant.admin, alerts_days=100)
    with pytest.raises(Invalid, match=message):
        await retention.set_policy(tenant.admin, **raw)
    policy = await RetentionPolicy.get(org_id=tenant.org_id)
    assert (policy.alerts_days, policy.runs_days, policy.version) == (100, None, 1)
    assert len(await events(tenant.org_id, "retention.policy_set")) == 1


# --- enforcement --------------------------------------------------------------------------------


async def test_no_policy_keeps_everything(db, tenant) -> None:
    old = await alert(tenant.org_id, closed=LONG_AGO)
    assert await retention.enforce(tenant.admin, trigger="cli") is None
    assert await Alert.exists(id=old.id)


async def test_enforcement_removes_what_is_past_and_keeps_open_work(
    db, tenant, other_tenant
) -> None:
    org = tenant.org_id
    gone = await alert(org, closed=LONG_AGO)
    recent = await alert(org, closed=NOW - timedelta(days=5))
    still_open = await alert(org, closed=None, status=AlertStatus.ASSIGNED)
    in_open_case = await alert(org, closed=LONG_AGO)
    in_closed_case = await alert(org, closed=LONG_AGO)
    open_case, closed_case = (
        await case(org, CaseStatus.INVESTIGATING),
        await case(org, CaseStatus.CLOSED),
    )
    for c, a in ((open_case, in_open_case), (closed_case, in_closed_case)):
        await CaseAlert.create(case_id=c.id, alert_id=a.id, linked_at=LONG_AGO)
    foreign = await alert(other_tenant.org_id, closed=LONG_AGO)

    scenario = await Scenario.create(org_id=org, key=f"S{uuid.uuid4().hex[:8]}".upper(),
                                     name="s", created_at=LONG_AGO)  # fmt: skip
    old_run = await run(org, scenario, started=LONG_AGO)
    rerun = await run(org, scenario, started=NOW, rerun_of_id=old_run.id)
    quarantined = await run(org, scenario, started=LONG_AGO, quarantined=True)
    waiting = await run(org, scenario, started=LONG_AGO)
    await RerunRequest.create(org_id=org, run_id=waiting.id, reason="r",
                              status=RerunStatus.PENDING, requested_at=LONG_AGO)  # fmt: skip
    decided = await run(org, scenario, started=LONG_AGO)
    await RerunRequest.create(org_id=org, run_id=decided.id, reason="r",
                              status=RerunStatus.DENIED, requested_at=LONG_AGO)  # fmt: skip
    held = await run(org, scenario, started=LONG_AGO, case_id=open_case.id)

    answered = await AssistantResponse.create(
        org_id=org, kind="explain_alert", target_type="alert", target_id=1,
        status=ResponseStatus.SUCCEEDED, created_at=LONG_AGO,
    )  # fmt: skip
    pending = await AssistantResponse.create(
        org_id=org, kind="explain_alert", target_type="alert", target_id=1,
        status=ResponseStatus.PENDING, created_at=LONG_AGO,
    )  # fmt: skip

    user = tenant.admin_user.id
    tomorrow = NOW + timedelta(days=1)
    ended = await Session.create(id=uuid.uuid4().hex, user_id=user, org_id=org,
                                 expires_at=LONG_AGO)  # fmt: skip
    revoked = await Session.create(id=uuid.uuid4().hex, user_id=user, org_id=org,
                                   expires_at=tomorrow, revoked_at=LONG_AGO)  # fmt: skip
    live = await Session.create(id=uuid.uuid4().hex, user_id=user, org_id=org,
                                expires_at=tomorrow)  # fmt: skip

    await retention.set_policy(
        tenant.admin, alerts_days=30, runs_days=30, assistant_days=30, sessions_days=30
    )
    result = await retention.enforce(tenant.admin, trigger="cli")
    assert result is not None
    assert result.removed == {"alerts": 2, "runs": 2, "assistant": 1, "sessions": 2}
    assert result.kept == {"alerts": 1, "runs": 3}
    assert result.finished_at is not None

    assert not await Alert.exists(id=gone.id)
    assert not await RuleHit.exists(alert_id=gone.id)
    assert not await AlertEvent.exists(alert_id=gone.id)
    assert not await Alert.exists(id=in_closed_case.id)
    assert not await CaseAlert.exists(alert_id=in_closed_case.id)
    assert await Case.exists(id=closed_case.id)
    for kept in (recent, still_open, in_open_case, foreign):
        assert await Alert.exists(id=kept.id)

    assert not await Run.exists(id=old_run.id)
    assert not await RunArtifact.exists(run_id=old_run.id)
    assert not await Run.exists(id=decided.id)
    assert not await RerunRequest.exists(run_id=decided.id)
    assert (await Run.get(id=rerun.id)).rerun_of_id is None
    for kept_run in (quarantined, waiting, held):
        assert await Run.exists(id=kept_run.id)

    assert not await AssistantResponse.exists(id=answered.id)
    assert await AssistantResponse.exists(id=pending.id)
    assert not await Session.exists(id=ended.id)
    assert not await Session.exists(id=revoked.id)
    assert await Session.exists(id=live.id)

    (event,) = await events(org, "retention.enforced")
    detail = json.loads(event.new_values)
    assert detail["removed"] == result.removed and detail["trigger"] == "cli"
    assert detail["kept_open_work"] == {"alerts": 1, "runs": 3}
    assert [r.id for r in await retention.list_runs(tenant.admin)] == [result.id]

    # A second run finds nothing more to remove.
    second = await retention.enforce(tenant.admin, trigger="cli")
    assert second is not None and second.removed == {k: 0 for k in retention.KINDS}


async def test_enforcement_goes_in_bounded_batches(db, tenant, monkeypatch) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)
    for _ in range(5):
        await alert(tenant.org_id, closed=LONG_AGO)
    await retention.set_policy(tenant.admin, alerts_days=1)
    result = await retention.enforce(tenant.admin, trigger="cli")
    assert result is not None and result.removed == {"alerts": 5}
    assert not await Alert.filter(org_id=tenant.org_id).exists()


async def test_the_job_enforces_every_organization_with_a_policy(db, tenant, other_tenant) -> None:
    mine = await alert(tenant.org_id, closed=LONG_AGO)
    theirs = await alert(other_tenant.org_id, closed=LONG_AGO)
    await retention.set_policy(tenant.admin, alerts_days=10)
    runs = await retention.enforce_all()
    assert tenant.org_id in {r.org_id for r in runs}
    assert other_tenant.org_id not in {r.org_id for r in runs}
    assert not await Alert.exists(id=mine.id)
    assert await Alert.exists(id=theirs.id)
    mine_run = await RetentionRun.filter(org_id=tenant.org_id).first()
    assert mine_run is not None and mine_run.trigger == "job"
    (event,) = await events(tenant.org_id, "retention.enforced")
    assert event.actor == "system"


# --- the files of removed runs -------------------------------------------------------------------


async def _stored(org_id: int, run_row: Run, name: str, tmp_path) -> RunArtifact:
    source = tmp_path / name
    source.write_text(f"{name} of {run_row.run_id}")
    kept = artifacts.upload(org_id, run_row.run_id, source)
    return await RunArtifact.create(run_id=run_row.id, uri=kept.uri, sha256=kept.sha256)


async def test_removing_runs_deletes_their_files_after_commit_never_a_referenced_one(
    db, tenant, tmp_path
) -> None:
    org = tenant.org_id
    scenario = await Scenario.create(org_id=org, key=f"S{uuid.uuid4().hex[:8]}".upper(),
                                     name="s", created_at=LONG_AGO)  # fmt: skip
    old = await run(org, scenario, started=LONG_AGO)  # also has an external file:///x
    in_store = await _stored(org, old, "report.csv", tmp_path)
    vanished = await _stored(org, old, "gone.csv", tmp_path)
    artifacts.stored_path(vanished.uri).unlink()
    # Released after a quarantine: back in the store, and a stale copy left in quarantine.
    released = await _stored(org, old, "released.csv", tmp_path)
    released.quarantine_path = artifacts.quarantine_path(org, old.run_id, released.uri)
    released.released_at = LONG_AGO
    await released.save()
    stale = artifacts.quarantine_root() / released.quarantine_path
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("stale copy")
    # A file the old run shares with a run that stays: kept.
    shared = await _stored(org, old, "shared.csv", tmp_path)
    recent = await run(org, scenario, started=NOW)
    await RunArtifact.create(run_id=recent.id, uri=shared.uri, sha256=shared.sha256)
    # A quarantined run is kept, its quarantined file too.
    held = await run(org, scenario, started=LONG_AGO, quarantined=True)
    held_art = await _stored(org, held, "held.csv", tmp_path)
    held_art.quarantine_path = artifacts.quarantine_path(org, held.run_id, held_art.uri)
    await held_art.save()
    assert artifacts.move_to_quarantine(held_art.uri, held_art.quarantine_path)
    await retention.set_policy(tenant.admin, runs_days=30)

    # The batch fails after removing the records: rolled back, and no file was touched.
    original = retention._REMOVERS["runs"]

    async def failing(*args: Any) -> int:
        await original(*args)
        raise RuntimeError("disk full")

    retention._REMOVERS["runs"] = failing
    try:
        with pytest.raises(RuntimeError):
            await retention.enforce(tenant.admin, trigger="cli")
    finally:
        retention._REMOVERS["runs"] = original
    assert await RunArtifact.exists(id=in_store.id)
    assert artifacts.stored_path(in_store.uri).exists() and stale.exists()

    result = await retention.enforce(tenant.admin, trigger="cli")
    assert result is not None
    # report.csv, released.csv and its stale quarantine copy; gone.csv was found nowhere.
    assert result.removed == {
        "runs": 1, retention.FILES_REMOVED: 3, retention.FILES_MISSING: 1
    }  # fmt: skip
    assert not await Run.exists(id=old.id)
    assert not artifacts.stored_path(in_store.uri).exists()
    assert not artifacts.stored_path(released.uri).exists() and not stale.exists()
    assert artifacts.stored_path(shared.uri).exists()  # still referenced by the recent run
    assert (artifacts.quarantine_root() / held_art.quarantine_path).exists()
    (event,) = await events(org, "retention.enforced")
    assert json.loads(event.new_values)["removed"] == result.removed

    # Nothing left to remove: no file counts.
    again = await retention.enforce(tenant.admin, trigger="cli")
    assert again is not None and again.removed == {"runs": 0}
