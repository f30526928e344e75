"""Reading the audit trail: filtered, keyset-paginated listing, verification on demand and the
export for a SIEM. Each is a data access with its own audit event (`audit.verify`,
`audit.export`), whichever face asks."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from riskops.audit import store
from riskops.audit.chain import format_ts
from riskops.audit.export import export_events
from riskops.audit.models import AuditEvent
from riskops.audit.types import SYSTEM_ORG, Actor, Entry, RiskLevel
from riskops.audit.verify import Verification, verify_org
from riskops.server.core import validation
from riskops.server.core.audit_trail import access
from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped

MAX_PAGE = 200
MAX_SEQ = 2**63 - 1  # BIGINT


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    has_next: bool
    end_cursor: str | None


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"audit:{seq}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        kind, _, seq = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        value = int(seq)
        # A forged seq outside what we hand out must not reach the database (an overflowing
        # bigint is a driver error there, a negative one a silently empty page).
        if kind != "audit" or not 1 <= value <= MAX_SEQ:
            raise ValueError
        return value
    except (ValueError, UnicodeDecodeError):
        raise Invalid(
            "after: not a cursor returned by this API; pass a pageInfo.endCursor.", field="after"
        ) from None


async def list_events(
    principal: Principal, flt: AuditFilter, *, first: int = 50, after: str | None = None
) -> AuditPage:
    """Newest first. Cursors are keyset (seq), so new events never shift a page."""
    principal.require(Perm.AUDIT_READ)
    validation.page_size(first, MAX_PAGE)
    q = scoped(AuditEvent, principal)
    filters: dict[str, Any] = {}
    for name in ("actor", "action", "entity_type", "entity_id"):
        value = getattr(flt, name)
        if value:
            filters[name] = validation.text(value, name, max_len=120)
    if filters:
        q = q.filter(**filters)
    if flt.since:
        q = q.filter(ts__gte=format_ts(flt.since))
    if flt.until:
        q = q.filter(ts__lt=format_ts(flt.until))
    if after:
        q = q.filter(seq__lt=decode_cursor(after))
    rows = await q.order_by("-seq").limit(first + 1)
    has_next = len(rows) > first
    rows = rows[:first]
    return AuditPage(rows, has_next, encode_cursor(rows[-1].seq) if rows else None)


async def verify_chain(principal: Principal, key: bytes) -> Verification:
    principal.require(Perm.AUDIT_VERIFY)
    result = await verify_org(principal.org_id, key)
    detail = {"ok": result.ok, "head_seq": result.head_seq, "first_bad_seq": result.first_bad_seq}
    await access(principal, "audit.verify", "audit_chain", principal.org_id, detail=detail)
    return result


async def export_chain(
    principal: Principal,
    since: datetime | None,
    until: datetime | None,
    write: Callable[[str], object],
) -> int:
    """Write the organization's events (one JSON object per line, ARCHITECTURE's contract) in
    [since, until) to `write`; returns how many. The export is then recorded as the chain's next
    event: a copy of the whole trail leaving the platform (medium risk)."""
    principal.require(Perm.AUDIT_READ)
    return await _export(principal.org_id, principal.actor, since, until, write)


async def export_platform_chain(
    actor: Actor, since: datetime | None, until: datetime | None, write: Callable[[str], object]
) -> int:
    """The same for the platform chain (events of no organization): only an operator of the
    installation exports it (`riskops audit export --org 0`), so there is no principal."""
    return await _export(SYSTEM_ORG, actor, since, until, write)


async def _export(
    org_id: int,
    actor: Actor,
    since: datetime | None,
    until: datetime | None,
    write: Callable[[str], object],
) -> int:
    count = 0
    async for line in export_events(org_id, since, until):
        write(line)
        count += 1
    detail = {
        "since": format_ts(since) if since else None,
        "until": format_ts(until) if until else None,
        "events": count,
    }
    entry = Entry("audit.export", "audit_chain", org_id, {}, detail, RiskLevel.MEDIUM)
    await store.emit(actor, entry)  # recorded after the lines: the chain's next event
    return count


def values_of(event: AuditEvent) -> tuple[dict[str, Any], dict[str, Any]]:
    return json.loads(event.old_values), json.loads(event.new_values)
