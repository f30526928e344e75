"""The `riskops` CLI, imported once, forking a fresh process per command (tests only).

Each command the CLI tests run is still a process of its own, with its own arguments, environment,
working directory, stdout, stderr and exit code, running `python -m riskops.server.cli` exactly
(`runpy`, as `-m` does); only the interpreter's start and the imports (about a second a command
on this machine, most of the CLI suites' time) are paid once per pytest worker. Nothing of a
command runs in this process: it imports, then only forks and waits.

Protocol, one JSON object a line: the test process writes {"argv", "env", "cwd", "stdout",
"stderr", "timeout"} on our stdin (the two paths are files the child writes), we answer
{"rc": exit code} on our stdout, or {"rc": null, "timeout": true} after killing a child that ran
past its timeout. End of our stdin (the test process went away) ends us.

`tests/support/cli_runner.py` is the client; RISKOPS_TEST_CLI_FORK=0 runs plain subprocesses.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import runpy
import select
import signal
import sys
import traceback


def _child(request: dict, proto_in: int, proto_out: int) -> None:
    code: int = 1
    try:
        os.close(proto_in)
        os.close(proto_out)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(out, fd)
            os.close(out)
        os.close(null)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own stdin, /dev/null
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        random.seed()  # a forked process would otherwise repeat the parent's sequence
        sys.argv = ["-m", *request["argv"]]  # runpy sets argv[0] to the module's file
        try:
            runpy.run_module("riskops.server.cli", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:  # sys.exit("message"): printed, exit status 1, as the interpreter does
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        try:
            atexit._run_exitfuncs()
        except BaseException:
            traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code & 0xFF)


def _wait(pid: int, timeout: float) -> dict:
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"rc": None, "timeout": True}
        _, status = os.waitpid(pid, 0)
        return {"rc": os.waitstatus_to_exitcode(status)}
    finally:
        os.close(fd)


def main() -> None:
    import riskops.jobs.catalog  # noqa: F401 - what commands that run jobs load, once
    from riskops.server.cli.main import load_every_group

    load_every_group()  # the CLI loads a command's module when it runs; here all of them, once

    proto_in = os.dup(0)
    proto_out = os.dup(1)
    reader = os.fdopen(proto_in, "r", encoding="utf-8")
    writer = os.fdopen(proto_out, "w", encoding="utf-8", buffering=1)
    print(json.dumps({"ready": os.getpid()}), file=writer)
    for line in reader:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request, proto_in, proto_out)
        print(json.dumps(_wait(pid, float(request["timeout"]))), file=writer)


if __name__ == "__main__":
    main()
