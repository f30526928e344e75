"""Issue 11 item 7: the runbook ledger's "as reported" fields are kept and shown beside the
computed ones (run page, `riskops runs show`, GraphQL), a disagreement is a visible flag; the
scenario-config fields of a ledger line are refused with where they belong; a ledger line
refused for a SHA-256 mismatch leaves no uploaded file behind."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from riskops.server.core.errors import Invalid
from riskops.server.credit import artifact_checks, artifacts, ledger
from riskops.server.credit.models import Run
from riskops.server.credit.recording import record_runs
from tests.credit.test_runs_service import key, rid, with_baseline

BODY = b"customer,email\n"
SHA = hashlib.sha256(BODY).hexdigest()

RUN = """query($id: ID!) { run(id: $id) { run { runId severity reportedSeverity
  severityDisagrees dispatchBlocked reportedDispatchBlocked dispatchBlockedDisagrees } } }"""


async def test_reported_values_are_kept_and_a_disagreement_is_flagged(
    api: Any, browser: Any, tenant: Any
) -> None:
    scenario = key()
    await with_baseline(tenant, scenario, 100.0)
    agree, differ, silent = rid(), rid(), rid()
    result = await record_runs(
        tenant.admin,
        [
            {"Run_ID": agree, "Scenario_ID": scenario, "Credits_Total": 110.0, "Severity": "none",
             "dispatch_blocked": False},
            {"Run_ID": differ, "Scenario_ID": scenario, "Credits_Total": 600.0, "Severity": "SEV3",
             "dispatch_blocked": True},
            {"Run_ID": silent, "Scenario_ID": scenario, "Credits_Total": 100.0},
        ],
    )  # fmt: skip
    assert result.errors == []
    stored = {r.run_id: r for r in await Run.filter(org_id=tenant.org_id)}
    d = stored[differ]
    assert (d.severity.value, d.reported_severity.value) == ("SEV1", "SEV3")
    assert (d.dispatch_blocked, d.reported_dispatch_blocked) == (False, True)
    assert stored[silent].reported_severity is None
    assert stored[silent].reported_dispatch_blocked is None

    user, _ = await tenant.user("viewer")
    token = str(await api.token(tenant, user))
    got = (await api.data(token, RUN, {"id": str(d.id)}))["run"]["run"]
    assert got == {"runId": differ, "severity": "SEV1", "reportedSeverity": "SEV3",
                   "severityDisagrees": True, "dispatchBlocked": False,
                   "reportedDispatchBlocked": True, "dispatchBlockedDisagrees": True}  # fmt: skip
    quiet = (await api.data(token, RUN, {"id": str(stored[agree].id)}))["run"]["run"]
    assert quiet["severityDisagrees"] is False and quiet["dispatchBlockedDisagrees"] is False

    b = await browser(user, tenant.password)
    page = (await b.get(f"/runs/{d.id}")).text
    assert "Reported severity" in page and "run-sev-SEV3" in page
    assert "differs from the computed severity" in page
    assert "differs from the computed value" in page
    calm = (await b.get(f"/runs/{stored[silent].id}")).text
    assert "not reported" in calm and "differs from the computed" not in calm


@pytest.mark.parametrize(
    ("field", "where"),
    [("max_items", "updateScenario(maxItems:)"), ("Max_Items", "Configuration"),
     ("is_backfill", "BACKFILL kill switch"), ("Is_Backfill", "setKillSwitch")],
)  # fmt: skip
def test_scenario_config_fields_are_refused_with_where_they_belong(field: str, where: str) -> None:
    with pytest.raises(Invalid) as exc:
        ledger.parse_record({"run_id": "R", "scenario": "S", "credits_total": 1, field: 1})
    assert where in exc.value.message and "Unknown field" not in exc.value.message
    assert exc.value.field == field.lower()


async def test_sha256_mismatch_leaves_no_uploaded_file(tenant: Any, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "export.csv").write_bytes(BODY)
    (tmp_path / "out" / "other.csv").write_bytes(b"other")
    run_id = rid()
    record = {
        "run_id": run_id,
        "artifacts": [
            {"uri": "out/export.csv", "sha256": SHA},
            {"uri": "out/other.csv", "sha256": "0" * 64},
        ],
    }
    with pytest.raises(Invalid, match="the ledger says"):
        await artifact_checks.upload_local_artifacts(tenant.admin, record, tmp_path, 1)
    folder = artifacts.root() / str(tenant.org_id) / run_id
    assert not (folder / "export.csv").exists() and not (folder / "other.csv").exists()
    assert not folder.exists()


@pytest.mark.slow
def test_cli_import_leaves_no_file_of_a_refused_line(tmp_path: Path) -> None:
    """A line refused by the recording (here credits out of range), not only by its SHA-256,
    leaves none of its uploaded files in the store; a recorded line keeps its file."""
    import json

    from tests.cli.test_cli import seeded_target

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "good.csv").write_bytes(BODY)
    (tmp_path / "out" / "bad.csv").write_bytes(b"bad")
    (tmp_path / "out" / "sha.csv").write_bytes(b"sha")
    lines = [
        {"Run_ID": "CLI-GOOD", "Scenario_ID": "S", "Credits_Total": 1,
         "Artifacts": [{"uri": "out/good.csv"}]},
        {"Run_ID": "CLI-BAD", "Scenario_ID": "S", "Credits_Total": 1e308,
         "Artifacts": [{"uri": "out/bad.csv"}]},
        {"Run_ID": "CLI-SHA", "Scenario_ID": "S", "Credits_Total": 1,
         "Artifacts": [{"uri": "out/sha.csv", "sha256": "0" * 64}]},
    ]  # fmt: skip
    ledger_file = tmp_path / "ledger.jsonl"
    ledger_file.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    with seeded_target("sqlite", tmp_path / "db") as made:
        t = made.target
        done = t.run("runs", "import", str(ledger_file), "--org", "demo", ok=False)
        assert done.returncode == 1 and "the ledger says" in done.stdout + done.stderr
        org = t.demo_org()
        store = next(p for p in t.var_dir.rglob("artifacts") if p.is_dir())
        assert (store / str(org) / "CLI-GOOD" / "good.csv").read_bytes() == BODY
        assert not (store / str(org) / "CLI-BAD").exists()
        assert not (store / str(org) / "CLI-SHA").exists()
        assert t.scalar("SELECT COUNT(*) FROM run WHERE run_id LIKE 'CLI-%'") == 1
