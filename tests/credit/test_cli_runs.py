"""`riskops runs import` and `riskops runs show` as an operator runs them (seed 002): a real
subprocess against a SQLite file and a throwaway PostgreSQL database."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import Target, seeded_target

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("cli-runs")) as made:
        t = made.target
        yield t


def test_import_a_seed_style_ledger_with_a_local_artifact(target: Target, tmp_path: Path) -> None:
    org = target.demo_org()
    target.execute(
        "INSERT INTO scenario (org_id, key, name, data_classification, created_at, version) "
        f"VALUES ({org}, 'BINDER_EXPORT_TEST', 'Binder export', 'internal', "
        "'2026-01-01T00:00:00+00:00', 1)"
    )
    sid = target.scalar("SELECT id FROM scenario WHERE key = 'BINDER_EXPORT_TEST'")
    target.execute(
        "INSERT INTO baseline (org_id, scenario_id, median, sample_size, source, set_at) "
        f"VALUES ({org}, {sid}, 1250.5, 28, 'manual', '2026-01-01T00:00:00+00:00')"
    )
    export = tmp_path / "out" / "export.csv"
    export.parent.mkdir()
    export.write_bytes(b"customer,email\n")
    lines = [
        {"Run_ID": "RUN-1", "Scenario_ID": "BINDER_EXPORT_TEST", "Credits_Total": 1300.0,
         "Job_Type": "batch", "Risk_Flags": [], "retry_count": 0, "has_max_items_config": True},
        {"Run_ID": "RUN-2", "Scenario_ID": "BINDER_EXPORT_TEST", "Credits_Total": 15000.0,
         "Data_Classification": "pii", "retry_count": 9, "has_max_items_config": False,
         "Severity": "SEV1", "dispatch_blocked": False,
         "Artifacts": [{"uri": "out/export.csv"}]},
        {"Run_ID": "RUN-3", "Scenario_ID": "BINDER_EXPORT_TEST", "Credits_Total": "lots"},
    ]  # fmt: skip
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text("\n".join(json.dumps(x) for x in lines) + "\n{broken\n", encoding="utf-8")

    first = target.run("runs", "import", str(ledger), "--org", "demo", ok=False)
    assert first.returncode == 1, first.stderr
    assert "2 stored" in first.stdout and "2 invalid" in first.stdout
    assert "line 3: credits_total:" in first.stdout and "line 4: json:" in first.stdout
    assert "SEV0 1" in first.stdout
    assert target.scalar("SELECT severity FROM run WHERE run_id = 'RUN-2'") == "SEV0"
    case = target.scalar("SELECT case_id FROM run WHERE run_id = 'RUN-2'")
    assert target.scalar(f"SELECT severity FROM risk_case WHERE id = {case}") == "critical"

    shown = json.loads(target.run("runs", "show", "RUN-2", "--org", "demo").stdout)
    assert shown["severity"] == "SEV0" and shown["dispatch_blocked"] is True
    # As reported by the producer, beside the computed values, and the disagreement flagged.
    assert shown["reported_severity"] == "SEV1" and shown["reported_dispatch_blocked"] is False
    assert shown["severity_disagrees"] is True and shown["dispatch_blocked_disagrees"] is True
    sha = hashlib.sha256(b"customer,email\n").hexdigest()
    assert shown["artifacts"][0]["sha256"] == sha
    assert shown["artifacts"][0]["check"] == f"SHA-256 {sha} verified"
    assert shown["case"].startswith("CASE-")
    viewed = target.scalar(
        "SELECT COUNT(*) FROM audit_event WHERE action = 'run.view' AND actor = 'cli'"
    )
    assert viewed == 1  # reading a run from the CLI is audited like the other faces

    again = target.run("runs", "import", str(ledger), "--org", "demo", ok=False)
    assert "0 stored, 2 unchanged" in again.stdout
    # Importing again does not put the quarantined export back into the store.
    assert not (target.var_dir / "artifacts" / str(org) / "RUN-2" / "export.csv").exists()
    outside = tmp_path / "outside.jsonl"
    secret = tmp_path.parent / "secret.txt"
    secret.write_text("not for the store")
    line = {"run_id": "RUN-9", "scenario": "BINDER_EXPORT_TEST", "credits_total": 1.0,
            "artifacts": [{"uri": "../secret.txt"}]}  # fmt: skip
    outside.write_text(json.dumps(line) + "\n", encoding="utf-8")
    refused = target.run("runs", "import", str(outside), "--org", "demo", ok=False)
    assert refused.returncode == 1 and "only files in the ledger's folder" in refused.stdout
    assert target.scalar("SELECT COUNT(*) FROM run WHERE run_id LIKE 'RUN-%'") == 2

    listed = target.run("runs", "list", "--org", "demo", "--severity", "SEV0").stdout
    assert "RUN-2" in listed and "RUN-1" not in listed and "quarantined" in listed
    checked = target.run("runs", "verify-artifacts", "--org", "demo").stdout
    assert f"ok: SHA-256 {sha} verified (quarantined)" in checked and "0 mismatch" in checked
    qpath = shown["artifacts"][0]["quarantine_path"]
    (target.var_dir / "quarantine" / qpath).write_bytes(b"tampered")
    bad = target.run("runs", "verify-artifacts", "--org", "demo", ok=False)
    assert bad.returncode == 1 and "MISMATCH" in bad.stdout
    # Each check is a data-access event of the CLI; a mismatch is a high-risk one.
    checks = target.query(
        "SELECT entity_type, risk_level FROM audit_event WHERE action = 'artifact.verify' "
        f"AND actor = 'cli' AND org_id = {org} ORDER BY seq"
    )
    assert checks == [("run", "low"), ("organization", "low"), ("organization", "high")]
    # `runs show` re-verifies too: the JSON names the file that differs, and it exits 1.
    shown_bad = target.run("runs", "show", "RUN-2", "--org", "demo", ok=False)
    assert shown_bad.returncode == 1 and "does not match its recorded SHA-256" in shown_bad.stderr
    bad_json = json.loads(shown_bad.stdout)
    assert bad_json["artifacts_ok"] is False
    assert bad_json["artifacts"][0]["check"] != f"SHA-256 {sha} verified"
    out_of_range = target.run("runs", "verify-artifacts", "--org", "demo", "--days", "0", ok=False)
    assert out_of_range.returncode == 2  # a usage error of the option, as before
    bad_severity = target.run("runs", "list", "--org", "demo", "--severity", "SEV9", ok=False)
    assert bad_severity.returncode == 1 and "SEV0, SEV1" in bad_severity.stderr

    missing = target.run("runs", "show", "RUN-404", "--org", "demo", ok=False)
    assert missing.returncode == 1 and "no run 'RUN-404'" in missing.stderr
