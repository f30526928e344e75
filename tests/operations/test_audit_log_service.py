"""The audit-log service's export: who may take the trail out, and that it says so in the chain."""

from __future__ import annotations

import json

import pytest

from riskops.audit.models import AuditEvent
from riskops.audit.store import flush_spool
from riskops.server.core.errors import Forbidden
from riskops.server.operations import audit_log


async def test_the_export_is_for_audit_readers_and_is_itself_recorded(tenant):
    _, viewer = await tenant.user("viewer")  # may verify the chain, not read it
    before = await AuditEvent.filter(org_id=tenant.org_id).count()
    lines: list[str] = []
    with pytest.raises(Forbidden, match=r"audit\.read"):
        await audit_log.export_chain(viewer, None, None, lines.append)
    assert lines == [] and await AuditEvent.filter(org_id=tenant.org_id).count() == before

    count = await audit_log.export_chain(tenant.admin, None, None, lines.append)
    await flush_spool()
    assert count == len(lines) == before
    assert [json.loads(x)["seq"] for x in lines] == list(range(1, before + 1))
    last = await AuditEvent.filter(org_id=tenant.org_id).order_by("-seq").first()
    assert last is not None and last.action == "audit.export" and last.risk_level == "medium"
    assert json.loads(last.new_values) == {"since": None, "until": None, "events": before}
