"""The SOC 2-style evidence set of one organization and period (issue 15, seed 003 CO-001): CSV
files with a SHA-256 manifest, written by `riskops evidence export` and returned by GraphQL's
`exportEvidence`. One service, `export`.

Period: `YYYY-Qn` (a quarter), `YYYY-MM` (a month) or `FROM..TO` (ISO dates, both included),
in UTC. The files (`FILES`), each with a header row:
- user_access.csv: every user now, with roles, MFA, last sign-in and live API tokens (the state
  at export time: access is evidenced as it stands when the auditor asks);
- role_assignments.csv: per role, how many active users hold it and who (now);
- role_changes.csv: who was created, given roles, suspended, reactivated, and the tokens and
  MFA changes of the period, from the audit log (before and after roles);
- access_reviews.csv: the access reviews recorded in the period with their decisions;
- change_management.csv: policy, baseline and view promotion requests and decisions with maker
  and checker (the approval trail), kill switches and scenario changes, from the audit log;
- data_processing.csv: alerts ingested and closed, cases opened and resolved, runs recorded;
- backups.csv and restore_drills.csv: backups taken and restores (drills) run in the period
  (installation-wide: one backup holds every organization);
- availability.csv: requests, 5xx, availability and p95 per day (installation-wide: the same
  web processes serve every organization);
- manifest.json: the organization, period, who exported and when, and per file its rows,
  size and SHA-256; SHA256SUMS: the same hashes in `sha256sum -c` form.

Exporting is a data access: audited `evidence.export` with the period and the manifest's hash.
Needs evidence.export; the change-management file reads the approval trail, which needs
audit.approvals (every role holding evidence.export holds it).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from calendar import monthrange
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from riskops.audit.chain import format_ts
from riskops.audit.models import AuditEvent
from riskops.audit.types import RiskLevel
from riskops.server.core.audit_trail import access
from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit.models import Run
from riskops.server.identity import users
from riskops.server.identity.models import ApiToken, User, UserStatus
from riskops.server.operations import approval_trail, availability, backups
from riskops.server.operations.approval_trail import TrailFilter
from riskops.server.operations.audit_log import MAX_PAGE
from riskops.server.operations.models import BackupRecord, RestoreRecord
from riskops.server.operations.review_models import AccessReview
from riskops.server.triage.models import Alert, Case

PERIOD_HELP = "a quarter (2026-Q4), a month (2026-11) or two dates (2026-10-01..2026-12-31)"
MAX_PERIOD_DAYS = 366 * 3
ROLE_ACTIONS = (
    "user.create", "user.provisioned", "user.roles_change", "user.suspend", "user.reactivate",
    "service_account.create", "token.create", "token.revoke", "mfa.enrolled", "mfa.disabled",
    "mfa.reset",
)  # fmt: skip
TRAIL_KINDS = ("policy", "baseline", "view_promotion")
CHANGE_ACTIONS = (
    "kill_switch.set", "kill_switch.clear", "kill_switch.expire", "kill_switch.expired",
    "scenario.create", "scenario.update", "view.promotion_published",
)  # fmt: skip
FILES = (
    "user_access.csv", "role_assignments.csv", "role_changes.csv", "access_reviews.csv",
    "change_management.csv",
    "data_processing.csv", "backups.csv", "restore_drills.csv", "availability.csv",
)  # fmt: skip
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"

_QUARTER = re.compile(r"(\d{4})-[Qq]([1-4])")
_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class Period:
    label: str
    first: date  # included
    last: date  # included

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=UTC)

    @property
    def end(self) -> datetime:  # excluded
        return self.start + timedelta(days=(self.last - self.first).days + 1)


def parse_period(raw: str | None) -> Period:
    text = (raw or "").strip()
    if not text:
        raise Invalid(f"Period is required: {PERIOD_HELP}.", field="period")
    if m := _QUARTER.fullmatch(text):
        year, q = int(m[1]), int(m[2])
        first = date(year, 3 * q - 2, 1)
        last = date(year, 3 * q, monthrange(year, 3 * q)[1])
        return Period(f"{year}-Q{q}", first, last)
    if m := _MONTH.fullmatch(text):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise Invalid(f"Period {text!r}: there is no month {month:02d}.", field="period")
        return Period(text, date(year, month, 1), date(year, month, monthrange(year, month)[1]))
    if ".." in text:
        since, _, until = (part.strip() for part in text.partition(".."))
        try:
            first, last = date.fromisoformat(since), date.fromisoformat(until)
        except ValueError:
            raise Invalid(
                f"Period {text!r}: both ends must be dates like 2026-10-01 ({PERIOD_HELP}).",
                field="period",
            ) from None
        if last < first:
            raise Invalid(
                f"Period {text!r} ends before it starts; put the earlier date first.",
                field="period",
            )
        if (last - first).days >= MAX_PERIOD_DAYS:
            raise Invalid(
                f"Period {text!r} is longer than {MAX_PERIOD_DAYS} days; export it in parts.",
                field="period",
            )
        return Period(f"{first.isoformat()}..{last.isoformat()}", first, last)
    raise Invalid(f"Period {text!r} is not {PERIOD_HELP}.", field="period")


def check_directory(raw: str | Path) -> Path:
    """Where the files go: a new or empty directory whose parent can be written."""
    text = str(raw).strip()
    if not text:
        raise Invalid("Output directory is required (-o DIR).", field="directory")
    path = Path(text).expanduser().absolute()
    if path.exists():
        if not path.is_dir():
            raise Invalid(
                f"Output directory {path} is a file; name a new or empty directory.",
                field="directory",
            )
        if any(path.iterdir()):
            raise Invalid(
                f"Output directory {path} is not empty; name a new or empty directory so that "
                "the evidence set holds only its own files.",
                field="directory",
            )
        if not os.access(path, os.W_OK):
            raise Invalid(f"Output directory {path} cannot be written.", field="directory")
        return path
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise Invalid(
            f"Output directory {path} cannot be created: {parent} is not a writable directory.",
            field="directory",
        )
    return path


@dataclass(frozen=True)
class EvidenceFile:
    name: str
    rows: int  # data rows, without the header
    sha256: str
    content: bytes


@dataclass(frozen=True)
class EvidenceSet:
    org_id: int
    period: Period
    generated_at: datetime
    files: list[EvidenceFile]  # the CSV files, then manifest.json and SHA256SUMS
    directory: Path | None

    @property
    def manifest_sha256(self) -> str:
        return next(f.sha256 for f in self.files if f.name == MANIFEST)


def _csv(name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> EvidenceFile:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    n = 0
    for row in rows:
        writer.writerow(["" if v is None else _cell(v) for v in row])
        n += 1
    content = buf.getvalue().encode()
    return EvidenceFile(name, n, hashlib.sha256(content).hexdigest(), content)


def _cell(value: Any) -> str:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


async def _user_access(principal: Principal, now: datetime) -> tuple[EvidenceFile, EvidenceFile]:
    people = await scoped(User, principal).filter(deleted_at=None).order_by("id")
    holders: dict[str, list[str]] = {}
    for u in people:
        if u.status == UserStatus.ACTIVE:
            for role in u.roles:
                holders.setdefault(role, []).append(u.email)
    by_role = _csv(
        "role_assignments.csv",
        ("role", "active_users", "emails"),
        ((role, len(emails), sorted(emails)) for role, emails in sorted(holders.items())),
    )
    live: dict[int, int] = {}
    for t in await scoped(ApiToken, principal).filter(revoked_at=None):
        expires = t.expires_at
        if expires is None or (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) > now:
            live[t.user_id] = live.get(t.user_id, 0) + 1
    return _csv(
        "user_access.csv",
        ("user_id", "email", "name", "kind", "status", "roles", "mfa_enabled", "last_login_at",
         "created_at", "live_api_tokens"),
        ((u.id, u.email, u.name, u.kind.value, u.status.value, sorted(u.roles), u.mfa_enabled,
          u.last_login_at, u.created_at, live.get(u.id, 0)) for u in people),
    ), by_role  # fmt: skip


async def _events(principal: Principal, period: Period, actions: Sequence[str]) -> list[AuditEvent]:
    return await (
        scoped(AuditEvent, principal)
        .filter(action__in=list(actions), ts__gte=format_ts(period.start))
        .filter(ts__lt=format_ts(period.end))
        .order_by("seq")
    )


async def _role_changes(principal: Principal, period: Period) -> EvidenceFile:
    events = await _events(principal, period, ROLE_ACTIONS)
    labels = await users.actor_labels(principal.org_id, [e.actor for e in events])
    user_refs = [f"user:{e.entity_id}" for e in events if e.entity_type == "user"]
    names = await users.actor_labels(principal.org_id, user_refs)

    def row(e: AuditEvent) -> tuple[Any, ...]:
        old, new = json.loads(e.old_values or "{}"), json.loads(e.new_values or "{}")
        subject = users.actor_label(names, f"user:{e.entity_id}") if e.entity_type == "user" else ""
        rest = {k: v for k, v in new.items() if k != "roles"}
        return (e.seq, e.ts, e.action, users.actor_label(labels, e.actor), e.entity_type,
                e.entity_id, subject, old.get("roles"), new.get("roles"), rest or None)  # fmt: skip

    return _csv(
        "role_changes.csv",
        ("seq", "ts", "action", "by", "entity_type", "entity_id", "user", "roles_before",
         "roles_after", "detail"),
        (row(e) for e in events),
    )  # fmt: skip


async def _access_reviews(principal: Principal, period: Period) -> EvidenceFile:
    reviews = await (
        scoped(AccessReview, principal)
        .filter(reviewed_at__gte=period.start, reviewed_at__lt=period.end)
        .order_by("reviewed_at", "id")
    )
    return _csv(
        "access_reviews.csv",
        ("review_id", "reviewed_at", "reviewer", "inactive_days", "people", "inactive",
         "privileged", "token_holders", "without_mfa", "anomalies", "kept", "suspended",
         "decisions", "note"),
        ((r.id, r.reviewed_at, r.reviewer, r.inactive_days,
          *(r.findings.get("summary", {}).get(k) for k in
            ("people", "inactive", "privileged", "token_holders", "without_mfa", "anomalies")),
          r.kept, r.suspended,
          "; ".join(f"{d['user_id']} {d['name']}: {d['decision']}"
                    + (f" ({d['note']})" if d.get("note") else "") for d in r.decisions),
          r.note) for r in reviews),
    )  # fmt: skip


async def _change_management(principal: Principal, period: Period) -> EvidenceFile:
    rows: list[tuple[Any, ...]] = []
    for kind in TRAIL_KINDS:
        after = None
        while True:
            page = await approval_trail.list_trail(
                principal, TrailFilter(kind=kind, since=period.start, until=period.end),
                first=MAX_PAGE, after=after,
            )  # fmt: skip
            for e in page.entries:
                decided = e.step != "requested"
                maker = e.requested_by if decided else e.actor
                rows.append((e.seq, e.ts, e.kind, e.action, e.entity_type, e.entity_id, e.step,
                             maker, e.actor if decided else None, e.reason))  # fmt: skip
            if not page.has_next:
                break
            after = page.end_cursor
    direct = await _events(principal, period, CHANGE_ACTIONS)
    labels = await users.actor_labels(principal.org_id, [e.actor for e in direct])
    for ev in direct:
        new = json.loads(ev.new_values or "{}")
        reason = new.get("reason") if isinstance(new.get("reason"), str) else None
        rows.append((ev.seq, ev.ts, ev.action.split(".")[0], ev.action, ev.entity_type,
                     ev.entity_id, "done", users.actor_label(labels, ev.actor), None,
                     reason))  # fmt: skip
    rows.sort(key=lambda r: int(r[0]))
    return _csv(
        "change_management.csv",
        ("seq", "ts", "kind", "action", "entity_type", "entity_id", "step", "maker", "checker",
         "reason"),
        rows,
    )  # fmt: skip


async def _data_processing(principal: Principal, period: Period) -> EvidenceFile:
    a, b = period.start, period.end
    counts = (
        ("alerts_ingested", await scoped(Alert, principal).filter(created_at__gte=a,
                                                                   created_at__lt=b).count()),
        ("alerts_closed", await scoped(Alert, principal).filter(closed_at__gte=a,
                                                                 closed_at__lt=b).count()),
        ("cases_opened", await scoped(Case, principal).filter(opened_at__gte=a,
                                                               opened_at__lt=b).count()),
        ("cases_resolved", await scoped(Case, principal).filter(resolved_at__gte=a,
                                                                 resolved_at__lt=b).count()),
        ("runs_recorded", await scoped(Run, principal).filter(recorded_at__gte=a,
                                                               recorded_at__lt=b).count()),
    )  # fmt: skip
    return _csv("data_processing.csv", ("metric", "count"), counts)


async def _backups(principal: Principal, period: Period) -> tuple[EvidenceFile, EvidenceFile]:
    taken = await BackupRecord.filter(
        created_at__gte=period.start, created_at__lt=period.end
    ).order_by("created_at", "id")
    restores = await RestoreRecord.filter(
        started_at__gte=period.start, started_at__lt=period.end
    ).order_by("started_at", "id")
    return (
        _csv(
            "backups.csv",
            ("backup_id", "created_at", "backend", "schema_version", "size_bytes", "sha256",
             "created_by", "verified_at", "verify_error", "deleted_at"),
            ((r.id, r.created_at, r.backend.value, r.schema_version, r.size_bytes, r.sha256,
              r.created_by, r.verified_at, r.verify_error, r.deleted_at) for r in taken),
        ),
        _csv(
            "restore_drills.csv",
            ("restore_id", "started_at", "finished_at", "ok", "backup_sha256", "archive",
             "created_by", "detail"),
            ((r.id, r.started_at, r.finished_at, r.ok, r.backup_sha256, r.archive, r.created_by,
              backups.detail_for(principal.org_id, r.detail)) for r in restores),
        ),
    )  # fmt: skip


async def _availability(period: Period) -> EvidenceFile:
    found = await availability.days(period.first, period.last)
    return _csv(
        "availability.csv",
        ("day", "requests", "errors_5xx", "availability_percent", "p95_ms"),
        ((d.day.isoformat(), d.requests, d.errors,
          None if d.availability is None else f"{d.availability:.3f}",
          None if d.p95_ms is None else f"{d.p95_ms:g}") for d in found),
    )  # fmt: skip


def _manifest(
    principal: Principal, period: Period, now: datetime, files: list[EvidenceFile]
) -> list[EvidenceFile]:
    doc = {
        "org_id": principal.org_id,
        "period": {"label": period.label, "from": period.first.isoformat(),
                   "to": period.last.isoformat()},
        "generated_at": now.isoformat(),
        "generated_by": principal.actor.actor,
        "files": [{"name": f.name, "rows": f.rows, "bytes": len(f.content), "sha256": f.sha256}
                  for f in files],
    }  # fmt: skip
    manifest = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
    sums = "".join(f"{f.sha256}  {f.name}\n" for f in files).encode()
    return [
        EvidenceFile(MANIFEST, len(files), hashlib.sha256(manifest).hexdigest(), manifest),
        EvidenceFile(SUMS, len(files), hashlib.sha256(sums).hexdigest(), sums),
    ]


async def export(
    principal: Principal, period: str, directory: str | Path | None = None
) -> EvidenceSet:
    """Build the evidence set of `period`; with `directory` (a new or empty one), write it
    there. Checked in this order, nothing written on a refusal: the permission, the period,
    the directory."""
    principal.require(Perm.EVIDENCE_EXPORT)
    parsed = parse_period(period)
    target = check_directory(directory) if directory is not None else None
    now = datetime.now(UTC)
    files = [
        *await _user_access(principal, now),
        await _role_changes(principal, parsed),
        await _access_reviews(principal, parsed),
        await _change_management(principal, parsed),
        await _data_processing(principal, parsed),
        *await _backups(principal, parsed),
        await _availability(parsed),
    ]
    files += _manifest(principal, parsed, now, files)
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
        for f in files:
            (target / f.name).write_bytes(f.content)
    result = EvidenceSet(principal.org_id, parsed, now, files, target)
    await access(
        principal, "evidence.export", "organization", principal.org_id,
        detail={"period": parsed.label, "manifest_sha256": result.manifest_sha256,
                "files": len(files) - 2, "written": target is not None},
        risk=RiskLevel.MEDIUM,
    )  # fmt: skip
    return result
