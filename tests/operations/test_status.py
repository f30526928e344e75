"""The platform status (issue 15): the one report `riskops status`, GraphQL `platformStatus` and
the "Platform status" page show; what degrades it; and that an admin sees their organization's
part only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from riskops.server.core.errors import Forbidden
from riskops.server.credit.models import KillSwitch, Run, Scenario
from riskops.server.operations import maintenance, status
from riskops.server.operations.backups import backup_state
from riskops.server.operations.models import BackupBackend, BackupRecord

NOW = datetime.now(UTC)
STATUS = """{ platformStatus { degraded checks { name state detail }
  chains { orgId slug headSeq checkpointSeq eventsSinceCheckpoint } } }"""


def _checks(report: status.StatusReport) -> dict[str, status.Check]:
    return {c.name: c for c in report.checks}


async def _backup(age_hours: float) -> BackupRecord:
    at = datetime.now(UTC) - timedelta(hours=age_hours)
    return await BackupRecord.create(
        created_at=at, path="/backups/x.tar", backend=BackupBackend.SQLITE, schema_version="0024",
        sha256="0" * 64, created_by="cli:test", verified_at=at,
    )  # fmt: skip


async def _sev_run(org_id: int, severity: str, n: int) -> None:
    scenario = await Scenario.create(org_id=org_id, key=f"S{n}-{org_id}", name="S", created_at=NOW)
    await Run.create(
        org_id=org_id, run_id=f"R-{org_id}-{n}", scenario=scenario, started_at=NOW,
        recorded_at=NOW, credits_total=10.0, severity=severity, misconfig_likelihood="low",
        policy_number=1,
    )  # fmt: skip


async def test_the_report_names_every_check(tenant, db):
    report = await status.collect(db.settings)
    names = [c.name for c in report.checks]
    assert names == [
        "versions", "database", "migrations", "job queue", "workers", "audit spool",
        "last backup", "audit checkpoints", "open SEV0/SEV1", "kill switches", "maintenance",
    ]  # fmt: skip
    checks = _checks(report)
    assert checks["migrations"].state == "ok" and "up to date" in checks["migrations"].detail
    assert "ms)" in checks["database"].detail
    assert db.settings.db_url.split("@")[-1][:20] in checks["database"].detail  # the machine's
    own = _checks(await status.platform_status(tenant.admin, db.settings))["database"]
    assert own.detail.startswith("the database reachable")  # an admin is not told where
    assert "Python" in checks["versions"].detail
    assert ("PostgreSQL" if db.name == "postgres" else "SQLite") in checks["versions"].detail
    assert len(report.chains) <= status.MAX_CHAINS  # the machine lists every chain, up to 50
    own = await status.collect(db.settings, tenant.org_id)
    assert tenant.org_id in [c.org_id for c in own.chains]
    as_json = report.as_json()
    assert as_json["degraded"] is report.degraded and len(as_json["checks"]) == len(names)


async def test_backups_degrade_the_report_past_the_threshold(tenant, db, monkeypatch):
    await BackupRecord.all().delete()
    state = await backup_state(db.settings)
    assert state["age_hours"] is None and state["last_verified_at"] is None
    check = _checks(await status.collect(db.settings))["last backup"]
    assert check.state == "warn"  # never taken: a warning on a development install
    monkeypatch.setattr(type(db.settings), "is_prod", property(lambda self: True))
    assert _checks(await status.collect(db.settings))["last backup"].state == "fail"
    monkeypatch.undo()

    await _backup(db.settings.backup_max_age_hours + 1)
    report = await status.collect(db.settings)
    assert _checks(report)["last backup"].state == "fail" and report.degraded
    assert "last backup" in report.failed
    await _backup(1)
    state = await backup_state(db.settings)
    assert state["ok"] and 0.9 < state["age_hours"] < 1.1
    assert _checks(await status.collect(db.settings))["last backup"].state == "ok"
    # backups are the installation's, not a tenant's: leave none for the next test
    await BackupRecord.all().delete()


async def test_runs_switches_and_maintenance_show_and_an_admin_sees_their_own(
    tenant, other_tenant, db
):
    await _sev_run(tenant.org_id, "SEV0", 1)
    await _sev_run(tenant.org_id, "SEV1", 2)
    await _sev_run(tenant.org_id, "SEV3", 3)
    await _sev_run(other_tenant.org_id, "SEV1", 4)
    await KillSwitch.create(org_id=other_tenant.org_id, name="alert_suppression", scope="",
                            reason="storm", set_at=NOW)  # fmt: skip
    await maintenance.start(other_tenant.admin, "theirs")

    mine = _checks(await status.platform_status(tenant.admin, db.settings))
    assert mine["open SEV0/SEV1"].detail == "1 SEV0, 1 SEV1"
    assert mine["kill switches"].state == "ok" and mine["maintenance"].state == "ok"
    report = await status.platform_status(tenant.admin, db.settings)
    assert {c.org_id for c in report.chains} <= {0, tenant.org_id}

    theirs = _checks(await status.platform_status(other_tenant.admin, db.settings))
    assert theirs["open SEV0/SEV1"].detail == "0 SEV0, 1 SEV1"
    assert theirs["kill switches"].state == "warn" and "alert_suppression" in (
        theirs["kill switches"].detail
    )
    assert theirs["maintenance"].state == "warn" and "theirs" in theirs["maintenance"].detail

    everyone = _checks(await status.collect(db.settings))  # the machine sees every org
    # the machine names each switch's organization (the first ten of every org's, which other
    # tests of this shared database also leave in force)
    assert (
        everyone["kill switches"].state == "warn" and " in org " in everyone["kill switches"].detail
    )
    assert f"org {other_tenant.org_id}: theirs" in everyone["maintenance"].detail
    await maintenance.end(other_tenant.admin)


async def test_only_ops_readers_see_it(tenant, db):
    _, viewer = await tenant.user("viewer", "approver", "compliance_reviewer")
    with pytest.raises(Forbidden):
        await status.platform_status(viewer, db.settings)


async def test_graphql_and_the_page_show_the_same_report(tenant, api, browser):
    secret = await api.token(tenant, tenant.admin_user)
    data = (await api.data(secret, STATUS))["platformStatus"]
    names = [c["name"] for c in data["checks"]]
    assert "maintenance" in names and "last backup" in names
    assert tenant.org_id in [c["orgId"] for c in data["chains"]]

    viewer, _ = await tenant.user("viewer")
    refused = await api.gql(await api.token(tenant, viewer), STATUS)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    b = await browser(tenant.admin_user, tenant.password)
    page = await b.get("/admin/status")
    assert page.status_code == 200
    assert "Platform status" in page.text and "status-check-ok" in page.text
    assert "open SEV0/SEV1" in page.text
    v = await browser(viewer, tenant.password)
    assert (await v.get("/admin/status")).status_code == 403


@pytest.mark.slow
def test_status_json_when_the_database_is_unreachable(tmp_path: Path) -> None:
    import json

    from tests.cli.test_cli import Target

    target = Target("postgres", "postgres://postgres:s3cret@127.0.0.1:1/nope", tmp_path / "var")
    target.var_dir.mkdir()
    done = target.run("status", "--json", ok=False)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["degraded"] is True
    database = next(c for c in report["checks"] if c["name"] == "database")
    assert database["state"] == "fail" and "cannot reach the database" in database["detail"]
    assert "s3cret" not in done.stdout + done.stderr


async def test_workers_on_redis_are_seen_by_their_health_check_key(db):
    import uuid

    from redis.asyncio import Redis

    from tests.conftest import require_service

    require_service("Redis", "127.0.0.1", 6379)
    queue = f"riskops-test-{uuid.uuid4().hex[:8]}"
    settings = db.settings.model_copy(
        update={"redis_url": "redis://127.0.0.1:6379/15", "job_queue": queue}
    )
    checks = {c.name: c for c in await status.queue_check(settings)}
    assert checks["redis"].state == "ok"
    assert checks["workers"].state == "warn" and "riskops worker" in checks["workers"].detail
    client = Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        await client.set(f"{queue}:health-check", "Dec-06 05:30:00 j_complete=3", ex=60)
        checks = {c.name: c for c in await status.queue_check(settings)}
        assert checks["workers"].state == "ok" and "j_complete=3" in checks["workers"].detail
    finally:
        await client.delete(f"{queue}:health-check")
        await client.aclose()
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    checks = {c.name: c for c in await status.queue_check(down)}
    assert checks["redis"].state == "fail"
