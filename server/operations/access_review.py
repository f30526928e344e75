"""The access review (issue 15, seed 003 DO-002): who has access to an organization and what
deserves a second look, then the review recorded with its decisions so it can be shown as
evidence. One service for the page, GraphQL and `riskops access review`.

What the review shows (`review`), for every user of the organization (not deleted):
- **inactive**: an active user whose last sign-in or API token use (or, never used, the
  creation of the account) is more than `inactive_days` days ago (the setting
  `access_review_inactive_days`, 90 by default, or the review's own value);
- **privileged**: an active user holding admin or approver;
- **token holders**: users with live API tokens (not revoked, not expired);
- **MFA**: whether each person has a confirmed second factor (service accounts never sign in);
- **anomalous activity**: more than `ANOMALY_THRESHOLD` (100) audit events of one action by one
  actor in the last 7 days. Read from `audit_event` with its (org_id, ts) index: one grouped
  range scan over one organization's last week.

Recording (`record_review`, access.review): the findings as shown and one decision per person
(keep or suspend, with a note) in an `AccessReview` row, audited `access_review.record`.
Suspending is identity's `users.suspend_user` (which revokes the person's sessions and API tokens
and is audited `user.suspend`) and so also needs user.manage: a compliance reviewer records
"keep" decisions, an admin (who holds both) also suspends. Everything of one recording is one
transaction: a refused suspension (oneself, the last admin) leaves nothing changed. The notes are
free text that may be about a person: they stay on the `AccessReview` row (which a GDPR erasure
rewrites), the audit event records their lengths (`note_chars`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.functions import Count
from tortoise.transactions import in_transaction

from riskops.audit.chain import format_ts
from riskops.audit.models import AuditEvent
from riskops.audit.types import RiskLevel
from riskops.server.core import validation
from riskops.server.core.audit_trail import access, record
from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import PRIVILEGED_ROLES, Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, parse_id, scoped
from riskops.server.identity import users
from riskops.server.identity.models import ApiToken, User, UserKind, UserStatus
from riskops.server.operations.review_models import AccessReview
from riskops.server.settings import get_settings

ANOMALY_THRESHOLD = 100  # more than this many events of one action by one actor ...
ANOMALY_DAYS = 7  # ... in this many days
MAX_INACTIVE_DAYS = 3650
DECISIONS = ("keep", "suspend")
NOTE_MAX = 500
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Person:
    user_id: int
    name: str
    email: str
    kind: str  # person or service
    status: str  # active or suspended
    roles: list[str]
    mfa_enabled: bool
    last_active_at: datetime | None  # last sign-in or token use; None: never
    idle_days: int  # whole days since last_active_at (or since the account was created)
    active_tokens: int
    inactive: bool
    privileged: bool
    anomalous: bool

    @property
    def flags(self) -> list[str]:
        out = [n for n in ("inactive", "privileged", "anomalous") if getattr(self, n)]
        if self.active_tokens:
            out.append("tokens")
        if self.kind == UserKind.PERSON.value and not self.mfa_enabled and self.status == "active":
            out.append("no_mfa")
        return out


@dataclass(frozen=True)
class Anomaly:
    actor: str  # the audit reference: user:N, token:N, cli, ...
    user_id: int | None  # the person behind it (a token's owner)
    name: str
    action: str
    count: int


@dataclass(frozen=True)
class Review:
    org_id: int
    generated_at: datetime
    inactive_days: int
    people: list[Person]
    anomalies: list[Anomaly] = field(default_factory=list)

    @property
    def inactive(self) -> list[Person]:
        return [p for p in self.people if p.inactive]

    @property
    def privileged(self) -> list[Person]:
        return [p for p in self.people if p.privileged]

    @property
    def token_holders(self) -> list[Person]:
        return [p for p in self.people if p.active_tokens]

    @property
    def without_mfa(self) -> list[Person]:
        return [p for p in self.people if "no_mfa" in p.flags]

    def snapshot(self) -> dict[str, Any]:
        """The review as JSON (the CLI's --json, the recorded findings)."""

        def person(p: Person) -> dict[str, Any]:
            row = asdict(p)
            row["last_active_at"] = p.last_active_at.isoformat() if p.last_active_at else None
            row["flags"] = p.flags
            return row

        return {
            "org_id": self.org_id,
            "generated_at": self.generated_at.isoformat(),
            "inactive_days": self.inactive_days,
            "anomaly_threshold": ANOMALY_THRESHOLD,
            "anomaly_days": ANOMALY_DAYS,
            "people": [person(p) for p in self.people],
            "anomalies": [asdict(a) for a in self.anomalies],
            "summary": {
                "people": len(self.people),
                "inactive": len(self.inactive),
                "privileged": len(self.privileged),
                "token_holders": len(self.token_holders),
                "without_mfa": len(self.without_mfa),
                "anomalies": len(self.anomalies),
            },
        }


def inactive_days_of(value: int | str | None) -> int:
    """The review's inactivity threshold: given, or the setting."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return get_settings().access_review_inactive_days
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise Invalid(
            f"Inactive for more than (days) must be a whole number, not {str(value)!r}.",
            field="inactiveDays",
        ) from None
    if not 1 <= days <= MAX_INACTIVE_DAYS:
        raise Invalid(
            f"Inactive for more than (days) must be between 1 and {MAX_INACTIVE_DAYS}; "
            f"{days} is not.",
            field="inactiveDays",
        )
    return days


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def anomalies(principal: Principal, now: datetime) -> list[Anomaly]:
    """Actors with more than ANOMALY_THRESHOLD events of one action in the last ANOMALY_DAYS."""
    since = format_ts(now - timedelta(days=ANOMALY_DAYS))
    rows = (
        await scoped(AuditEvent, principal)
        .filter(ts__gte=since)
        .annotate(n=Count("id"))
        .group_by("actor", "action")
        .filter(n__gt=ANOMALY_THRESHOLD)
        .values("actor", "action", "n")
    )
    refs = [str(r["actor"]).partition(":") for r in rows]
    token_ids = [int(ident) for kind, _, ident in refs if kind == "token" and ident.isdigit()]
    owners: dict[int, int] = {}
    if token_ids:
        owners = dict(
            await scoped(ApiToken, principal).filter(id__in=token_ids).values_list("id", "user_id")
        )
    labels = await users.actor_labels(principal.org_id, [r["actor"] for r in rows])
    found = []
    for r in rows:
        actor = r["actor"]
        kind, _, ident = actor.partition(":")
        user_id: int | None = None
        if kind == "user" and ident.isdigit():
            user_id = int(ident)
        elif kind == "token" and ident.isdigit():
            user_id = owners.get(int(ident))
        found.append(
            Anomaly(actor, user_id, users.actor_label(labels, actor), r["action"], int(r["n"]))
        )
    found.sort(key=lambda a: (-a.count, a.actor, a.action))
    return found


async def _review(principal: Principal, days: int, now: datetime) -> Review:
    people = await scoped(User, principal).filter(deleted_at=None).order_by("name", "id")
    live = await scoped(ApiToken, principal).filter(revoked_at=None)
    tokens: dict[int, int] = {}
    last_use: dict[int, datetime] = {}
    for t in live:
        used = _aware(t.last_used_at)
        if used is not None and (t.user_id not in last_use or used > last_use[t.user_id]):
            last_use[t.user_id] = used
        expires = _aware(t.expires_at)
        if expires is None or expires > now:
            tokens[t.user_id] = tokens.get(t.user_id, 0) + 1
    odd = await anomalies(principal, now)
    odd_users = {a.user_id for a in odd if a.user_id is not None}
    cutoff = now - timedelta(days=days)
    rows = []
    for u in people:
        moments = [m for m in (_aware(u.last_login_at), last_use.get(u.id)) if m is not None]
        last = max(moments) if moments else None
        since = last or _aware(u.created_at) or now
        active = u.status == UserStatus.ACTIVE
        rows.append(
            Person(
                user_id=u.id, name=u.name, email=u.email, kind=u.kind.value,
                status=u.status.value, roles=sorted(u.roles), mfa_enabled=u.mfa_enabled,
                last_active_at=last, idle_days=max(0, (now - since).days),
                active_tokens=tokens.get(u.id, 0),
                inactive=active and since < cutoff,
                privileged=active and bool(set(u.roles) & PRIVILEGED_ROLES),
                anomalous=u.id in odd_users,
            )
        )  # fmt: skip
    return Review(principal.org_id, now, days, rows, odd)


async def review(
    principal: Principal, *, inactive_days: int | str | None = None, now: datetime | None = None
) -> Review:
    """The live findings (access.review); viewing them is audited `access_review.view`."""
    principal.require(Perm.ACCESS_REVIEW)
    days = inactive_days_of(inactive_days)
    found = await _review(principal, days, now or datetime.now(UTC))
    await access(
        principal, "access_review.view", "organization", principal.org_id,
        detail={"inactive_days": days, "people": len(found.people),
                "anomalies": len(found.anomalies)},
    )  # fmt: skip
    return found


@dataclass(frozen=True)
class Decision:
    user_id: str | int
    decision: str  # keep or suspend
    note: str = ""


def _suspends(decisions: Iterable[Decision]) -> bool:
    return any(str(d.decision or "").strip().lower() == "suspend" for d in decisions)


async def record_review(
    principal: Principal,
    decisions: list[Decision],
    *,
    inactive_days: int | str | None = None,
    note: str = "",
    now: datetime | None = None,
) -> AccessReview:
    """Record a review: its findings as of now and the decisions (access.review; a suspension
    also needs user.manage), suspending who was decided so. Audited `access_review.record`."""
    principal.require(Perm.ACCESS_REVIEW)
    if _suspends(decisions):  # permission first: before any input is looked at
        principal.require(Perm.USER_MANAGE)
    days = inactive_days_of(inactive_days)
    note = validation.text(note, "note", max_len=NOTE_MAX, required=False)
    chosen: list[tuple[User, str, str]] = []
    seen: set[int] = set()
    for d in decisions:
        word = str(d.decision or "").strip().lower()
        if word not in DECISIONS:
            raise Invalid(
                f"Decision {d.decision!r} for user {d.user_id} is not one of keep or suspend.",
                field="decisions",
            )
        user = await get_scoped(User, principal, parse_id("User", d.user_id), "User")
        if user.deleted_at is not None:
            raise Invalid(f"User {d.user_id} was deleted.", field="decisions")
        if user.id in seen:
            raise Invalid(
                f"User {user.id} ({user.name}) has two decisions; keep one.", field="decisions"
            )
        seen.add(user.id)
        why = validation.text(d.note, "note", max_len=NOTE_MAX, required=word == "suspend")
        chosen.append((user, word, why))
    if not chosen:
        raise Invalid(
            "Decide about at least one person (keep or suspend) before recording the review.",
            field="decisions",
        )
    moment = now or datetime.now(UTC)
    found = await _review(principal, days, moment)
    reviewer = "cli" if principal.user_id == 0 else (principal.name or f"user:{principal.user_id}")
    taken = [
        {"user_id": u.id, "name": u.name, "email": u.email, "decision": w, "note": why}
        for u, w, why in chosen
    ]
    async with in_transaction() as conn:
        for user, word, why in chosen:
            if word == "suspend":
                await users.suspend_user(principal, user.id, reason=f"Access review: {why}")
        row = await AccessReview.create(
            org_id=principal.org_id, reviewed_at=moment,
            reviewer_id=principal.user_id or None, reviewer=reviewer, inactive_days=days,
            findings=found.snapshot(), decisions=taken,
            kept=sum(1 for _, w, _ in chosen if w == "keep"),
            suspended=sum(1 for _, w, _ in chosen if w == "suspend"),
            note=note, using_db=conn,
        )  # fmt: skip
        await record(
            principal, conn, "access_review.record", "access_review", row.id,
            new={"inactive_days": days, "kept": row.kept, "suspended": row.suspended,
                 "decisions": [{"user_id": u.id, "decision": w, "note_chars": len(why)}
                               for u, w, why in chosen],
                 "note_chars": len(note)},
            risk=RiskLevel.HIGH if row.suspended else RiskLevel.MEDIUM,
        )  # fmt: skip
    return row


async def list_reviews(principal: Principal, *, limit: int = HISTORY_LIMIT) -> list[AccessReview]:
    """Recorded reviews, newest first (access.review)."""
    principal.require(Perm.ACCESS_REVIEW)
    return await (
        scoped(AccessReview, principal).order_by("-reviewed_at", "-id").limit(max(1, limit))
    )


async def get_review(principal: Principal, review_id: str | int) -> AccessReview:
    principal.require(Perm.ACCESS_REVIEW)
    return await get_scoped(AccessReview, principal, review_id, "Access review")
