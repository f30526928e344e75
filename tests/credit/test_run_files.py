"""Reading the seed's run files (`ledger.run_files`, `ledger.read_run_file`) at their limits: an
oversized file, a `.sha256` sidecar that holds no digest, more than MAX_RUN_FILES files in one
import. Each is refused with what is wrong and how to fix it, before anything is recorded (the
CLI's own path: tests/cli/test_seed_layouts_cli.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from riskops.server.core.errors import Invalid
from riskops.server.credit import ledger

RECORD = {"Scenario_ID": "FILES", "Credits_Total": 10.0}


def run_file(day: Path, run_id: str, body: bytes | None = None) -> ledger.RunFile:
    day.mkdir(parents=True, exist_ok=True)
    path = day / f"run_{run_id}.json"
    path.write_bytes(json.dumps(RECORD).encode() if body is None else body)
    [found] = [f for f in ledger.run_files(day) if f.path == path]
    return found


def test_a_run_file_over_the_limit_is_refused_one_at_the_limit_is_read(tmp_path: Path) -> None:
    day = tmp_path / "2024-05-01"
    pad = ledger.MAX_RUN_FILE_BYTES - len(json.dumps({**RECORD, "note": ""}).encode())
    at_limit = json.dumps({**RECORD, "note": "a" * pad}).encode()
    assert len(at_limit) == ledger.MAX_RUN_FILE_BYTES
    assert ledger.read_run_file(run_file(day, "AT"))["run_id"] == "AT"
    assert ledger.read_run_file(run_file(day, "FULL", at_limit))["note"] == "a" * pad
    with pytest.raises(Invalid) as refused:
        ledger.read_run_file(run_file(day, "OVER", at_limit + b" "))
    assert refused.value.field == "file"
    assert refused.value.message == (
        "the file is 1,048,577 bytes; a run file may hold at most 1,048,576 bytes."
    )


@pytest.mark.parametrize("sidecar", ["", "\n", "  run_X.json\n", "not-a-digest  run_X.json\n",
                                     "ab" * 31 + "  run_X.json\n"])  # fmt: skip
def test_a_sidecar_without_its_digest_is_refused(tmp_path: Path, sidecar: str) -> None:
    found = run_file(tmp_path / "2024-05-01", "X")
    Path(f"{found.path}.sha256").write_text(sidecar, encoding="utf-8")
    with pytest.raises(Invalid) as refused:
        ledger.read_run_file(found)
    assert refused.value.field == "file"
    assert refused.value.message == (
        "the file's run_X.json.sha256 holds no SHA-256 (64 hexadecimal digits)."
    )


def test_a_sidecar_with_its_digest_in_capitals_or_alone_is_accepted(tmp_path: Path) -> None:
    found = run_file(tmp_path / "2024-05-01", "X")
    digest = hashlib.sha256(found.path.read_bytes()).hexdigest()
    sidecar = Path(f"{found.path}.sha256")
    for text in (digest, f"{digest.upper()}  run_X.json\n"):
        sidecar.write_text(text, encoding="utf-8")
        assert ledger.read_run_file(found)["run_id"] == "X"


def test_more_than_max_run_files_in_one_import_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "MAX_RUN_FILES", 3)
    root = tmp_path / "runs" / "CREDIT_MONITORING"
    for day, ids in (("2024-05-01", "AB"), ("2024-05-02", "CD")):
        for i in ids:
            run_file(root / day, i)
    assert len(ledger.run_files(root / "2024-05-01")) == 2  # one folder at a time is fine
    with pytest.raises(Invalid) as refused:
        ledger.run_files(tmp_path)
    assert refused.value.field == "path"
    assert refused.value.message == (
        f"{tmp_path} holds more than 3 run files; import it one date folder (or a few) at a time."
    )
