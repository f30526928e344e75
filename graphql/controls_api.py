"""GraphQL for the controls: the policy in force and its versions, kill switches, and the
notification outbox; thin adapters over `server/services/controls.py` and `outbox.py`.
Expected errors of mutations are data (`errors`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from riskops.graphql.context import Info, principal, query
from riskops.graphql.control_types import (
    KillSwitch,
    KillSwitchName,
    KillSwitchPayload,
    Names,
    Notification,
    NotificationStatus,
    Policy,
    PolicyPayload,
)
from riskops.graphql.types import UserError
from riskops.server.errors import DomainError, ErrorCode
from riskops.server.models import User
from riskops.server.principal import Principal
from riskops.server.services import controls, outbox


async def _names(p: Principal, ids: Iterable[int | None]) -> Names:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = await User.filter(org_id=p.org_id, id__in=wanted).values_list("id", "name")
    return {int(i): str(n) for i, n in rows}


async def _policy_in_force(p: Principal) -> Policy:
    current = await query(controls.get_policy(p))
    row = current.version
    names = await _names(p, [row.set_by_id] if row else [])
    return Policy.of(current.number, current.policy, row, names)


@strawberry.type
class ControlsQuery:
    @strawberry.field(description="The classification policy in force, with each value's meaning.")
    async def policy(self, info: Info) -> Policy:
        return await _policy_in_force(principal(info))

    @strawberry.field(description="The stored policy versions, newest first.")
    async def policy_versions(self, info: Info) -> list[Policy]:
        p = principal(info)
        rows = await query(controls.list_policy_versions(p))
        names = await _names(p, [r.set_by_id for r in rows])
        return [Policy.of_row(r, names) for r in rows]

    @strawberry.field(
        description="Kill switches in force, newest first; with includeInactive also the "
        "cleared and expired ones."
    )
    async def kill_switches(self, info: Info, include_inactive: bool = False) -> list[KillSwitch]:
        p = principal(info)
        rows = await query(controls.list_kill_switches(p, include_inactive))
        names = await _names(p, [i for s in rows for i in (s.set_by_id, s.cleared_by_id)])
        return [KillSwitch.of(s, names) for s in rows]

    @strawberry.field(description="The notification outbox, newest first (at most 200).")
    async def notifications(
        self,
        info: Info,
        status: NotificationStatus | None = None,  # type: ignore[valid-type]
        first: int = 50,
    ) -> list[Notification]:
        value = status.value if status is not None else None
        rows = await query(outbox.list_messages(principal(info), value, first))
        return [Notification.of(m) for m in rows]


@strawberry.type
class ControlsMutation:
    @strawberry.mutation(
        description="A new policy version: `values` (an object of the fields to change, e.g. "
        '{"sev1_multiplier": 6}) merged over the version in force. Needs a reason and the '
        "number you loaded (a stale one is CONFLICT, and `policy` is the version in force)."
    )
    async def change_policy(
        self, info: Info, values: JSON, reason: str, expected_number: int
    ) -> PolicyPayload:
        p = principal(info)
        raw: Any = values
        try:
            row = await controls.change_policy(p, raw, reason, expected_number)
        except DomainError as exc:
            current = None
            if exc.code is ErrorCode.CONFLICT:
                current = await _policy_in_force(p)
            return PolicyPayload(policy=current, errors=[UserError.of(exc)])
        return PolicyPayload(policy=Policy.of_row(row, await _names(p, [row.set_by_id])))

    @strawberry.mutation(
        description="Turn a kill switch on, with a reason and optionally an expiry (at most 90 "
        "days ahead). BACKFILL needs the scenario key as scope."
    )
    async def set_kill_switch(
        self,
        info: Info,
        name: KillSwitchName,  # type: ignore[valid-type]
        reason: str,
        scope: str = "",
        expires_at: datetime | None = None,
    ) -> KillSwitchPayload:
        p = principal(info)
        try:
            row = await controls.set_kill_switch(p, name.value, scope, reason, expires_at)  # type: ignore[attr-defined]
        except DomainError as exc:
            return KillSwitchPayload(errors=[UserError.of(exc)])
        return KillSwitchPayload(kill_switch=KillSwitch.of(row, await _names(p, [row.set_by_id])))

    @strawberry.mutation(description="Turn a kill switch off before it expires, with a reason.")
    async def clear_kill_switch(
        self, info: Info, id: strawberry.ID, reason: str
    ) -> KillSwitchPayload:
        p = principal(info)
        try:
            row = await controls.clear_kill_switch(p, str(id), reason)
        except DomainError as exc:
            return KillSwitchPayload(errors=[UserError.of(exc)])
        names = await _names(p, [row.set_by_id, row.cleared_by_id])
        return KillSwitchPayload(kill_switch=KillSwitch.of(row, names))
