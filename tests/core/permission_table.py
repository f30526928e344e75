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


@dataclass(frozen=True)
class AllOf:
    """Every one of these permissions (acknowledging a run: response.ack, and reading runs)."""

    perms: tuple[Perm, ...]

    def __str__(self) -> str:
        return " and ".join(p.value for p in self.perms)


# The saved-view pages (ui/views/pages.py `PART`).
VIEWS_PART = AnyOf((Perm.VIEW_SAVE, Perm.VIEW_REVIEW, Perm.ALERT_READ, Perm.RUN_READ))
# Whether the assistant is on: those who read its answers and those who watch its cost.
ASSISTANT_STATUS = AnyOf((Perm.ASSISTANT_READ, Perm.ASSISTANT_USAGE))

Needs = Perm | Marker | AnyOf | AllOf
# Acknowledging a run: response.ack, and reading the run (strategists acknowledge cases only).
ACK_RUN = AllOf((Perm.RESPONSE_ACK, Perm.RUN_READ))


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
    # --- single sign-on (issue 14): the organization's configuration; an issuer that is not a
    # URL is refused as data, so nothing changes whoever calls
    "Query.ssoConfig": Op(Perm.SECURITY_MANAGE),
    "Mutation.saveSsoConfig": Op(
        Perm.SECURITY_MANAGE,
        {"issuer": "not a url", "clientId": "probe", "allowedDomain": "example.test"},
    ),
    "Mutation.testSsoConnection": Op(Perm.SECURITY_MANAGE),
    "Mutation.setSsoOnly": Op(Perm.SECURITY_MANAGE, {"on": False}),
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
    # --- maintenance and platform status (issue 15). An empty reason: refused after the
    # permission check, so the tests' organization never becomes read-only.
    "Query.maintenance": Op(SIGNED_IN),
    "Query.maintenanceHistory": Op(Perm.OPS_READ),
    "Query.platformStatus": Op(Perm.OPS_READ),
    "Mutation.startMaintenance": Op(Perm.MAINTENANCE_MANAGE, {"reason": ""}),
    "Mutation.endMaintenance": Op(Perm.MAINTENANCE_MANAGE),
    "Query.approvalTrail": Op(Perm.AUDIT_APPROVALS),
    # --- backups (issue 15, h/backup): read-only, the operator takes them on the machine
    "Query.backups": Op(Perm.OPS_READ),
    "Query.restoreDrills": Op(Perm.OPS_READ),
    # --- access review and evidence (issue 15)
    "Query.accessReview": Op(Perm.ACCESS_REVIEW),
    "Query.accessReviews": Op(Perm.ACCESS_REVIEW),
    "Mutation.recordAccessReview": Op(
        Perm.ACCESS_REVIEW, {"decisions": [{"userId": "{target}", "decision": "keep"}]}
    ),
    "Mutation.exportEvidence": Op(Perm.EVIDENCE_EXPORT, {"period": "2026-Q4"}),
    # --- GDPR requests (issue 15): a missing subject or request answers NOT_FOUND to the allowed
    "Query.gdprRequests": Op(Perm.GDPR_REQUEST),
    "Mutation.exportGdprSubject": Op(Perm.GDPR_REQUEST, {"subject": "gdpr-probe@example.test"}),
    "Mutation.requestGdprErasure": Op(Perm.GDPR_REQUEST, {"subject": "gdpr-probe@example.test"}),
    "Mutation.approveGdprErasure": Op(Perm.GDPR_APPROVE, {"requestId": "999999"}),
    "Mutation.rejectGdprErasure": Op(Perm.GDPR_APPROVE, {"requestId": "999999", "reason": "probe"}),
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
    # --- the response loop (issue 16)
    "Mutation.acknowledgeRun": Op(
        ACK_RUN, {"runId": "{run}"}, names=(Perm.RESPONSE_ACK, Perm.RUN_READ)
    ),
    "Mutation.acknowledgeCase": Op(Perm.RESPONSE_ACK, {"caseId": "{case}"}),
    "Mutation.takeIncidentCommand": Op(
        Perm.RESPONSE_ACK, {"caseId": "{case}", "expectedVersion": "{case.version}"}
    ),
    "Mutation.addTimelineEntry": Op(Perm.RESPONSE_ACK, {"caseId": "{case}", "text": "probe"}),
    "Mutation.submitPostIncidentReport": Op(
        Perm.RESPONSE_ACK,
        {"caseId": "{case}", "expectedVersion": "{case.version}", "report": "probe"},
    ),
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
    # issue 16 (h/cases): cases from runs, resolving alone, archiving. {run_ref} is the SEV0
    # run's run id (RUN-… as the pages show it), in its automatic case: linking it elsewhere is
    # CONFLICT, unlinking it from {case} INVALID. Versions are stale (999) where a call would
    # change {case}: an allowed role gets CONFLICT, nothing changes.
    "Mutation.linkRunsToCase": Op(Perm.CASE_WORK, {"caseId": "{case}", "runIds": ["{run_ref}"]}),
    "Mutation.unlinkRunsFromCase": Op(
        Perm.CASE_WORK, {"caseId": "{case}", "runIds": ["{run_ref}"]}
    ),
    "Mutation.resolveCase": Op(
        Perm.CASE_WORK,
        {"caseId": "{case}", "expectedVersion": 999, "rootCause": "UNKNOWN", "note": "probe"},
    ),
    "Mutation.archiveCase": Op(Perm.CASE_WORK, {"caseId": "{case}", "expectedVersion": 999}),
    "Mutation.unarchiveCase": Op(Perm.CASE_WORK, {"caseId": "{case}", "expectedVersion": 999}),
    "Mutation.archiveResolvedCases": Op(Perm.CASE_WORK, {"dryRun": True}),
    # --- runs, scenarios, baselines, policy, kill switches, reports
    "Query.runs": Op(Perm.RUN_READ),
    "Query.run": Op(Perm.RUN_READ, {"id": "{run}"}),
    "Query.scenarios": Op(Perm.RUN_READ),
    "Query.scenario": Op(Perm.RUN_READ, {"key": "{scenario}"}),
    "Query.baselines": Op(Perm.RUN_READ),
    "Query.baselineCandidates": Op(Perm.RUN_READ),
    "Query.baselinePrerequisites": Op(Perm.RUN_READ, {"scenario": "{scenario}"}),
    "Query.piiFalsePositiveRate": Op(Perm.REPORT_READ),
    "Query.policy": Op(Perm.RUN_READ),
    "Query.policyVersions": Op(Perm.RUN_READ),
    "Query.policyProposal": Op(Perm.RUN_READ),
    "Query.killSwitches": Op(Perm.RUN_READ),
    "Query.notifications": Op(Perm.RUN_READ),
    # notification channels per organization (issue 16)
    "Query.notificationChannels": Op(Perm.CHANNEL_MANAGE),
    "Query.notificationChannel": Op(Perm.CHANNEL_MANAGE, {"id": "{channel}"}),
    "Mutation.createNotificationChannel": Op(
        Perm.CHANNEL_MANAGE, {"kind": "SLACK", "input": {"name": "x", "url": "not a url"}}
    ),
    "Mutation.updateNotificationChannel": Op(
        Perm.CHANNEL_MANAGE,
        {
            "id": "{channel}",
            "expectedVersion": "{channel.version}",
            "input": {"name": "Probe", "url": "http://127.0.0.1:9/x"},
        },
    ),
    "Mutation.removeNotificationChannel": Op(
        Perm.CHANNEL_MANAGE, {"id": "{channel}", "expectedVersion": -1}
    ),
    "Mutation.testNotificationChannel": Op(Perm.CHANNEL_MANAGE, {"id": "{channel}"}),
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
    # The world's run is a quarantined SEV0 on regulatory data, with a case: quarantining it
    # again is a conflict past the permission; declassifying it succeeds once.
    "Mutation.quarantineRun": Op(
        Perm.RUN_APPROVE, {"runId": "{run}", "reason": "probe", "expectedVersion": "{run.version}"}
    ),
    "Mutation.declassifyRun": Op(
        Perm.RUN_APPROVE, {"runId": "{run}", "note": "probe", "expectedVersion": "{run.version}"}
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
    # --- retention (issue 15; h/retention): the organization's periods and enforcing them
    "Query.retentionPolicy": Op(Perm.RETENTION_MANAGE),
    "Query.retentionRuns": Op(Perm.RETENTION_MANAGE),
    "Mutation.setRetentionPolicy": Op(Perm.RETENTION_MANAGE, {"sessionsDays": 3650}),
    "Mutation.runRetention": Op(Perm.RETENTION_MANAGE),
}
