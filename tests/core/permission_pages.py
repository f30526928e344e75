"""The page routes of the permission contract (`permission_table.py` holds the GraphQL
operations and the kinds of requirement): each page route (method and path) -> the
permission it needs and a sample form. Split from permission_table.py by face."""

from __future__ import annotations

from riskops.server.core.permissions import Perm
from tests.core.permission_table import (
    ACK_RUN,
    ANYONE,
    SAME_PASSWORD,
    SIGNED_IN,
    VIEWS_PART,
    AnyOf,
    Page,
)

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
    # single sign-on starts before anyone is signed in
    "GET /login/sso": Page(ANYONE, "/login/sso"),
    "GET /login/sso/{org_slug}": Page(ANYONE, "/login/sso/no-such-organization"),
    "GET /login/sso/callback": Page(ANYONE, "/login/sso/callback"),
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
    "GET /admin/sso": Page(Perm.SECURITY_MANAGE, "/admin/sso"),
    "POST /admin/sso": Page(Perm.SECURITY_MANAGE, "/admin/sso", {"issuer": "not a url"}),
    "POST /admin/sso/test": Page(Perm.SECURITY_MANAGE, "/admin/sso/test"),
    "POST /admin/security/sso-only": Page(Perm.SECURITY_MANAGE, "/admin/security/sso-only"),
    "POST /admin/security/mfa": Page(
        Perm.SECURITY_MANAGE, "/admin/security/mfa", {"policy": "optional"}
    ),
    # --- maintenance and platform status (issue 15). No reason: refused after the permission
    # check, so the tests' organization never becomes read-only (nor does test_messages' scan,
    # which fills the sample form's fields with text).
    "GET /admin/maintenance": Page(Perm.MAINTENANCE_MANAGE, "/admin/maintenance"),
    "POST /admin/maintenance/start": Page(Perm.MAINTENANCE_MANAGE, "/admin/maintenance/start"),
    "POST /admin/maintenance/end": Page(Perm.MAINTENANCE_MANAGE, "/admin/maintenance/end"),
    "GET /admin/status": Page(Perm.OPS_READ, "/admin/status"),
    # --- audit
    "GET /audit": Page(Perm.AUDIT_READ, "/audit"),
    "GET /audit/approvals": Page(Perm.AUDIT_APPROVALS, "/audit/approvals"),
    # --- access review and evidence (issue 15)
    "GET /access-review": Page(Perm.ACCESS_REVIEW, "/access-review"),
    "POST /access-review": Page(
        Perm.ACCESS_REVIEW, "/access-review", {"decision_{target}": "keep"}
    ),
    "POST /access-review/evidence": Page(
        Perm.EVIDENCE_EXPORT, "/access-review/evidence", {"period": "2026-Q4"}
    ),
    "POST /audit/verify": Page(Perm.AUDIT_VERIFY, "/audit/verify"),
    # --- backups (issue 15, h/backup): read-only
    "GET /admin/backups": Page(Perm.OPS_READ, "/admin/backups"),
    # --- GDPR requests (issue 15): a probe subject or request that does not exist
    "GET /admin/gdpr": Page(Perm.GDPR_REQUEST, "/admin/gdpr"),
    "POST /admin/gdpr/export": Page(
        Perm.GDPR_REQUEST, "/admin/gdpr/export", {"subject": "gdpr-probe@example.test"}
    ),
    "POST /admin/gdpr/erase": Page(
        Perm.GDPR_REQUEST, "/admin/gdpr/erase", {"subject": "gdpr-probe@example.test"}
    ),
    "POST /admin/gdpr/{request_id}/approve": Page(Perm.GDPR_APPROVE, "/admin/gdpr/999999/approve"),
    "POST /admin/gdpr/{request_id}/reject": Page(
        Perm.GDPR_APPROVE, "/admin/gdpr/999999/reject", {"reason": "probe"}
    ),
    # --- retention (issue 15; h/retention)
    "GET /admin/retention": Page(Perm.RETENTION_MANAGE, "/admin/retention"),
    "POST /admin/retention": Page(
        Perm.RETENTION_MANAGE, "/admin/retention", {"sessions_days": "3650"}
    ),
    "POST /admin/retention/run": Page(Perm.RETENTION_MANAGE, "/admin/retention/run"),
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
    # --- the response loop (issue 16)
    "POST /runs/{run_id}/acknowledge": Page(ACK_RUN, "/runs/{run}/acknowledge"),
    "POST /cases/{case_id}/acknowledge": Page(Perm.RESPONSE_ACK, "/cases/{case}/acknowledge"),
    "POST /cases/{case_id}/command": Page(
        Perm.RESPONSE_ACK, "/cases/{case}/command", {"expected_version": "{case.version}"}
    ),
    "POST /cases/{case_id}/timeline": Page(
        Perm.RESPONSE_ACK, "/cases/{case}/timeline", {"text": "probe"}
    ),
    "POST /cases/{case_id}/report": Page(
        Perm.RESPONSE_ACK,
        "/cases/{case}/report",
        {"expected_version": "{case.version}", "report": "probe"},
    ),
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
    # issue 16 (h/cases): see the GraphQL rows for {run_ref} and the stale versions
    "POST /cases/archive-resolved": Page(Perm.CASE_WORK, "/cases/archive-resolved"),
    "POST /cases/{case_id}/resolve": Page(
        Perm.CASE_WORK,
        "/cases/{case}/resolve",
        {"expected_version": "999", "root_cause": "unknown", "note": "probe"},
    ),
    "POST /cases/{case_id}/runs/link": Page(
        Perm.CASE_WORK, "/cases/{case}/runs/link", {"run_ids": "{run_ref}"}
    ),
    "POST /cases/{case_id}/runs/unlink": Page(
        Perm.CASE_WORK, "/cases/{case}/runs/unlink", {"run_ids": "{run_ref}"}
    ),
    "POST /cases/{case_id}/archive": Page(
        Perm.CASE_WORK, "/cases/{case}/archive", {"expected_version": "999"}
    ),
    "POST /cases/{case_id}/unarchive": Page(
        Perm.CASE_WORK, "/cases/{case}/unarchive", {"expected_version": "999"}
    ),
    # --- runs
    "GET /runs": Page(Perm.RUN_READ, "/runs"),
    "GET /runs/{run_id:str}": Page(Perm.RUN_READ, "/runs/{run}"),
    "POST /runs/{run_id:str}/release": Page(
        Perm.RUN_APPROVE,
        "/runs/{run}/release",
        {"expected_version": "{run.version}", "reason": "probe"},
    ),
    "POST /runs/{run_id:str}/quarantine": Page(
        Perm.RUN_APPROVE,
        "/runs/{run}/quarantine",
        {"expected_version": "{run.version}", "quarantine_reason": "probe"},
    ),
    "POST /runs/{run_id:str}/declassify": Page(
        Perm.RUN_APPROVE,
        "/runs/{run}/declassify",
        {"expected_version": "{run.version}", "note": "probe"},
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
    # the checks of a chosen period: each section's service decides (report.read, run.read)
    "GET /reports/checks": Page(AnyOf((Perm.REPORT_READ, Perm.RUN_READ)), "/reports/checks"),
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
    # notification channels per organization (issue 16)
    "GET /admin/channels": Page(Perm.CHANNEL_MANAGE, "/admin/channels"),
    "POST /admin/channels": Page(
        Perm.CHANNEL_MANAGE, "/admin/channels", {"kind": "slack", "name": "x", "url": "nope"}
    ),
    "GET /admin/channels/new": Page(Perm.CHANNEL_MANAGE, "/admin/channels/new"),
    "GET /admin/channels/{channel_id}": Page(Perm.CHANNEL_MANAGE, "/admin/channels/{channel}"),
    "POST /admin/channels/{channel_id}": Page(
        Perm.CHANNEL_MANAGE,
        "/admin/channels/{channel}",
        {"name": "Probe", "url": "http://127.0.0.1:9/x", "version": "{channel.version}"},
    ),
    "POST /admin/channels/{channel_id}/test": Page(
        Perm.CHANNEL_MANAGE, "/admin/channels/{channel}/test"
    ),
    "POST /admin/channels/{channel_id}/remove": Page(
        Perm.CHANNEL_MANAGE, "/admin/channels/{channel}/remove", {"version": "-1"}
    ),
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
