"""Per-request batch loaders for the nested fields of alerts.

Every place that hands alerts to the schema (the queue connection, the detail, mutation
payloads) first calls `Loaders.load_for(alerts, ...)`: one SQL query per relation for all of
them, run concurrently, and only for the relations the query selects. Nodes are then built with
their nested fields filled from this per-request cache: the number of queries does not grow
with the page, and no resolver runs per node and field (on a page of 50 alerts, per-node async
DataLoader resolvers cost more than the queries themselves; docs/PERFORMANCE.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from riskops.server.core.scoping import scoped
from riskops.server.identity import models
from riskops.server.triage import models as m
from riskops.server.triage import queue

NESTED = frozenset({"ruleHits", "signals", "assignee"})


@dataclass
class Loaders:
    org_id: int
    # Plain rows (queue.RULE_HIT_COLUMNS / SIGNAL_COLUMNS), not ORM objects: a page
    # copies their fields out once, and building models would cost more than the query.
    rule_hits: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    signals: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    users: dict[int, models.User | None] = field(default_factory=dict)

    async def load_for(self, alerts: Sequence[m.Alert], wanted: Iterable[str] = NESTED) -> None:
        """Batch-load the `wanted` relations (GraphQL field names) of `alerts` not loaded yet:
        one query each, run concurrently (on PostgreSQL each gets its own pool connection)."""
        wanted = set(wanted)
        loads: list[Awaitable[None]] = []
        if "ruleHits" in wanted:
            loads.append(self._rule_hits([a.id for a in alerts if a.id not in self.rule_hits]))
        if "signals" in wanted:
            loads.append(self._signals([a.id for a in alerts if a.id not in self.signals]))
        if "assignee" in wanted:
            people = {a.assignee_id for a in alerts if a.assignee_id is not None} - set(self.users)
            loads.append(self._users(people))
        await asyncio.gather(*loads)

    async def _rule_hits(self, ids: list[int]) -> None:
        found = await queue.rule_hit_rows(ids)
        self.rule_hits.update({i: found.get(i, []) for i in ids})

    async def _signals(self, ids: list[int]) -> None:
        found = await queue.signal_rows(ids)
        self.signals.update({i: found.get(i, []) for i in ids})

    async def _users(self, ids: set[int]) -> None:
        if ids:
            # Only people of the caller's organization: an id never reaches across tenants.
            found = {
                u.id: u
                for u in await scoped(models.User, org_id=self.org_id).filter(id__in=list(ids))
            }
            self.users.update({i: found.get(i) for i in ids})

    def prime(
        self, alert_id: int, hits: list[m.RuleHit], signals: list[m.SignalContribution]
    ) -> None:
        self.rule_hits[alert_id] = [
            {c: getattr(h, c) for c in queue.RULE_HIT_COLUMNS} for h in hits
        ]
        self.signals[alert_id] = [{c: getattr(s, c) for c in queue.SIGNAL_COLUMNS} for s in signals]
