"""The in-process runner (no Redis), on both backends: status, attempts, retries, dedupe."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from riskops.audit.models import AuditCheckpoint, AuditHead
from riskops.audit.verify import verify_org
from riskops.jobs import runner
from riskops.jobs.models import Job, JobStatus
from riskops.jobs.registry import JOBS, JobFunc
from riskops.jobs.runner import MAX_ATTEMPTS, create_job, drain, enqueue, queue_depth, run_job
from riskops.server.settings import Settings, get_settings

Register = Callable[[JobFunc], str]


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "backoff_seconds", lambda attempt: 0.0)


@pytest.fixture
def register() -> Iterator[Register]:
    """Register test-only job kinds under fresh names; removed again afterwards."""
    added: list[str] = []

    def add(fn: JobFunc) -> str:
        kind = f"test.{uuid.uuid4().hex[:10]}"
        JOBS[kind] = fn
        added.append(kind)
        return kind

    yield add
    for kind in added:
        JOBS.pop(kind, None)


def recorder(calls: list[dict[str, Any]], fail_times: int = 0, error: str = "boom"):  # type: ignore[no-untyped-def]
    """A job function recording its calls, failing the first `fail_times` of them."""

    async def fn(ctx: dict[str, Any], **payload: Any) -> dict[str, Any]:
        calls.append({"ctx": dict(ctx), "payload": payload})
        if len(calls) <= fail_times:
            raise RuntimeError(f"{error} #{len(calls)}")
        return {"calls": len(calls), **payload}

    return fn


async def test_settings_are_in_process(db) -> None:
    assert get_settings() is db.settings
    assert get_settings().redis_url is None


async def test_checkpoint_job_runs_in_process(db, tenant) -> None:
    job = await enqueue("audit.checkpoint", org_id=tenant.org_id)
    assert job.status == JobStatus.QUEUED and job.kind == "audit.checkpoint"
    await drain()

    row = await Job.get(id=job.id)
    assert row.status == JobStatus.SUCCEEDED, row.error
    assert row.attempts == 1
    assert row.error is None
    assert row.started_at is not None and row.finished_at is not None
    assert row.finished_at >= row.started_at >= row.enqueued_at
    head = await AuditHead.get(org_id=tenant.org_id)
    assert {"org": tenant.org_id, "seq": head.seq} in row.result["checkpoints"]
    cp = await AuditCheckpoint.get(org_id=tenant.org_id, seq=head.seq)
    assert cp.head_hash == head.hash
    verification = await verify_org(tenant.org_id, db.settings.key)
    assert verification.ok, verification.describe()
    assert verification.checkpoint_seq == head.seq

    # Idempotent: nothing moved, so a second run adds no checkpoint for this org.
    again = await enqueue("audit.checkpoint")
    await drain()
    row = await Job.get(id=again.id)
    assert row.status == JobStatus.SUCCEEDED
    assert all(c["org"] != tenant.org_id for c in row.result["checkpoints"])
    assert await AuditCheckpoint.filter(org_id=tenant.org_id).count() == 1


async def test_payload_and_org_are_recorded_and_passed(db, register: Register) -> None:
    calls: list[dict[str, Any]] = []
    kind = register(recorder(calls))
    job = await enqueue(kind, org_id=42, payload={"a": 1, "b": "two"})
    await drain()
    row = await Job.get(id=job.id)
    assert (row.org_id, row.payload) == (42, {"a": 1, "b": "two"})
    assert row.status == JobStatus.SUCCEEDED
    assert row.result == {"calls": 1, "a": 1, "b": "two"}
    assert [c["payload"] for c in calls] == [{"a": 1, "b": "two"}]
    assert calls[0]["ctx"]["job_try"] == 1


async def test_dedupe_key_twice_is_one_job_run_once(db, register: Register) -> None:
    calls: list[dict[str, Any]] = []
    kind = register(recorder(calls))
    key = f"dedupe-{uuid.uuid4().hex}"
    first = await enqueue(kind, payload={"n": 1}, dedupe_key=key)
    second = await enqueue(kind, payload={"n": 2}, dedupe_key=key)
    assert second.id == first.id
    await drain()
    assert len(calls) == 1
    row = await Job.get(id=first.id)
    assert (row.status, row.attempts, row.payload) == (JobStatus.SUCCEEDED, 1, {"n": 1})

    # Also once it has finished: the finished job is returned, nothing runs.
    third = await enqueue(kind, dedupe_key=key)
    await drain()
    assert third.id == first.id and third.status == JobStatus.SUCCEEDED
    assert len(calls) == 1
    assert await Job.filter(dedupe_key=key).count() == 1


async def test_dedupe_key_concurrent_enqueues(db, register: Register) -> None:
    calls: list[dict[str, Any]] = []
    kind = register(recorder(calls))
    key = f"race-{uuid.uuid4().hex}"
    jobs = await asyncio.gather(*(enqueue(kind, dedupe_key=key) for _ in range(6)))
    await drain()
    assert len({j.id for j in jobs}) == 1
    assert len(calls) == 1
    assert await Job.filter(dedupe_key=key).count() == 1


async def test_unknown_kind_raises_with_known_kinds(db) -> None:
    before = await Job.filter(kind="no.such.kind").count()
    with pytest.raises(ValueError, match=r"unknown job kind 'no\.such\.kind'") as err:
        await enqueue("no.such.kind", payload={"x": 1})
    assert "audit.checkpoint" in str(err.value)
    assert "audit.flush_spool" in str(err.value)
    with pytest.raises(ValueError):
        await create_job("no.such.kind")
    assert await Job.filter(kind="no.such.kind").count() == before


async def test_failing_job_is_retried_then_failed(db, register: Register, fast_backoff) -> None:
    calls: list[dict[str, Any]] = []
    marker = uuid.uuid4().hex
    kind = register(recorder(calls, fail_times=99, error=f"exploded {marker}"))
    job = await enqueue(kind)
    await drain()

    row = await Job.get(id=job.id)
    assert row.status == JobStatus.FAILED
    assert row.attempts == MAX_ATTEMPTS
    assert [c["ctx"]["job_try"] for c in calls] == list(range(1, MAX_ATTEMPTS + 1))
    assert row.error == f"RuntimeError: exploded {marker} #{MAX_ATTEMPTS}"
    assert row.result is None and row.finished_at is not None

    # Failed for good: a redelivery does not run it again.
    assert await run_job({"job_try": 1}, str(job.id)) is True
    assert len(calls) == MAX_ATTEMPTS
    assert (await Job.get(id=job.id)).attempts == MAX_ATTEMPTS


async def test_flaky_job_succeeds_on_retry(db, register: Register, fast_backoff) -> None:
    calls: list[dict[str, Any]] = []
    kind = register(recorder(calls, fail_times=1))
    job = await enqueue(kind)
    await drain()
    row = await Job.get(id=job.id)
    assert row.status == JobStatus.SUCCEEDED
    assert row.attempts == 2
    assert row.error is None  # the earlier attempt's error is cleared on success
    assert row.result == {"calls": 2}


async def test_retry_waits_for_backoff(db, register: Register, monkeypatch) -> None:
    waited: list[int] = []

    def backoff(attempt: int) -> float:
        waited.append(attempt)
        return 0.0

    monkeypatch.setattr(runner, "backoff_seconds", backoff)
    calls: list[dict[str, Any]] = []
    await enqueue(register(recorder(calls, fail_times=99)))
    await drain()
    # A pause after every failed attempt but the last.
    assert waited == list(range(1, MAX_ATTEMPTS))


def _active_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's settings read afresh from the environment, restored afterwards."""
    from riskops.server import settings as settings_module

    monkeypatch.setattr(settings_module, "_active", Settings(secret_key="s" * 32))


def test_production_backoff_is_sensible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RISKOPS_JOB_RETRY_SECONDS", raising=False)
    _active_settings(monkeypatch)
    delays = [runner.backoff_seconds(a) for a in range(1, 10)]
    assert delays[:4] == [5, 10, 20, 40]
    assert delays == sorted(delays)
    assert max(delays) == 60


def test_backoff_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """RISKOPS_JOB_RETRY_SECONDS is the first pause; each later one doubles, at most 60 s."""
    monkeypatch.setenv("RISKOPS_JOB_RETRY_SECONDS", "0.5")
    _active_settings(monkeypatch)
    assert [runner.backoff_seconds(a) for a in (1, 2, 3, 9)] == [0.5, 1, 2, 60]


async def test_run_job_is_idempotent_once_succeeded(db, register: Register) -> None:
    calls: list[dict[str, Any]] = []
    kind = register(recorder(calls))
    job, created = await create_job(kind)
    assert created
    assert await run_job({"job_try": 1}, str(job.id), final=False) is True
    finished = await Job.get(id=job.id)
    assert await run_job({"job_try": 1}, str(job.id), final=False) is True
    assert await run_job({"job_try": 2}, str(job.id), final=True) is True
    again = await Job.get(id=job.id)
    assert len(calls) == 1
    assert (again.status, again.attempts) == (JobStatus.SUCCEEDED, 1)
    assert again.finished_at == finished.finished_at


async def test_attempts_are_capped_by_the_row(db, register: Register) -> None:
    """A redelivered job (say after worker crashes) fails for good at MAX_ATTEMPTS even when the
    caller does not say `final`."""
    calls: list[dict[str, Any]] = []
    job, _ = await create_job(register(recorder(calls, fail_times=99)))
    results = [await run_job({}, str(job.id), final=False) for _ in range(MAX_ATTEMPTS)]
    assert results == [False] * (MAX_ATTEMPTS - 1) + [True]
    row = await Job.get(id=job.id)
    assert (row.status, row.attempts) == (JobStatus.FAILED, MAX_ATTEMPTS)


async def test_interrupted_attempt_goes_back_to_queued(db, register: Register) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(ctx: dict[str, Any]) -> dict[str, Any]:
        started.set()
        await release.wait()
        return {"done": True}

    job, _ = await create_job(register(slow))
    task = asyncio.create_task(run_job({"job_try": 1}, str(job.id)))
    await asyncio.wait_for(started.wait(), 10)
    assert (await Job.get(id=job.id)).status == JobStatus.RUNNING
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    row = await Job.get(id=job.id)
    assert row.status == JobStatus.QUEUED
    assert "interrupted" in (row.error or "")

    release.set()  # the redelivery runs it to the end
    assert await run_job({"job_try": 2}, str(job.id)) is True
    row = await Job.get(id=job.id)
    assert (row.status, row.attempts, row.error) == (JobStatus.SUCCEEDED, 2, None)


async def test_kind_unknown_to_this_process_fails_cleanly(db) -> None:
    job = await Job.create(id=uuid.uuid4(), kind="retired.kind", payload={})
    assert await run_job({"job_try": 1}, str(job.id), final=True) is True
    row = await Job.get(id=job.id)
    assert row.status == JobStatus.FAILED
    assert "unknown job kind 'retired.kind'" in (row.error or "")


async def test_vanished_job_is_done(db) -> None:
    assert await run_job({"job_try": 1}, str(uuid.uuid4())) is True


async def test_queue_depth_counts_unfinished_jobs(db, register: Register) -> None:
    calls: list[dict[str, Any]] = []
    kind = register(recorder(calls))
    before = await queue_depth()
    job, _ = await create_job(kind)
    assert await queue_depth() == before + 1
    await run_job({"job_try": 1}, str(job.id))
    assert await queue_depth() == before


async def test_drain_waits_for_jobs_enqueued_by_jobs(db, register: Register) -> None:
    calls: list[dict[str, Any]] = []
    child = register(recorder(calls))

    async def parent(ctx: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.05)
        job = await enqueue(child)
        return {"child": str(job.id)}

    job = await enqueue(register(parent))
    await drain()
    row = await Job.get(id=job.id)
    child_row = await Job.get(id=row.result["child"])
    assert child_row.status == JobStatus.SUCCEEDED
    assert len(calls) == 1
