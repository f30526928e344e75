"""Per-request DataLoaders: nested fields of a page of alerts are batched into one query per
relation, whatever the page size, and only for the fields the query asks for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from riskops.server import models as m
from riskops.server.services import alert_queue


@dataclass
class Loaders:
    org_id: int
    rule_hits: DataLoader[int, list[m.RuleHit]] = field(init=False)
    signals: DataLoader[int, list[m.SignalContribution]] = field(init=False)
    users: DataLoader[int, m.User | None] = field(init=False)

    def __post_init__(self) -> None:
        self.rule_hits = DataLoader(load_fn=self._rule_hits)
        self.signals = DataLoader(load_fn=self._signals)
        self.users = DataLoader(load_fn=self._users)

    async def _rule_hits(self, ids: Sequence[int]) -> list[list[m.RuleHit]]:
        found = await alert_queue.rule_hits_of(ids)
        return [found.get(i, []) for i in ids]

    async def _signals(self, ids: Sequence[int]) -> list[list[m.SignalContribution]]:
        found = await alert_queue.signals_of(ids)
        return [found.get(i, []) for i in ids]

    async def _users(self, ids: Sequence[int]) -> list[m.User | None]:
        # Only people of the caller's organization: an id never reaches across tenants.
        found = {u.id: u for u in await m.User.filter(org_id=self.org_id, id__in=list(ids))}
        return [found.get(i) for i in ids]
