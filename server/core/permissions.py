"""The permission matrix of PRODUCT.md: which role may do what. Every face asks this module."""

from __future__ import annotations

from enum import StrEnum


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
    TOKEN_MANAGE = "token.manage"  # noqa: S105 (a permission name) create/revoke API tokens for any user of the org
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


_READ_DOMAIN = {Perm.ALERT_READ, Perm.CASE_READ, Perm.RUN_READ, Perm.REPORT_READ}

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
            Perm.POLICY_MANAGE,
            Perm.REPORT_GENERATE,
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
        }
    ),
    Role.COMPLIANCE_REVIEWER: frozenset({Perm.USER_READ, Perm.AUDIT_READ, Perm.AUDIT_VERIFY}),
    Role.PRODUCT_REVIEWER: frozenset({Perm.USER_READ, Perm.AUDIT_READ, Perm.AUDIT_VERIFY}),
    Role.ADMIN: frozenset(
        {
            Perm.USER_READ,
            Perm.USER_MANAGE,
            Perm.TEAM_MANAGE,
            Perm.TOKEN_MANAGE,
            Perm.AUDIT_READ,
            Perm.AUDIT_VERIFY,
            Perm.ALERT_INGEST,
            Perm.RUN_RECORD,
        }
    ),
}

ALL_ROLES: tuple[str, ...] = tuple(r.value for r in Role)
PRIVILEGED_ROLES = frozenset({Role.ADMIN.value, Role.APPROVER.value})


def permissions_of(roles: frozenset[str] | set[str] | list[str]) -> frozenset[Perm]:
    perms: set[Perm] = set()
    for role in roles:
        if role in ALL_ROLES:
            perms |= MATRIX[Role(role)]
    return frozenset(perms)


def unknown_roles(roles: list[str]) -> list[str]:
    return [r for r in roles if r not in ALL_ROLES]
