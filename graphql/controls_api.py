"""GraphQL for the controls: the policy in force, its versions and the open proposal
(changePolicy proposes, approvePolicyChange / rejectPolicyChange decide), kill switches, and the
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
    Notification,
    NotificationStatus,
    Policy,
    PolicyPayload,
)
from riskops.graphql.types import UserError
from riskops.server.core.approvals import ChangeStatus
from riskops.server.core.errors import DomainError, ErrorCode
from riskops.server.core.principal import Principal
from riskops.server.credit import kill_switches as controls_kill_switches
from riskops.server.credit import policy as controls
from riskops.server.credit.models import PolicyVersion
from riskops.server.identity import users
from riskops.server.notify import outbox


def _people(rows: Iterable[PolicyVersion]) -> list[int | None]:
    return [i for r in rows for i in (r.set_by_id, r.decided_by_id)]


async def _policy_in_force(p: Principal) -> Policy:
    current = await query(controls.get_policy(p))
    row = current.version
    changes = None
    if row is not None:
        versions = await query(controls.list_policy_versions(p))
        changes = controls.version_changes(versions).get(row.id)
    names = await users.names_of(p, _people([row] if row else []))
    return Policy.of(current.number, current.policy, row, names, changes)


async def _version(p: Principal, row: PolicyVersion) -> Policy:
    """A version with what it changes (a proposal: relative to the version in force)."""
    if row.status is ChangeStatus.PROPOSED:
        current = await controls.current_policy(p.org_id)
        changes = controls.changed_fields(current.policy, controls.Policy.from_dict(row.data))
    else:
        versions = await controls.list_policy_versions(p)
        changes = controls.version_changes(versions).get(row.id, {})
    return Policy.of_row(row, await users.names_of(p, _people([row])), changes)


async def _decision(p: Principal, exc: DomainError) -> PolicyPayload:
    current = await _policy_in_force(p) if exc.code is ErrorCode.CONFLICT else None
    return PolicyPayload(policy=current, errors=[UserError.of(exc)])


@strawberry.type
class ControlsQuery:
    @strawberry.field(description="The classification policy in force, with each value's meaning.")
    async def policy(self, info: Info) -> Policy:
        return await _policy_in_force(principal(info))

    @strawberry.field(
        description="The stored policy versions, newest first, each with its status (PROPOSED, "
        "APPROVED, REJECTED) and what it changed."
    )
    async def policy_versions(self, info: Info) -> list[Policy]:
        p = principal(info)
        rows = await query(controls.list_policy_versions(p))
        names = await users.names_of(p, _people(rows))
        changes = controls.version_changes(rows)
        return [Policy.of_row(r, names, changes.get(r.id)) for r in rows]

    @strawberry.field(
        description="The proposed version waiting for another approver (at most one), with "
        "its changes relative to the version in force; null when none is open."
    )
    async def policy_proposal(self, info: Info) -> Policy | None:
        p = principal(info)
        open_ = await query(controls.open_policy_proposal(p))
        if open_ is None:
            return None
        names = await users.names_of(p, _people([open_.version]))
        return Policy.of_row(open_.version, names, open_.changes)

    @strawberry.field(
        description="Kill switches in force, newest first; with includeInactive also the "
        "cleared and expired ones."
    )
    async def kill_switches(self, info: Info, include_inactive: bool = False) -> list[KillSwitch]:
        p = principal(info)
        rows = await query(controls_kill_switches.list_kill_switches(p, include_inactive))
        names = await users.names_of(p, [i for s in rows for i in (s.set_by_id, s.cleared_by_id)])
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
        description="Propose a new policy version: `values` (an object of the fields to "
        'change, e.g. {"sev1_multiplier": 6}) merged over the version in force. Needs a reason '
        "and the number in force you loaded (a stale one is CONFLICT, and `policy` is the "
        "version in force). The version is PROPOSED: it is in force once another approver "
        "approves it (approvePolicyChange). One open proposal per organization."
    )
    async def change_policy(
        self, info: Info, values: JSON, reason: str, expected_number: int
    ) -> PolicyPayload:
        p = principal(info)
        raw: Any = values
        try:
            row = await controls.change_policy(p, raw, reason, expected_number)
        except DomainError as exc:
            return await _decision(p, exc)
        return PolicyPayload(policy=await _version(p, row))

    @strawberry.mutation(
        description="Put a proposed policy version in force, with a reason. Not by its "
        "proposer (FORBIDDEN, maker-checker); CONFLICT when another version came in force "
        "since it was proposed."
    )
    async def approve_policy_change(self, info: Info, number: int, reason: str) -> PolicyPayload:
        p = principal(info)
        try:
            row = await controls.approve_policy_change(p, number, reason)
        except DomainError as exc:
            return await _decision(p, exc)
        return PolicyPayload(policy=await _version(p, row))

    @strawberry.mutation(
        description="Reject a proposed policy version, with a reason (its proposer may reject "
        "it to withdraw it). The version in force does not change."
    )
    async def reject_policy_change(self, info: Info, number: int, reason: str) -> PolicyPayload:
        p = principal(info)
        try:
            row = await controls.reject_policy_change(p, number, reason)
        except DomainError as exc:
            return await _decision(p, exc)
        return PolicyPayload(policy=await _version(p, row))

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
            value = name.value  # type: ignore[attr-defined]
            row = await controls_kill_switches.set_kill_switch(p, value, scope, reason, expires_at)
        except DomainError as exc:
            return KillSwitchPayload(errors=[UserError.of(exc)])
        return KillSwitchPayload(
            kill_switch=KillSwitch.of(row, await users.names_of(p, [row.set_by_id]))
        )

    @strawberry.mutation(description="Turn a kill switch off before it expires, with a reason.")
    async def clear_kill_switch(
        self, info: Info, id: strawberry.ID, reason: str
    ) -> KillSwitchPayload:
        p = principal(info)
        try:
            row = await controls_kill_switches.clear_kill_switch(p, str(id), reason)
        except DomainError as exc:
            return KillSwitchPayload(errors=[UserError.of(exc)])
        names = await users.names_of(p, [row.set_by_id, row.cleared_by_id])
        return KillSwitchPayload(kill_switch=KillSwitch.of(row, names))
