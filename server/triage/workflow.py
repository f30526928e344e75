"""The alert workflow: the one state machine every face goes through. Pure, no database.

    new ─assign→ assigned ─escalate→ escalated ─assign→ assigned
     │              │ └─request_info→ pending_info ─answer_info→ assigned
     └──────────────┴──────────close (disposition + comment)──────────→ closed ─reopen→ assigned|new

`transition()` checks, in this order: the actor's permission (Forbidden), that the action is
allowed from the current status (Conflict, naming the status and the actions allowed from it),
the parameters (Invalid, naming the field). It returns the new status, the alert fields to change
and the data for the history row; the service applies them in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from riskops.server.core import validation
from riskops.server.core.errors import Conflict, Forbidden, Invalid
from riskops.server.core.permissions import Perm, permissions_of
from riskops.server.core.principal import Principal
from riskops.server.triage.models import AlertDisposition, AlertStatus


class Action(StrEnum):
    ASSIGN = "assign"
    ESCALATE = "escalate"
    REQUEST_INFO = "request_info"
    ANSWER_INFO = "answer_info"
    CLOSE = "close"
    REOPEN = "reopen"


S = AlertStatus

ALLOWED_FROM: dict[Action, frozenset[AlertStatus]] = {
    Action.ASSIGN: frozenset({S.NEW, S.ASSIGNED, S.ESCALATED}),
    Action.ESCALATE: frozenset({S.NEW, S.ASSIGNED}),
    Action.REQUEST_INFO: frozenset({S.ASSIGNED, S.ESCALATED}),
    Action.ANSWER_INFO: frozenset({S.PENDING_INFO}),
    Action.CLOSE: frozenset({S.NEW, S.ASSIGNED, S.ESCALATED}),
    Action.REOPEN: frozenset({S.CLOSED}),
}

# The permission each action needs. answer_info: ALERT_TRIAGE, or being the person asked.
REQUIRED_PERM: dict[Action, Perm] = {
    Action.ASSIGN: Perm.ALERT_TRIAGE,
    Action.ESCALATE: Perm.ALERT_TRIAGE,
    Action.REQUEST_INFO: Perm.ALERT_TRIAGE,
    Action.ANSWER_INFO: Perm.ALERT_TRIAGE,
    Action.CLOSE: Perm.ALERT_TRIAGE,
    Action.REOPEN: Perm.ALERT_REOPEN,
}

MAX_REASON = 1000
MAX_QUESTION = 2000
MAX_ANSWER = 4000
MAX_COMMENT = 2000


@dataclass(frozen=True)
class AlertState:
    """What the state machine needs to know about an alert."""

    status: AlertStatus
    assignee_id: int | None = None
    info_answerer_id: int | None = None  # who must answer the open info request, if any


@dataclass(frozen=True)
class Outcome:
    action: Action
    from_status: AlertStatus
    new_status: AlertStatus
    changes: dict[str, Any] = field(default_factory=dict)  # alert fields to set
    history: dict[str, Any] = field(default_factory=dict)  # the history row's data


# The statuses an alert can be assigned from (the queue's "Assign to me" per row).
ASSIGNABLE: frozenset[AlertStatus] = ALLOWED_FROM[Action.ASSIGN]


def may_take(principal: Principal, status: AlertStatus, assignee_id: int | None) -> bool:
    """Whether the caller may assign the alert to themselves now (the queue's "Assign to me"):
    assignment is allowed from its status, they may triage, and it is not theirs already."""
    return (
        status in ASSIGNABLE
        and REQUIRED_PERM[Action.ASSIGN] in principal.perms
        and assignee_id != principal.user_id
    )


def may_answer(perms: frozenset[Perm], actor_id: int | None, answerer_id: int | None) -> bool:
    """Who may answer an open information request: the person asked, or anyone who may triage
    alerts (alert.triage)."""
    asked = actor_id is not None and actor_id == answerer_id
    return Perm.ALERT_TRIAGE in perms or asked


def actions_for(state: AlertState, roles: Iterable[str], actor_id: int) -> list[Action]:
    """The actions this actor may take on an alert in `state`: allowed from its status and
    permitted to them (answer_info: see `may_answer`), in a stable order. The forms a page shows."""
    perms = permissions_of(set(roles))
    return [
        a
        for a in Action
        if state.status in ALLOWED_FROM[a]
        and (
            may_answer(perms, actor_id, state.info_answerer_id)
            if a is Action.ANSWER_INFO
            else REQUIRED_PERM[a] in perms
        )
    ]


def allowed_actions(status: AlertStatus, roles: Iterable[str] | None = None) -> list[Action]:
    """Actions allowed from `status` (for `roles` if given), in a stable order."""
    perms = permissions_of(set(roles)) if roles is not None else None
    return [
        a
        for a in Action
        if status in ALLOWED_FROM[a] and (perms is None or REQUIRED_PERM[a] in perms)
    ]


def authorize(
    action: Action,
    roles: Iterable[str],
    *,
    actor_id: int | None = None,
    answerer_id: int | None = None,
) -> None:
    """Raise Forbidden unless `roles` (or, for answer_info, being the person asked) allow it."""
    roles = list(roles)
    perms = permissions_of(set(roles))
    if REQUIRED_PERM[action] in perms:
        return
    if action is Action.ANSWER_INFO and may_answer(perms, actor_id, answerer_id):
        return
    if action is Action.REOPEN:
        raise Forbidden(
            f"Only an approver may reopen a closed alert: your roles "
            f"({', '.join(sorted(roles)) or 'none'}) do not allow '{Perm.ALERT_REOPEN.value}'. "
            "Ask an approver to do it.",
            permission=Perm.ALERT_REOPEN.value,
        )
    if action is Action.ANSWER_INFO:
        raise Forbidden(
            "Only the person asked, or someone who may triage alerts (alert.triage), may answer "
            "this information request.",
            permission=Perm.ALERT_TRIAGE.value,
        )
    raise Forbidden(
        f"Your roles ({', '.join(sorted(roles)) or 'none'}) do not allow "
        f"'{REQUIRED_PERM[action].value}' (needed to {action.value.replace('_', ' ')} an alert).",
        permission=REQUIRED_PERM[action].value,
    )


def authorize_attempt(action: Action, principal: Principal) -> None:
    """The check before the alert is loaded: answer_info needs only the right to read alerts
    here (whether the caller is the person asked is known once the alert is locked, and
    `transition` checks it); every other action needs its permission."""
    if action is Action.ANSWER_INFO:
        principal.require(Perm.ALERT_READ)
    else:
        authorize(action, principal.roles)


def _check_status(state: AlertState, action: Action) -> None:
    if state.status in ALLOWED_FROM[action]:
        return
    allowed = [a.value for a in allowed_actions(state.status)]
    raise Conflict(
        f"Cannot {action.value.replace('_', ' ')} an alert whose status is {state.status.value}; "
        f"from {state.status.value} the allowed actions are: {', '.join(allowed) or 'none'}.",
        current_status=state.status.value,
        allowed_actions=allowed,
    )


def _user_id(params: Mapping[str, Any], name: str, *, required: bool = True) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise Invalid(f"{validation.label(name)} is required: choose a person.", field=name)
        return None
    if isinstance(raw, bool):
        raise Invalid(f"{validation.label(name)}: choose a person from the list.", field=name)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise Invalid(
            f"{validation.label(name)}: choose a person from the list, not {raw!r}.", field=name
        ) from None
    if value <= 0 or value > 2**31 - 1:
        raise Invalid(
            f"{validation.label(name)}: choose a person from the list, not {raw!r}.", field=name
        )
    return value


def _text(params: Mapping[str, Any], name: str, max_len: int) -> str:
    raw = params.get(name)
    if raw is not None and not isinstance(raw, str):
        raise Invalid(f"{validation.label(name)} must be text.", field=name)
    return validation.text(raw, name, max_len=max_len)


def _disposition(params: Mapping[str, Any]) -> AlertDisposition:
    raw = params.get("disposition")
    choices = validation.choices(AlertDisposition)
    if raw is None or raw == "":
        raise Invalid(
            f"Disposition is required to close an alert; choose one of {choices}.",
            field="disposition",
        )
    try:
        return AlertDisposition(str(raw).strip().lower())
    except ValueError:
        raise Invalid(
            f"Disposition '{raw}' is unknown; choose one of {choices}.", field="disposition"
        ) from None


def transition(
    state: AlertState,
    action: Action | str,
    actor_roles: Iterable[str],
    params: Mapping[str, Any] | None = None,
    *,
    actor_id: int | None = None,
) -> Outcome:
    """Apply `action` to an alert in `state`, or raise Forbidden / Conflict / Invalid."""
    try:
        action = Action(action)
    except ValueError:
        raise Invalid(
            f"Unknown action '{action}'; use one of {', '.join(a.value for a in Action)}.",
            field="action",
        ) from None
    roles = list(actor_roles)
    params = params or {}
    authorize(action, roles, actor_id=actor_id, answerer_id=state.info_answerer_id)
    _check_status(state, action)
    frm = state.status

    if action is Action.ASSIGN:
        assignee = _user_id(params, "assignee_id")
        return Outcome(
            action, frm, S.ASSIGNED, {"assignee_id": assignee}, {"assignee_id": assignee}
        )

    if action is Action.ESCALATE:
        reason = _text(params, "reason", MAX_REASON)
        team = _user_id(params, "team_id", required=False)
        approver = _user_id(params, "approver_id", required=False)
        if (team is None) == (approver is None):
            raise Invalid(
                "Escalate to a team (team_id) or to an approver (approver_id): give exactly one.",
                field="team_id" if team is None else "approver_id",
            )
        if team is not None:
            changes: dict[str, Any] = {"team_id": team, "assignee_id": None}
            data: dict[str, Any] = {"reason": reason, "team_id": team}
        else:
            changes = {"assignee_id": approver}
            data = {"reason": reason, "approver_id": approver}
        return Outcome(action, frm, S.ESCALATED, changes, data)

    if action is Action.REQUEST_INFO:
        question = _text(params, "question", MAX_QUESTION)
        answerer = _user_id(params, "answerer_id")
        return Outcome(
            action, frm, S.PENDING_INFO, {}, {"question": question, "answerer_id": answerer}
        )

    if action is Action.ANSWER_INFO:
        answer = _text(params, "answer", MAX_ANSWER)
        return Outcome(action, frm, S.ASSIGNED, {}, {"answer": answer})

    if action is Action.CLOSE:
        disposition = _disposition(params)
        comment = _text(params, "comment", MAX_COMMENT)
        return Outcome(
            action,
            frm,
            S.CLOSED,
            {"disposition": disposition},
            {"disposition": disposition.value, "comment": comment},
        )

    # REOPEN
    reason = _text(params, "reason", MAX_REASON)
    to = S.ASSIGNED if state.assignee_id is not None else S.NEW
    return Outcome(action, frm, to, {"disposition": None}, {"reason": reason})
