"""`riskops serve --demo` in a process of its own on a free loopback port, for tests that need a
real server (browser flows, the integrators' doc, the outage page): started, waited for until
/health answers, stopped at the end. Its output goes to `log` (the demo logins are read there)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import templates


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen[bytes], log: Path, url: str, timeout: float = 90) -> None:
    """Wait until /health answers 200; fail with the server's output if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"riskops serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"riskops serve did not become healthy:\n{log.read_text()}")


def _sqlite_from_template(cwd: Path, env: dict[str, str], options: tuple[str, ...]) -> None:
    def option(name: str, variable: str) -> str | None:
        return options[options.index(name) + 1] if name in options else env.get(variable)

    url = option("--database-url", "RISKOPS_DATABASE_URL")
    if url is None:  # the default: <var dir>/riskops.sqlite3
        path = Path(option("--var-dir", "RISKOPS_VAR_DIR") or cwd / "var") / "riskops.sqlite3"
    elif url.startswith("sqlite://"):
        path = Path(url.removeprefix("sqlite://"))
    else:
        return
    if not path.is_absolute():
        path = cwd / path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        templates.copy_sqlite(path)


@contextlib.contextmanager
def demo_server(
    *, cwd: Path, env: dict[str, str], log: Path, options: tuple[str, ...] = (), timeout: float = 90
) -> Iterator[str]:
    """`riskops [options] serve --demo` on a free port; yields its base URL. A SQLite database
    that does not exist yet starts as a copy of the migrated template (tests/support/templates.py):
    `serve` then finds no migration to apply (migrating an empty one costs about 8 s of CPU)."""
    _sqlite_from_template(cwd, env, options)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "riskops.server.cli", *options,
               "serve", "--host", "127.0.0.1", "--port", str(port), "--demo"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(proc, log, url, timeout)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
