"""The permission contract of every face: each GraphQL operation (every field of Query and
Mutation) and each page route (method and path) -> the permission it needs, and sample arguments
to call it with. `test_permission_matrix.py` generates its tests from this table and fails on an
operation or route that is missing here, naming it.

Which roles hold a permission is never written here: the tests derive it from
`riskops.server.core.permissions.MATRIX`. The contract lives with the tests, not in
`server/core/permissions.py`: the services enforce the permissions (each calls
`principal.require`), and the kernel knows nothing of the faces; this table is what the faces are
tested against.

Sample arguments may name objects of the organization the tests build
(`permission_world.World`) with placeholders: `{alert}` is that alert's id, `{alert.version}`
its version at the time of the call (so a refused call is refused for its permission, not for a
stale version another role's call left behind). A value that is one placeholder keeps its type
(ids are strings, versions and numbers integers); inside a longer text it is substituted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from riskops.server.core.permissions import Perm


@dataclass(frozen=True)
class Marker:
    """A requirement that is not a permission of the matrix."""

    name: str

    def __str__(self) -> str:
        return self.name


# Any signed-in user, whatever their roles (one's own profile, sessions and tokens).
SIGNED_IN = Marker("any signed-in user")
# No sign-in needed (the login form, signing out, the friendly 404 page).
ANYONE = Marker("anyone")


@dataclass(frozen=True)
class AnyOf:
    """Any one of these permissions (the saved-view pages: whoever saves, reviews or reads a
    queue takes part in views)."""

    perms: tuple[Perm, ...]

    def __str__(self) -> str:
        return " or ".join(p.value for p in self.perms)


# The saved-view pages (ui/views/pages.py `PART`).
VIEWS_PART = AnyOf((Perm.VIEW_SAVE, Perm.VIEW_REVIEW, Perm.ALERT_READ, Perm.RUN_READ))
# Whether the assistant is on: those who read its answers and those who watch its cost.
ASSISTANT_STATUS = AnyOf((Perm.ASSISTANT_READ, Perm.ASSISTANT_USAGE))

Needs = Perm | Marker | AnyOf


@dataclass(frozen=True)
class Op:
    """A GraphQL operation: what it needs and the variables to call it with (its required
    arguments; the document is generated from the schema)."""

    needs: Needs
    args: dict[str, Any] = field(default_factory=dict)
    # Besides `needs`, the permissions a refusal may name (a rule with two gates: answering
    # an information request needs alert.read first, then alert.triage or being the one asked).
    names: tuple[Perm, ...] = ()
    # Known holes: check -> reason, each an xfail(strict=True) until the service is fixed.
    # Checks: "refused" (a role without the permission), "foreign:<placeholder>".
    holes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """A page route: what it needs, the address to call (placeholders for ids) and, for a POST,
    the form to send (the CSRF token is added)."""

    needs: Needs
    url: str
    form: dict[str, Any] = field(default_factory=dict)
    # The request ends the caller's session (sign out): each call gets a fresh one.
    signs_out: bool = False
    holes: dict[str, str] = field(default_factory=dict)


# The password of every user the tests make (tests/conftest.py `PASSWORD`).
SAME_PASSWORD = "correct horse battery staple"

ALERT_ITEM = {
    "externalId": "perm-matrix-1",
    "source": "perm-matrix",
    "title": "Permission probe",
    "score": 50.0,
    "priority": "LOW",
}
RUN_ITEM = {"runId": "PERM-MATRIX-1", "scenario": "{scenario}", "creditsTotal": 100.0}
BULK_ITEM = {"alertId": "{alert}", "expectedVersion": "{alert.version}"}
CONFIG = {"name": "Probe", "dataClassification": "internal"}

# Every field of Query and Mutation, as "Query.<field>" / "Mutation.<field>".
GRAPHQL: dict[str, Op] = {
    # --- identity
    "Query.me": Op(SIGNED_IN),
    "Query.organization": Op(SIGNED_IN),
    "Query.users": Op(Perm.USER_READ),
    "Query.user": Op(Perm.USER_READ, {"id": "{target}"}),
    "Query.teams": Op(Perm.USER_READ),
    "Query.apiTokens": Op(SIGNED_IN),  # one's own; token.manage sees the organization's
    "Mutation.createUser": Op(
        Perm.USER_MANAGE, {"email": "probe-{org}@example.test", "name": "Probe", "roles": []}
    ),
    "Mutation.updateUserRoles": Op(Perm.USER_MANAGE, {"userId": "{target}", "roles": ["viewer"]}),
    "Mutation.suspendUser": Op(Perm.USER_MANAGE, {"userId": "{target}", "reason": "probe"}),
    "Mutation.reactivateUser": Op(Perm.USER_MANAGE, {"userId": "{target}"}),
    # Someone else's sessions; one's own need no permission.
    "Mutation.revokeSessions": Op(Perm.USER_MANAGE, {"userId": "{target}"}),
    "Mutation.createTeam": Op(Perm.TEAM_MANAGE, {"name": "Probe", "memberIds": ["{target}"]}),
    # One's own token: any signed-in person (a service account's token needs token.manage,
    # and another person's is refused to everyone: see tests/identity/test_service_accounts.py).
    "Mutation.createApiToken": Op(SIGNED_IN, {"name": "probe", "roles": ["viewer"]}),
    "Mutation.createServiceAccount": Op(Perm.USER_MANAGE, {"name": "Probe", "roles": ["viewer"]}),
    # Someone else's token; one's own need no permission.
    "Mutation.revokeApiToken": Op(Perm.TOKEN_MANAGE, {"tokenId": "{token}"}),
    # --- multi-factor authentication (one's own: any signed-in person; a wrong code is data)
    "Mutation.startMfaEnrolment": Op(SIGNED_IN),
    "Mutation.confirmMfaEnrolment": Op(SIGNED_IN, {"code": "000000"}),
    "Mutation.regenerateRecoveryCodes": Op(SIGNED_IN, {"code": "000000"}),
    "Mutation.disableMfa": Op(SIGNED_IN, {"code": "000000"}),
    "Mutation.resetUserMfa": Op(Perm.USER_MANAGE, {"userId": "{target}"}),
    "Mutation.setMfaPolicy": Op(Perm.SECURITY_MANAGE, {"policy": "OPTIONAL"}),
    # --- passwords (issue 14). The target has a password: a new invitation is a conflict.
    "Mutation.resendInvitation": Op(Perm.USER_MANAGE, {"userId": "{target}"}),
    "Mutation.forcePasswordReset": Op(Perm.USER_MANAGE, {"userId": "{target}"}),
    # One's own; the new password is the current one, so nothing changes and nothing counts as
    # a failed login.
    "Mutation.changePassword": Op(SIGNED_IN, {"current": SAME_PASSWORD, "new": SAME_PASSWORD}),
    # Someone else's sessions and tokens; one's own need no permission (issue 14, h/access).
    "Query.userAccess": Op(Perm.USER_MANAGE, {"userId": "{target}"}),
    "Mutation.revokeSession": Op(Perm.USER_MANAGE, {"sessionId": "{session}"}),
    # --- audit
    "Query.auditEvents": Op(Perm.AUDIT_READ),
    "Query.auditVerification": Op(Perm.AUDIT_VERIFY),
    "Query.approvalTrail": Op(Perm.AUDIT_APPROVALS),
    # --- my work (each section only for the roles it concerns)
    "Query.myWork": Op(SIGNED_IN),
    # --- alerts and cases
    "Query.alerts": Op(Perm.ALERT_READ),
    "Query.alert": Op(Perm.ALERT_READ, {"id": "{alert}"}),
    "Query.cases": Op(Perm.CASE_READ),
    "Query.case": Op(Perm.CASE_READ, {"id": "{case}"}),
    "Mutation.ingestAlerts": Op(Perm.ALERT_INGEST, {"input": [ALERT_ITEM]}),
    "Mutation.assignAlert": Op(
        Perm.ALERT_TRIAGE,
        {"alertId": "{alert}", "assigneeId": "{assignee}", "expectedVersion": "{alert.version}"},
    ),
    "Mutation.escalateAlert": Op(
        Perm.ALERT_TRIAGE,
        {
            "alertId": "{alert}",
            "reason": "probe",
            "approverId": "{approver2}",
            "expectedVersion": "{alert.version}",
        },
    ),
    "Mutation.requestAlertInfo": Op(
        Perm.ALERT_TRIAGE,
        {
            "alertId": "{alert}",
            "question": "probe?",
            "answererId": "{target}",
            "expectedVersion": "{alert.version}",
        },
    ),
    # alert.triage, or being the person asked (a viewer here, who calls nothing).
    "Mutation.answerAlertInfo": Op(
        Perm.ALERT_TRIAGE,
        {
            "alertId": "{alert_pending}",
            "answer": "probe",
            "expectedVersion": "{alert_pending.version}",
        },
        names=(Perm.ALERT_READ,),
    ),
    "Mutation.closeAlert": Op(
        Perm.ALERT_TRIAGE,
        {
            "alertId": "{alert}",
            "disposition": "BENIGN",
            "comment": "probe",
            "expectedVersion": "{alert.version}",
        },
    ),
    "Mutation.reopenAlert": Op(
        Perm.ALERT_REOPEN,
        {
            "alertId": "{alert_closed}",
            "reason": "probe",
            "expectedVersion": "{alert_closed.version}",
        },
    ),
    "Mutation.bulkAssignAlerts": Op(
        Perm.ALERT_TRIAGE, {"items": [BULK_ITEM], "assigneeId": "{assignee}"}
    ),
    "Mutation.bulkCloseAlerts": Op(
        Perm.ALERT_TRIAGE, {"items": [BULK_ITEM], "disposition": "BENIGN", "comment": "probe"}
    ),
    "Mutation.createCase": Op(Perm.CASE_WORK, {"title": "Probe", "alertIds": ["{alert_free}"]}),
    "Mutation.addCaseNote": Op(Perm.CASE_WORK, {"caseId": "{case}", "body": "probe"}),
    "Mutation.linkAlertsToCase": Op(
        Perm.CASE_WORK, {"caseId": "{case}", "alertIds": ["{alert_free}"]}
    ),
    "Mutation.unlinkAlertsFromCase": Op(
        Perm.CASE_WORK, {"caseId": "{case}", "alertIds": ["{alert_free}"]}
    ),
    "Mutation.updateCase": Op(
        Perm.CASE_WORK,
        {"caseId": "{case}", "expectedVersion": "{case.version}", "assigneeId": "{assignee}"},
    ),
    "Mutation.requestCaseResolution": Op(
        Perm.CASE_WORK,
        {
            "caseId": "{case}",
            "expectedVersion": "{case.version}",
            "summary": "probe",
            "rootCause": "UNKNOWN",
        },
    ),
    "Mutation.approveCaseResolution": Op(
        Perm.CASE_APPROVE,
        {"caseId": "{case_requested}", "expectedVersion": "{case_requested.version}"},
    ),
    "Mutation.rejectCaseResolution": Op(
        Perm.CASE_APPROVE,
        {
            "caseId": "{case_requested}",
            "expectedVersion": "{case_requested.version}",
            "reason": "probe",
        },
    ),
    # --- runs, scenarios, baselines, policy, kill switches, reports
    "Query.runs": Op(Perm.RUN_READ),
    "Query.run": Op(Perm.RUN_READ, {"id": "{run}"}),
    "Query.scenarios": Op(Perm.RUN_READ),
    "Query.scenario": Op(Perm.RUN_READ, {"key": "{scenario}"}),
    "Query.baselines": Op(Perm.RUN_READ),
    "Query.baselineCandidates": Op(Perm.RUN_READ),
    "Query.policy": Op(Perm.RUN_READ),
    "Query.policyVersions": Op(Perm.RUN_READ),
    "Query.policyProposal": Op(Perm.RUN_READ),
    "Query.killSwitches": Op(Perm.RUN_READ),
    "Query.notifications": Op(Perm.RUN_READ),
    "Query.reports": Op(Perm.REPORT_READ),
    "Query.report": Op(Perm.REPORT_READ, {"id": "{report}"}),
    "Mutation.recordRuns": Op(Perm.RUN_RECORD, {"input": [RUN_ITEM]}),
    "Mutation.requestRerun": Op(Perm.RERUN_REQUEST, {"runId": "{run}", "reason": "probe"}),
    "Mutation.approveRerun": Op(
        Perm.RUN_APPROVE,
        {"requestId": "{rerun}", "mitigation": "probe", "expectedVersion": "{rerun.version}"},
    ),
    "Mutation.denyRerun": Op(
        Perm.RUN_APPROVE,
        {"requestId": "{rerun}", "reason": "probe", "expectedVersion": "{rerun.version}"},
    ),
    "Mutation.releaseQuarantine": Op(
        Perm.RUN_APPROVE, {"runId": "{run}", "reason": "probe", "expectedVersion": "{run.version}"}
    ),
    "Mutation.calculateBaseline": Op(Perm.RUN_READ, {"scenario": "{scenario}"}),
    "Mutation.proposeBaselineUpdate": Op(
        Perm.BASELINE_PROPOSE, {"scenario": "{scenario}", "rationale": "probe"}
    ),
    "Mutation.approveBaselineUpdate": Op(
        Perm.BASELINE_APPROVE, {"changeId": "{change}", "rationale": "probe"}
    ),
    "Mutation.rejectBaselineUpdate": Op(
        Perm.BASELINE_APPROVE, {"changeId": "{change}", "reason": "probe"}
    ),
    "Mutation.setManualBaseline": Op(
        Perm.BASELINE_APPROVE, {"scenario": "{scenario}", "median": 120.0, "rationale": "probe"}
    ),
    "Mutation.updateScenario": Op(
        Perm.BASELINE_PROPOSE,
        {"key": "{scenario}", "config": CONFIG, "expectedVersion": "{scenario.version}"},
    ),
    "Mutation.changePolicy": Op(
        Perm.POLICY_MANAGE,
        {"values": {"sev1_multiplier": 6}, "reason": "probe", "expectedNumber": 0},
    ),
    "Mutation.approvePolicyChange": Op(
        Perm.POLICY_MANAGE, {"number": "{policy}", "reason": "probe"}
    ),
    "Mutation.rejectPolicyChange": Op(
        Perm.POLICY_MANAGE, {"number": "{policy}", "reason": "probe"}
    ),
    "Mutation.setKillSwitch": Op(
        Perm.POLICY_MANAGE, {"name": "BACKFILL", "reason": "probe", "scope": "{scenario}"}
    ),
    "Mutation.clearKillSwitch": Op(Perm.POLICY_MANAGE, {"id": "{switch}", "reason": "probe"}),
    "Mutation.generateWeeklyReport": Op(Perm.REPORT_GENERATE),
    # --- saved views: one sees the views of the queues one reads (an admin none, a strategist
    # no runs view); {view} is a standard view of the alert queue.
    "Query.views": Op(SIGNED_IN),
    "Query.view": Op(SIGNED_IN, {"id": "{view}"}),
    "Mutation.saveView": Op(
        Perm.VIEW_SAVE,
        {"queue": "ALERTS", "name": "Probe", "definition": {"alertFilter": {"priority": ["LOW"]}}},
    ),
    # An edit of a standard view becomes its draft.
    "Mutation.updateView": Op(
        Perm.VIEW_SAVE,
        {"viewId": "{view}", "expectedVersion": "{view.version}", "description": "probe"},
    ),
    "Mutation.shareViewWithTeam": Op(
        Perm.VIEW_SAVE,
        {"viewId": "{view}", "expectedVersion": "{view.version}", "teamId": "{team}"},
    ),
    "Mutation.archiveView": Op(
        Perm.VIEW_SAVE, {"viewId": "{view}", "expectedVersion": "{view.version}"}
    ),
    "Mutation.restoreView": Op(
        Perm.VIEW_SAVE, {"viewId": "{view}", "expectedVersion": "{view.version}"}
    ),
    "Mutation.setDefaultView": Op(Perm.VIEW_SAVE, {"queue": "ALERTS", "viewId": "{view}"}),
    "Mutation.pinView": Op(Perm.VIEW_SAVE, {"viewId": "{view}", "pinned": True}),
    # --- view promotion (the world's request waits for review, made by a strategist who is
    # no caller: the reviewer callers may decide it; other callers do not see its view)
    "Query.viewPromotionRequests": Op(SIGNED_IN),  # what one may see (an admin: none)
    "Query.viewPromotionRequest": Op(SIGNED_IN, {"id": "{view_request}"}),
    "Query.viewVersions": Op(SIGNED_IN, {"viewId": "{view_promo}"}),
    "Mutation.requestViewPromotion": Op(
        Perm.VIEW_SAVE,
        {"viewId": "{view_promo}", "rationale": "probe", "expectedVersion": "{view_promo.version}"},
    ),
    "Mutation.withdrawViewPromotion": Op(
        Perm.VIEW_SAVE,
        {"requestId": "{view_request}", "expectedVersion": "{view_request.version}"},
    ),
    "Mutation.reviewViewPromotion": Op(
        Perm.VIEW_REVIEW,
        {
            "requestId": "{view_request}",
            "decision": "DECLINE",
            "note": "probe",
            "expectedVersion": "{view_request.version}",
        },
    ),
    # --- the assistant (issue 13; h/api). {assistant_response} is an escalation draft of
    # {case} that succeeded; {run} is SEV0 to SEV2. The world's assistant has no model: a request is
    # answered UNAVAILABLE at once, without a job.
    "Query.assistantResponse": Op(Perm.ASSISTANT_READ, {"id": "{assistant_response}"}),
    "Query.assistantResponses": Op(
        Perm.ASSISTANT_READ, {"targetType": "CASE", "targetId": "{case}"}
    ),
    "Query.assistantUsage": Op(Perm.ASSISTANT_USAGE, {"groupBy": "CASE"}),
    "Query.assistantStatus": Op(ASSISTANT_STATUS, names=(Perm.ASSISTANT_READ,)),
    "Mutation.requestExplanation": Op(Perm.ASSISTANT_USE, {"alertId": "{alert}"}),
    "Mutation.requestSimilarCases": Op(Perm.ASSISTANT_USE, {"caseId": "{case}"}),
    "Mutation.requestEscalationDraft": Op(Perm.ASSISTANT_USE, {"alertId": "{alert}"}),
    "Mutation.requestRunExplanation": Op(Perm.ASSISTANT_RUNS, {"runId": "{run}"}),
    "Mutation.rateAssistantResponse": Op(
        Perm.ASSISTANT_USE, {"id": "{assistant_response}", "helpful": True}
    ),
    "Mutation.saveAssistantDraftAsNote": Op(
        Perm.ASSISTANT_USE, {"responseId": "{assistant_response}", "body": "probe"}
    ),
}

ALERT_FORM = {"version": "{alert.version}"}
RUN_RERUN = "/runs/{run}/reruns/{rerun}"

# Every page route of `riskops.ui.routes.routes`, as "<METHOD> <path as routed>".
PAGES: dict[str, Page] = {
    # --- signing in and out, home, one's own sessions
    "GET /login": Page(ANYONE, "/login"),
    "POST /login": Page(ANYONE, "/login", {"email": "nobody-{org}@example.test", "password": "x"}),
    "POST /logout": Page(ANYONE, "/logout", signs_out=True),
    "GET /": Page(SIGNED_IN, "/"),
    "GET /sessions": Page(SIGNED_IN, "/sessions"),
    "POST /sessions/revoke": Page(SIGNED_IN, "/sessions/revoke", signs_out=True),
    "GET /{path:path}": Page(ANYONE, "/no-such-page"),
    # --- passwords (issue 14): one-time links and "forgot password" are for anyone
    "GET /invite/{token}": Page(ANYONE, "/invite/not-a-link"),
    "POST /invite/{token}": Page(ANYONE, "/invite/not-a-link", {"password": "x"}),
    "GET /reset-password/{token}": Page(ANYONE, "/reset-password/not-a-link"),
    "POST /reset-password/{token}": Page(ANYONE, "/reset-password/not-a-link", {"password": "x"}),
    "GET /forgot-password": Page(ANYONE, "/forgot-password"),
    "POST /forgot-password": Page(ANYONE, "/forgot-password", {"email": "nobody-{org}@x.test"}),
    "GET /account/password": Page(SIGNED_IN, "/account/password"),
    "POST /account/password": Page(
        SIGNED_IN,
        "/account/password",
        {"current": SAME_PASSWORD, "new": SAME_PASSWORD, "new_again": SAME_PASSWORD},
    ),
    "POST /admin/users/{user_id}/invite": Page(Perm.USER_MANAGE, "/admin/users/{target}/invite"),
    "POST /admin/users/{user_id}/reset-password": Page(
        Perm.USER_MANAGE, "/admin/users/{target}/reset-password"
    ),
    # --- administration
    "GET /admin/users": Page(Perm.USER_MANAGE, "/admin/users"),
    "POST /admin/users": Page(
        Perm.USER_MANAGE, "/admin/users", {"email": "page-{org}@example.test", "name": "Probe"}
    ),
    "POST /admin/users/{user_id}/roles": Page(
        Perm.USER_MANAGE, "/admin/users/{target}/roles", {"roles": "viewer"}
    ),
    "POST /admin/users/{user_id}/suspend": Page(
        Perm.USER_MANAGE, "/admin/users/{target}/suspend", {"reason": "probe"}
    ),
    "POST /admin/users/{user_id}/reactivate": Page(
        Perm.USER_MANAGE, "/admin/users/{target}/reactivate"
    ),
    "POST /admin/users/{user_id}/sessions/revoke": Page(
        Perm.USER_MANAGE, "/admin/users/{target}/sessions/revoke"
    ),
    # One user's sessions and tokens (issue 14, h/access).
    "GET /admin/users/{user_id}/access": Page(Perm.USER_MANAGE, "/admin/users/{target}/access"),
    "POST /admin/users/{user_id}/access/sessions/{session_id}/revoke": Page(
        Perm.USER_MANAGE, "/admin/users/{target}/access/sessions/{session}/revoke"
    ),
    "POST /admin/users/{user_id}/access/tokens/{token_id}/revoke": Page(
        Perm.USER_MANAGE, "/admin/users/{target}/access/tokens/{token}/revoke"
    ),
    "GET /admin/teams": Page(Perm.TEAM_MANAGE, "/admin/teams"),
    "POST /admin/teams": Page(
        Perm.TEAM_MANAGE, "/admin/teams", {"name": "Probe", "members": "{target}"}
    ),
    "POST /admin/teams/{team_id}/members": Page(
        Perm.TEAM_MANAGE, "/admin/teams/{team}/members", {"members": "{target}"}
    ),
    "GET /admin/tokens": Page(Perm.TOKEN_MANAGE, "/admin/tokens"),
    "POST /admin/tokens": Page(
        Perm.TOKEN_MANAGE,
        "/admin/tokens",
        {"owner": "{service}", "name": "probe", "roles": "viewer"},
    ),
    "POST /admin/tokens/{token_id}/revoke": Page(Perm.TOKEN_MANAGE, "/admin/tokens/{token}/revoke"),
    "POST /admin/service-accounts": Page(
        Perm.USER_MANAGE, "/admin/service-accounts", {"name": "Probe", "roles": "viewer"}
    ),
    # One's own tokens: any signed-in person.
    "GET /tokens": Page(SIGNED_IN, "/tokens"),
    "POST /tokens": Page(SIGNED_IN, "/tokens", {"name": "probe", "roles": "viewer"}),
    # Someone else's token is not found there, for everyone (the admin page revokes any).
    "POST /tokens/{token_id}/revoke": Page(SIGNED_IN, "/tokens/{token}/revoke"),
    # --- multi-factor authentication: the second login step (the challenge cookie is the
    # credential: without it, the password is asked again), one's own MFA, an admin's reset and
    # the organization's policy
    "GET /login/code": Page(ANYONE, "/login/code"),
    "POST /login/code": Page(ANYONE, "/login/code", {"code": "000000"}),
    "GET /login/enrol": Page(ANYONE, "/login/enrol"),
    "POST /login/enrol": Page(ANYONE, "/login/enrol", {"code": "000000"}),
    "GET /account/mfa": Page(SIGNED_IN, "/account/mfa"),
    "POST /account/mfa/enrol": Page(SIGNED_IN, "/account/mfa/enrol"),
    "POST /account/mfa/confirm": Page(SIGNED_IN, "/account/mfa/confirm", {"code": "000000"}),
    "POST /account/mfa/recovery-codes": Page(
        SIGNED_IN, "/account/mfa/recovery-codes", {"code": "000000"}
    ),
    "POST /account/mfa/disable": Page(SIGNED_IN, "/account/mfa/disable", {"code": "000000"}),
    "POST /admin/users/{user_id}/mfa/reset": Page(
        Perm.USER_MANAGE, "/admin/users/{target}/mfa/reset"
    ),
    "GET /admin/security": Page(Perm.SECURITY_MANAGE, "/admin/security"),
    "POST /admin/security/mfa": Page(
        Perm.SECURITY_MANAGE, "/admin/security/mfa", {"policy": "optional"}
    ),
    # --- audit
    "GET /audit": Page(Perm.AUDIT_READ, "/audit"),
    "GET /audit/approvals": Page(Perm.AUDIT_APPROVALS, "/audit/approvals"),
    "POST /audit/verify": Page(Perm.AUDIT_VERIFY, "/audit/verify"),
    # --- alerts
    "GET /alerts": Page(Perm.ALERT_READ, "/alerts"),
    "POST /alerts/bulk/assign": Page(
        Perm.ALERT_TRIAGE,
        "/alerts/bulk/assign",
        {"alert_id": "{alert}", "version_{alert}": "{alert.version}"},
    ),
    "POST /alerts/bulk/close": Page(
        Perm.ALERT_TRIAGE,
        "/alerts/bulk/close",
        {
            "alert_id": "{alert}",
            "version_{alert}": "{alert.version}",
            "disposition": "benign",
            "comment": "probe",
        },
    ),
    "GET /alerts/{alert_id}": Page(Perm.ALERT_READ, "/alerts/{alert}"),
    "POST /alerts/{alert_id}/assign": Page(
        Perm.ALERT_TRIAGE, "/alerts/{alert}/assign", {**ALERT_FORM, "assignee_id": "{assignee}"}
    ),
    "POST /alerts/{alert_id}/escalate": Page(
        Perm.ALERT_TRIAGE,
        "/alerts/{alert}/escalate",
        {**ALERT_FORM, "reason": "probe", "approver_id": "{approver2}"},
    ),
    "POST /alerts/{alert_id}/request_info": Page(
        Perm.ALERT_TRIAGE,
        "/alerts/{alert}/request_info",
        {**ALERT_FORM, "question": "probe?", "answerer_id": "{target}"},
    ),
    "POST /alerts/{alert_id}/answer_info": Page(
        Perm.ALERT_TRIAGE,
        "/alerts/{alert_pending}/answer_info",
        {"version": "{alert_pending.version}", "answer": "probe"},
    ),
    "POST /alerts/{alert_id}/close": Page(
        Perm.ALERT_TRIAGE,
        "/alerts/{alert}/close",
        {**ALERT_FORM, "disposition": "benign", "comment": "probe"},
    ),
    "POST /alerts/{alert_id}/reopen": Page(
        Perm.ALERT_REOPEN,
        "/alerts/{alert_closed}/reopen",
        {"version": "{alert_closed.version}", "reason": "probe"},
    ),
    # --- cases
    "GET /cases": Page(Perm.CASE_READ, "/cases"),
    "POST /cases": Page(
        Perm.CASE_WORK, "/cases", {"title": "Probe", "severity": "low", "alert_ids": "{alert_free}"}
    ),
    "GET /cases/{case_id}": Page(Perm.CASE_READ, "/cases/{case}"),
    "POST /cases/{case_id}/notes": Page(Perm.CASE_WORK, "/cases/{case}/notes", {"body": "probe"}),
    "POST /cases/{case_id}/link": Page(
        Perm.CASE_WORK, "/cases/{case}/link", {"alert_ids": "{alert_free}"}
    ),
    "POST /cases/{case_id}/unlink": Page(
        Perm.CASE_WORK, "/cases/{case}/unlink", {"alert_ids": "{alert_free}"}
    ),
    "POST /cases/{case_id}/update": Page(
        Perm.CASE_WORK,
        "/cases/{case}/update",
        {"expected_version": "{case.version}", "assignee_id": "{assignee}"},
    ),
    "POST /cases/{case_id}/request-resolution": Page(
        Perm.CASE_WORK,
        "/cases/{case}/request-resolution",
        {"expected_version": "{case.version}", "summary": "probe", "root_cause": "unknown"},
    ),
    "POST /cases/{case_id}/approve": Page(
        Perm.CASE_APPROVE,
        "/cases/{case_requested}/approve",
        {"expected_version": "{case_requested.version}"},
    ),
    "POST /cases/{case_id}/reject": Page(
        Perm.CASE_APPROVE,
        "/cases/{case_requested}/reject",
        {"expected_version": "{case_requested.version}", "reason": "probe"},
    ),
    # --- runs
    "GET /runs": Page(Perm.RUN_READ, "/runs"),
    "GET /runs/{run_id:str}": Page(Perm.RUN_READ, "/runs/{run}"),
    "POST /runs/{run_id:str}/release": Page(
        Perm.RUN_APPROVE,
        "/runs/{run}/release",
        {"expected_version": "{run.version}", "reason": "probe"},
    ),
    "POST /runs/{run_id:str}/rerun": Page(
        Perm.RERUN_REQUEST, "/runs/{run}/rerun", {"reason": "probe"}
    ),
    "POST /runs/{run_id:str}/reruns/{request_id:str}/approve": Page(
        Perm.RUN_APPROVE,
        RUN_RERUN + "/approve",
        {"expected_version": "{rerun.version}", "mitigation": "probe"},
    ),
    "POST /runs/{run_id:str}/reruns/{request_id:str}/deny": Page(
        Perm.RUN_APPROVE,
        RUN_RERUN + "/deny",
        {"expected_version": "{rerun.version}", "reason": "probe"},
    ),
    # --- scenarios and baselines
    "GET /scenarios": Page(Perm.RUN_READ, "/scenarios"),
    "GET /scenarios/{key}": Page(Perm.RUN_READ, "/scenarios/{scenario}"),
    "POST /scenarios/{key}/calculate": Page(Perm.RUN_READ, "/scenarios/{scenario}/calculate"),
    "POST /scenarios/{key}/propose": Page(
        Perm.BASELINE_PROPOSE, "/scenarios/{scenario}/propose", {"rationale": "probe"}
    ),
    "POST /scenarios/{key}/approve": Page(
        Perm.BASELINE_APPROVE,
        "/scenarios/{scenario}/approve",
        {"change_id": "{change}", "rationale": "probe"},
    ),
    "POST /scenarios/{key}/reject": Page(
        Perm.BASELINE_APPROVE,
        "/scenarios/{scenario}/reject",
        {"change_id": "{change}", "reason": "probe"},
    ),
    "POST /scenarios/{key}/manual": Page(
        Perm.BASELINE_APPROVE,
        "/scenarios/{scenario}/manual",
        {"median": "120", "rationale": "probe"},
    ),
    "POST /scenarios/{key}/config": Page(
        Perm.BASELINE_PROPOSE,
        "/scenarios/{scenario}/config",
        {
            "name": "Probe",
            "data_classification": "internal",
            "expected_version": "{scenario.version}",
        },
    ),
    # --- reports
    "GET /reports": Page(Perm.REPORT_READ, "/reports"),
    "POST /reports": Page(Perm.REPORT_GENERATE, "/reports"),
    "GET /reports/{report_id}.json": Page(Perm.REPORT_READ, "/reports/{report}.json"),
    "GET /reports/{report_id}": Page(Perm.REPORT_READ, "/reports/{report}"),
    # --- policy, kill switches, notifications
    "GET /policy": Page(Perm.RUN_READ, "/policy"),
    "POST /policy": Page(
        Perm.POLICY_MANAGE,
        "/policy",
        {"sev1_multiplier": "6", "reason": "probe", "expected_number": "0"},
    ),
    "POST /policy/approve": Page(
        Perm.POLICY_MANAGE, "/policy/approve", {"number": "{policy}", "reason": "probe"}
    ),
    "POST /policy/reject": Page(
        Perm.POLICY_MANAGE, "/policy/reject", {"number": "{policy}", "reason": "probe"}
    ),
    "GET /kill-switches": Page(Perm.RUN_READ, "/kill-switches"),
    "POST /kill-switches": Page(
        Perm.POLICY_MANAGE,
        "/kill-switches",
        {"name": "backfill", "scope": "{scenario}", "reason": "probe"},
    ),
    "POST /kill-switches/clear": Page(
        Perm.POLICY_MANAGE, "/kill-switches/clear", {"switch_id": "{switch}", "reason": "probe"}
    ),
    "GET /notifications": Page(Perm.RUN_READ, "/notifications"),
    # --- saved-view pages ({view}: a standard view of the alert queue; {view_promo}: a personal
    # view of a strategist who is no caller, {view_request} its request waiting for review)
    "GET /views": Page(VIEWS_PART, "/views"),
    "POST /views": Page(
        Perm.VIEW_SAVE, "/views", {"queue": "alerts", "q": "priority=high", "name": "Probe {org}"}
    ),
    "GET /views/requests": Page(VIEWS_PART, "/views/requests"),
    "GET /views/requests/{request_id}": Page(VIEWS_PART, "/views/requests/{view_request}"),
    "POST /views/requests/{request_id}/review": Page(
        Perm.VIEW_REVIEW,
        "/views/requests/{view_request}/review",
        {"decision": "decline", "note": "probe", "expected_version": "{view_request.version}"},
    ),
    "POST /views/requests/{request_id}/withdraw": Page(
        Perm.VIEW_SAVE,
        "/views/requests/{view_request}/withdraw",
        {"expected_version": "{view_request.version}"},
    ),
    "GET /views/{view_id}": Page(VIEWS_PART, "/views/{view}"),
    "GET /views/{view_id}/history": Page(VIEWS_PART, "/views/{view}/history"),
    "POST /views/{view_id}/update": Page(
        Perm.VIEW_SAVE,
        "/views/{view}/update",
        {"name": "Probe", "expected_version": "{view.version}"},
    ),
    "POST /views/{view_id}/share": Page(
        Perm.VIEW_SAVE, "/views/{view}/share", {"team_id": "", "expected_version": "{view.version}"}
    ),
    "POST /views/{view_id}/archive": Page(
        Perm.VIEW_SAVE, "/views/{view}/archive", {"expected_version": "{view.version}"}
    ),
    "POST /views/{view_id}/restore": Page(
        Perm.VIEW_SAVE, "/views/{view}/restore", {"expected_version": "{view.version}"}
    ),
    "POST /views/{view_id}/default": Page(Perm.VIEW_SAVE, "/views/{view}/default", {"on": "1"}),
    "POST /views/{view_id}/pin": Page(Perm.VIEW_SAVE, "/views/{view}/pin", {"on": "1"}),
    "POST /views/{view_id}/promote": Page(
        Perm.VIEW_SAVE,
        "/views/{view_promo}/promote",
        {"rationale": "probe", "expected_version": "{view_promo.version}"},
    ),
    # --- the assistant's pages (h/pages): the panel of an alert (case and run panels are the
    # same routes), an answer, rating it, saving a draft as a case note, the usage page.
    # {assistant_response}: the escalation draft of {case} (above). Asking needs assistant.use
    # on an alert (assistant.runs on a run).
    "GET /assistant/usage": Page(Perm.ASSISTANT_USAGE, "/assistant/usage"),
    "GET /assistant/responses/{response_id}": Page(
        Perm.ASSISTANT_READ, "/assistant/responses/{assistant_response}"
    ),
    "POST /assistant/responses/{response_id}/rate": Page(
        Perm.ASSISTANT_USE,
        "/assistant/responses/{assistant_response}/rate",
        {"helpful": "yes", "comment": "probe"},
    ),
    "POST /assistant/responses/{response_id}/note": Page(
        Perm.ASSISTANT_USE, "/assistant/responses/{assistant_response}/note", {"body": "probe"}
    ),
    "GET /assistant/{target_type}/{target_id}": Page(
        Perm.ASSISTANT_READ, "/assistant/alert/{alert}"
    ),
    "POST /assistant/{target_type}/{target_id}/ask": Page(
        Perm.ASSISTANT_USE,
        "/assistant/alert/{alert}/ask",
        {"kind": "explain_alert", "idempotency_key": ""},
    ),
}
