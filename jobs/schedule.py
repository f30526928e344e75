"""The periodic jobs and when they run (UTC), for both runners.

With Redis, the arq worker runs them as cron jobs (arq runs each on one worker only). Without
Redis, the web process's scheduler loop enqueues them in-process when due. Either way a run is a
`Job` row whose dedupe key names the slot (`cron:<kind>:<time>`), so a slot runs once even with
several web processes or a cron redelivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from arq.cron import next_cron

from riskops.jobs import runner

log = logging.getLogger("riskops.jobs")


@dataclass(frozen=True)
class Scheduled:
    kind: str  # the job kind (registered with @job)
    minute: set[int] | int | None = None
    hour: set[int] | int | None = None
    weekday: int | None = None  # 0 = Monday

    def next_after(self, when: datetime) -> datetime:
        # arq's next_cron works on naive datetimes; ours are UTC.
        naive = when.astimezone(UTC).replace(tzinfo=None)
        nxt = next_cron(
            naive, weekday=self.weekday, hour=self.hour, minute=self.minute, microsecond=0
        )
        return nxt.replace(tzinfo=UTC)

    def dedupe_key(self, slot: datetime) -> str:
        return f"cron:{self.kind}:{slot.astimezone(UTC).isoformat()}"


EVERY_MINUTE = set(range(60))

SCHEDULE: tuple[Scheduled, ...] = (
    # The weekly credit review: Mondays 10:00 UTC (seed 002 "Weekly Review Procedure").
    Scheduled("report.weekly", minute=0, hour=10, weekday=0),
    # Deliver pending notifications whose next attempt is due (after a failed kick, a retry).
    Scheduled("outbox.deliver", minute=EVERY_MINUTE),
    # Record kill switches that expired (they are already off; this clears and audits them).
    Scheduled("kill_switch.expire", minute=EVERY_MINUTE),
    # Escalate unacknowledged SEV0/SEV1 runs and cases past their target (docs/RESPONSE.md).
    Scheduled("response.escalate", minute=EVERY_MINUTE),
    # Enforce every organization's retention policy (docs/RETENTION.md), daily at 02:30 UTC.
    Scheduled("retention.enforce", minute=30, hour=2),
)


async def enqueue_slot(entry: Scheduled, slot: datetime) -> None:
    await runner.enqueue(entry.kind, dedupe_key=entry.dedupe_key(slot))


async def run_schedule(
    schedule: tuple[Scheduled, ...] = SCHEDULE,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    fire: Callable[[Scheduled, datetime], Awaitable[Any]] = enqueue_slot,
) -> None:
    """The in-process scheduler (no Redis): sleeps until the next slot of any entry, fires it.

    After a stall (a suspended laptop, a long GC) an entry fires once for its latest missed
    slot, not once per missed slot: every-minute jobs sweep whatever is due anyway."""
    due = [e.next_after(now()) for e in schedule]
    while True:
        i = min(range(len(schedule)), key=lambda k: due[k])
        wait = (due[i] - now()).total_seconds()
        if wait > 0:
            await asyncio.sleep(min(wait, 60))
            continue
        entry = schedule[i]
        latest = due[i]
        while (following := entry.next_after(latest)) <= now():
            latest = following
        try:
            await fire(entry, latest)
        except Exception:
            log.exception("scheduled %s could not be started", entry.kind)
        due[i] = entry.next_after(latest)
