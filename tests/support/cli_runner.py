"""Run `python -m riskops.server.cli ARGS` as a process of its own, forked from a preloaded
interpreter (`cli_zygote.py`, one per pytest worker) instead of starting Python and importing
riskops again for each command: same arguments, environment, working directory, output and exit
code, about a second less per command. RISKOPS_TEST_CLI_FORK=0 runs plain subprocesses."""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ZYGOTE = Path(__file__).with_name("cli_zygote.py")
ROOT = Path(__file__).resolve().parents[2]
FORK = os.environ.get("RISKOPS_TEST_CLI_FORK", "1") != "0"


class _Zygote:
    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ZYGOTE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, encoding="utf-8", env=env, cwd=ROOT, bufsize=1,
        )  # fmt: skip
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        ready = self.stdout.readline()
        if not ready.startswith('{"ready"'):
            raise RuntimeError(f"the CLI zygote did not start: {ready!r}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            self.stdin.close()
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()


_lock = threading.Lock()
_zygotes: dict[str, _Zygote] = {}


def _zygote(env: dict[str, str]) -> _Zygote:
    # The zygote imports with the environment of the first command (its RISKOPS_ variables
    # stripped by the caller); one per distinct import-time environment, in practice one.
    key = json.dumps({k: env.get(k) for k in ("PYTHONPATH", "COLUMNS", "LANG", "LC_ALL")})
    z = _zygotes.get(key)
    if z is None or not z.alive():
        z = _zygotes[key] = _Zygote(env)
    return z


@atexit.register
def _close_all() -> None:
    for z in _zygotes.values():
        z.close()


def run(
    args: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m riskops.server.cli *args`, its output captured as text."""
    command = [sys.executable, "-m", "riskops.server.cli", *args]
    if not FORK:
        return subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
        )
    with tempfile.TemporaryDirectory(prefix="riskops-cli-") as tmp, _lock:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        z = _zygote(env)
        request = {"argv": list(args), "env": env, "cwd": str(cwd), "stdout": str(out),
                   "stderr": str(err), "timeout": timeout}  # fmt: skip
        z.stdin.write(json.dumps(request) + "\n")
        z.stdin.flush()
        answer = z.stdout.readline()
        if not answer:
            raise RuntimeError("the CLI zygote went away")
        reply = json.loads(answer)
        stdout = out.read_text(encoding="utf-8", errors="replace") if out.exists() else ""
        stderr = err.read_text(encoding="utf-8", errors="replace") if err.exists() else ""
        if reply.get("timeout"):
            raise subprocess.TimeoutExpired(command, timeout, stdout, stderr)
        return subprocess.CompletedProcess(command, int(reply["rc"]), stdout, stderr)
