"""Erasure (GDPR article 17) as pseudonymization: every place riskops holds the subject gets a
pseudonym instead, so alerts, cases and their statistics stay whole while nobody can tell who
they were about. Runs inside the approving transaction (`gdpr.approve_erasure`).

The audit chain is never rewritten: its events name people by `user:<id>` and alerts and cases
by id, and never carry an e-mail, a name, a customer reference or free text (docs/AUDIT.md,
"Personal data in the audit trail"). Only the rows those ids point at change.

- A user: the name and e-mail become the pseudonym, the SSO link and password go, the account
  is suspended and marked deleted; their sessions, MFA factor, recovery codes and one-time links
  are deleted, their tokens revoked (without their last IP and browser), their failed logins
  forgotten; the free text of their account's history (`user_event`: a suspension reason)
  becomes "(erased)", and so does the note of an access-review decision about them; their name
  and e-mail in case notes, questions, assistant answers and recorded access reviews of the
  organization are replaced.
- A customer: on each of its alerts the customer and account references, and every value of
  the transaction and rule hits whose key says it is a person's (e-mail, phone, IBAN, card,
  account, customer, name: the assistant's redaction rules), become pseudonyms, wherever they
  appear in the alert, its history, signals and questions, the cases it is in (title, summary,
  notes, history) and the assistant records about those alerts and cases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q, Subquery

from riskops.server.assistant.models import AssistantResponse, TargetType
from riskops.server.assistant.redaction import known_in
from riskops.server.core.errors import Conflict
from riskops.server.core.permissions import Role
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.identity.models import (
    ApiToken,
    LoginFailure,
    MfaFactor,
    OneTimeLink,
    RecoveryCode,
    Session,
    User,
    UserEvent,
    UserKind,
    UserStatus,
)
from riskops.server.operations.gdpr_export import by_ids, scoped_by_ids
from riskops.server.operations.gdpr_models import SubjectKind
from riskops.server.operations.gdpr_subjects import Found
from riskops.server.operations.review_models import AccessReview
from riskops.server.triage.models import (
    Alert,
    AlertEvent,
    Case,
    CaseAlert,
    CaseEvent,
    CaseNote,
    InfoRequest,
    RuleHit,
    SignalContribution,
)

ERASED_DOMAIN = "erased.invalid"  # never a mailbox
ERASED_TEXT = "(erased)"  # free text about an erased person, whatever it said
MIN_INSIDE = 3  # shorter known values are replaced only where they are a whole value


@dataclass
class Replacer:
    """Known personal values and the pseudonym of each: replaces a value that IS one of them,
    and each of them (3 characters or more, case-insensitively, not inside a longer word)
    inside longer text."""

    values: dict[str, str] = field(default_factory=dict)  # lower-cased value -> pseudonym
    _pattern: re.Pattern[str] | None = None

    def add(self, value: str, pseudonym: str) -> None:
        key = value.strip().lower()
        if key and key not in self.values:
            self.values[key] = pseudonym
            self._pattern = None

    def _regex(self) -> re.Pattern[str] | None:
        if self._pattern is None:
            inside = sorted((v for v in self.values if len(v) >= MIN_INSIDE), key=len, reverse=True)
            if not inside:
                return None
            alternatives = "|".join(re.escape(v) for v in inside)
            self._pattern = re.compile(rf"(?<![\w.@-])(?:{alternatives})(?![\w@]|\.\w)", re.I)
        return self._pattern

    def text(self, value: str | None) -> str | None:
        if not value:
            return value
        whole = self.values.get(value.strip().lower())
        if whole is not None:
            return whole
        pattern = self._regex()
        if pattern is None:
            return value
        return pattern.sub(lambda m: self.values[m.group(0).lower()], value)

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.json(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.json(v) for v in value]
        if isinstance(value, int | float) and not isinstance(value, bool):
            # a phone or card number held as a number
            whole = self.values.get(str(value))
            return whole if whole is not None else value
        return value


@dataclass
class Tally:
    """What an erasure changed, by kind of record: the request's summary."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, n: int) -> None:
        if n:
            self.counts[kind] = self.counts.get(kind, 0) + n


async def _rewrite(rows: list[Any], names: tuple[str, ...], rep: Replacer,
                   conn: BaseDBAsyncClient) -> int:  # fmt: skip
    """Apply `rep` to the text or JSON fields `names` of `rows`; save the changed ones."""
    changed = 0
    for r in rows:
        dirty = []
        for name in names:
            old = getattr(r, name)
            new = rep.json(old) if not isinstance(old, str) else rep.text(old)
            if new != old:
                setattr(r, name, new)
                dirty.append(name)
        if dirty:
            await r.save(using_db=conn, update_fields=dirty)
            changed += 1
    return changed


async def _save_alerts(alerts: list[Alert], org_id: int, conn: BaseDBAsyncClient) -> None:
    """One statement sent for all rows (executemany, pipelined on PostgreSQL): a save per alert
    costs a round trip each, 1.8 s for a customer with 1,000 alerts (bench_gdpr). The rows were
    read through `scoped`; the organization is in the WHERE clause all the same."""
    if not alerts:
        return
    pg = conn.capabilities.dialect == "postgres"
    m = [f"${i}" if pg else "?" for i in range(1, 7)]
    sql = (
        f"UPDATE alert SET customer_ref = {m[0]}, account_ref = {m[1]}, title = {m[2]}, "
        f'"transaction" = {m[3]} WHERE id = {m[4]} AND org_id = {m[5]}'
    )
    await conn.execute_many(
        sql,
        [
            [a.customer_ref, a.account_ref, a.title, json.dumps(a.transaction), a.id, org_id]
            for a in alerts
        ],
    )


async def erase_customer(
    principal: Principal, found: Found, pseudonym: str, conn: BaseDBAsyncClient
) -> dict[str, int]:
    ref = found.subject.value
    tally = Tally()
    rep = Replacer()
    rep.add(ref, pseudonym)
    alerts = await scoped(Alert, principal).filter(customer_ref=ref).using_db(conn).order_by("id")
    ids = [a.id for a in alerts]
    hits = await by_ids(lambda part: RuleHit.filter(alert_id__in=part), ids, conn)

    # The values the structured data says are the customer's, each with a pseudonym of its kind.
    known: dict[str, str] = {}
    accounts = sorted({a.account_ref for a in alerts if a.account_ref})
    for a in alerts:
        known_in(a.transaction, known)
    for h in hits:
        known_in(h.matched_values, known)
    for n, account in enumerate(accounts, 1):
        rep.add(account, f"{pseudonym}-ACCOUNT{n}")
    numbered: dict[str, int] = {}
    for value, kind in sorted(known.items()):
        if value.strip().lower() not in rep.values:
            numbered[kind] = numbered.get(kind, 0) + 1
            rep.add(value, f"{pseudonym}-{kind}{numbered[kind]}")

    for a in alerts:
        a.customer_ref = pseudonym
        a.account_ref = rep.text(a.account_ref)
        a.title = rep.text(a.title) or a.title
        a.transaction = rep.json(a.transaction)
    await _save_alerts(alerts, principal.org_id, conn)
    tally.add("alerts", len(alerts))
    tally.add("rule_hits", await _rewrite(hits, ("matched_values",), rep, conn))
    signals = await by_ids(lambda part: SignalContribution.filter(alert_id__in=part), ids, conn)
    tally.add("signals", await _rewrite(signals, ("value",), rep, conn))
    history = await scoped_by_ids(AlertEvent, principal, "alert_id", ids, conn)
    tally.add("alert_history", await _rewrite(history, ("data",), rep, conn))
    questions = await by_ids(lambda part: InfoRequest.filter(alert_id__in=part), ids, conn)
    tally.add("questions", await _rewrite(questions, ("question", "answer"), rep, conn))

    links = await by_ids(lambda part: CaseAlert.filter(alert_id__in=part), ids, conn)
    cases = await scoped_by_ids(Case, principal, "id", sorted({x.case_id for x in links}), conn)
    case_ids = [c.id for c in cases]
    tally.add("cases", await _rewrite(cases, ("title", "resolution_summary"), rep, conn))
    notes = await by_ids(lambda part: CaseNote.filter(case_id__in=part), case_ids, conn)
    tally.add("notes", await _rewrite(notes, ("body",), rep, conn))
    case_history = await scoped_by_ids(CaseEvent, principal, "case_id", case_ids, conn)
    tally.add("case_history", await _rewrite(case_history, ("data",), rep, conn))
    assistant = await scoped_by_ids(
        AssistantResponse, principal, "target_id", ids, conn, target_type=TargetType.ALERT
    ) + await scoped_by_ids(
        AssistantResponse, principal, "target_id", case_ids, conn, target_type=TargetType.CASE
    )
    tally.add(
        "assistant_records",
        await _rewrite(
            assistant, ("output", "prompt_redacted", "feedback_comment", "reason"), rep, conn
        ),
    )
    return tally.counts


async def _not_the_last_admin(principal: Principal, user: User, conn: BaseDBAsyncClient) -> None:
    """Erasing suspends the account: never the organization's last active admin (nobody would
    be left to manage it), the rule user administration follows too."""
    if Role.ADMIN.value not in (user.roles or []) or user.status != UserStatus.ACTIVE:
        return
    others = (
        await scoped(User, principal)
        .filter(status=UserStatus.ACTIVE, deleted_at=None, kind=UserKind.PERSON)
        .exclude(id=user.id)
        .using_db(conn)
        .values_list("roles", flat=True)
    )
    if not any(Role.ADMIN.value in (r or []) for r in others):
        raise Conflict(
            f"{user.email} is the last active admin of the organization: make another person "
            "admin first, then approve the erasure.",
            field="request_id",
        )


async def erase_user(
    principal: Principal, found: Found, pseudonym: str, conn: BaseDBAsyncClient
) -> dict[str, int]:
    user = found.user
    assert user is not None
    tally = Tally()
    rep = Replacer()
    erased_email = f"{pseudonym.lower()}@{ERASED_DOMAIN}"
    erased_name = f"Erased person {pseudonym}"
    rep.add(user.email, erased_email)
    rep.add(user.name, erased_name)
    old_email = user.email
    now = datetime.now(UTC)
    await _not_the_last_admin(principal, user, conn)

    user.email, user.name = erased_email, erased_name
    user.sso_subject = None
    user.password_hash = None
    user.mfa_enabled = False
    user.status = UserStatus.SUSPENDED
    user.deleted_at = user.deleted_at or now
    user.version += 1
    await user.save(using_db=conn, update_fields=[
        "email", "name", "sso_subject", "password_hash", "mfa_enabled", "status", "deleted_at",
        "version",
    ])  # fmt: skip
    tally.add("users", 1)
    uid = user.id
    tally.add(
        "sessions", await scoped(Session, principal).filter(user_id=uid).using_db(conn).delete()
    )
    tokens = scoped(ApiToken, principal).filter(user_id=uid).using_db(conn)
    await tokens.filter(revoked_at=None).update(revoked_at=now)
    tally.add("api_tokens", await tokens.update(last_ip=None, last_user_agent=None))
    tally.add("mfa", await MfaFactor.filter(user_id=uid).using_db(conn).delete())
    tally.add("recovery_codes", await RecoveryCode.filter(user_id=uid).using_db(conn).delete())
    tally.add(
        "one_time_links",
        await scoped(OneTimeLink, principal).filter(user_id=uid).using_db(conn).delete(),
    )
    # Failed logins are kept by account (the typed e-mail) for rate limiting, across orgs.
    tally.add("failed_logins", await LoginFailure.filter(account=old_email).using_db(conn).delete())

    # Their account's history: the free text in it (a suspension reason) is about them, all
    # of it goes, whatever it says; the facts (action, who, when) stay.
    history = await scoped(UserEvent, principal).filter(user_id=uid).using_db(conn)
    for e in history:
        e.data = {k: (ERASED_TEXT if isinstance(v, str) and v else v)
                  for k, v in (e.data or {}).items()}  # fmt: skip
        await e.save(using_db=conn, update_fields=["data"])
    tally.add("user_history", len(history))
    # Recorded access reviews: the decision about them (its note, their name and e-mail) and
    # the findings snapshot. A decision always names the person, so its row is saved.
    reviews = await scoped(AccessReview, principal).using_db(conn)
    for r in reviews:
        r.decisions = [
            {**d, "note": ERASED_TEXT} if d.get("user_id") == uid and d.get("note") else d
            for d in r.decisions or []
        ]
    tally.add(
        "access_reviews", await _rewrite(reviews, ("decisions", "findings", "note"), rep, conn)
    )

    # Their name or e-mail written in text of the organization.
    mentions = Q(body__icontains=user.name) | Q(body__icontains=old_email)
    org_cases = Subquery(scoped(Case, principal).values("id"))
    notes = await CaseNote.filter(mentions, case_id__in=org_cases).using_db(conn)
    tally.add("notes", await _rewrite(notes, ("body",), rep, conn))
    org_alerts = Subquery(scoped(Alert, principal).values("id"))
    asked = Q(question__icontains=user.name) | Q(question__icontains=old_email)
    answered = Q(answer__icontains=user.name) | Q(answer__icontains=old_email)
    questions = await InfoRequest.filter(asked | answered, alert_id__in=org_alerts).using_db(conn)
    tally.add("questions", await _rewrite(questions, ("question", "answer"), rep, conn))
    said = (
        Q(output__icontains=user.name)
        | Q(output__icontains=old_email)
        | Q(feedback_comment__icontains=user.name)
    )
    answers = await scoped(AssistantResponse, principal).filter(said).using_db(conn)
    tally.add(
        "assistant_records",
        await _rewrite(answers, ("output", "prompt_redacted", "feedback_comment"), rep, conn),
    )
    return tally.counts


async def erase(
    principal: Principal, found: Found, pseudonym: str, conn: BaseDBAsyncClient
) -> dict[str, int]:
    if found.subject.kind is SubjectKind.USER:
        return await erase_user(principal, found, pseudonym, conn)
    return await erase_customer(principal, found, pseudonym, conn)
