"""The standalone verifier of docs/AUDIT.md, run exactly as written there (the code block is
extracted from the doc): it accepts an archive file starting at seq 1, a later archive and what
remains in the database given the previous archive's checkpoint file, and catches an edit, a
gap between the archive and the rest, and a checkpoint of another segment."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from riskops.audit.archive import archive_chain
from riskops.audit.export import export_events
from riskops.audit.types import system_actor
from tests.audit.test_archive import CUT, old_and_new_chain

DOC = Path(__file__).resolve().parents[2] / "docs" / "AUDIT.md"


def doc_verifier(tmp: Path) -> Path:
    text = DOC.read_text(encoding="utf-8")
    contract = text[text.index("## The contract") :]
    code = re.search(r"```python\n(.*?)```", contract, re.S)
    assert code is not None
    lines = code.group(1).splitlines()
    assert len([x for x in lines if x.strip()]) <= 22  # still a short, readable verifier
    path = tmp / "verify.py"
    path.write_text(code.group(1), encoding="utf-8")
    return path


def run(verifier: Path, *files: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(verifier), *map(str, files)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return done.stdout.strip()


async def test_the_docs_verifier_checks_archives_and_what_remains(db, tmp_path: Path) -> None:
    verifier = doc_verifier(tmp_path)
    org = await old_and_new_chain()
    first = await archive_chain(org, CUT, tmp_path / "a", db.settings.key, system_actor(org))
    assert run(verifier, first.file) == f"org {org}: OK, 5 events"

    rest = tmp_path / "rest.jsonl"
    lines = [line async for line in export_events(org)]
    rest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run(verifier, rest, first.checkpoint_file) == f"org {org}: OK, {len(lines)} events"

    # An edited event, or a first remaining event cut away, is caught from the checkpoint.
    edited = json.loads(lines[1])
    edited["actor"] = "user:999"
    bad = tmp_path / "edited.jsonl"
    bad.write_text("\n".join([lines[0], json.dumps(edited), *lines[2:]]) + "\n", "utf-8")
    assert run(verifier, bad, first.checkpoint_file) == f"org {org}: first bad seq 7"
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")
    assert run(verifier, cut) == f"org {org}: OK, {len(lines) - 1} events"  # a window alone
    assert run(verifier, cut, first.checkpoint_file) == f"org {org}: first bad seq 6"

    # A later archive verifies from the previous checkpoint, not from another segment's.
    second = await archive_chain(
        org, datetime.now(UTC), tmp_path / "b", db.settings.key, system_actor(org)
    )
    n = second.archive.events
    assert run(verifier, second.file, first.checkpoint_file) == f"org {org}: OK, {n} events"
    assert run(verifier, first.file, second.checkpoint_file) == f"org {org}: first bad seq {n + 6}"
