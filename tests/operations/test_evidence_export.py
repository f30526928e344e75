"""The SOC 2-style evidence export (issue 15, seed 003 CO-001): the CSV files of a period, their
content, the SHA-256 manifest, and every refusal (nothing written, nothing audited)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.core.errors import Forbidden, Invalid
from riskops.server.credit import policy
from riskops.server.identity import users
from riskops.server.observability import Tally
from riskops.server.operations import access_review, availability, evidence
from riskops.server.operations.access_review import Decision
from riskops.server.operations.evidence import Period, parse_period
from riskops.server.operations.models import BackupBackend, BackupRecord, RestoreRecord
from tests.triage.test_cases_service import new_case


def test_periods() -> None:
    assert parse_period("2026-Q4") == Period("2026-Q4", date(2026, 10, 1), date(2026, 12, 31))
    assert parse_period(" 2024-q1 ") == Period("2024-Q1", date(2024, 1, 1), date(2024, 3, 31))
    assert parse_period("2024-02") == Period("2024-02", date(2024, 2, 1), date(2024, 2, 29))
    found = parse_period("2026-10-15..2026-11-02")
    assert (found.first, found.last) == (date(2026, 10, 15), date(2026, 11, 2))
    assert found.start == datetime(2026, 10, 15, tzinfo=UTC)
    assert found.end == datetime(2026, 11, 3, tzinfo=UTC)  # the last day is included
    for bad, message in [
        ("", "Period is required"),
        ("2026-Q5", "is not a quarter"),
        ("2026-13", "no month 13"),
        ("Q4 2026", "is not a quarter"),
        ("2026-11-02..2026-10-15", "ends before it starts"),
        ("2026-10-15..tomorrow", "both ends must be dates"),
        ("2020-01-01..2026-01-01", "export it in parts"),
    ]:
        with pytest.raises(Invalid, match=message) as caught:
            parse_period(bad)
        assert caught.value.field == "period"


def _rows(found: evidence.EvidenceSet, name: str) -> list[dict[str, str]]:
    content = next(f.content for f in found.files if f.name == name)
    return list(csv.DictReader(io.StringIO(content.decode())))


def _this_quarter() -> str:
    today = datetime.now(UTC).date()
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


async def test_the_evidence_set_and_its_manifest(tenant: Any, tmp_path: Path) -> None:
    target, _ = await tenant.user("viewer", name="Vera")
    await users.update_user_roles(tenant.admin, target.id, ["operator"])
    _, maker = await tenant.user("approver", name="Maker")
    _, checker = await tenant.user("approver", name="Checker")
    proposed = await policy.change_policy(maker, {"retry_limit": 5}, "more retries", 0)
    await policy.approve_policy_change(checker, proposed.number, "fine")
    _, strategist = await tenant.user("strategist", name="Stra")
    await new_case(strategist)
    _, reviewer = await tenant.user("compliance_reviewer", name="Rita")
    await access_review.record_review(reviewer, [Decision(target.id, "keep", "needed")])
    now = datetime.now(UTC)
    backup = await BackupRecord.create(
        created_at=now, path="/b/x.tar", backend=BackupBackend.SQLITE, schema_version="0024_sync",
        size_bytes=10, sha256="ab" * 32, created_by="cli:test", verified_at=now,
    )  # fmt: skip
    await RestoreRecord.create(
        backup_sha256="ab" * 32, archive="/b/x.tar", started_at=now, finished_at=now, ok=True,
        detail="rows matched", created_by="cli:test",
    )  # fmt: skip
    tally = Tally()
    for status in (200, 200, 200, 503):
        tally.note("/alerts", status, 0.02)
    await availability.flush(tally)

    out = tmp_path / "evidence"
    found = await evidence.export(reviewer, _this_quarter(), out)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*evidence.FILES, evidence.MANIFEST, evidence.SUMS])

    # Every file's hash is in the manifest and in SHA256SUMS.
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["org_id"] == tenant.org_id and manifest["period"]["label"] == _this_quarter()
    assert [f["name"] for f in manifest["files"]] == list(evidence.FILES)
    for entry in manifest["files"]:
        data = (out / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]
    sums = (out / "SHA256SUMS").read_text().splitlines()
    assert sums == [f"{f['sha256']}  {f['name']}" for f in manifest["files"]]
    assert found.manifest_sha256 == hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()

    people = {r["name"]: r for r in _rows(found, "user_access.csv")}
    assert people["Vera"]["roles"] == "operator" and people["Vera"]["mfa_enabled"] == "false"
    assert set(people) == {"Admin", "Vera", "Maker", "Checker", "Stra", "Rita"}
    roles = {r["role"]: r for r in _rows(found, "role_assignments.csv")}
    assert roles["approver"]["active_users"] == "2" and "viewer" not in roles
    assert roles["operator"]["emails"] == target.email
    changes = [r for r in _rows(found, "role_changes.csv") if r["action"] == "user.roles_change"]
    assert [(c["user"], c["roles_before"], c["roles_after"], c["by"]) for c in changes] == [
        ("Vera", "viewer", "operator", "Admin")
    ]
    [review] = _rows(found, "access_reviews.csv")
    assert (
        review["reviewer"] == "Rita"
        and review["kept"] == "1"
        and "keep (needed)" in review["decisions"]
    )
    policy_rows = [r for r in _rows(found, "change_management.csv") if r["kind"] == "policy"]
    assert [(r["step"], r["maker"], r["checker"]) for r in policy_rows] == [
        ("requested", "Maker", ""),
        ("approved", "Maker", "Checker"),
    ]
    counts = {r["metric"]: int(r["count"]) for r in _rows(found, "data_processing.csv")}
    assert counts["alerts_ingested"] == 1 and counts["cases_opened"] == 1
    assert counts["runs_recorded"] == 0
    assert str(backup.id) in [r["backup_id"] for r in _rows(found, "backups.csv")]
    assert any(r["ok"] == "true" for r in _rows(found, "restore_drills.csv"))
    today = [r for r in _rows(found, "availability.csv") if r["day"] == now.date().isoformat()]
    assert int(today[0]["requests"]) >= 4 and int(today[0]["errors_5xx"]) >= 1

    [event] = await AuditEvent.filter(org_id=tenant.org_id, action="evidence.export")
    detail = json.loads(event.new_values)
    assert detail["manifest_sha256"] == found.manifest_sha256
    assert detail["period"] == _this_quarter()

    # Another period holds none of this one's events; without a directory nothing is written.
    earlier = await evidence.export(tenant.admin, "2020-Q1")
    assert _rows(earlier, "access_reviews.csv") == [] and earlier.directory is None
    assert _rows(earlier, "role_changes.csv") == []


async def test_other_organizations_are_not_in_the_set(tenant: Any, other_tenant: Any) -> None:
    await access_review.record_review(
        other_tenant.admin, [Decision(other_tenant.admin_user.id, "keep")]
    )
    found = await evidence.export(tenant.admin, _this_quarter())
    assert {r["name"] for r in _rows(found, "user_access.csv")} == {"Admin"}
    assert _rows(found, "access_reviews.csv") == []


async def test_refusals_write_nothing(tenant: Any, tmp_path: Path) -> None:
    _, viewer = await tenant.user("viewer", name="Vic")
    before = await AuditEvent.filter(org_id=tenant.org_id).count()
    out = tmp_path / "out"
    with pytest.raises(Forbidden, match=r"evidence\.export"):
        await evidence.export(viewer, "garbage", out)  # permission first
    with pytest.raises(Invalid, match="is not a quarter"):
        await evidence.export(tenant.admin, "2026-Q9", out)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    full = tmp_path / "full"
    full.mkdir()
    (full / "old.csv").write_text("x")
    for bad, message in [(a_file, "is a file"), (full, "is not empty"), ("  ", "is required")]:
        with pytest.raises(Invalid, match=message) as caught:
            await evidence.export(tenant.admin, "2026-Q4", bad)
        assert caught.value.field == "directory"
    assert not out.exists()
    assert [p.name for p in full.iterdir()] == ["old.csv"]
    assert await AuditEvent.filter(org_id=tenant.org_id).count() == before
