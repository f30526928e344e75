"""The forked CLI runner (tests/support/cli_runner.py) answers exactly as a subprocess of
`python -m riskops.server.cli` does: output, exit code, environment and working directory. The
CLI suites trust it for every command they run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import cli_runner, templates


def _both(args: list[str], env: dict[str, str], cwd: Path) -> tuple[tuple, tuple]:
    forked = cli_runner.run(args, env=env, cwd=cwd)
    plain = subprocess.run(
        [sys.executable, "-m", "riskops.server.cli", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=60,
    )  # fmt: skip
    return (
        (forked.returncode, forked.stdout, forked.stderr),
        (plain.returncode, plain.stdout, plain.stderr),
    )


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env["COLUMNS"] = "200"
    return env


def test_output_and_exit_code_match_a_subprocess(tmp_path: Path) -> None:
    env = _env()
    forked, plain = _both(["--version"], env, tmp_path)
    assert forked == plain and forked[0] == 0 and forked[1].strip()
    # a refusal: exit code and the one error line on stderr
    url = f"sqlite://{tmp_path / 'none' / 'db.sqlite3'}"
    args = ["--database-url", url, "--var-dir", str(tmp_path / "var"), "runs", "list", "--org", "x"]
    forked, plain = _both(args, env, tmp_path)
    assert forked[0] == plain[0] != 0
    assert forked[2] == plain[2] and forked[2].strip()


def test_each_command_gets_its_own_environment_and_directory(tmp_path: Path) -> None:
    """An environment variable and the working directory of one command never leak into the
    next (the forked child sets both; the zygote keeps its own)."""
    # Both databases start as copies of the migrated template (migrating an empty one costs
    # about 8 s of CPU): `migrate` says "up to date" only where the command's own URL and
    # directory lead; anywhere else it would find an empty database and apply everything.
    templates.copy_sqlite(tmp_path / "a" / "a.sqlite3")
    templates.copy_sqlite(tmp_path / "b" / "v" / "riskops.sqlite3")
    env = {**_env(), "RISKOPS_VAR_DIR": "relative-var"}
    done = cli_runner.run(["migrate"], env={**env, "RISKOPS_DATABASE_URL": "sqlite://a.sqlite3"},
                          cwd=tmp_path / "a")  # fmt: skip
    assert done.returncode == 0 and "up to date" in done.stdout, done.stdout + done.stderr
    done = cli_runner.run(["migrate"], env=_env() | {"RISKOPS_VAR_DIR": str(tmp_path / "b" / "v")},
                          cwd=tmp_path / "b")  # fmt: skip
    assert done.returncode == 0 and "up to date" in done.stdout, done.stdout + done.stderr
    assert not (tmp_path / "b" / "a.sqlite3").exists()  # the first command's URL did not stay
