"""The workflow actions of triage on one alert (assign, escalate, request and answer
information, close, reopen) and who may be named in them. Ingest is `riskops.server.triage.ingest`,
bulk actions `riskops.server.triage.bulk`, the state machine `riskops.server.triage.workflow`.

Every action: authorize → load scoped (another organization's id is NotFound) → idempotency
(the same key again replays; the key used for another action or alert is Duplicate) → expected
version (stale is Conflict carrying the current status and version) → `workflow.transition` →
one transaction { alert, history row, audit event, idempotency key }.

The idempotency check comes before the version check on purpose: a client retrying a request
that did succeed holds the old version, and must get the same result, not a conflict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import (
    Invalid,
)
from riskops.server.core.idempotency import (
    key_race,
    parse_idempotency_key,
    remember_key,
    used_idempotency_key,
)
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import lock_scoped, parse_id, scoped
from riskops.server.core.validation import label
from riskops.server.core.versioning import check_version, parse_version, write_versioned
from riskops.server.identity import users
from riskops.server.identity.models import Team, User, UserKind, UserStatus
from riskops.server.triage import workflow
from riskops.server.triage.models import (
    Alert,
    AlertEvent,
    AlertStatus,
    InfoRequest,
)
from riskops.server.triage.workflow import Action

MAX_BATCH = 1000
MAX_RULE_HITS = 100
MAX_SIGNALS = 100
MAX_TRANSACTION_BYTES = 16_384
MAX_BULK = 100


RULE_HIT_FIELDS = frozenset({"rule_id", "name", "version", "score_contribution", "matched_values"})
SIGNAL_FIELDS = frozenset({"signal", "value", "contribution", "direction"})


# --- ingest ------------------------------------------------------------------------------------


# --- workflow actions --------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertActionResult:
    alert: Alert
    replayed: bool = False  # True when an idempotency key repeated an earlier, identical request


# Who may be named in an action (the field, the permission they need, and how a refusal says
# it): an assignee and a person asked must be able to read alerts; an escalation's approver must
# be one who may reopen alerts (an approver).
NAMED: dict[str, tuple[Perm, str]] = {
    "assignee_id": (Perm.ALERT_READ, "allowed to read alerts"),
    "answerer_id": (Perm.ALERT_READ, "allowed to read alerts"),
    "approver_id": (Perm.ALERT_REOPEN, "an approver"),
}


def eligible(people: Iterable[User], name: str) -> list[User]:
    """The active people of `people` who may be named in the field `name` (the pickers of the
    workflow forms offer exactly those)."""
    return users.holding(people, NAMED[name][0])


async def member(
    principal: Principal, conn: BaseDBAsyncClient, user_id: int, name: str, perm: Perm, what: str
) -> User:
    """The active person `user_id` who holds `perm`, named in the field `name` (the same people
    the pickers offer, `users.holding`)."""
    user = (
        await scoped(User, principal)
        .filter(id=user_id, status=UserStatus.ACTIVE, deleted_at=None)
        .using_db(conn)
        .first()
    )
    if user is None:
        raise Invalid(
            f"{label(name)}: there is no active user {user_id} in your organization; choose "
            "someone from the list.",
            field=name,
        )
    if not users.holding([user], perm):
        who = user.name or user.email
        if user.kind != UserKind.PERSON:
            raise Invalid(
                f"{label(name)}: {who} is a service account; choose a person.", field=name
            )
        raise Invalid(f"{label(name)}: {who} is not {what}.", field=name)
    return user


async def _check_references(
    principal: Principal, conn: BaseDBAsyncClient, outcome: workflow.Outcome
) -> None:
    data = outcome.history
    if outcome.action is Action.ASSIGN:
        await member(principal, conn, data["assignee_id"], "assignee_id", *NAMED["assignee_id"])
    elif outcome.action is Action.ESCALATE and "approver_id" in data:
        await member(principal, conn, data["approver_id"], "approver_id", *NAMED["approver_id"])
    elif outcome.action is Action.ESCALATE:
        if not await scoped(Team, principal).filter(id=data["team_id"]).using_db(conn).exists():
            raise Invalid(
                f"team_id: there is no team {data['team_id']} in your organization.",
                field="team_id",
            )
    elif outcome.action is Action.REQUEST_INFO:
        await member(principal, conn, data["answerer_id"], "answerer_id", *NAMED["answerer_id"])


_WRITTEN = ("status", "assignee_id", "team_id", "disposition", "closed_at", "updated_at", "version")

# Free text (comments, questions, answers, reasons) stays in the alert's history, which can be
# redacted; the audit chain, which cannot, gets only structured values.
_FREE_TEXT = frozenset({"comment", "question", "answer", "reason"})


async def _act(
    principal: Principal,
    alert_id: str | int,
    action: Action,
    params: dict[str, Any],
    *,
    expected_version: int,
    idempotency_key: str | None,
) -> AlertActionResult:
    workflow.authorize_attempt(action, principal)
    key = parse_idempotency_key(idempotency_key)
    if action is not Action.ANSWER_INFO:
        # Answering is allowed by the alert itself (the person asked): its version is checked
        # once the alert is read and the permission known (`apply_action`), never before.
        parse_version(expected_version)
    pk = parse_id("Alert", alert_id)
    with key_race(key):
        return await _act_in_transaction(principal, pk, action, params, expected_version, key)


async def _act_in_transaction(
    principal: Principal,
    pk: int,
    action: Action,
    params: dict[str, Any],
    expected_version: int,
    key: str | None,
) -> AlertActionResult:
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        alert = await lock_alert(principal, conn, pk)
        if key is not None and await used_idempotency_key(
            principal, conn, key, action.value, alert.id
        ):
            return AlertActionResult(alert, replayed=True)
        await apply_action(principal, conn, alert, action, params, expected_version, now)
        if key is not None:
            await remember_key(
                principal, conn, key, action.value, alert.id, now,
                entity=f"alert {alert.external_id}",
            )  # fmt: skip
    return AlertActionResult(alert)


async def lock_alert(principal: Principal, conn: BaseDBAsyncClient, pk: int) -> Alert:
    return await lock_scoped(Alert, principal, conn, pk, "Alert")


async def apply_action(
    principal: Principal,
    conn: BaseDBAsyncClient,
    alert: Alert,
    action: Action,
    params: dict[str, Any],
    expected_version: int,
    now: datetime,
) -> None:
    """One action on a locked alert: who may (answer_info: the person asked), version check,
    transition, alert row, history, audit."""
    open_request = None
    if alert.status is AlertStatus.PENDING_INFO:
        open_request = (
            await InfoRequest.filter(alert_id=alert.id, answered_at=None)
            .using_db(conn)
            .order_by("-asked_at", "-id")
            .first()
        )
    state = workflow.AlertState(
        alert.status,
        assignee_id=alert.assignee_id,
        info_answerer_id=open_request.answerer_id if open_request else None,
    )
    if action is Action.ANSWER_INFO:
        workflow.authorize(
            action, principal.roles, actor_id=principal.user_id,
            answerer_id=state.info_answerer_id,
        )  # fmt: skip
        parse_version(expected_version)
    check_version(
        f"Alert {alert.id}", alert.version, expected_version,
        status=alert.status.value, current_assignee_id=alert.assignee_id,
    )  # fmt: skip
    outcome = workflow.transition(
        state, action, principal.roles, params, actor_id=principal.user_id
    )
    await _check_references(principal, conn, outcome)

    old = {"status": alert.status.value, "version": alert.version}
    alert.status = outcome.new_status
    for name, value in outcome.changes.items():
        setattr(alert, name, value)
    if outcome.new_status is AlertStatus.CLOSED:
        alert.closed_at = now
    elif outcome.from_status is AlertStatus.CLOSED:
        alert.closed_at = None
    alert.updated_at = now
    alert.version += 1
    await write_versioned(
        scoped(Alert, principal).filter(id=alert.id), expected_version, conn,
        f"Alert {alert.id}", **{name: getattr(alert, name) for name in _WRITTEN},
    )  # fmt: skip

    if action is Action.REQUEST_INFO:
        await InfoRequest.create(
            alert_id=alert.id,
            question=outcome.history["question"],
            asked_by_id=principal.user_id,
            answerer_id=outcome.history["answerer_id"],
            asked_at=now,
            using_db=conn,
        )
    elif action is Action.ANSWER_INFO and open_request is not None:
        open_request.answer = outcome.history["answer"]
        open_request.answered_at = now
        await open_request.save(using_db=conn, update_fields=["answer", "answered_at"])

    await AlertEvent.create(
        alert_id=alert.id,
        org_id=principal.org_id,
        action=action.value,
        actor=principal.actor.actor,
        from_status=outcome.from_status.value,
        to_status=outcome.new_status.value,
        data=outcome.history,
        at=now,
        using_db=conn,
    )
    new = {k: v for k, v in outcome.history.items() if k not in _FREE_TEXT}
    await record(
        principal, conn, f"alert.{action.value}", "alert", alert.id,
        old=old, new={"status": alert.status.value, "version": alert.version, **new},
        risk=RiskLevel.MEDIUM if action is Action.REOPEN else RiskLevel.LOW,
    )  # fmt: skip


async def assign_alert(
    principal: Principal,
    alert_id: str | int,
    *,
    assignee_id: int | str,
    expected_version: int,
    idempotency_key: str | None = None,
) -> AlertActionResult:
    return await _act(
        principal, alert_id, Action.ASSIGN, {"assignee_id": assignee_id},
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip


async def escalate_alert(
    principal: Principal,
    alert_id: str | int,
    *,
    reason: str,
    team_id: int | str | None = None,
    approver_id: int | str | None = None,
    expected_version: int,
    idempotency_key: str | None = None,
) -> AlertActionResult:
    return await _act(
        principal, alert_id, Action.ESCALATE,
        {"reason": reason, "team_id": team_id, "approver_id": approver_id},
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip


async def request_alert_info(
    principal: Principal,
    alert_id: str | int,
    *,
    question: str,
    answerer_id: int | str,
    expected_version: int,
    idempotency_key: str | None = None,
) -> AlertActionResult:
    return await _act(
        principal, alert_id, Action.REQUEST_INFO,
        {"question": question, "answerer_id": answerer_id},
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip


async def answer_alert_info(
    principal: Principal,
    alert_id: str | int,
    *,
    answer: str,
    expected_version: int,
    idempotency_key: str | None = None,
) -> AlertActionResult:
    return await _act(
        principal, alert_id, Action.ANSWER_INFO, {"answer": answer},
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip


async def close_alert(
    principal: Principal,
    alert_id: str | int,
    *,
    disposition: str,
    comment: str,
    expected_version: int,
    idempotency_key: str | None = None,
) -> AlertActionResult:
    return await _act(
        principal, alert_id, Action.CLOSE, {"disposition": disposition, "comment": comment},
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip


async def reopen_alert(
    principal: Principal,
    alert_id: str | int,
    *,
    reason: str,
    expected_version: int,
    idempotency_key: str | None = None,
) -> AlertActionResult:
    return await _act(
        principal, alert_id, Action.REOPEN, {"reason": reason},
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip


# --- bulk actions ------------------------------------------------------------------------------
