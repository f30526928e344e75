"""Per-request batch loaders for what a run node shows besides its own columns: the key of its
scenario and the number of its case.

Every place that hands runs to the schema (the ledger page, a run's detail with its reruns and
the run it reruns, mutation payloads) first calls `RunLoaders.load_for(runs)`. What the rows
brought along (the services load the ledger page with `select_related`) is kept without a query;
what is missing costs one query per relation for all of the runs, run concurrently, and is not
asked again in the same request. Nodes are then built from this cache (`Run.of`), so the number
of queries does not grow with the number of runs, and no resolver runs per node and field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit import models as rm
from riskops.server.triage.models import Case


def _loaded(row: rm.Run, relation: str) -> tuple[bool, Any]:
    """Whether `relation` was loaded with the row (select_related / fetch_related), and it.
    Read from the row itself: reading the relation's attribute would build a query otherwise."""
    key = f"_{relation}"
    return key in row.__dict__, row.__dict__.get(key)


@dataclass
class RunLoaders:
    principal: Principal
    scenario_keys: dict[int, str] = field(default_factory=dict)
    # None: the case is not one of the organization's (an id never reaches across tenants).
    case_numbers: dict[int, str | None] = field(default_factory=dict)

    async def load_for(self, runs: Sequence[rm.Run]) -> None:
        """Keep what `runs` were loaded with, then batch-load the scenario keys and case
        numbers still unknown: one query each, run concurrently."""
        for run in runs:
            self._keep(run)
        scenarios = {r.scenario_id for r in runs} - self.scenario_keys.keys()
        cases = {r.case_id for r in runs if r.case_id is not None} - self.case_numbers.keys()
        loads: list[Awaitable[None]] = []
        if scenarios:
            loads.append(self._scenarios(sorted(scenarios)))
        if cases:
            loads.append(self._cases(sorted(cases)))
        await asyncio.gather(*loads)

    def scenario_key(self, run: rm.Run) -> str:
        return self.scenario_keys.get(run.scenario_id, "")

    def case_number(self, run: rm.Run) -> str | None:
        return self.case_numbers.get(run.case_id) if run.case_id is not None else None

    def _keep(self, run: rm.Run) -> None:
        has, scenario = _loaded(run, "scenario")
        if has and scenario is not None:
            self.scenario_keys[scenario.id] = scenario.key
        has, case = _loaded(run, "case")
        if has and case is not None:
            self.case_numbers[case.id] = case.display_number

    async def _scenarios(self, ids: list[int]) -> None:
        q = scoped(rm.Scenario, self.principal).filter(id__in=ids)
        found = dict(await q.values_list("id", "key"))
        self.scenario_keys.update({i: str(found.get(i, "")) for i in ids})

    async def _cases(self, ids: list[int]) -> None:
        found = {
            c.id: c.display_number
            for c in await scoped(Case, self.principal).filter(id__in=ids).only("id", "number")
        }
        self.case_numbers.update({i: found.get(i) for i in ids})
