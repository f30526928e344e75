"""Export of chain events as JSON lines (one event per line, the contract's fields), for a SIEM."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime

from riskops.audit.chain import format_ts
from riskops.audit.models import AuditEvent
from riskops.audit.verify import _COLUMNS, BATCH, row_to_event


async def export_events(
    org_id: int, since: datetime | None = None, until: datetime | None = None
) -> AsyncIterator[str]:
    """Yield one JSON line per event of `org_id` in seq order, optionally within [since, until).

    An export from seq 1 verifies on its own; one that starts later verifies from its first
    event's `prev_hash`.
    """
    last = 0
    while True:
        q = AuditEvent.filter(org_id=org_id, seq__gt=last)
        if since is not None:
            q = q.filter(ts__gte=format_ts(since))
        if until is not None:
            q = q.filter(ts__lt=format_ts(until))
        rows = await q.order_by("seq").limit(BATCH).values(*_COLUMNS)
        if not rows:
            return
        for row in rows:
            yield json.dumps(row_to_event(row), sort_keys=True, ensure_ascii=False)
        last = rows[-1]["seq"]
