"""The permission matrix of PRODUCT.md: which role may do what, and what each role and permission
means in the product's words. Every face asks this module: the services check `MATRIX`, the home
page and the admin pages show `PERM_TEXT` and `ROLE_TEXT`, and docs/PERMISSIONS.md (with the
README's role list) is generated from it: `make permissions-doc`, or
`python -m riskops.server.core.permissions --write`."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    STRATEGIST = "strategist"
    COMPLIANCE_REVIEWER = "compliance_reviewer"
    PRODUCT_REVIEWER = "product_reviewer"
    ADMIN = "admin"


class Perm(StrEnum):
    # identity and administration
    USER_READ = "user.read"  # the directory of one's organization (names, roles)
    USER_MANAGE = "user.manage"  # create, change roles, suspend, revoke sessions
    TEAM_MANAGE = "team.manage"
    # Mint service accounts' API tokens, revoke any token of the org (a person's token is created
    # by that person only, which needs no permission).
    TOKEN_MANAGE = "token.manage"  # noqa: S105 (a permission name)
    # audit
    AUDIT_READ = "audit.read"
    AUDIT_VERIFY = "audit.verify"
    # domain reads (used by later capabilities)
    ALERT_READ = "alert.read"
    CASE_READ = "case.read"
    RUN_READ = "run.read"
    REPORT_READ = "report.read"
    # alerts and cases (issue 3)
    ALERT_INGEST = "alert.ingest"  # push alerts in (automation scripts, integrators)
    ALERT_TRIAGE = "alert.triage"  # assign, escalate, request info, close
    ALERT_REOPEN = "alert.reopen"  # reopen a closed alert (approver only)
    CASE_WORK = "case.work"  # create cases, notes, links, status, root cause, request resolution
    CASE_APPROVE = "case.approve"  # approve or reject a requested resolution
    # runs and credit monitoring (issue 4)
    RUN_RECORD = "run.record"  # push runs in (automation scripts, the ledger import)
    RERUN_REQUEST = "rerun.request"  # ask for a rerun of a gated run
    RUN_APPROVE = "run.approve"  # approve or deny reruns, release quarantine
    BASELINE_PROPOSE = "baseline.propose"  # propose a calculated baseline update
    BASELINE_APPROVE = "baseline.approve"  # approve/reject updates, set a manual baseline
    POLICY_MANAGE = "policy.manage"  # change the classification policy, set kill switches
    REPORT_GENERATE = "report.generate"  # generate the weekly report on demand
    # saved views and their governance (issue 12); using a view also needs its queue's read
    VIEW_SAVE = "view.save"  # save, edit, share, archive views; request a promotion to standard
    VIEW_REVIEW = "view.review"  # review view promotions (compliance and product reviewers)
    # identity and access (issue 14)
    SECURITY_MANAGE = "security.manage"  # single sign-on, the MFA policy, SSO only
    AUDIT_APPROVALS = "audit.approvals"  # the approval trail: who asked, who decided, when
    # the assistant (issue 13); each also needs the read permission of the alert, case or run
    ASSISTANT_READ = "assistant.read"  # read stored assistant responses
    ASSISTANT_USE = "assistant.use"  # ask on alerts and cases, rate, save a draft as a case note
    ASSISTANT_RUNS = "assistant.runs"  # ask for a run explanation, rate it
    ASSISTANT_USAGE = "assistant.usage"  # the organization's assistant usage and cost
    # operations and compliance (issue 15)
    OPS_READ = "ops.read"  # backups, restore drills, platform status, maintenance history
    MAINTENANCE_MANAGE = "maintenance.manage"  # read-only (maintenance) mode on and off
    GDPR_REQUEST = "gdpr.request"  # record GDPR requests, export a subject, ask for an erasure
    GDPR_APPROVE = "gdpr.approve"  # approve or reject another person's erasure request
    RETENTION_MANAGE = "retention.manage"  # the organization's retention periods
    ACCESS_REVIEW = "access.review"  # the access review: record it, suspend from it
    EVIDENCE_EXPORT = "evidence.export"  # the SOC 2-style evidence set
    # the response loop (issue 16)
    RESPONSE_ACK = "response.ack"  # acknowledge SEV0/SEV1 runs and cases, command an incident
    CHANNEL_MANAGE = "channel.manage"  # the organization's notification channels and routing


_READ_DOMAIN = {
    Perm.ALERT_READ,
    Perm.CASE_READ,
    Perm.RUN_READ,
    Perm.REPORT_READ,
    Perm.ASSISTANT_READ,
}

MATRIX: dict[Role, frozenset[Perm]] = {
    Role.VIEWER: frozenset({Perm.USER_READ, Perm.AUDIT_VERIFY, *_READ_DOMAIN}),
    # "everything a viewer may" (PRODUCT.md): operators and approvers include the viewer's set.
    Role.OPERATOR: frozenset(
        {
            Perm.USER_READ,
            Perm.AUDIT_VERIFY,
            *_READ_DOMAIN,
            Perm.CASE_WORK,
            Perm.RERUN_REQUEST,
            Perm.BASELINE_PROPOSE,
            Perm.REPORT_GENERATE,
            Perm.VIEW_SAVE,
            Perm.ASSISTANT_RUNS,
            Perm.RESPONSE_ACK,
        }
    ),
    Role.APPROVER: frozenset(
        {
            Perm.USER_READ,
            Perm.AUDIT_VERIFY,
            *_READ_DOMAIN,
            Perm.CASE_WORK,
            Perm.CASE_APPROVE,
            Perm.ALERT_REOPEN,
            Perm.RERUN_REQUEST,
            Perm.RUN_APPROVE,
            Perm.BASELINE_PROPOSE,
            Perm.BASELINE_APPROVE,
            Perm.AUDIT_APPROVALS,
            Perm.POLICY_MANAGE,
            Perm.REPORT_GENERATE,
            Perm.VIEW_SAVE,
            Perm.ASSISTANT_RUNS,
            Perm.ASSISTANT_USAGE,
            Perm.RESPONSE_ACK,
        }
    ),
    # Strategists triage and work cases; they and admins (who own the automation API tokens)
    # may push alerts in (PRODUCT.md: "automation scripts push alerts ... in").
    Role.STRATEGIST: frozenset(
        {
            Perm.USER_READ,
            Perm.ALERT_READ,
            Perm.CASE_READ,
            Perm.ALERT_TRIAGE,
            Perm.CASE_WORK,
            Perm.ALERT_INGEST,
            Perm.VIEW_SAVE,
            Perm.ASSISTANT_READ,
            Perm.ASSISTANT_USE,
            Perm.RESPONSE_ACK,
        }
    ),
    Role.COMPLIANCE_REVIEWER: frozenset(
        {
            Perm.USER_READ,
            Perm.AUDIT_READ,
            Perm.AUDIT_APPROVALS,
            Perm.AUDIT_VERIFY,
            Perm.VIEW_REVIEW,
            Perm.GDPR_REQUEST,
            Perm.GDPR_APPROVE,
            Perm.ACCESS_REVIEW,
            Perm.EVIDENCE_EXPORT,
        }
    ),
    Role.PRODUCT_REVIEWER: frozenset(
        {
            Perm.USER_READ,
            Perm.AUDIT_READ,
            Perm.AUDIT_APPROVALS,
            Perm.AUDIT_VERIFY,
            Perm.VIEW_REVIEW,
        }
    ),
    Role.ADMIN: frozenset(
        {
            Perm.USER_READ,
            Perm.USER_MANAGE,
            Perm.TEAM_MANAGE,
            Perm.TOKEN_MANAGE,
            Perm.SECURITY_MANAGE,
            Perm.AUDIT_APPROVALS,
            Perm.AUDIT_READ,
            Perm.AUDIT_VERIFY,
            Perm.ALERT_INGEST,
            Perm.RUN_RECORD,
            Perm.ASSISTANT_USAGE,
            Perm.OPS_READ,
            Perm.MAINTENANCE_MANAGE,
            Perm.GDPR_REQUEST,
            Perm.GDPR_APPROVE,
            Perm.RETENTION_MANAGE,
            Perm.ACCESS_REVIEW,
            Perm.EVIDENCE_EXPORT,
            Perm.CHANNEL_MANAGE,
        }
    ),
}

ALL_ROLES: tuple[str, ...] = tuple(r.value for r in Role)
PRIVILEGED_ROLES = frozenset({Role.ADMIN.value, Role.APPROVER.value})


# What each permission lets one do, as the home page lists it under "What you can do" (in Perm
# order). A test fails when a Perm has none.
PERM_TEXT: dict[Perm, str] = {
    Perm.USER_READ: "See the people and teams of your organization and their roles",
    Perm.USER_MANAGE: (
        "Create users and service accounts, change their roles, suspend and reactivate them, "
        "sign them out everywhere"
    ),
    Perm.TEAM_MANAGE: "Create teams and manage their members",
    Perm.TOKEN_MANAGE: (
        "Mint API tokens for service accounts and revoke any API token of your organization "
        "(everyone creates and revokes their own)"
    ),
    Perm.AUDIT_READ: "Read the audit log",
    Perm.AUDIT_VERIFY: "Verify the integrity of the audit chain",
    Perm.ALERT_READ: "Read alerts and why they fired; answer a question you were asked about one",
    Perm.CASE_READ: "Read cases with their alerts and notes",
    Perm.RUN_READ: (
        "Read the run ledger, scenarios and baselines, the policy, kill switches and notifications"
    ),
    Perm.REPORT_READ: "Read the weekly reports",
    Perm.ALERT_INGEST: "Push alerts in (automation scripts and integrators, with an API token)",
    Perm.ALERT_TRIAGE: "Triage alerts: assign, escalate, request and answer information, close",
    Perm.ALERT_REOPEN: "Reopen a closed alert",
    Perm.CASE_WORK: (
        "Work cases: open them from alerts, add notes, link alerts, set status and root cause, "
        "request a resolution"
    ),
    Perm.CASE_APPROVE: "Approve or reject a requested case resolution (never your own request)",
    Perm.RUN_RECORD: "Record runs (automation and the ledger import)",
    Perm.RERUN_REQUEST: "Request a rerun of a gated run",
    Perm.RUN_APPROVE: (
        "Approve or deny reruns and release quarantined runs (never your own request)"
    ),
    Perm.BASELINE_PROPOSE: "Propose baseline updates and change a scenario's configuration",
    Perm.BASELINE_APPROVE: (
        "Approve or reject baseline updates and set manual baselines (never your own proposal)"
    ),
    Perm.POLICY_MANAGE: (
        "Propose, approve and reject changes of the classification policy (never your own), "
        "set and clear kill switches"
    ),
    Perm.REPORT_GENERATE: "Generate the weekly report on demand",
    Perm.VIEW_SAVE: (
        "Save queue filters as views, share them with your team, archive and restore them, and "
        "request their promotion to standard (edits of a standard view go through review)"
    ),
    Perm.VIEW_REVIEW: (
        "Review view promotions: a compliance and a product review are both needed, never on "
        "your own request"
    ),
    Perm.SECURITY_MANAGE: (
        "Configure single sign-on (OpenID Connect), require multi-factor authentication, and "
        "make single sign-on the only way in (with one break-glass admin)"
    ),
    Perm.AUDIT_APPROVALS: (
        "Read the approval trail: every request that needs a second person and its decision "
        "(case resolutions, reruns and releases, baselines, policy, view promotions)"
    ),
    Perm.ASSISTANT_READ: (
        "Read the assistant's stored answers on the alerts, cases and runs you read"
    ),
    Perm.ASSISTANT_USE: (
        "Ask the assistant to explain an alert, find similar cases or draft an escalation; rate "
        "its answers and save a draft as a case note"
    ),
    Perm.ASSISTANT_RUNS: "Ask the assistant to explain a SEV0 to SEV2 run, and rate its answers",
    Perm.ASSISTANT_USAGE: "See the assistant's usage and cost by person, model, case and kind",
    Perm.OPS_READ: (
        "See the platform's status, its backups and restore drills, and the maintenance history"
    ),
    Perm.MAINTENANCE_MANAGE: (
        "Put your organization in read-only (maintenance) mode with a reason, and end it"
    ),
    Perm.GDPR_REQUEST: (
        "Record GDPR requests, export everything held about a person or customer, and ask for "
        "an erasure"
    ),
    Perm.GDPR_APPROVE: "Approve or reject an erasure someone else asked for",
    Perm.RETENTION_MANAGE: "Set how long alerts, runs, assistant answers and sessions are kept",
    Perm.ACCESS_REVIEW: (
        "Review who has access (inactive, privileged, token holders, MFA, unusual activity) "
        "and record the review (suspending from it also needs user management)"
    ),
    Perm.EVIDENCE_EXPORT: "Export the SOC 2-style evidence set of a period",
    Perm.RESPONSE_ACK: (
        "Acknowledge SEV0/SEV1 runs and cases, take command of an incident and write its "
        "timeline and post-incident report"
    ),
    Perm.CHANNEL_MANAGE: (
        "Configure the organization's notification channels (Slack, webhook, PagerDuty, "
        "e-mail), what goes where, and read their delivery log"
    ),
}

# Who holds each role (PRODUCT.md "People and roles") and, in a few words, what it is for: the
# summary is shown next to a role on the home page and on the admin pages' role pickers. A test
# fails when a Role has either missing.
ROLE_WHO: dict[Role, str] = {
    Role.VIEWER: "auditors, read-only staff (O1)",
    Role.OPERATOR: "read operators (O2)",
    Role.APPROVER: "senior operators (O3)",
    Role.STRATEGIST: "fraud strategists",
    Role.COMPLIANCE_REVIEWER: "governance",
    Role.PRODUCT_REVIEWER: "governance",
    Role.ADMIN: "platform admins",
}
ROLE_TEXT: dict[Role, str] = {
    Role.VIEWER: "reads alerts, cases, runs and reports; verifies the audit chain; changes nothing",
    Role.OPERATOR: (
        "everything a viewer may; works cases, requests reruns, proposes baselines, "
        "generates reports, saves views, asks the assistant about runs"
    ),
    Role.APPROVER: (
        "everything an operator may; approves case resolutions, reruns and quarantine releases, "
        "baselines and policy changes; reopens alerts; sets kill switches; sees assistant usage; "
        "reads the approval trail"
    ),
    Role.STRATEGIST: (
        "triages alerts, works cases, pushes alerts in, saves and shares views, uses the assistant"
    ),
    Role.COMPLIANCE_REVIEWER: (
        "reviews view promotions (compliance); reads and verifies the audit log; handles GDPR "
        "requests and approves erasures; reviews access; exports the compliance evidence"
    ),
    Role.PRODUCT_REVIEWER: "reviews view promotions (product); reads and verifies the audit log",
    Role.ADMIN: (
        "users, teams, roles, API tokens and sessions; single sign-on and the MFA policy; reads "
        "the audit log; records runs and pushes alerts in through automation tokens; sees "
        "assistant usage; backups, platform status and maintenance mode; GDPR requests, "
        "retention, access review and evidence"
    ),
}


def permissions_of(roles: frozenset[str] | set[str] | list[str]) -> frozenset[Perm]:
    perms: set[Perm] = set()
    for role in roles:
        if role in ALL_ROLES:
            perms |= MATRIX[Role(role)]
    return frozenset(perms)


def unknown_roles(roles: list[str]) -> list[str]:
    return [r for r in roles if r not in ALL_ROLES]


# ----------------------------------------------------------------------------- the documentation

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "PERMISSIONS.md"
README = ROOT / "README.md"
DOC_COMMAND = "make permissions-doc"
# The README's role list sits between these two lines; only what is between them is generated.
README_START = "<!-- roles: generated by `make permissions-doc` from server/core/permissions.py -->"
README_END = "<!-- end of roles -->"


def _roles_of(perm: Perm) -> list[Role]:
    return [role for role in Role if perm in MATRIX[role]]


def markdown() -> str:
    """docs/PERMISSIONS.md: the roles, then the matrix (permission x role) with descriptions."""
    lines = [
        "# Permissions",
        "",
        f"<!-- Generated by `{DOC_COMMAND}` from `server/core/permissions.py`; edit that module,",
        "     not this file (a test fails when they differ). -->",
        "",
        "Who may do what. Every face (GraphQL, pages, CLI) calls the same service functions, and",
        "each checks the caller's permissions in this matrix. A user may hold several roles and",
        "has the union of their permissions; an API token carries a subset of its owner's roles.",
        "Everything is scoped to the caller's organization: an ID from another organization",
        "answers exactly like an ID that does not exist. Maker-checker: nobody approves their own",
        "request (case resolution, baseline change, rerun, policy change; the view promotion to",
        "come uses the same rule, `server/core/approvals.py`). It compares people: a person's",
        "API token is created by that person only; automation uses **service accounts** (they",
        "cannot sign in; an admin creates them and mints their tokens, each audited with who",
        "minted it), and an act through a service account's token counts as the act of the admin",
        "who minted it too. A service account's request counts as the request of every admin who",
        "ever minted a token for it, so none of them may decide it.",
        "",
        "## Roles",
        "",
        "| role | who | may |",
        "|---|---|---|",
        *(f"| `{role.value}` | {ROLE_WHO[role]} | {ROLE_TEXT[role]} |" for role in Role),
        "",
        "## The matrix",
        "",
        "| permission | lets one | " + " | ".join(f"`{role.value}`" for role in Role) + " |",
        "|---|---|" + "---|" * len(Role),
    ]
    for perm in Perm:
        marks = " | ".join("✓" if perm in MATRIX[role] else "" for role in Role)
        lines.append(f"| `{perm.value}` | {PERM_TEXT[perm]} | {marks} |")
    lines += ["", "## By role", ""]
    for role in Role:
        lines.append(f"- **`{role.value}`**, {ROLE_WHO[role]}:")
        held = [perm for perm in Perm if perm in MATRIX[role]]
        lines += [f"  - {PERM_TEXT[perm]} (`{perm.value}`)" for perm in held]
    return "\n".join(lines) + "\n"


def readme_roles() -> str:
    """The README's role list (between README_START and README_END), one line per role."""
    rows = [f"| `{role.value}` | {ROLE_TEXT[role]} |" for role in Role]
    return "\n".join([README_START, "| role | may |", "|---|---|", *rows, README_END])


def readme_with_roles(readme: str) -> str:
    """`readme` with its generated role list replaced by the current one."""
    before, start, rest = readme.partition(README_START)
    _, end, after = rest.partition(README_END)
    if not start or not end:
        raise ValueError(f"README.md has no role list between {README_START!r} and {README_END!r}")
    return before + readme_roles() + after


def main(argv: list[str]) -> int:
    """Print docs/PERMISSIONS.md; with --write, write it and the README's role list."""
    if "--write" not in argv:
        sys.stdout.write(markdown())
        return 0
    DOC.write_text(markdown(), encoding="utf-8")
    README.write_text(readme_with_roles(README.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
