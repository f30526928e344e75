"""The backup age /health and `riskops status` watch (`backups.backup_state`), and the read-only
faces of backups: GraphQL `backups` / `restoreDrills` and the admin page, for ops.read only.

Backups are installation-wide rows: each test removes the ones it adds, so /health stays ok for
the other tests of the session."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from riskops.server.core.errors import Forbidden, Invalid
from riskops.server.identity.models import Organization
from riskops.server.operations import backups
from riskops.server.operations.models import BackupBackend, BackupRecord, RestoreRecord


@pytest_asyncio.fixture
async def records(db: Any) -> AsyncIterator[list[Any]]:
    """Rows a test adds; deleted after it, whatever happened."""
    made: list[Any] = []
    yield made
    for row in made:
        await row.delete()


async def backup(records: list[Any], hours_ago: float, **kw: Any) -> BackupRecord:
    taken = datetime.now(UTC) - timedelta(hours=hours_ago)
    fields: dict[str, Any] = {
        "created_at": taken, "path": f"/backups/riskops-backup-{hours_ago}.tar",
        "backend": BackupBackend.SQLITE, "schema_version": "0024_sync", "size_bytes": 2_500_000,
        "sha256": "ab" * 32, "created_by": "cli:ops@host", "verified_at": taken,
    }  # fmt: skip
    fields.update(kw)
    row = await BackupRecord.create(**fields)
    records.append(row)
    return row


async def test_a_recent_verified_backup_is_ok_with_its_age(db, tenant, records):
    await backup(records, 2)
    await backup(records, 1, verified_at=None, verify_error="member x does not match")
    state = await backups.backup_state(db.settings)
    assert state["ok"] is True
    assert 1.9 < state["age_hours"] < 2.1  # the newest VERIFIED one, not the failed one
    assert state["max_age_hours"] == db.settings.backup_max_age_hours


async def test_an_old_backup_degrades_health_with_the_reason(db, client, records):
    await backup(records, db.settings.backup_max_age_hours + 5)
    state = await backups.backup_state(db.settings)
    assert state["ok"] is False and "h old (limit" in state["detail"]
    r = await client.get("/health")
    assert r.status_code == 503
    assert r.json()["backups"]["ok"] is False
    assert r.json()["database"]["ok"] is True
    unwatched = db.settings.model_copy(update={"backup_max_age_hours": 0})
    assert (await backups.backup_state(unwatched))["ok"] is True


async def test_removed_backups_do_not_count(db, records):
    await backup(records, 1, deleted_at=datetime.now(UTC))
    assert await backups.last_verified_backup() is None


async def test_no_backup_yet_is_ok_until_the_data_is_older_than_the_limit(db, tenant, client):
    state = await backups.backup_state(db.settings)
    assert state["ok"] is True and state["detail"] == "no backup yet"
    assert (await client.get("/health")).status_code == 200
    org = await Organization.get(id=tenant.org_id)
    created = org.created_at
    try:
        old = datetime.now(UTC) - timedelta(hours=db.settings.backup_max_age_hours + 1)
        await Organization.filter(id=org.id).update(created_at=old)
        state = await backups.backup_state(db.settings)
        assert state["ok"] is False and "no verified backup yet" in state["detail"]
        assert (await client.get("/health")).json()["backups"]["ok"] is False
    finally:
        await Organization.filter(id=org.id).update(created_at=created)


# ----------------------------------------------------------------------------- the faces


@pytest.mark.parametrize("role", ["viewer", "operator", "approver", "compliance", "strategist"])
async def test_only_ops_read_lists_backups(tenant, role):
    _, someone = await tenant.user(role)
    with pytest.raises(Forbidden, match=r"ops\.read"):
        await backups.list_backups(someone)
    with pytest.raises(Forbidden, match=r"ops\.read"):
        await backups.list_restore_drills(someone)


async def test_a_bad_page_size_says_so_after_the_permission(tenant):
    _, viewer = await tenant.user("viewer")
    with pytest.raises(Forbidden):
        await backups.list_backups(viewer, first=0)
    with pytest.raises(Invalid, match="first"):
        await backups.list_backups(tenant.admin, first=0)
    with pytest.raises(Invalid, match="first"):
        await backups.list_restore_drills(tenant.admin, first=10_000)


async def test_graphql_lists_backups_and_drills_for_admins(db, tenant, api, records):
    row = await backup(records, 3)
    now = datetime.now(UTC)
    drill = await RestoreRecord.create(
        backup_sha256="cd" * 32, archive="/backups/x.tar", started_at=now, finished_at=now,
        ok=True, detail="row counts: 51 tables compared", created_by="cli:ops@host",
    )  # fmt: skip
    records.append(drill)
    secret = await api.token(tenant, tenant.admin_user)
    data = await api.data(
        secret,
        "{ backups(first: 5) { id backend sizeBytes verifiedAt verifyError createdBy archive } "
        "restoreDrills { id ok detail } }",
    )
    assert data["backups"][0]["id"] == str(row.id)
    assert data["backups"][0]["backend"] == "sqlite"
    assert data["backups"][0]["sizeBytes"] == 2_500_000
    assert data["restoreDrills"][0] == {"id": str(drill.id), "ok": True,
                                        "detail": "row counts: 51 tables compared"}  # fmt: skip
    viewer, _ = await tenant.user("viewer")
    refused = await api.gql(await api.token(tenant, viewer), "{ backups { id } }")
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_page_shows_archives_state_and_commands(db, tenant, browser, records):
    await backup(records, 3)
    await backup(records, 4, verified_at=None, verify_error="member files/x does not match")
    b = await browser(tenant.admin_user, tenant.password)
    r = await b.get("/admin/backups")
    assert r.status_code == 200, r.text
    html = r.text
    assert 'href="/admin/backups"' in html  # in the admin navigation
    assert "verified" in html and "member files/x does not match" in html
    assert "2.4 MB" in html
    assert "riskops backup create --output-dir" in html
    assert "riskops backup restore" in html
    viewer, _ = await tenant.user("viewer")
    v = await browser(viewer, tenant.password)
    r = await v.get("/admin/backups")
    assert r.status_code == 403
    assert 'href="/admin/backups"' not in r.text


def test_the_postgres_tools_get_the_password_in_their_environment_not_argv():
    from riskops.server.operations.backup_archive import _tool_url

    url, env = _tool_url("postgres://ops:s%40cret@db.internal:5432/riskops?minsize=1")
    assert url == "postgresql://ops@db.internal:5432/riskops"
    assert env["PGPASSWORD"] == "s@cret"
    url, env = _tool_url("postgres://ops@db.internal/riskops")
    assert url == "postgresql://ops@db.internal/riskops"


# ----------------------------------------------------------------------------- whose records


async def test_backups_are_the_same_for_every_organizations_admin(tenant, other_tenant, records):
    """A backup holds every organization (docs/BACKUPS.md), so each organization's admin sees
    every backup record: none of them is another organization's."""
    row = await backup(records, 3)
    mine = [r.id for r in await backups.list_backups(tenant.admin)]
    theirs = [r.id for r in await backups.list_backups(other_tenant.admin)]
    assert row.id in mine and mine == theirs


def chain_detail(*org_ids: int) -> str:
    return "\n".join(
        ["restored riskops-backup-x.tar (0024_sync, 2 file(s))", "row counts: 51 tables compared",
         "audit chains: 3 verified"]
        + [f"org {o}: BROKEN at seq 4: hash mismatch (event {o}04)" for o in org_ids]
    )  # fmt: skip


async def test_a_restores_chain_findings_show_each_organization_its_own(
    db, tenant, other_tenant, api, browser, records, tmp_path
):
    """A failed restore names the broken chains: the operator on the machine reads all of them;
    an organization's admin reads its own chain's and the platform's (org 0), on the page, in
    GraphQL and in the evidence export, never another organization's."""
    from riskops.server.operations import evidence

    now = datetime.now(UTC)
    drill = await RestoreRecord.create(
        backup_sha256="cd" * 32, archive="/backups/x.tar", started_at=now, finished_at=now,
        ok=False, detail=chain_detail(0, tenant.org_id, other_tenant.org_id),
        created_by="cli:ops@host",
    )  # fmt: skip
    records.append(drill)
    mine, theirs = f"org {tenant.org_id}: BROKEN", f"org {other_tenant.org_id}: BROKEN"
    left_out = ("1 finding(s) about other organizations' audit chains are not shown here: the "
                "restore's output on the machine has them.")  # fmt: skip
    [on_machine] = [d for d in await backups.list_restore_drills(None) if d.id == drill.id]
    assert on_machine.detail == drill.detail  # everything
    [seen] = [d for d in await backups.list_restore_drills(tenant.admin) if d.id == drill.id]
    assert seen.detail == chain_detail(0, tenant.org_id) + "\n" + left_out
    assert (await RestoreRecord.get(id=drill.id)).detail == drill.detail  # nothing saved
    [other] = [d for d in await backups.list_restore_drills(other_tenant.admin)
               if d.id == drill.id]  # fmt: skip
    assert mine not in other.detail and theirs in other.detail and "org 0: BROKEN" in other.detail

    secret = await api.token(tenant, tenant.admin_user)
    data = await api.data(secret, "{ restoreDrills(first: 200) { id detail } }")
    [shown] = [d["detail"] for d in data["restoreDrills"] if d["id"] == str(drill.id)]
    assert shown == seen.detail
    page = (await (await browser(tenant.admin_user, tenant.password)).get("/admin/backups")).text
    assert mine in page and theirs not in page and "not shown here" in page

    await evidence.export(tenant.admin, f"{now:%Y-%m}", tmp_path / "ev")
    text = (tmp_path / "ev" / "restore_drills.csv").read_text()
    [row] = [r for r in csv.DictReader(io.StringIO(text)) if r["restore_id"] == str(drill.id)]
    assert row["detail"] == seen.detail


async def test_a_restores_audit_event_holds_each_organizations_own_findings(
    db, tenant, other_tenant
):
    """The restore's `ops.backup_restored` event goes to every chain: each organization's holds
    the findings it may read (its own chain's and the platform's), the platform chain all of
    them; the audit log, GraphQL's auditEvents and the evidence export read these values."""
    import functools
    import json

    from tortoise.transactions import in_transaction

    from riskops.audit.models import AuditEvent

    problems = ["table run: 3 rows, the manifest says 4",
                *chain_detail(0, tenant.org_id, other_tenant.org_id).splitlines()]  # fmt: skip
    info = {"archive": "x.tar", "sha256": "ab" * 32, "ok": False}
    async with in_transaction() as conn:
        await backups._record_everywhere(
            "cli:ops@host", "ops.backup_restored", 999_001,
            functools.partial(backups.restored_event, info, problems), conn,
        )  # fmt: skip

    async def held(org_id: int) -> list[str]:
        event = await AuditEvent.filter(
            org_id=org_id, action="ops.backup_restored", entity_id="999001"
        ).first()
        assert event is not None
        return json.loads(event.new_values)["problems"]  # type: ignore[no-any-return]

    mine, theirs = f"org {tenant.org_id}: BROKEN", f"org {other_tenant.org_id}: BROKEN"
    ours = "\n".join(await held(tenant.org_id))
    assert mine in ours and theirs not in ours and "org 0: BROKEN" in ours
    assert "table run" in ours and "not shown here" in ours
    others = "\n".join(await held(other_tenant.org_id))
    assert theirs in others and mine not in others
    platform = "\n".join(await held(0))
    assert mine in platform and theirs in platform
