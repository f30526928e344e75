"""GraphQL types of the controls (policy versions with their maker-checker status, kill
switches) and of the notification outbox, built from already-loaded rows; the names of the people
involved come in a dict."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import strawberry

from riskops.graphql.core.errors import UserError
from riskops.graphql.core.ids import as_id
from riskops.graphql.identity.types import UserRef
from riskops.server.credit import models as rm
from riskops.server.credit.kill_switches import SwitchName, switch_state
from riskops.server.credit.policy import POLICY_MEANINGS
from riskops.server.credit.terms import Policy as PolicyValues

KillSwitchName = strawberry.enum(
    SwitchName, name="KillSwitchName",
    description="ALERT_SUPPRESSION: notifications stop (recorded as suppressed). BACKFILL: one "
    "scenario in backfill mode (SEV1 relaxed, a legit signal).",
)  # fmt: skip

Names = dict[int, str]


def _ref(user_id: int | None, names: Names) -> UserRef | None:
    if user_id is None:
        return None
    return UserRef(id=as_id(user_id), name=names.get(user_id, f"user {user_id}"))


class PolicyStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"


PolicyVersionStatus = strawberry.enum(
    PolicyStatus, name="PolicyVersionStatus",
    description="PROPOSED (waiting for another approver; not in force), APPROVED (the newest "
    "approved version is in force), REJECTED (rejected, or withdrawn by its proposer).",
)  # fmt: skip

Changes = dict[str, tuple[float | int, float | int]]


@strawberry.type(description="One threshold or weight of the policy, with what it means.")
class PolicyValue:
    name: str
    value: float
    meaning: str


def policy_values(policy: PolicyValues) -> list[PolicyValue]:
    return [
        PolicyValue(name=k, value=float(v), meaning=POLICY_MEANINGS.get(k, ""))
        for k, v in policy.to_dict().items()
    ]


@strawberry.type(
    description="A field a version changes: its value before (for a proposal: in force) and in "
    "this version."
)
class PolicyChange:
    name: str
    before: float
    after: float


@strawberry.type(
    description="A version of the classification policy. Number 0 is the built-in defaults "
    "(nothing stored yet). Pass the number in force as expectedNumber to changePolicy, and a "
    "proposed version's number to approvePolicyChange / rejectPolicyChange."
)
class Policy:
    number: int
    status: PolicyVersionStatus  # type: ignore[valid-type]
    values: list[PolicyValue]
    changes: list[PolicyChange] = strawberry.field(
        description="What this version changes relative to the approved version before it "
        "(for the open proposal: relative to the version in force)."
    )
    reason: str | None
    set_by: UserRef | None = strawberry.field(description="Who proposed this version.")
    created_at: datetime | None
    decided_by: UserRef | None = strawberry.field(description="Who approved or rejected it.")
    decided_at: datetime | None
    decision_reason: str | None

    @classmethod
    def of(cls, number: int, policy: PolicyValues, row: rm.PolicyVersion | None,
           names: Names, changes: Changes | None = None) -> Policy:  # fmt: skip
        return cls(
            number=number,
            status=PolicyStatus(row.status.value if row else PolicyStatus.APPROVED.value),
            values=policy_values(policy),
            changes=[
                PolicyChange(name=k, before=float(a), after=float(b))
                for k, (a, b) in (changes or {}).items()
            ],
            reason=row.reason if row else None,
            set_by=_ref(row.set_by_id, names) if row else None,
            created_at=row.created_at if row else None,
            decided_by=_ref(row.decided_by_id, names) if row else None,
            decided_at=row.decided_at if row else None,
            decision_reason=row.decision_reason if row else None,
        )

    @classmethod
    def of_row(cls, row: rm.PolicyVersion, names: Names, changes: Changes | None = None) -> Policy:
        return cls.of(row.number, PolicyValues.from_dict(row.data), row, names, changes)


@strawberry.type(description="An emergency switch with its reason, who set it and its expiry.")
class KillSwitch:
    id: strawberry.ID
    name: KillSwitchName  # type: ignore[valid-type]
    scope: str = strawberry.field(description="The scenario key for BACKFILL; empty otherwise.")
    reason: str
    state: str = strawberry.field(description="in_force, cleared or expired.")
    set_by: UserRef | None
    set_at: datetime
    expires_at: datetime | None
    cleared_at: datetime | None
    cleared_by: UserRef | None
    clear_reason: str | None

    @classmethod
    def of(cls, s: rm.KillSwitch, names: Names) -> KillSwitch:
        return cls(
            id=as_id(s.id), name=SwitchName(s.name), scope=s.scope, reason=s.reason,
            state=switch_state(s, datetime.now(UTC)), set_by=_ref(s.set_by_id, names),
            set_at=s.set_at, expires_at=s.expires_at, cleared_at=s.cleared_at,
            cleared_by=_ref(s.cleared_by_id, names), clear_reason=s.clear_reason,
        )  # fmt: skip


@strawberry.type
class PolicyPayload:
    policy: Policy | None = strawberry.field(
        default=None,
        description="changePolicy: the new version, PROPOSED (not in force until another "
        "approver approves it); approvePolicyChange: the version now in force; "
        "rejectPolicyChange: the rejected version. On CONFLICT: the version in force.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class KillSwitchPayload:
    kill_switch: KillSwitch | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
