"""docs/INTEGRATORS.md is runnable as written: every block it marks (`<!-- run: bash -->`,
`<!-- run: python -->`, `<!-- save: FILE -->`, `<!-- run: token -->`) runs, in order, against a
real `riskops serve --demo` on a throwaway SQLite database, the token minted by the doc's own
`riskops token create` block; each must exit 0 (the blocks assert what they show). The webhook
example's signature is the one riskops's own signer gives."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from riskops.server.notify.webhooks import sign
from tests.support.served import demo_server

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "INTEGRATORS.md"
BIN = Path(sys.executable).parent
BLOCK = re.compile(r"<!-- (run|save): ([\w.-]+) -->\n```(\w+)\n(.*?)\n```", re.DOTALL)


@dataclass(frozen=True)
class Block:
    mark: str  # run or save
    what: str  # token, bash, python, or the file name to save
    lang: str
    text: str
    line: int


def blocks() -> list[Block]:
    text = DOC.read_text()
    return [
        Block(m[1], m[2], m[3], m[4], text.count("\n", 0, m.start()) + 1)
        for m in BLOCK.finditer(text)
    ]


@dataclass(frozen=True)
class Served:
    url: str
    env: dict[str, str]  # the server's settings, as an operator's shell on its host has them
    log: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("integrators")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env.update(
        PYTHONUNBUFFERED="1", RISKOPS_ENV="dev", RISKOPS_LOG_LEVEL="WARNING",
        RISKOPS_DATABASE_URL=f"sqlite://{tmp / 'doc.sqlite3'}", RISKOPS_VAR_DIR=str(tmp / "var"),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )  # fmt: skip
    log = tmp / "server.log"
    with demo_server(cwd=tmp, env=env, log=log) as url:
        yield Served(url, env, log)


def _run(block: Block, env: dict[str, str], cwd: Path) -> str:
    if block.lang == "bash":
        command = ["bash", "-euo", "pipefail", "-c", block.text]
    else:
        assert block.lang == "python", f"line {block.line}: cannot run a {block.lang} block"
        command = [sys.executable, "-c", block.text]
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    output = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == 0, (
        f"docs/INTEGRATORS.md line {block.line} ({block.what}) exited {done.returncode}:\n"
        f"{block.text}\n{output}"
    )
    return done.stdout


def test_every_marked_block_runs_as_written(served: Served, tmp_path: Path) -> None:
    found = blocks()
    assert found and found[0].what == "token", "the doc starts by minting its token"
    kinds = {b.what for b in found}
    assert {"bash", "python", "riskops_client.py"} <= kinds, kinds
    env = dict(served.env)
    minted = _run(found[0], env, tmp_path)
    token = re.search(r"Token \(shown only this once\): (\S+)", minted)
    assert token, minted
    env.update(API_URL=served.url, API_TOKEN=token.group(1))
    for block in found[1:]:
        if block.mark == "save":
            (tmp_path / block.what).write_text(block.text + "\n")
        else:
            _run(block, env, tmp_path)
    # What the blocks did is real: the sync state file holds a time for each list.
    assert "cases" in (tmp_path / "sync_state.json").read_text()


def test_the_webhook_example_is_signed_as_riskops_signs() -> None:
    text = DOC.read_text()
    body = re.search(r"^BODY = (b'.*')$", text, re.MULTILINE)
    signature = re.search(r'^SIGNATURE = "(sha256=[0-9a-f]{64})"$', text, re.MULTILINE)
    assert body and signature
    assert sign(ast.literal_eval(body.group(1)), "change-me") == signature.group(1)
