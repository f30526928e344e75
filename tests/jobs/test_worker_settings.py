"""The arq worker's settings come from the riskops settings (environment, or `use_settings`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from riskops.server.settings import ConfigError, load_settings

PROBE = """
import json
from riskops.jobs.worker import WorkerSettings as W
from riskops.server.settings import get_settings
s = get_settings()
r = W.redis_settings
print(json.dumps({
    "queue": W.queue_name, "host": r.host, "port": r.port, "database": r.database,
    "db_url": s.db_url, "var_dir": str(s.var_dir), "secret_key": s.secret_key,
    "functions": [f.__name__ for f in W.functions], "cron": [c.name for c in W.cron_jobs],
    "max_tries": W.max_tries,
}))
"""


def clean_env(**riskops: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env.update(riskops)
    return env


def test_worker_module_reads_the_environment(tmp_path: Path) -> None:
    """What `arq riskops.jobs.worker.WorkerSettings` (and a CLI that loads settings from the
    environment before importing the worker module) gets."""
    key = "k" * 40
    env = clean_env(
        RISKOPS_REDIS_URL="redis://127.0.0.1:6379/15",
        RISKOPS_DATABASE_URL="postgres://postgres@127.0.0.1:5432/some_db",
        RISKOPS_VAR_DIR=str(tmp_path / "var"),
        RISKOPS_SECRET_KEY=key,
        RISKOPS_JOB_QUEUE="riskops:test-queue",
    )
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["queue"] == "riskops:test-queue"
    assert (got["host"], got["port"], got["database"]) == ("127.0.0.1", 6379, 15)
    assert got["db_url"] == "postgres://postgres@127.0.0.1:5432/some_db"
    assert got["var_dir"] == str(tmp_path / "var")
    assert got["secret_key"] == key
    assert got["functions"] == ["execute"]
    assert got["cron"] == [
        "cron:cron_audit_checkpoint",
        "cron:report.weekly",
        "cron:outbox.deliver",
        "cron:kill_switch.expire",
        "cron:response.escalate",
        "cron:retention.enforce",
    ]
    assert got["max_tries"] >= 1


# The tests below take `db` only so that settings are installed before the worker module is
# first imported here (it reads the active settings at import, and would otherwise load them from
# the environment, writing a secret key under ./var).


def test_worker_settings_for_explicit_settings(db, tmp_path: Path) -> None:
    from riskops.jobs.worker import execute, worker_settings

    settings = load_settings(
        var_dir=tmp_path, secret_key="s" * 40, redis_url="redis://10.1.2.3:6380/4",
        job_queue="q:explicit",
    )  # fmt: skip
    ws = worker_settings(settings)
    assert ws["queue_name"] == "q:explicit"
    r = ws["redis_settings"]
    assert (r.host, r.port, r.database) == ("10.1.2.3", 6380, 4)
    assert (r.conn_retries, r.conn_retry_delay) == (5, 1)  # arq's defaults
    assert ws["functions"] == [execute]
    retries = load_settings(var_dir=tmp_path, secret_key="s" * 40, redis_connect_retries=0)
    assert worker_settings(retries)["redis_settings"].conn_retries == 0


async def test_the_enqueue_side_connects_with_the_same_retries(db) -> None:
    from riskops.jobs.runner import redis_settings

    assert redis_settings("redis://127.0.0.1:6379/15", db.settings).conn_retries == 5


@pytest.mark.parametrize(
    ("minutes", "minute", "hour"),
    [
        (15, {0, 15, 30, 45}, None),
        (1, set(range(60)), None),
        (60, {0}, set(range(24))),
        (180, {0}, {0, 3, 6, 9, 12, 15, 18, 21}),
        (7 * 24 * 60, {0}, {0}),
    ],
)
def test_checkpoint_schedule(db, minutes: int, minute: set[int], hour: set[int] | None) -> None:
    from riskops.jobs.worker import checkpoint_schedule

    assert checkpoint_schedule(minutes) == (minute, hour)


def test_checkpoint_schedule_rejects_zero(db) -> None:
    from riskops.jobs.worker import checkpoint_schedule

    with pytest.raises(ConfigError):
        checkpoint_schedule(0)


async def test_worker_refuses_to_start_without_redis_url(db) -> None:
    from riskops.jobs.worker import startup

    assert db.settings.redis_url is None
    with pytest.raises(ConfigError, match="RISKOPS_REDIS_URL"):
        await startup({})


async def test_execute_retries_when_the_attempt_cannot_be_run(db, monkeypatch) -> None:
    """A database outage under run_job makes arq deliver the job again, not drop it."""
    from arq import Retry

    from riskops.jobs import worker
    from riskops.jobs.runner import MAX_ATTEMPTS

    async def broken(ctx: dict, job_id: str, *, final: bool | None = None) -> bool:
        raise OSError("database unreachable")

    monkeypatch.setattr(worker, "run_job", broken)
    with pytest.raises(Retry):
        await worker.execute({"job_try": 1}, "some-id")
    with pytest.raises(OSError, match="unreachable"):
        await worker.execute({"job_try": MAX_ATTEMPTS}, "some-id")
