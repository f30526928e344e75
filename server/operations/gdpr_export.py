"""What riskops holds about one subject, as one JSON document (GDPR article 15 and 20): for a
user, their account and its history (a suspension reason), sessions, tokens, teams, the alerts
and cases assigned to them, their notes, questions and assistant records, and the audit events
they caused or that are about them; for a customer, its alerts with their transactions, rule
hits, signals and history, the cases those alerts are in with their notes, the assistant records
about them, and the audit events about them. Reads only: `gdpr.export_subject` records and
audits the request.

Every query starts from a row of the organization (`scoped`) and reaches child rows by their
parent's ids, in chunks (a customer may have thousands of alerts)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q, Subquery
from tortoise.models import Model
from tortoise.queryset import QuerySet

from riskops.audit.models import AuditEvent
from riskops.server.assistant.models import AssistantResponse, TargetType
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.identity.models import ApiToken, Session, Team, UserEvent
from riskops.server.operations.gdpr_models import SubjectKind
from riskops.server.operations.gdpr_subjects import Found
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

FORMAT = "riskops-gdpr-export/1"
CHUNK = 2000  # ids per IN list: well under every backend's limit of bound parameters

T = TypeVar("T")
M = TypeVar("M", bound=Model)

USER_FIELDS = (
    "id", "email", "name", "roles", "status", "kind", "created_at", "last_login_at",
    "password_changed_at", "mfa_enabled", "sso_subject", "deleted_at",
)  # fmt: skip
USER_EVENT_FIELDS = ("action", "actor", "data", "at")
SESSION_FIELDS = ("created_at", "expires_at", "last_seen_at", "revoked_at", "ip", "user_agent")
TOKEN_FIELDS = (
    "id", "name", "prefix", "roles", "created_at", "expires_at", "revoked_at", "last_used_at",
    "last_ip", "last_user_agent",
)  # fmt: skip
ALERT_FIELDS = (
    "id", "external_id", "source", "title", "score", "priority", "status", "customer_ref",
    "account_ref", "amount", "currency", "created_at", "updated_at", "closed_at", "disposition",
    "assignee_id", "team_id",
)  # fmt: skip
CASE_FIELDS = (
    "id", "number", "title", "status", "severity", "root_cause", "opened_at", "resolved_at",
    "resolution_summary", "assignee_id", "opened_by_id", "requested_by_id", "approved_by_id",
)  # fmt: skip
NOTE_FIELDS = ("id", "case_id", "author_id", "body", "created_at")
EVENT_FIELDS = ("action", "actor", "from_status", "to_status", "data", "at")
INFO_FIELDS = (
    "id", "alert_id", "question", "asked_by_id", "answerer_id", "answer", "asked_at",
    "answered_at",
)  # fmt: skip
ASSISTANT_FIELDS = (
    "id", "kind", "target_type", "target_id", "requested_by_id", "status", "model", "output",
    "citations", "helpful", "feedback_comment", "feedback_by_id", "feedback_at", "created_at",
)  # fmt: skip
AUDIT_FIELDS = (
    "seq", "ts", "actor", "actor_type", "action", "entity_type", "entity_id", "ip",
    "user_agent", "risk_level", "old_values", "new_values", "request_id",
)  # fmt: skip


def plain(value: Any) -> Any:
    """A value as JSON can hold it: times in ISO 8601, amounts as text (exact), enums by value."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    return value


def row(obj: Model, names: Iterable[str]) -> dict[str, Any]:
    return {name: plain(getattr(obj, name)) for name in names}


def chunks(ids: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


async def by_ids(
    query: Callable[[list[Any]], QuerySet[M]], ids: Sequence[Any], conn: BaseDBAsyncClient
) -> list[M]:
    """Child rows whose parent key is one of `ids` (ids of rows read through `scoped`), in
    chunks: `query(part)` filters the child model on its parent key."""
    found: list[M] = []
    for part in chunks(ids):
        found.extend(await query(list(part)).using_db(conn).order_by("id"))
    return found


async def scoped_by_ids(
    model: type[M], principal: Principal, column: str, ids: Sequence[Any],
    conn: BaseDBAsyncClient, **more: Any,
) -> list[M]:  # fmt: skip
    found: list[M] = []
    for part in chunks(ids):
        q = scoped(model, principal).filter(**{f"{column}__in": list(part)}, **more)
        found.extend(await q.using_db(conn).order_by("id"))
    return found


def audit_row(e: AuditEvent) -> dict[str, Any]:
    out = row(e, AUDIT_FIELDS)
    out["old_values"] = _json_text(e.old_values)
    out["new_values"] = _json_text(e.new_values)
    return out


def _json_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


async def _audit_about(
    principal: Principal, conn: BaseDBAsyncClient, entity_type: str, ids: Sequence[int]
) -> list[AuditEvent]:
    return await scoped_by_ids(
        AuditEvent, principal, "entity_id", [str(i) for i in ids], conn, entity_type=entity_type
    )


async def customer_document(
    principal: Principal, found: Found, conn: BaseDBAsyncClient
) -> dict[str, Any]:
    ref = found.subject.value
    alerts = await scoped(Alert, principal).filter(customer_ref=ref).using_db(conn).order_by("id")
    alert_ids = [a.id for a in alerts]
    hits = await by_ids(lambda part: RuleHit.filter(alert_id__in=part), alert_ids, conn)
    signals = await by_ids(
        lambda part: SignalContribution.filter(alert_id__in=part), alert_ids, conn
    )
    history = await scoped_by_ids(AlertEvent, principal, "alert_id", alert_ids, conn)
    questions = await by_ids(lambda part: InfoRequest.filter(alert_id__in=part), alert_ids, conn)
    links = await by_ids(lambda part: CaseAlert.filter(alert_id__in=part), alert_ids, conn)
    case_ids = sorted({link.case_id for link in links})
    cases = await scoped_by_ids(Case, principal, "id", case_ids, conn)
    case_ids = [c.id for c in cases]  # only the organization's (links never cross, but read so)
    notes = await by_ids(lambda part: CaseNote.filter(case_id__in=part), case_ids, conn)
    case_history = await scoped_by_ids(CaseEvent, principal, "case_id", case_ids, conn)
    assistant = await scoped_by_ids(
        AssistantResponse, principal, "target_id", alert_ids, conn, target_type=TargetType.ALERT
    ) + await scoped_by_ids(
        AssistantResponse, principal, "target_id", case_ids, conn, target_type=TargetType.CASE
    )
    audit = await _audit_about(principal, conn, "alert", alert_ids) + await _audit_about(
        principal, conn, "case", case_ids
    )

    per_alert: dict[int, dict[str, list[Any]]] = {
        a: {"rule_hits": [], "signals": [], "history": [], "questions": []} for a in alert_ids
    }
    for h in hits:
        per_alert[h.alert_id]["rule_hits"].append(
            row(h, ("rule_id", "name", "version", "score_contribution", "matched_values"))
        )
    for s in signals:
        per_alert[s.alert_id]["signals"].append(
            row(s, ("signal", "value", "contribution", "direction"))
        )
    for ev in history:
        per_alert[ev.alert_id]["history"].append(row(ev, EVENT_FIELDS))
    for q in questions:
        per_alert[q.alert_id]["questions"].append(row(q, INFO_FIELDS))
    case_alerts: dict[int, list[int]] = {}
    for link in links:
        case_alerts.setdefault(link.case_id, []).append(link.alert_id)
    case_events: dict[int, list[dict[str, Any]]] = {}
    for cev in case_history:
        case_events.setdefault(cev.case_id, []).append(row(cev, EVENT_FIELDS))
    return {
        "alerts": [{**row(a, ALERT_FIELDS), **per_alert[a.id]} for a in alerts],
        "transactions": [
            {
                "alert_id": a.id,
                "amount": plain(a.amount),
                "currency": a.currency,
                "transaction": a.transaction,
            }
            for a in alerts
        ],
        "cases": [
            {
                **row(c, CASE_FIELDS),
                "alert_ids": case_alerts.get(c.id, []),
                "history": case_events.get(c.id, []),
            }
            for c in cases
        ],
        "notes": [row(n, NOTE_FIELDS) for n in notes],
        "assistant_records": [row(r, ASSISTANT_FIELDS) for r in assistant],
        "audit_events": [audit_row(e) for e in sorted(audit, key=lambda e: e.seq)],
    }


async def user_document(
    principal: Principal, found: Found, conn: BaseDBAsyncClient
) -> dict[str, Any]:
    user = found.user
    assert user is not None
    uid = user.id
    sessions = await scoped(Session, principal).filter(user_id=uid).using_db(conn).order_by("id")
    tokens = await scoped(ApiToken, principal).filter(user_id=uid).using_db(conn).order_by("id")
    teams = await scoped(Team, principal).filter(members__id=uid).using_db(conn).order_by("id")
    alerts = await scoped(Alert, principal).filter(assignee_id=uid).using_db(conn).order_by("id")
    involved = (
        Q(assignee_id=uid) | Q(opened_by_id=uid) | Q(requested_by_id=uid) | Q(approved_by_id=uid)
    )
    cases = await scoped(Case, principal).filter(involved).using_db(conn).order_by("id")
    org_cases = Subquery(scoped(Case, principal).values("id"))
    notes = (
        await CaseNote.filter(case_id__in=org_cases, author_id=uid).using_db(conn).order_by("id")
    )
    org_alerts = Subquery(scoped(Alert, principal).values("id"))
    questions = (
        await InfoRequest.filter(Q(asked_by_id=uid) | Q(answerer_id=uid), alert_id__in=org_alerts)
        .using_db(conn)
        .order_by("id")
    )
    assistant = (
        await scoped(AssistantResponse, principal)
        .filter(Q(requested_by_id=uid) | Q(feedback_by_id=uid))
        .using_db(conn)
        .order_by("id")
    )
    history = (
        await scoped(UserEvent, principal).filter(user_id=uid).using_db(conn).order_by("at", "id")
    )
    actor = f"user:{uid}"
    audit = {
        e.seq: e
        for e in [
            *await scoped(AuditEvent, principal).filter(actor=actor).using_db(conn),
            *await scoped(AuditEvent, principal)
            .filter(entity_type="user", entity_id=str(uid))
            .using_db(conn),
        ]
    }
    return {
        "user": row(user, USER_FIELDS),
        "sessions": [row(s, SESSION_FIELDS) for s in sessions],
        "api_tokens": [row(t, TOKEN_FIELDS) for t in tokens],
        "teams": [{"id": t.id, "name": t.name} for t in teams],
        "account_history": [row(e, USER_EVENT_FIELDS) for e in history],
        "alerts": [row(a, ALERT_FIELDS) for a in alerts],
        "transactions": [],  # a user's own transactions are not held: alerts are customers'
        "cases": [row(c, CASE_FIELDS) for c in cases],
        "notes": [row(n, NOTE_FIELDS) for n in notes],
        "questions": [row(q, INFO_FIELDS) for q in questions],
        "assistant_records": [row(r, ASSISTANT_FIELDS) for r in assistant],
        "audit_events": [audit_row(audit[s]) for s in sorted(audit)],
    }


async def document(principal: Principal, found: Found, conn: BaseDBAsyncClient) -> dict[str, Any]:
    """Everything held about the subject (without the envelope `gdpr.export_subject` adds)."""
    if found.subject.kind is SubjectKind.USER:
        return await user_document(principal, found, conn)
    return await customer_document(principal, found, conn)


def counts(doc: dict[str, Any]) -> dict[str, int]:
    """How many of each kind of record a document holds: the request's summary."""
    return {k: len(v) for k, v in doc.items() if isinstance(v, list)} | (
        {"user": 1} if doc.get("user") else {}
    )
