"""`riskops.audit.store.append_many` (the escalation pass audits thousands of escalations at
once) writes the same chain as `append`: each event's hash is `chain.event_hash` of the event as
`append` would build it, and the organization's chain verifies."""

from __future__ import annotations

import itertools

from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.chain import event_hash
from riskops.audit.models import AuditEvent
from riskops.audit.types import Actor, Entry, RiskLevel
from riskops.audit.verify import verify_org
from riskops.server.settings import get_settings


async def test_append_many_hashes_like_append(tenant) -> None:
    actor = Actor(org_id=tenant.org_id, actor="scheduler", actor_type="system",
                  user_agent='odd "agent" {x} é')  # fmt: skip
    entries = [
        Entry("response.escalate", "case", i, {"level": i}, {"level": i + 1, "runs": ["R-1"],
              "note": "ünïcode ✓", "pagerduty": i % 2 == 0, "x": None}, RiskLevel.HIGH)
        for i in range(5)
    ]  # fmt: skip
    async with in_transaction() as conn:
        await store.append(actor, Entry("before", "x", 1, {}, {}), conn)
        assert await store.append_many(actor, entries, conn) == 5
        await store.append(actor, Entry("after", "x", 2, {}, {}), conn)
    rows = await AuditEvent.filter(org_id=tenant.org_id, actor="scheduler").order_by("seq")
    assert [r.action for r in rows] == ["before"] + ["response.escalate"] * 5 + ["after"]
    for prev, row in itertools.pairwise(rows):
        assert row.prev_hash == prev.hash and row.seq == prev.seq + 1
    import json

    for row in rows:
        event = {
            "org": row.org_id, "seq": row.seq, "ts": row.ts, "actor": row.actor,
            "actor_type": row.actor_type, "action": row.action, "entity_type": row.entity_type,
            "entity_id": row.entity_id, "ip": row.ip, "user_agent": row.user_agent,
            "risk_level": row.risk_level, "old_values": json.loads(row.old_values),
            "new_values": json.loads(row.new_values), "request_id": row.request_id,
            "prev_hash": row.prev_hash,
        }  # fmt: skip
        assert event_hash(event) == row.hash
    result = await verify_org(tenant.org_id, get_settings().key)
    assert result.ok, result.describe()
