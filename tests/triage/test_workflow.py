"""The alert state machine, table-driven: every allowed and every refused transition."""

from __future__ import annotations

import pytest

from riskops.server.core.errors import Conflict, Forbidden, Invalid
from riskops.server.core.principal import Principal
from riskops.server.triage import workflow
from riskops.server.triage.models import AlertDisposition, AlertStatus
from riskops.server.triage.workflow import (
    ALLOWED_FROM,
    Action,
    AlertState,
    allowed_actions,
    transition,
)

S = AlertStatus
STRATEGIST = ["strategist"]
APPROVER = ["approver"]

GOOD_PARAMS = {
    Action.ASSIGN: {"assignee_id": 7},
    Action.ESCALATE: {"reason": "needs a second look", "team_id": 3},
    Action.REQUEST_INFO: {"question": "Is the merchant known?", "answerer_id": 9},
    Action.ANSWER_INFO: {"answer": "Yes, long-time merchant."},
    Action.CLOSE: {"disposition": "false_positive", "comment": "known customer"},
    Action.REOPEN: {"reason": "new evidence"},
}
ACTOR = {a: (APPROVER if a is Action.REOPEN else STRATEGIST) for a in Action}

# (action, from status) -> new status, for every allowed pair (with the GOOD_PARAMS above and an
# alert that has an assignee).
ALLOWED = {
    (Action.ASSIGN, S.NEW): S.ASSIGNED,
    (Action.ASSIGN, S.ASSIGNED): S.ASSIGNED,
    (Action.ASSIGN, S.ESCALATED): S.ASSIGNED,
    (Action.ESCALATE, S.NEW): S.ESCALATED,
    (Action.ESCALATE, S.ASSIGNED): S.ESCALATED,
    (Action.REQUEST_INFO, S.ASSIGNED): S.PENDING_INFO,
    (Action.REQUEST_INFO, S.ESCALATED): S.PENDING_INFO,
    (Action.ANSWER_INFO, S.PENDING_INFO): S.ASSIGNED,
    (Action.CLOSE, S.NEW): S.CLOSED,
    (Action.CLOSE, S.ASSIGNED): S.CLOSED,
    (Action.CLOSE, S.ESCALATED): S.CLOSED,
    (Action.REOPEN, S.CLOSED): S.ASSIGNED,
}
REFUSED = [(a, s) for a in Action for s in AlertStatus if (a, s) not in ALLOWED]


def test_the_table_is_the_machine():
    assert {(a, s) for a, froms in ALLOWED_FROM.items() for s in froms} == set(ALLOWED)
    assert len(ALLOWED) + len(REFUSED) == len(Action) * len(AlertStatus)


@pytest.mark.parametrize(("action", "status"), sorted(ALLOWED), ids=str)
def test_allowed_transition(action, status):
    state = AlertState(status, assignee_id=5, info_answerer_id=9)
    out = transition(state, action, ACTOR[action], GOOD_PARAMS[action])
    assert (out.action, out.from_status, out.new_status) == (
        action,
        status,
        ALLOWED[action, status],
    )


@pytest.mark.parametrize(("action", "status"), sorted(REFUSED), ids=str)
def test_refused_transition_is_a_conflict_naming_status_and_allowed_actions(action, status):
    state = AlertState(status, assignee_id=5, info_answerer_id=9)
    with pytest.raises(Conflict) as e:
        transition(state, action, STRATEGIST + APPROVER, GOOD_PARAMS[action])
    allowed = [a.value for a in allowed_actions(status)]
    assert f"status is {status.value}" in e.value.message
    assert (e.value.extra["current_status"], e.value.extra["allowed_actions"]) == (
        status.value,
        allowed,
    )
    for a in allowed:
        assert a in e.value.message


@pytest.mark.parametrize("role", ["viewer", "operator", "approver", "admin", "compliance_reviewer"])
@pytest.mark.parametrize("action", [a for a in Action if a is not Action.REOPEN])
def test_triage_actions_need_alert_triage(action, role):
    status = next(iter(sorted(ALLOWED_FROM[action])))
    with pytest.raises(Forbidden, match=r"alert\.triage"):
        transition(AlertState(status, info_answerer_id=9), action, [role], GOOD_PARAMS[action])


@pytest.mark.parametrize("roles", [["strategist"], ["viewer"], ["operator"], ["admin"], []])
def test_reopen_is_approver_only(roles):
    with pytest.raises(Forbidden, match="Only an approver may reopen"):
        transition(AlertState(S.CLOSED), Action.REOPEN, roles, GOOD_PARAMS[Action.REOPEN])


def test_permission_is_checked_before_status():
    with pytest.raises(Forbidden):
        transition(AlertState(S.NEW), Action.REOPEN, STRATEGIST, GOOD_PARAMS[Action.REOPEN])


def test_status_is_checked_before_parameters():
    with pytest.raises(Conflict):
        transition(AlertState(S.CLOSED), Action.CLOSE, STRATEGIST, {})


def test_the_person_asked_may_answer_without_triage_rights():
    state = AlertState(S.PENDING_INFO, assignee_id=5, info_answerer_id=9)
    out = transition(state, Action.ANSWER_INFO, ["viewer"], {"answer": "ok"}, actor_id=9)
    assert (out.new_status, out.history) == (S.ASSIGNED, {"answer": "ok"})
    with pytest.raises(Forbidden, match="Only the person asked"):
        transition(state, Action.ANSWER_INFO, ["viewer"], {"answer": "ok"}, actor_id=10)


def test_reopen_returns_to_new_without_assignee_and_clears_disposition():
    out = transition(AlertState(S.CLOSED), Action.REOPEN, APPROVER, {"reason": "r"})
    assert (out.new_status, out.changes, out.history) == (
        S.NEW,
        {"disposition": None},
        {"reason": "r"},
    )


def test_outcomes_carry_changes_and_history():
    new = AlertState(S.NEW)
    assert transition(new, "assign", STRATEGIST, {"assignee_id": "7"}).changes == {"assignee_id": 7}
    to_team = transition(new, "escalate", STRATEGIST, {"reason": " why ", "team_id": 3})
    assert to_team.changes == {"team_id": 3, "assignee_id": None}
    assert to_team.history == {"reason": "why", "team_id": 3}
    to_approver = transition(new, "escalate", STRATEGIST, {"reason": "why", "approver_id": 4})
    assert (to_approver.changes, to_approver.history) == (
        {"assignee_id": 4},
        {"reason": "why", "approver_id": 4},
    )
    asked = transition(
        AlertState(S.ASSIGNED), "request_info", STRATEGIST, GOOD_PARAMS[Action.REQUEST_INFO]
    )
    assert asked.history == {"question": "Is the merchant known?", "answerer_id": 9}
    closed = transition(new, "close", STRATEGIST, {"disposition": "TRUE_POSITIVE", "comment": "c"})
    assert closed.changes == {"disposition": AlertDisposition.TRUE_POSITIVE}
    assert closed.history == {"disposition": "true_positive", "comment": "c"}


BAD_PARAMS = [
    (Action.ASSIGN, {}, "assignee_id", "Assignee is required"),
    (Action.ASSIGN, {"assignee_id": "abc"}, "assignee_id", "choose a person from the list"),
    (Action.ASSIGN, {"assignee_id": 0}, "assignee_id", "choose a person from the list"),
    (Action.ASSIGN, {"assignee_id": True}, "assignee_id", "choose a person from the list"),
    (Action.ESCALATE, {"team_id": 3}, "reason", "Reason is required"),
    (Action.ESCALATE, {"reason": "r"}, "team_id", "exactly one"),
    (
        Action.ESCALATE,
        {"reason": "r", "team_id": 1, "approver_id": 2},
        "approver_id",
        "exactly one",
    ),
    (Action.ESCALATE, {"reason": "x" * 1001, "team_id": 1}, "reason", "limit is 1000"),
    (Action.REQUEST_INFO, {"answerer_id": 9}, "question", "Question is required"),
    (Action.REQUEST_INFO, {"question": "q"}, "answerer_id", "Who must answer is required"),
    (Action.ANSWER_INFO, {"answer": "  "}, "answer", "Answer is required"),
    (Action.ANSWER_INFO, {"answer": 5}, "answer", "must be text"),
    (Action.CLOSE, {"comment": "c"}, "disposition", "Disposition is required"),
    (Action.CLOSE, {"disposition": "meh", "comment": "c"}, "disposition", "'meh' is unknown"),
    (Action.CLOSE, {"disposition": "benign"}, "comment", "Comment is required"),
    (Action.CLOSE, {"disposition": "benign", "comment": "a\x00b"}, "comment", "control"),
    (Action.REOPEN, {}, "reason", "Reason is required"),
]


@pytest.mark.parametrize(("action", "params", "field", "message"), BAD_PARAMS)
def test_bad_parameters_are_invalid_and_name_the_field(action, params, field, message):
    status = next(iter(sorted(ALLOWED_FROM[action])))
    with pytest.raises(Invalid) as e:
        transition(AlertState(status, info_answerer_id=9), action, ACTOR[action], params)
    assert e.value.field == field
    assert message in e.value.message


def test_unknown_action_is_invalid():
    with pytest.raises(Invalid, match="Unknown action 'delete'"):
        transition(AlertState(S.NEW), "delete", STRATEGIST, {})


def test_allowed_actions_by_role():
    assert allowed_actions(S.NEW) == [Action.ASSIGN, Action.ESCALATE, Action.CLOSE]
    assert allowed_actions(S.CLOSED, STRATEGIST) == []
    assert allowed_actions(S.CLOSED, APPROVER) == [Action.REOPEN]
    assert allowed_actions(S.PENDING_INFO, STRATEGIST) == [Action.ANSWER_INFO]


# --- what a page may offer: actions_for and may_answer ------------------------------------------


def test_actions_for_a_strategist_are_the_allowed_actions_of_the_status() -> None:
    for status in S:
        state = AlertState(status, assignee_id=1)
        offered = workflow.actions_for(state, STRATEGIST, actor_id=1)
        assert offered == [a for a in allowed_actions(status, STRATEGIST)], status


def test_the_person_asked_is_offered_the_answer_without_triage_rights() -> None:
    state = AlertState(S.PENDING_INFO, assignee_id=1, info_answerer_id=42)
    assert workflow.actions_for(state, ["viewer"], actor_id=42) == [Action.ANSWER_INFO]
    assert workflow.actions_for(state, ["viewer"], actor_id=43) == []
    assert workflow.actions_for(state, STRATEGIST, actor_id=43) == [Action.ANSWER_INFO]


def test_an_approver_is_offered_reopen_only_on_a_closed_alert() -> None:
    assert workflow.actions_for(AlertState(S.CLOSED), APPROVER, actor_id=5) == [Action.REOPEN]
    assert workflow.actions_for(AlertState(S.NEW), APPROVER, actor_id=5) == []


def test_what_is_offered_is_exactly_what_transition_accepts() -> None:
    # The page shows a form only where the service would accept the action (same rule).
    for status in S:
        for roles in (STRATEGIST, APPROVER, ["viewer"]):
            state = AlertState(status, assignee_id=1, info_answerer_id=9)
            offered = set(workflow.actions_for(state, roles, actor_id=9))
            for action in Action:
                try:
                    transition(state, action, roles, GOOD_PARAMS[action], actor_id=9)
                except (Forbidden, Conflict):
                    accepted = False
                else:
                    accepted = True
                assert accepted == (action in offered), (status, roles, action)


def test_authorize_attempt_lets_a_reader_try_to_answer_and_nothing_else() -> None:
    viewer = Principal(user_id=1, org_id=1, roles=frozenset({"viewer"}))
    workflow.authorize_attempt(Action.ANSWER_INFO, viewer)  # whether they were asked: later
    with pytest.raises(Forbidden, match=r"alert\.triage"):
        workflow.authorize_attempt(Action.ASSIGN, viewer)
    nobody = Principal(user_id=1, org_id=1, roles=frozenset())
    with pytest.raises(Forbidden, match=r"alert\.read"):
        workflow.authorize_attempt(Action.ANSWER_INFO, nobody)


def test_may_take_is_assign_to_oneself_where_the_workflow_allows_it() -> None:
    me = Principal(user_id=7, org_id=1, roles=frozenset(STRATEGIST))
    assert workflow.may_take(me, S.NEW, None)
    assert workflow.may_take(me, S.ASSIGNED, 8)  # someone else's: take it over
    assert not workflow.may_take(me, S.ASSIGNED, 7)  # already mine
    assert not workflow.may_take(me, S.CLOSED, None)
    assert not workflow.may_take(me, S.PENDING_INFO, None)
    viewer = Principal(user_id=9, org_id=1, roles=frozenset({"viewer"}))
    assert not workflow.may_take(viewer, S.NEW, None)
    # the same rule as transition(): what is offered is accepted
    for status in S:
        state = AlertState(status, assignee_id=8)
        offered = workflow.may_take(me, status, 8)
        assert offered == (Action.ASSIGN in workflow.actions_for(state, STRATEGIST, 7))
