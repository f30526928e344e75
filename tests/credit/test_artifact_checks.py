"""Artifact upload and verification as service functions, on SQLite and PostgreSQL: the
permission each needs, the caller's organization only (another's run reads like a missing one),
and the audit event of a verification with its outcome (HIGH risk on a mismatch)."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.core.errors import Forbidden, Invalid, NotFound
from riskops.server.credit import artifact_checks as svc
from riskops.server.credit import artifacts
from riskops.server.credit.models import Run, RunArtifact
from riskops.server.credit.recording import record_runs
from riskops.server.credit.runs import get_run_by_run_id
from tests.credit.test_runs_service import key, rid, run_item, with_baseline

BODY = b"customer,email\n"
SHA = hashlib.sha256(BODY).hexdigest()


def ledger_dir(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir(parents=True)
    (tmp_path / "out" / "export.csv").write_bytes(BODY)
    return tmp_path


async def verify_events(org_id: int) -> list[AuditEvent]:
    return list(await AuditEvent.filter(org_id=org_id, action="artifact.verify").order_by("seq"))


# --- upload ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "operator", "approver", "strategist"])
async def test_uploading_needs_run_record(tenant, tmp_path, role):
    _, principal = await tenant.user(role)
    run_id = rid()
    record = {"run_id": run_id, "artifacts": [{"uri": "out/export.csv"}]}
    with pytest.raises(Forbidden, match=r"run\.record"):
        await svc.upload_local_artifacts(principal, record, ledger_dir(tmp_path), 1)
    assert not (artifacts.root() / str(tenant.org_id) / run_id).exists()


async def test_upload_copies_local_files_into_the_store_with_their_hash(tenant, tmp_path):
    run_id = rid()
    record = {"Run_ID": run_id, "Scenario_ID": key(), "Credits_Total": 10.0,
              "Artifacts": [{"uri": "out/export.csv", "sha256": SHA.upper()},
                            {"uri": "https://files.example.test/x.json"}]}  # fmt: skip
    done = await svc.upload_local_artifacts(tenant.admin, record, ledger_dir(tmp_path), 1)
    uri = f"artifact:{tenant.org_id}/{run_id}/export.csv"
    assert done["Artifacts"] == [
        {"uri": uri, "sha256": SHA},
        {"uri": "https://files.example.test/x.json"},
    ]
    assert record["Artifacts"][0] == {"uri": "out/export.csv", "sha256": SHA.upper()}  # a copy
    assert artifacts.stored_path(uri).read_bytes() == BODY
    recorded = await record_runs(tenant.admin, [done])
    assert recorded.errors == []
    art = await RunArtifact.get(run_id=recorded.recorded[0].pk, uri=uri)
    assert art.sha256 == SHA
    # Records without local files pass as they are.
    plain = {"run_id": rid(), "artifacts": [{"uri": "s3://bucket/x"}]}
    assert await svc.upload_local_artifacts(tenant.admin, plain, tmp_path, 2) == plain
    assert await svc.upload_local_artifacts(tenant.admin, "not a dict", tmp_path, 3) == "not a dict"


@pytest.mark.parametrize(
    ("uri", "sha", "message"),
    [
        ("../secret.txt", None, "only files in the ledger's folder"),
        ("out/missing.csv", None, "no such file next to the ledger"),
        ("out/export.csv", "0" * 64, f"SHA-256 is {SHA}, the ledger says {'0' * 64}"),
    ],
)
async def test_upload_refuses_what_it_cannot_vouch_for(tenant, tmp_path, uri, sha, message):
    base = ledger_dir(tmp_path / "ledger")
    (tmp_path / "secret.txt").write_text("not for the store")
    item = {"uri": uri, **({"sha256": sha} if sha else {})}
    with pytest.raises(Invalid, match=message) as refused:
        await svc.upload_local_artifacts(tenant.admin, {"artifacts": [item]}, base, 7)
    assert refused.value.field == "artifacts"
    assert not (artifacts.root() / str(tenant.org_id) / "line-7" / "secret.txt").exists()


async def test_a_recorded_run_is_left_alone_and_another_orgs_run_is_like_a_new_one(
    tenant, other_tenant, tmp_path
):
    base = ledger_dir(tmp_path)
    run_id = rid()
    record = {"run_id": run_id, "scenario": key(), "credits_total": 1.0,
              "artifacts": [{"uri": "out/export.csv"}]}  # fmt: skip
    # The other organization recorded a run with this id, with a file of its own.
    theirs = await svc.upload_local_artifacts(other_tenant.admin, record, base, 1)
    assert (await record_runs(other_tenant.admin, [theirs])).errors == []
    their_file = artifacts.stored_path(theirs["artifacts"][0]["uri"])

    ours = await svc.upload_local_artifacts(tenant.admin, record, base, 1)
    our_uri = ours["artifacts"][0]["uri"]
    assert our_uri == f"artifact:{tenant.org_id}/{run_id}/export.csv"
    assert their_file.read_bytes() == BODY and their_file != artifacts.stored_path(our_uri)
    assert (await record_runs(tenant.admin, [ours])).errors == []

    # Recorded now: importing the ledger again neither uploads nor touches the record.
    artifacts.stored_path(our_uri).unlink()
    assert await svc.upload_local_artifacts(tenant.admin, record, base, 1) == record
    assert not artifacts.stored_path(our_uri).exists()


# --- verification ------------------------------------------------------------------------------


async def runs_with_files(tenant, tmp_path: Path) -> tuple[Run, Run]:
    """A SEV0 run whose file went into quarantine, and a healthy run whose file stayed in the
    store; both also reference an external file (not held, so not checked)."""
    k = key()
    await with_baseline(tenant, k)
    base = ledger_dir(tmp_path)
    external = {"uri": "https://files.example.test/x.json"}
    items = [
        run_item(k, 2000.0, data_classification="pii",
                 artifacts=[{"uri": "out/export.csv"}, external]),
        run_item(k, 100.0, artifacts=[{"uri": "out/export.csv"}, external]),
    ]  # fmt: skip
    ready = [await svc.upload_local_artifacts(tenant.admin, x, base, 1) for x in items]
    done = await record_runs(tenant.admin, ready)
    assert done.errors == [] and len(done.recorded) == 2
    sev0, healthy = [await Run.get(id=r.pk) for r in done.recorded]
    assert sev0.quarantined and not healthy.quarantined
    return sev0, healthy


@pytest.mark.parametrize("role", ["admin", "strategist", "compliance_reviewer"])
async def test_verifying_needs_run_read(tenant, tmp_path, role):
    sev0, _ = await runs_with_files(tenant, tmp_path)
    _, principal = await tenant.user(role)
    with pytest.raises(Forbidden, match=r"run\.read"):
        await svc.verify_recent_artifacts(principal, 1)
    with pytest.raises(Forbidden, match=r"run\.read"):
        await svc.verify_run_artifacts(principal, sev0.run_id)
    assert await verify_events(tenant.org_id) == []


async def test_the_daily_check_counts_and_is_audited_with_its_outcome(
    tenant, other_tenant, tmp_path
):
    sev0, healthy = await runs_with_files(tenant, tmp_path / "ours")
    await runs_with_files(other_tenant, tmp_path / "theirs")  # never counted for us
    _, viewer = await tenant.user("viewer")

    clean = await svc.verify_recent_artifacts(viewer, 1)
    assert clean.ok and len(clean.checks) == 2
    assert {(c.run_id, c.quarantined) for c in clean.checks} == {
        (sev0.run_id, True),
        (healthy.run_id, False),
    }
    assert all(c.detail.startswith(f"SHA-256 {SHA}") for c in clean.checks)
    [event] = await verify_events(tenant.org_id)
    assert (event.actor, event.entity_type, event.entity_id) == (
        f"user:{viewer.user_id}",
        "organization",
        str(tenant.org_id),
    )
    assert event.risk_level == "low"
    detail = json.loads(event.new_values)
    assert (detail["days"], detail["checked"], detail["mismatches"]) == (1, 2, 0)
    assert detail["mismatched"] == [] and detail["since"].endswith("Z")

    held = await RunArtifact.get(run_id=sev0.id, uri__startswith="artifact:")
    (artifacts.quarantine_root() / held.quarantine_path).write_bytes(b"tampered")
    stored = await RunArtifact.get(run_id=healthy.id, uri__startswith="artifact:")
    artifacts.stored_path(stored.uri).unlink()
    bad = await svc.verify_recent_artifacts(viewer, 1)
    assert not bad.ok and len(bad.checks) == 2 and len(bad.mismatches) == 2
    details = {c.run_id: c.detail for c in bad.mismatches}
    assert details[healthy.run_id] == "missing from the store"
    assert details[sev0.run_id].endswith(f"recorded {SHA}")
    event = (await verify_events(tenant.org_id))[-1]
    assert event.risk_level == "high"  # a file that changed is a security signal
    detail = json.loads(event.new_values)
    assert (detail["checked"], detail["mismatches"]) == (2, 2)
    assert {m["run_id"] for m in detail["mismatched"]} == {sev0.run_id, healthy.run_id}


async def test_one_runs_check_and_another_organizations_run(tenant, other_tenant, tmp_path):
    sev0, _ = await runs_with_files(tenant, tmp_path / "ours")
    theirs, _ = await runs_with_files(other_tenant, tmp_path / "theirs")
    _, viewer = await tenant.user("viewer")
    result = await svc.verify_run_artifacts(viewer, sev0.run_id)
    assert [(c.quarantined, c.ok) for c in result.checks] == [(True, True)]
    [event] = await verify_events(tenant.org_id)
    assert (event.entity_type, event.entity_id) == ("run", str(sev0.id))
    assert json.loads(event.new_values)["run_id"] == sev0.run_id

    missing = f"RUN-{uuid.uuid4().hex[:10]}"
    with pytest.raises(NotFound) as other:
        await svc.verify_run_artifacts(viewer, theirs.run_id)
    with pytest.raises(NotFound) as nowhere:
        await svc.verify_run_artifacts(viewer, missing)
    assert str(other.value).replace(theirs.run_id, "X") == str(nowhere.value).replace(missing, "X")
    with pytest.raises(NotFound):
        await get_run_by_run_id(viewer, theirs.run_id)
    assert len(await verify_events(tenant.org_id)) == 1
    assert await verify_events(other_tenant.org_id) == []


@pytest.mark.parametrize("days", [0, -1, svc.MAX_DAYS + 1, True])
async def test_the_window_is_one_day_to_ten_years(tenant, days):
    _, viewer = await tenant.user("viewer")
    with pytest.raises(Invalid, match="days must be a whole number"):
        await svc.verify_recent_artifacts(viewer, days)
    assert await verify_events(tenant.org_id) == []
