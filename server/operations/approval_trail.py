"""The approval trail (issue 14, seed 002's monthly "audit the approval trail"): every request
that needs a second person and its decision, read from the audit chain with names instead of
actor references. Readable with audit.approvals (approvers, reviewers, admins), which is not
audit.read: the rest of the trail stays with the auditors.

Requests and decisions of one thing share its entity (`entity_type`, `entity_id`): a decision
names who asked by the latest request event of the same entity before it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from riskops.audit.chain import format_ts
from riskops.audit.models import AuditEvent
from riskops.server.core import validation
from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.identity.users import actor_label, actor_labels
from riskops.server.operations.audit_log import MAX_PAGE, decode_cursor, encode_cursor


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    requests: tuple[str, ...]
    decisions: dict[str, str]  # action -> decision word


KINDS: tuple[Kind, ...] = (
    Kind("case_resolution", "Case resolution", ("case.request_resolution",),
         {"case.approve_resolution": "approved", "case.reject_resolution": "rejected"}),
    Kind("rerun", "Rerun", ("rerun.request",),
         {"rerun.approve": "approved", "rerun.deny": "denied"}),
    Kind("quarantine", "Quarantine release", (), {"run.release": "released"}),
    Kind("baseline", "Baseline change", ("baseline.propose",),
         {"baseline.approve": "approved", "baseline.reject": "rejected"}),
    Kind("policy", "Policy change", ("policy.propose",),
         {"policy.change": "approved", "policy.reject": "rejected"}),
    Kind("view_promotion", "View promotion", ("view.promotion_requested",),
         {"view.promotion_reviewed": "reviewed", "view.promotion_declined": "declined",
          "view.promotion_withdrawn": "withdrawn"}),
    Kind("gdpr_erasure", "GDPR erasure", ("gdpr.erase_request",),
         {"gdpr.erase_approve": "approved", "gdpr.erase_reject": "rejected"}),
)  # fmt: skip
KIND_BY_KEY = {k.key: k for k in KINDS}
_KIND_OF_ACTION = {a: k for k in KINDS for a in (*k.requests, *k.decisions)}
REQUESTS = frozenset(a for k in KINDS for a in k.requests)


@dataclass(frozen=True)
class TrailFilter:
    kind: str | None = None  # a KINDS key
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class TrailEntry:
    seq: int
    ts: str
    kind: str  # a KINDS key
    kind_label: str
    action: str
    entity_type: str
    entity_id: str
    step: str  # "requested", or the decision ("approved", "rejected", ...)
    actor: str  # who acted in this event, by name
    requested_by: str | None  # for a decision: who asked (None when no request is recorded)
    reason: str | None  # a decision's reason when the event carries one


@dataclass(frozen=True)
class TrailPage:
    entries: list[TrailEntry]
    has_next: bool
    end_cursor: str | None


def _kind(raw: str | None) -> Kind | None:
    if not raw:
        return None
    key = validation.text(raw, "kind", max_len=40)
    kind = KIND_BY_KEY.get(key)
    if kind is None:
        raise Invalid(
            f"Kind: {key!r} is not a kind of approval; choose one of "
            f"{', '.join(k.key for k in KINDS)}.",
            field="kind",
        )
    return kind


async def list_trail(
    principal: Principal, flt: TrailFilter, *, first: int = 50, after: str | None = None
) -> TrailPage:
    """Newest first, keyset-paged on the chain's seq like `audit_log.list_events`."""
    principal.require(Perm.AUDIT_APPROVALS)
    validation.page_size(first, MAX_PAGE)
    kind = _kind(flt.kind)
    if flt.since and flt.until and flt.since >= flt.until:
        raise Invalid("Until must be after since.", field="until")
    actions = sorted((*kind.requests, *kind.decisions) if kind else _KIND_OF_ACTION)
    q = scoped(AuditEvent, principal).filter(action__in=actions)
    if flt.since:
        q = q.filter(ts__gte=format_ts(flt.since))
    if flt.until:
        q = q.filter(ts__lt=format_ts(flt.until))
    if after:
        q = q.filter(seq__lt=decode_cursor(after))
    rows = await q.order_by("-seq").limit(first + 1)
    has_next = len(rows) > first
    rows = rows[:first]
    askers = await _askers(principal, [r for r in rows if r.action not in REQUESTS])
    labels = await actor_labels(
        principal.org_id, [r.actor for r in rows] + [a for a in askers.values() if a]
    )
    entries = [_entry(r, askers, labels) for r in rows]
    return TrailPage(entries, has_next, encode_cursor(rows[-1].seq) if rows else None)


async def _askers(principal: Principal, decisions: list[AuditEvent]) -> dict[int, str | None]:
    """For each decision (by seq), the actor of the latest request of its entity before it, in
    one query."""
    if not decisions:
        return {}
    ids = sorted({d.entity_id for d in decisions})
    requests = (
        await scoped(AuditEvent, principal)
        .filter(action__in=sorted(REQUESTS), entity_id__in=ids)
        .order_by("seq")
        .values_list("seq", "entity_type", "entity_id", "actor")
    )
    out: dict[int, str | None] = {}
    for d in decisions:
        asker = None
        for seq, etype, eid, actor in requests:
            if seq < d.seq and (etype, eid) == (d.entity_type, d.entity_id):
                asker = actor
        out[d.seq] = asker
    return out


def _reason(new: dict[str, Any]) -> str | None:
    for key in ("reason", "rationale", "decision_reason"):
        value = new.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _entry(row: AuditEvent, askers: dict[int, str | None], labels: dict[str, str]) -> TrailEntry:
    kind = _KIND_OF_ACTION[row.action]
    new = json.loads(row.new_values or "{}")
    if row.action in REQUESTS:
        step, asked = "requested", None
    else:
        step = kind.decisions[row.action]
        if row.action == "view.promotion_reviewed" and isinstance(new.get("decision"), str):
            step = str(new["decision"]).lower()
        ref = askers.get(row.seq)
        asked = actor_label(labels, ref) if ref else None
    return TrailEntry(
        seq=row.seq,
        ts=row.ts,
        kind=kind.key,
        kind_label=kind.label,
        action=row.action,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        step=step,
        actor=actor_label(labels, row.actor),
        requested_by=asked,
        reason=_reason(new),
    )
