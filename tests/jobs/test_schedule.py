"""The periodic jobs' schedule and the in-process scheduler (no Redis): each slot fires once,
with a dedupe key naming it; after a stall only the latest missed slot fires; the arq cron
wrapper records one Job per slot."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from riskops.jobs import schedule as sched
from riskops.jobs.schedule import SCHEDULE, Scheduled, run_schedule


class Clock:
    def __init__(self, start: datetime) -> None:
        self.t = start

    def now(self) -> datetime:
        return self.t


def test_slots_and_dedupe_keys():
    weekly = next(e for e in SCHEDULE if e.kind == "report.weekly")
    monday_10 = weekly.next_after(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    assert monday_10 == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert weekly.next_after(monday_10) == datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
    assert weekly.dedupe_key(monday_10) == "cron:report.weekly:2026-01-05T10:00:00+00:00"
    minute = next(e for e in SCHEDULE if e.kind == "outbox.deliver")
    assert minute.next_after(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)) == datetime(
        2026, 1, 1, 12, 1, tzinfo=UTC
    )


async def test_the_scheduler_fires_each_slot_once_and_skips_a_stall(monkeypatch):
    clock = Clock(datetime(2026, 1, 5, 9, 58, 30, tzinfo=UTC))
    fired: list[tuple[str, datetime]] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:
        clock.t += timedelta(seconds=seconds)
        if clock.t >= datetime(2026, 1, 5, 10, 3, tzinfo=UTC) and not stalled[0]:
            stalled[0] = True
            clock.t += timedelta(hours=2)  # the process was suspended
        if clock.t > datetime(2026, 1, 5, 12, 6, tzinfo=UTC):
            raise asyncio.CancelledError
        await real_sleep(0)

    stalled = [False]

    async def fire(entry: Scheduled, slot: datetime) -> None:
        fired.append((entry.kind, slot))

    monkeypatch.setattr(sched.asyncio, "sleep", fake_sleep)
    task = asyncio.ensure_future(run_schedule(now=clock.now, fire=fire))
    with pytest.raises(asyncio.CancelledError):
        await task
    outbox = [slot for kind, slot in fired if kind == "outbox.deliver"]
    assert len(outbox) == len(set(outbox))  # each slot once
    # Before the stall every minute fired; the two missed hours fire once, for the latest slot.
    assert datetime(2026, 1, 5, 9, 59, tzinfo=UTC) in outbox
    assert datetime(2026, 1, 5, 10, 1, tzinfo=UTC) in outbox
    assert len([s for s in outbox if 10 * 60 + 5 <= s.hour * 60 + s.minute < 12 * 60]) == 0
    assert len(outbox) < 20
    weekly = [slot for kind, slot in fired if kind == "report.weekly"]
    assert weekly == [datetime(2026, 1, 5, 10, 0, tzinfo=UTC)]
    expire = [slot for kind, slot in fired if kind == "kill_switch.expire"]
    assert len(expire) == len(outbox)


async def test_the_arq_cron_wrapper_records_one_job_per_slot(db):
    from riskops.jobs.models import Job
    from riskops.jobs.worker import scheduled_cron

    cron = scheduled_cron(Scheduled("kill_switch.expire", minute=0))
    slot = f"cron:kill_switch.expire:{datetime.now(UTC).timestamp()}"
    first = await cron.coroutine({"job_id": slot, "job_try": 1})
    again = await cron.coroutine({"job_id": slot, "job_try": 1})
    assert first == again
    rows = await Job.filter(dedupe_key=f"arq:{slot}")
    assert len(rows) == 1 and rows[0].status == "succeeded"


async def test_the_real_schedule_starts_and_keeps_running():
    """What the web process starts without Redis (server/app.py): it must not die at once."""
    task = asyncio.ensure_future(run_schedule())
    await asyncio.sleep(0.05)
    assert not task.done(), task.exception() if task.done() else None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_the_in_process_schedule_takes_the_checkpoint_once_per_slot() -> None:
    """Without Redis the checkpoint is a scheduled slot like the others (a Job with a dedupe
    key), so several web processes take it once, on the cron's clock."""
    from riskops.server.app import in_process_schedule
    from riskops.server.settings import Settings

    entries = {e.kind: e for e in in_process_schedule(Settings(audit_checkpoint_minutes=15))}
    assert set(entries) == {s.kind for s in SCHEDULE} | {"audit.checkpoint"}
    checkpoint = entries["audit.checkpoint"]
    assert checkpoint.minute == {0, 15, 30, 45} and checkpoint.hour is None
    slot = checkpoint.next_after(datetime(2026, 11, 24, 10, 7, tzinfo=UTC))
    assert slot == datetime(2026, 11, 24, 10, 15, tzinfo=UTC)
    assert checkpoint.dedupe_key(slot) == "cron:audit.checkpoint:2026-11-24T10:15:00+00:00"
