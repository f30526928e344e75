"""Jobs through a real arq worker process, on the real Redis and PostgreSQL.

The worker is started the way production starts it (`riskops worker` when the CLI has it, else
`python -m arq riskops.jobs.worker.WorkerSettings`), configured only by `RISKOPS_*` environment
variables, on a queue of its own in Redis db 15 so parallel runs cannot steal each other's jobs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import pytest_asyncio

from riskops.audit import store
from riskops.audit.models import AuditCheckpoint, AuditHead
from riskops.audit.types import Entry, system_actor
from riskops.audit.verify import verify_org
from riskops.jobs import runner
from riskops.jobs.models import Job, JobStatus
from riskops.jobs.runner import MAX_ATTEMPTS, enqueue
from riskops.server.settings import Settings, get_settings, use_settings
from tests.conftest import REDIS_URL, Backend, require_service

REDIS = urlparse(REDIS_URL)
WAIT_SECONDS = 30.0
# The shared worker's first retry pause (RISKOPS_JOB_RETRY_SECONDS; production: 5 s, so 15 s of
# pauses before a job fails for good). tests/jobs/test_inprocess.py checks the production default.
RETRY_SECONDS = 0.5


def worker_backoff_seconds() -> float:
    """The pauses of a job that fails every attempt, on a worker with RETRY_SECONDS."""
    return sum(min(RETRY_SECONDS * 2 ** (a - 1), 60) for a in range(1, MAX_ATTEMPTS))


@dataclass
class WorkerProc:
    proc: subprocess.Popen[bytes]
    command: list[str]
    queue: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def describe(self) -> str:
        return f"worker {' '.join(self.command[1:])} (rc={self.proc.poll()}); log:\n{self.log()}"


def require_redis() -> None:
    require_service("Redis", REDIS.hostname or "127.0.0.1", REDIS.port or 6379)


def worker_command(cwd: Path, env: dict[str, str]) -> list[str]:
    """`riskops worker` if the CLI has that command, else arq's own CLI on our WorkerSettings.
    Probed once per pytest process and import path (the answer depends on the installed code,
    not on a worker's queue or folder; a probe costs a second of CPU, and the suite starts seven
    workers)."""
    key = env.get("PYTHONPATH")
    if key not in _WORKER_COMMANDS:
        _WORKER_COMMANDS[key] = _probe_worker_command(cwd, env)
    return list(_WORKER_COMMANDS[key])


_WORKER_COMMANDS: dict[str | None, list[str]] = {}


def _probe_worker_command(cwd: Path, env: dict[str, str]) -> list[str]:
    cli = [sys.executable, "-m", "riskops.server.cli", "worker"]
    try:
        probe = subprocess.run(
            [*cli, "--help"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        probe = None
    if probe is not None and probe.returncode == 0 and "Usage" in probe.stdout:
        return cli
    return [sys.executable, "-m", "arq", "riskops.jobs.worker.WorkerSettings"]


def start_worker(command: list[str], queue: str, cwd: Path, env: dict[str, str]) -> WorkerProc:
    log_path = cwd / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return WorkerProc(proc, command, queue, log_path)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


async def redis_client():  # type: ignore[no-untyped-def]
    from redis.asyncio import Redis

    return Redis.from_url(REDIS_URL, socket_timeout=5)


async def wait_until_ready(worker: WorkerProc) -> None:
    """arq writes its health-check key once `on_startup` (database init) has run."""
    client = await redis_client()
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if worker.proc.poll() is not None:
                pytest.fail(f"the worker exited at startup: {worker.describe()}")
            if await client.exists(f"{worker.queue}:health-check"):
                return
            await asyncio.sleep(0.2)
        pytest.fail(f"the worker was not ready after {WAIT_SECONDS}s: {worker.describe()}")
    finally:
        await client.aclose()


@pytest_asyncio.fixture(scope="module")
async def arq_worker(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkerProc]:
    if backend.name != "postgres":
        pytest.skip("the arq worker runs against PostgreSQL only")
    require_redis()
    queue = f"riskops:test:{uuid.uuid4().hex[:12]}"
    var_dir = tmp_path_factory.mktemp("worker-var")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env.update(
        RISKOPS_ENV="dev",
        RISKOPS_DATABASE_URL=backend.settings.db_url,
        RISKOPS_REDIS_URL=REDIS_URL,
        RISKOPS_JOB_QUEUE=queue,
        RISKOPS_VAR_DIR=str(var_dir),
        RISKOPS_SECRET_KEY=backend.settings.secret_key or "",
        # The cron checkpoint only at midnight, so it does not race the tests' own jobs.
        RISKOPS_AUDIT_CHECKPOINT_MINUTES=str(24 * 60),
        RISKOPS_JOB_RETRY_SECONDS=str(RETRY_SECONDS),
        PYTHONUNBUFFERED="1",
    )
    worker = start_worker(worker_command(var_dir, env), queue, var_dir, env)
    proc = worker.proc
    try:
        await wait_until_ready(worker)
        yield worker
    finally:
        stop(proc)
        client = await redis_client()
        try:
            await client.delete(queue, f"{queue}:health-check")
        finally:
            await client.aclose()
    assert proc.returncode is not None


@pytest_asyncio.fixture
async def on_redis(db: Backend, arq_worker: WorkerProc) -> AsyncIterator[Settings]:
    """This process enqueues to the worker's Redis db and queue; restored afterwards."""
    original = get_settings()
    settings = use_settings(on_queue(db.settings, arq_worker.queue))
    try:
        yield settings
    finally:
        await runner.close_pool()
        use_settings(original)


async def wait_finished(job_id: Any, worker: WorkerProc) -> Job:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        row = await Job.get(id=job_id)
        if row.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            return row
        if worker.proc.poll() is not None:
            pytest.fail(f"the worker died: {worker.describe()}")
        await asyncio.sleep(0.1)
    pytest.fail(f"job {job_id} not finished after {WAIT_SECONDS}s: {worker.describe()}")


async def org_with_events(tenant: Any, n: int = 3) -> AuditHead:
    for i in range(n):
        await store.emit(
            system_actor(tenant.org_id), Entry("test.event", "thing", i, {}, {"i": i})
        )  # fmt: skip
    head = await AuditHead.get(org_id=tenant.org_id)
    assert head.seq == n + 1  # org.create, then ours
    return head


@pytest.mark.slow
@pytest.mark.postgres_only
async def test_worker_runs_checkpoint_job(on_redis, arq_worker: WorkerProc, tenant) -> None:
    head = await org_with_events(tenant)
    job = await enqueue("audit.checkpoint", org_id=tenant.org_id)
    row = await wait_finished(job.id, arq_worker)

    assert row.status == JobStatus.SUCCEEDED, f"{row.error}\n{arq_worker.describe()}"
    assert row.attempts == 1 and row.error is None
    assert {"org": tenant.org_id, "seq": head.seq} in row.result["checkpoints"]
    cp = await AuditCheckpoint.get(org_id=tenant.org_id, seq=head.seq)
    assert cp.head_hash == head.hash
    # Signed by the worker with the same key: verification accepts it.
    verification = await verify_org(tenant.org_id, on_redis.key)
    assert verification.ok, verification.describe()
    assert verification.checkpoint_seq == head.seq


@pytest.mark.slow
@pytest.mark.postgres_only
async def test_redelivered_job_is_not_run_again(on_redis, arq_worker: WorkerProc, tenant) -> None:
    from riskops.jobs.worker import execute

    await org_with_events(tenant, 1)
    job = await enqueue("audit.checkpoint")
    done = await wait_finished(job.id, arq_worker)
    assert done.status == JobStatus.SUCCEEDED, done.error
    checkpoints = await AuditCheckpoint.all().count()

    pool = await runner.arq_pool()
    # arq itself refuses the same arq job id while it keeps the result...
    assert await pool.enqueue_job("execute", str(job.id), _job_id=str(job.id)) is None
    # ...and a second delivery under another arq id (at-least-once) finds the row done.
    again = await pool.enqueue_job("execute", str(job.id), _job_id=f"{job.id}:redelivery")
    assert again is not None
    await again.result(timeout=WAIT_SECONDS, poll_delay=0.1)
    # Run in this process too, as a worker would.
    await execute({"job_try": 1}, str(job.id))
    await execute({"job_try": 2}, str(job.id))

    row = await Job.get(id=job.id)
    assert (row.status, row.attempts) == (JobStatus.SUCCEEDED, 1)
    assert row.finished_at == done.finished_at and row.result == done.result
    assert await AuditCheckpoint.all().count() == checkpoints


@pytest.mark.slow
@pytest.mark.postgres_only
async def test_worker_retries_then_fails(on_redis, arq_worker: WorkerProc) -> None:
    """A job that cannot succeed (an argument its function does not take) goes through arq's
    retries (deferred by the worker's backoff, RISKOPS_JOB_RETRY_SECONDS) and ends FAILED with
    the error."""
    production_backoff = sum(runner.backoff_seconds(a) for a in range(1, MAX_ATTEMPTS))
    assert production_backoff == 15  # this process runs with the default: 5 s, then 10 s
    started = time.monotonic()
    job = await enqueue("audit.flush_spool", payload={"bogus": 1})
    deadline = started + WAIT_SECONDS + worker_backoff_seconds()
    while (row := await Job.get(id=job.id)).status not in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        assert time.monotonic() < deadline, f"not finished: {row}\n{arq_worker.describe()}"
        if row.attempts and row.status == JobStatus.QUEUED:
            assert "bogus" in (row.error or "")  # between attempts, the last error shows
        await asyncio.sleep(0.05)
    assert row.status == JobStatus.FAILED
    assert row.attempts == MAX_ATTEMPTS
    assert "TypeError" in (row.error or "") and "bogus" in (row.error or "")
    # The worker paused as its setting says, not the production 15 s.
    assert time.monotonic() - started < production_backoff, arq_worker.describe()


@pytest.mark.postgres_only  # backend-independent
async def test_enqueue_without_reachable_redis_raises_and_keeps_no_row(db) -> None:
    """Without retrying to connect (RISKOPS_REDIS_CONNECT_RETRIES=0; by default arq's five, a
    second apart, which only delay the same error: test_worker_settings checks the default)."""
    original = get_settings()
    use_settings(
        db.settings.model_copy(
            update={
                "redis_url": "redis://127.0.0.1:1/0",
                "job_queue": f"q:{uuid.uuid4().hex}",
                "redis_connect_retries": 0,
            }
        )
    )
    key = f"unreachable-{uuid.uuid4().hex}"
    try:
        with pytest.raises(Exception, match=r"(?i)connect|refused"):
            await enqueue("audit.checkpoint", dedupe_key=key)
    finally:
        await runner.close_pool()
        use_settings(original)
    assert not await Job.filter(dedupe_key=key).exists()


async def test_cron_checkpoint_records_a_job(db, tenant) -> None:
    """arq's cron function, called as arq would (no need to wait for the schedule)."""
    from riskops.jobs.worker import cron_audit_checkpoint

    head = await org_with_events(tenant, 2)
    ctx = {"job_id": f"cron:cron_audit_checkpoint:{uuid.uuid4().hex}", "job_try": 1}
    out = await cron_audit_checkpoint(dict(ctx))
    row = await Job.get(id=out["job"])
    assert (row.kind, row.status, row.attempts) == ("audit.checkpoint", JobStatus.SUCCEEDED, 1)
    assert {"org": tenant.org_id, "seq": head.seq} in row.result["checkpoints"]
    assert await AuditCheckpoint.filter(org_id=tenant.org_id, seq=head.seq).count() == 1
    verification = await verify_org(tenant.org_id, db.settings.key)
    assert verification.ok and verification.checkpoint_seq == head.seq

    # arq redelivers the same cron run (same arq job id): same row, nothing runs again.
    again = await cron_audit_checkpoint(dict(ctx))
    assert again == out
    assert (await Job.get(id=out["job"])).attempts == 1

    # A later run is a new job; the head has not moved, so it adds no checkpoint for this org.
    later = await cron_audit_checkpoint({"job_try": 1})
    assert later["job"] != out["job"]
    later_row = await Job.get(id=later["job"])
    assert later_row.status == JobStatus.SUCCEEDED
    assert await AuditCheckpoint.filter(org_id=tenant.org_id).count() == 1


def on_queue(settings: Settings, queue: str) -> Settings:
    return settings.model_copy(update={"redis_url": REDIS_URL, "job_queue": queue})


async def test_enqueue_uses_the_settings_queue_and_redis_db(db) -> None:
    """The enqueue side follows the active settings (queue name, Redis db), like the worker."""
    require_redis()
    original = get_settings()
    queues = [f"riskops:test:{uuid.uuid4().hex[:12]}" for _ in range(2)]
    client = await redis_client()
    job: Job | None = None
    try:
        use_settings(on_queue(db.settings, queues[0]))
        first = await runner.arq_pool()
        assert first.default_queue_name == queues[0]
        assert await runner.arq_pool() is first
        job = await enqueue("audit.flush_spool")
        assert await client.zscore(queues[0], str(job.id)) is not None
        assert first.connection_pool.connection_kwargs["db"] == int(REDIS.path.strip("/") or 0)

        use_settings(on_queue(db.settings, queues[1]))
        second = await runner.arq_pool()
        assert second is not first and second.default_queue_name == queues[1]
    finally:
        await runner.close_pool()
        use_settings(original)
        await client.delete(*queues, *([f"arq:job:{job.id}"] if job else []))
        await client.aclose()
        if job is not None:
            await Job.filter(id=job.id).delete()
