"""The seed's file layouts on the command line (issue 16, seed 002): `riskops runs import DIR`
(runs/CREDIT_MONITORING/<date>/run_<id>.json), `riskops scenarios import|export`
(config/scenarios/<scenario_id>.json) and `riskops policy export|propose|approve|reject`. A real
CLI process against SQLite and PostgreSQL; every refusal is checked for its message and for
leaving the database as it was."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from riskops.server.credit import ledger
from riskops.server.credit.terms import Policy
from tests.cli.test_cli import Target, one_error_line, seeded_target

pytestmark = pytest.mark.slow

APPROVER = "approver@demo.riskops.local"
APPROVER2 = "approver2@demo.riskops.local"
OPERATOR = "operator@demo.riskops.local"
VIEWER = "viewer@demo.riskops.local"
OTHER = "approver@other.example"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("seed-layouts")) as made:
        t = made.target
        # A second organization: its ids and keys must look like nothing to the demo's people.
        t.run(
            "create-user",
            "--org",
            "other",
            "--create-org",
            "--email",
            OTHER,
            "--name",
            "Other approver",
            "--role",
            "approver",
            "--password",
            "correct horse battery staple",
        )
        yield t


def _write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _state(target: Target) -> tuple[Any, ...]:
    """What an import may change: runs, scenarios (with versions), kill switches, policy
    versions, audit events."""
    return (
        target.query("SELECT org_id, run_id, severity FROM run ORDER BY org_id, run_id"),
        target.query(
            "SELECT org_id, key, name, max_items, data_classification, version "
            "FROM scenario ORDER BY org_id, key"
        ),
        target.query("SELECT id, cleared_at FROM kill_switch ORDER BY id"),
        target.query("SELECT org_id, number, status FROM policy_version ORDER BY org_id, number"),
        target.scalar("SELECT COUNT(*) FROM audit_event"),
    )


# ----------------------------------------------------------------------------- runs import DIR


def test_runs_import_reads_the_seed_tree_in_order_one_line_per_file(
    target: Target, tmp_path: Path
) -> None:
    root = tmp_path / "seed"
    mon = root / "runs" / "CREDIT_MONITORING"
    _write(
        mon / "2024-01-23" / "run_DIR-B.json",
        {"Scenario_ID": "DIR_SCEN", "Credits_Total": 100.0, "Job_Type": "batch"},
    )
    _write(
        mon / "2024-01-23" / "run_DIR-A.json",
        {
            "Run_ID": "DIR-A",
            "Scenario_ID": "DIR_SCEN",
            "Credits_Total": 120.0,
            "retry_count": 0,
            "has_max_items_config": True,
        },
    )
    # An artifact beside the run file is uploaded with its SHA-256, like beside a ledger.
    _write(mon / "2024-01-22" / "out" / "report.csv", "a,b\n")
    run_c = _write(
        mon / "2024-01-22" / "run_DIR-C.json",
        {
            "Scenario_ID": "DIR_SCEN",
            "Credits_Total": 90.0,
            "Artifacts": [{"uri": "out/report.csv"}],
        },
    )
    digest = hashlib.sha256(run_c.read_bytes()).hexdigest()
    _write(mon / "2024-01-22" / "run_DIR-C.json.sha256", f"{digest}  run_DIR-C.json\n")
    # Not run files of the tree: the ledger, quarantined and review files, other names.
    _write(
        mon / "ledger.jsonl",
        json.dumps({"run_id": "DIR-L", "scenario": "DIR_SCEN", "credits_total": 1}) + "\n",
    )
    _write(
        root / "runs" / "QUARANTINE" / "DIR-Q" / "run_DIR-Q.json",
        {"Scenario_ID": "DIR_SCEN", "Credits_Total": 1},
    )
    _write(mon / "2024-01-22" / "notes.json", {"x": 1})

    done = target.run("runs", "import", str(root), "--org", "demo")
    lines = done.stdout.splitlines()
    assert lines[-4:] == [
        "runs/CREDIT_MONITORING/2024-01-22/run_DIR-C.json: imported, no severity",
        "runs/CREDIT_MONITORING/2024-01-23/run_DIR-A.json: imported, no severity",
        "runs/CREDIT_MONITORING/2024-01-23/run_DIR-B.json: imported, no severity",
        "Read 3 file(s): 3 stored, 0 unchanged (already there), 0 invalid.",
    ]
    org = target.demo_org()
    ids = target.query(
        f"SELECT run_id FROM run WHERE org_id = {org} AND run_id LIKE 'DIR-%' ORDER BY run_id"
    )
    assert ids == [("DIR-A",), ("DIR-B",), ("DIR-C",)]
    shown = json.loads(target.run("runs", "show", "DIR-C", "--org", "demo").stdout)
    assert shown["artifacts"][0]["sha256"] == hashlib.sha256(b"a,b\n").hexdigest()
    assert shown["job_type"] is None and shown["scenario"] == "DIR_SCEN"

    # Again, from runs/CREDIT_MONITORING/ and from one date folder: duplicates, nothing stored.
    before = _state(target)
    again = target.run("runs", "import", str(mon), "--org", "demo").stdout.splitlines()
    assert again[0] == "2024-01-22/run_DIR-C.json: duplicate (already recorded)"
    assert again[-1] == "Read 3 file(s): 0 stored, 3 unchanged (already there), 0 invalid."
    day = target.run("runs", "import", str(mon / "2024-01-23"), "--org", "demo").stdout
    assert "run_DIR-A.json: duplicate (already recorded)" in day
    assert _state(target)[0] == before[0]

    # A ledger FILE keeps working, its folder's artifacts as before.
    ledger = target.run("runs", "import", str(mon / "ledger.jsonl"), "--org", "demo").stdout
    assert "Read 1 line(s): 1 stored" in ledger


def test_runs_import_dir_reports_each_bad_file_and_records_only_the_good(
    target: Target, tmp_path: Path
) -> None:
    mon = tmp_path / "CREDIT_MONITORING"
    day = mon / "2024-02-01"
    good = {"Scenario_ID": "DIR_BAD", "Credits_Total": 5.0}
    _write(day / "run_BAD-OK.json", good)
    _write(day / "run_BAD-ID.json", {**good, "Run_ID": "BAD-OTHER"})  # name and record differ
    _write(day / "run_BAD-JSON.json", "{broken")
    _write(day / "run_BAD-LIST.json", [good])
    _write(day / "run_BAD-BIG.json", '{"x": "' + "a" * 1_100_000 + '"}')
    _write(day / "run_BAD-UTF.json", "")
    (day / "run_BAD-UTF.json").write_bytes(b'{"x": "\xff"}')
    (day / "run_BAD-DIR.json").mkdir()  # cannot be read as a file
    _write(day / "run_BAD-SUM.json", {**good, "Credits_Total": 6.0})
    _write(day / "run_BAD-SUM.json.sha256", "0" * 64 + "  run_BAD-SUM.json\n")
    _write(day / "run_BAD-FIELD.json", {**good, "Credits_Total": "lots"})
    _write(day / "run_BAD-CFG.json", {**good, "max_items": 10})
    _write(mon / "2024-02-30" / "run_BAD-DATE.json", good)
    _write(mon / "2024-02-02" / "run_BAD-OK.json", good)  # the same run on another day
    org = target.demo_org()

    done = target.run("runs", "import", str(mon), "--org", "demo", ok=False)
    assert one_error_line(done) == "riskops: error: 11 file(s) were invalid and not imported."
    report = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ".json: " in line)
    first = "2024-02-01/run_BAD-"
    assert report[first + "OK.json"] == "imported, no severity"
    assert report[first + "ID.json"] == (
        "error: run_id: the file name gives run id 'BAD-ID' but Run_ID is 'BAD-OTHER'; rename "
        "the file or correct the record."
    )
    assert report[first + "JSON.json"].startswith("error: json: not valid JSON: ")
    assert report[first + "LIST.json"] == (
        "error: json: the file must hold one JSON object (one run)."
    )
    assert report[first + "BIG.json"].startswith("error: file: the file is 1,100,")
    assert "at most 1,048,576 bytes" in report[first + "BIG.json"]
    assert report[first + "UTF.json"] == "error: json: the file is not UTF-8 text."
    assert report[first + "DIR.json"] == "error: file: the file is not a regular file."
    assert "does not match run_BAD-SUM.json.sha256" in report[first + "SUM.json"]
    assert report[first + "FIELD.json"].startswith("error: credits_total: ")
    assert "max_items is the scenario's configuration" in report[first + "CFG.json"]
    assert report["2024-02-02/run_BAD-OK.json"] == (
        "error: run_id: run BAD-OK is also in 2024-02-01/run_BAD-OK.json, imported first; a run "
        "is recorded once: remove one of the files."
    )
    assert report["2024-02-30/run_BAD-DATE.json"] == (
        "error: file: folder 2024-02-30 is not a calendar date (YYYY-MM-DD); move the file into "
        "the folder of the day it ran."
    )
    # The order is the date folder, then the run id.
    names = [line.split(":")[0] for line in done.stdout.splitlines() if ".json: " in line]
    assert names == sorted(names)
    assert "Read 12 file(s): 1 stored, 0 unchanged (already there), 11 invalid." in done.stdout
    stored = target.query(f"SELECT run_id FROM run WHERE org_id = {org} AND run_id LIKE 'BAD-%'")
    assert stored == [("BAD-OK",)]


def test_runs_import_dir_refusals_change_nothing(target: Target, tmp_path: Path) -> None:
    before = _state(target)
    missing = target.run("runs", "import", str(tmp_path / "nope"), "--org", "demo", ok=False)
    assert "nope: no such file or directory; give a ledger file" in one_error_line(missing)
    empty = tmp_path / "empty"
    _write(empty / "runs" / "CREDIT_MONITORING" / "ledger.jsonl", "")
    none = target.run("runs", "import", str(empty), "--org", "demo", ok=False)
    assert one_error_line(none) == (
        f"riskops: error: no run files found in {empty}: expected "
        "runs/CREDIT_MONITORING/<YYYY-MM-DD>/run_<id>.json (date folders holding run_<id>.json "
        "files), or a ledger file."
    )
    _write(tmp_path / "t" / "2024-03-01" / "run_X.json", {"Scenario_ID": "S", "Credits_Total": 1})
    org = target.run("runs", "import", str(tmp_path / "t"), "--org", "nosuch", ok=False)
    assert "no organization with slug or id 'nosuch'" in one_error_line(org)
    assert _state(target) == before


# In memory when the machine has a tmpfs: 100,001 files made and removed on the disk took 5 to
# 47 s here while other work wrote to it (setup and teardown 9.9 s and 8.8 s in one run).
SHM = Path("/dev/shm")


@pytest.fixture(scope="module")
def too_many_run_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One date folder holding MAX_RUN_FILES + 1 (empty) run files, made once for both
    databases: the count is refused before any file is read."""
    if SHM.is_dir() and os.access(SHM, os.W_OK):
        root = Path(tempfile.mkdtemp(prefix="riskops-too-many-", dir=SHM))
    else:
        root = tmp_path_factory.mktemp("too-many")
    try:
        day = root / "runs" / "CREDIT_MONITORING" / "2024-04-01"
        day.mkdir(parents=True)
        folder = os.open(day, os.O_RDONLY)
        try:
            for i in range(ledger.MAX_RUN_FILES + 1):
                os.close(os.open(f"run_MANY-{i}.json", os.O_WRONLY | os.O_CREAT, dir_fd=folder))
        finally:
            os.close(folder)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_runs_import_dir_refuses_too_many_files_and_a_sidecar_without_digest(
    target: Target, tmp_path: Path, too_many_run_files: Path
) -> None:
    before = _state(target)
    many = target.run("runs", "import", str(too_many_run_files), "--org", "demo", ok=False)
    assert one_error_line(many) == (
        f"riskops: error: {too_many_run_files} holds more than 100,000 run files; import it one "
        "date folder (or a few) at a time."
    )
    assert _state(target) == before

    day = tmp_path / "2024-04-02"
    good = {"Scenario_ID": "DIR_SIDE", "Credits_Total": 5.0}
    _write(day / "run_SIDE-OK.json", good)
    _write(day / "run_SIDE-EMPTY.json", good)
    _write(day / "run_SIDE-EMPTY.json.sha256", "")
    _write(day / "run_SIDE-WORD.json", good)
    _write(day / "run_SIDE-WORD.json.sha256", "pending  run_SIDE-WORD.json\n")
    done = target.run("runs", "import", str(day), "--org", "demo", ok=False)
    assert one_error_line(done) == "riskops: error: 2 file(s) were invalid and not imported."
    report = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ".json: " in line)
    for name in ("EMPTY", "WORD"):
        assert report[f"run_SIDE-{name}.json"] == (
            f"error: file: the file's run_SIDE-{name}.json.sha256 holds no SHA-256 (64 "
            "hexadecimal digits)."
        )
    assert report["run_SIDE-OK.json"] == "imported, no severity"
    org = target.demo_org()
    stored = target.query(f"SELECT run_id FROM run WHERE org_id = {org} AND run_id LIKE 'SIDE-%'")
    assert stored == [("SIDE-OK",)]


# ----------------------------------------------------------------------------- scenarios


def _export_dir(target: Target, folder: Path) -> dict[str, dict[str, Any]]:
    done = target.run("scenarios", "export", str(folder), "--org", "demo")
    assert done.stdout.startswith("Wrote ")
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def test_scenarios_export_then_import_changes_nothing(target: Target, tmp_path: Path) -> None:
    files = _export_dir(target, tmp_path / "config" / "scenarios")
    assert "BINDER_EXPORT_WEEKLY" in files
    weekly = files["BINDER_EXPORT_WEEKLY"]
    assert list(weekly) == [
        "scenario_id",
        "name",
        "max_items",
        "is_backfill",
        "data_classification",
        "dispatch_target",
        "version",
    ]
    printed = json.loads(target.run("scenarios", "export", "--org", "demo").stdout)
    assert {c["scenario_id"]: c for c in printed} == files
    # The other organization's scenarios are not in the demo's export.
    assert all(c["scenario_id"] != "OTHER_ONLY" for c in printed)

    before = _state(target)
    done = target.run(
        "scenarios",
        "import",
        str(tmp_path / "config" / "scenarios"),
        "--org",
        "demo",
        "--as",
        OPERATOR,
    )
    assert (
        f"Read {len(files)} file(s): 0 changed, {len(files)} unchanged, 0 refused." in done.stdout
    )
    assert "BINDER_EXPORT_WEEKLY.json: unchanged" in done.stdout
    assert _state(target) == before


def test_scenarios_import_creates_updates_and_sets_backfill(target: Target, tmp_path: Path) -> None:
    folder = tmp_path / "config" / "scenarios"
    _write(
        folder / "CFG_NEW.json",
        {"name": "Config new", "max_items": 50, "data_classification": "confidential"},
    )
    done = target.run("scenarios", "import", str(folder), "--org", "demo", "--as", OPERATOR)
    assert "CFG_NEW.json: created" in done.stdout
    row = target.query(
        "SELECT name, max_items, data_classification, version FROM scenario WHERE key = 'CFG_NEW'"
    )
    assert row == [("Config new", 50, "confidential", 1)]

    # The seed's edit: jq '.max_items = 1000' on the exported file, then import.
    exported = _export_dir(target, tmp_path / "out")["CFG_NEW"]
    _write(folder / "CFG_NEW.json", {**exported, "max_items": 1000})
    done = target.run(
        "scenarios", "import", str(folder / "CFG_NEW.json"), "--org", "demo", "--as", OPERATOR
    )
    assert "CFG_NEW.json: updated max_items" in done.stdout
    assert target.query("SELECT max_items, version FROM scenario WHERE key = 'CFG_NEW'") == [
        (1000, 2)
    ]
    # jq '.is_backfill = true' by an approver with a reason: the scenario's BACKFILL switch.
    _write(folder / "CFG_NEW.json", {"is_backfill": True})
    done = target.run(
        "scenarios",
        "import",
        str(folder),
        "--org",
        "demo",
        "--as",
        APPROVER,
        "--reason",
        "Backfill of January after the fix",
    )
    assert "CFG_NEW.json: backfill mode on" in done.stdout
    switch = target.query(
        "SELECT name, reason FROM kill_switch WHERE scope = 'CFG_NEW' AND cleared_at IS NULL"
    )
    assert switch == [("backfill", "Backfill of January after the fix")]
    assert _export_dir(target, tmp_path / "out2")["CFG_NEW"]["is_backfill"] is True
    _write(folder / "CFG_NEW.json", {"is_backfill": False})
    done = target.run(
        "scenarios",
        "import",
        str(folder),
        "--org",
        "demo",
        "--as",
        APPROVER,
        "--reason",
        "Backfill complete",
    )
    assert "CFG_NEW.json: backfill mode off" in done.stdout
    actions = [
        a
        for (a,) in target.query(
            "SELECT action FROM audit_event WHERE entity_type IN ('scenario', 'kill_switch') "
            f"AND org_id = {target.demo_org()} ORDER BY seq"
        )
    ]
    assert actions[-4:] == [
        "scenario.create",
        "scenario.update",
        "kill_switch.set",
        "kill_switch.clear",
    ]


@pytest.mark.parametrize(
    ("name", "content", "who", "extra", "expected"),
    [
        (
            "SCN_UNKNOWN",
            {"maxitems": 3},
            OPERATOR,
            (),
            "maxitems: Unknown field(s) maxitems; a scenario file has: scenario_id, name",
        ),
        (
            "SCN_ID",
            {"scenario_id": "OTHER"},
            OPERATOR,
            (),
            "scenario_id: the file name gives scenario 'SCN_ID' but scenario_id is 'OTHER'",
        ),
        (
            "SCN_MAX",
            {"max_items": -1},
            OPERATOR,
            (),
            "max_items: Max items must be a whole number from 1 to 1,000,000,000",
        ),
        (
            "SCN_CLASS",
            {"data_classification": "secret"},
            OPERATOR,
            (),
            "data_classification: Data classification 'secret' is unknown",
        ),
        ("SCN_VERSION", {"version": "x"}, OPERATOR, (), "version: version must be the scenario's"),
        ("SCN_JSON", "{nope", OPERATOR, (), "json: not valid JSON: "),
        ("SCN_LIST", "[]", OPERATOR, (), "json: the file must hold one JSON object"),
        (
            "SCN_BIG",
            '{"name": "' + "n" * 70_000 + '"}',
            OPERATOR,
            (),
            "file: the file is 70,012 bytes; a scenario file may hold at most 65,536 bytes.",
        ),
        (
            "SCN_BF",
            {"is_backfill": True, "max_items": 5},
            OPERATOR,
            ("--reason", "r"),
            "is_backfill: Turning backfill mode on for SCN_BF is a kill switch, set by approvers",
        ),
        (
            "SCN_BF2",
            {"is_backfill": True, "max_items": 5},
            APPROVER,
            (),
            "reason: is_backfill turns backfill mode on for SCN_BF2: give --reason",
        ),
        ("SCN_VIEW", {"max_items": 5}, VIEWER, (), "scenario: Your roles (viewer) do not allow"),
    ],
)
def test_scenarios_import_refuses_a_bad_file_and_changes_nothing(
    target: Target,
    tmp_path: Path,
    name: str,
    content: Any,
    who: str,
    extra: tuple[str, ...],
    expected: str,
) -> None:
    path = _write(tmp_path / f"{name}.json", content)
    before = _state(target)
    done = target.run(
        "scenarios", "import", str(path), "--org", "demo", "--as", who, *extra, ok=False
    )
    assert one_error_line(done) == (
        "riskops: error: 1 scenario file(s) were refused; the others were applied."
    )
    assert f"{name}.json: error: {expected}" in done.stdout, done.stdout
    assert _state(target) == before


def test_scenarios_import_stale_version_classification_and_other_org(
    target: Target, tmp_path: Path
) -> None:
    folder = tmp_path / "s"
    _write(folder / "SCN_STALE.json", {"name": "Stale", "data_classification": "pii"})
    target.run("scenarios", "import", str(folder), "--org", "demo", "--as", OPERATOR)
    exported = _export_dir(target, tmp_path / "e")["SCN_STALE"]
    assert exported["version"] == 1
    _write(folder / "SCN_STALE.json", {**exported, "max_items": 7})
    target.run("scenarios", "import", str(folder), "--org", "demo", "--as", OPERATOR)
    before = _state(target)
    # The same old export edited by someone else: version 1, while 2 is in force.
    _write(folder / "SCN_STALE.json", {**exported, "max_items": 9})
    stale = target.run(
        "scenarios", "import", str(folder), "--org", "demo", "--as", OPERATOR, ok=False
    )
    assert (
        "SCN_STALE.json: error: version: Scenario SCN_STALE was changed by someone else: it "
        "is at version 2 (you had version 1)"
    ) in stale.stdout
    assert "export the scenario again" in stale.stdout
    # Lowering what a scenario touches is an approver's decision.
    _write(folder / "SCN_STALE.json", {"data_classification": "public"})
    lower = target.run(
        "scenarios", "import", str(folder), "--org", "demo", "--as", OPERATOR, ok=False
    )
    assert "Lowering the data classification of SCN_STALE from pii needs an approver" in (
        lower.stdout
    )
    assert _state(target) == before
    # In another organization the key names nothing of the demo's: a scenario of its own.
    _write(folder / "SCN_STALE.json", {"name": "Other's", "max_items": 1})
    other = target.run("scenarios", "import", str(folder), "--org", "other", "--as", OTHER)
    assert "SCN_STALE.json: created" in other.stdout
    assert target.query(
        "SELECT max_items, version FROM scenario WHERE key = 'SCN_STALE' "
        f"AND org_id = {target.demo_org()}"
    ) == [(7, 2)]
    # A demo person cannot act in the other organization.
    foreign = target.run(
        "scenarios", "import", str(folder), "--org", "other", "--as", OPERATOR, ok=False
    )
    assert "no active user 'operator@demo.riskops.local' in organization 'other'" in (
        one_error_line(foreign)
    )


def test_scenarios_import_and_export_refusals(target: Target, tmp_path: Path) -> None:
    before = _state(target)
    missing = target.run(
        "scenarios", "import", str(tmp_path / "nope"), "--org", "demo", "--as", OPERATOR, ok=False
    )
    assert "nope: no such file or directory; give the folder of the scenario files" in (
        one_error_line(missing)
    )
    (tmp_path / "empty").mkdir()
    _write(tmp_path / "empty" / "README.md", "notes")
    empty = target.run(
        "scenarios", "import", str(tmp_path / "empty"), "--org", "demo", "--as", OPERATOR, ok=False
    )
    assert "no scenario files found in" in one_error_line(empty)
    _write(tmp_path / "y" / "SCN_Y.yaml", "max_items: 3\n")
    yaml = target.run(
        "scenarios", "import", str(tmp_path / "y"), "--org", "demo", "--as", OPERATOR, ok=False
    )
    assert "SCN_Y.yaml: error: file: .yaml files are not read: write the scenario as JSON" in (
        yaml.stdout
    )
    _write(tmp_path / "bad name!.json", {})
    named = target.run(
        "scenarios",
        "import",
        str(tmp_path / "bad name!.json"),
        "--org",
        "demo",
        "--as",
        OPERATOR,
        ok=False,
    )
    assert "error: file: the file name 'bad name!.json' is not a scenario key" in named.stdout
    blocked = _write(tmp_path / "a-file", "x")
    export = target.run("scenarios", "export", str(blocked), "--org", "demo", ok=False)
    assert "a-file is a file; give a folder" in one_error_line(export)
    assert _state(target) == before


# ----------------------------------------------------------------------------- policy


def test_policy_export_propose_approve_round_trip(target: Target, tmp_path: Path) -> None:
    exported = json.loads(target.run("policy", "export", "--org", "demo").stdout)
    number = exported.pop("policy_version")
    assert exported == Policy().to_dict() or number > 0
    assert list(exported) == list(Policy().to_dict())  # every field, in the policy's order
    path = tmp_path / "policy.json"
    written = target.run("policy", "export", str(path), "--org", "demo").stdout
    assert f"Wrote policy version {number} to {path}." in written
    data = json.loads(path.read_text())
    data["sev1_multiplier"] = 6
    _write(path, data)

    proposed = target.run(
        "policy",
        "propose",
        "--org",
        "demo",
        "--as",
        APPROVER,
        "--file",
        str(path),
        "--reason",
        "Fewer SEV1 pages",
    ).stdout
    new = number + 1
    assert f"Proposed policy version {new} (in force: version {number}), changing:" in proposed
    assert "  sev1_multiplier: 5 -> 6" in proposed
    org = target.demo_org()
    assert target.query(
        f"SELECT status FROM policy_version WHERE org_id = {org} AND number = {new}"
    ) == [("proposed",)]
    shown = target.run("policy", "show", "--org", "demo").stdout
    assert f"Version {new} is proposed" in shown and "sev1_multiplier: 5 -> 6" in shown

    # Maker-checker: not by its proposer; another organization's approver finds nothing.
    before = _state(target)
    own = target.run(
        "policy", "approve", str(new), "--org", "demo", "--as", APPROVER, "--reason", "ok", ok=False
    )
    assert "nobody decides their own request" in one_error_line(own)
    foreign = target.run(
        "policy", "approve", str(new), "--org", "other", "--as", OTHER, "--reason", "ok", ok=False
    )
    assert "not found" in one_error_line(foreign).lower()
    assert _state(target)[3] == before[3]

    approved = target.run(
        "policy",
        "approve",
        str(new),
        "--org",
        "demo",
        "--as",
        APPROVER2,
        "--reason",
        "Agreed in the monthly review",
    ).stdout
    assert f"Policy version {new} is in force, changing:" in approved
    after = json.loads(target.run("policy", "export", "--org", "demo").stdout)
    assert after["policy_version"] == new and after["sev1_multiplier"] == 6.0
    actions = [
        a
        for (a,) in target.query(
            f"SELECT action FROM audit_event WHERE org_id = {org} "
            "AND entity_type = 'policy_version' ORDER BY seq"
        )
    ]
    assert actions[-2:] == ["policy.propose", "policy.change"]

    # Propose and reject (its proposer withdraws it).
    _write(path, {"policy_version": new, "retry_limit": 4})
    target.run(
        "policy",
        "propose",
        "--org",
        "demo",
        "--as",
        APPROVER,
        "--file",
        str(path),
        "--reason",
        "Try four",
    )
    rejected = target.run(
        "policy", "reject", str(new + 1), "--org", "demo", "--as", APPROVER, "--reason", "Withdrawn"
    ).stdout
    assert f"Policy version {new + 1} rejected; the version in force stays." in rejected


@pytest.mark.parametrize(
    ("content", "who", "extra", "expected"),
    [
        (
            {"sev1_multiplier": 6000},
            APPROVER,
            (),
            "sev1_multiplier is 6000; it must be greater than 1 and at most 1,000.",
        ),
        (
            {"sev1_multiplier": 6, "bogus": 1},
            APPROVER,
            (),
            "Unknown policy field(s) bogus; the fields are: sev0_multiplier",
        ),
        (
            {"sev1_multiplier": 20},
            APPROVER,
            (),
            "Severity multipliers must satisfy sev0 ≥ sev1 > sev2 > sev3 > 1",
        ),
        ({"retry_limit": 2.5}, APPROVER, (), "retry_limit must be a whole number, not 2.5."),
        (
            {"sev1_multiplier": 7},
            OPERATOR,
            (),
            "Your roles (operator) do not allow 'policy.manage'",
        ),
        (
            {"sev1_multiplier": 7, "policy_version": None},
            APPROVER,
            (),
            "does not say which policy version it changes: keep the policy_version",
        ),
        (
            {"sev1_multiplier": 7},
            APPROVER,
            ("--expected-version", "999"),
            "--expected-version 999 and the file's policy_version",
        ),
        (
            {"sev1_multiplier": 7, "policy_version": "1"},
            APPROVER,
            (),
            "policy_version must be a whole number",
        ),
        ("[1, 2]", APPROVER, (), "must hold one JSON object of policy fields"),
        ("{nope", APPROVER, (), "not valid JSON: "),
        ('{"x": "' + "a" * 70_000 + '"}', APPROVER, (), "is larger than 65,536 bytes"),
        ({}, APPROVER, (), "Nothing to change: give the field(s) to change"),
    ],
)
def test_policy_propose_refusals_change_nothing(
    target: Target,
    tmp_path: Path,
    content: Any,
    who: str,
    extra: tuple[str, ...],
    expected: str,
) -> None:
    current = json.loads(target.run("policy", "export", "--org", "demo").stdout)["policy_version"]
    if isinstance(content, dict):
        # The version in force unless the case is about it (None: a file without one).
        content = {**content, "policy_version": content.get("policy_version", current)}
        if content["policy_version"] is None:
            del content["policy_version"]
    path = _write(tmp_path / "p.json", content)
    before = _state(target)
    done = target.run(
        "policy",
        "propose",
        "--org",
        "demo",
        "--as",
        who,
        "--file",
        str(path),
        "--reason",
        "r",
        *extra,
        ok=False,
    )
    assert expected in one_error_line(done)
    assert _state(target) == before


def test_policy_propose_stale_version_and_missing_file(target: Target, tmp_path: Path) -> None:
    current = json.loads(target.run("policy", "export", "--org", "demo").stdout)["policy_version"]
    path = _write(tmp_path / "p.json", {"policy_version": current + 5, "sev1_multiplier": 7})
    before = _state(target)
    stale = target.run(
        "policy",
        "propose",
        "--org",
        "demo",
        "--as",
        APPROVER,
        "--file",
        str(path),
        "--reason",
        "r",
        ok=False,
    )
    assert f"version {current} is in force (you had version {current + 5})" in one_error_line(stale)
    assert "`riskops policy export` writes the version in force" in stale.stderr
    missing = target.run(
        "policy",
        "propose",
        "--org",
        "demo",
        "--as",
        APPROVER,
        "--file",
        str(tmp_path / "none.json"),
        "--reason",
        "r",
        ok=False,
    )
    assert "none.json: no such file" in one_error_line(missing)
    nothing = target.run(
        "policy", "approve", "999", "--org", "demo", "--as", APPROVER2, "--reason", "r", ok=False
    )
    assert "not found" in one_error_line(nothing).lower()
    assert _state(target) == before
