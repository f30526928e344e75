"""Maintenance (read-only) mode (issue 15): the service's rules, and every face refusing writes
with 503 and the reason while reads, signing in and out, and ending it keep working."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from riskops.audit.models import AuditEvent
from riskops.audit.types import SYSTEM_ORG
from riskops.jobs import runner
from riskops.jobs.models import Job, JobStatus
from riskops.jobs.registry import JOBS
from riskops.server.core.errors import Conflict, Forbidden, Invalid
from riskops.server.identity.models import Team
from riskops.server.operations import maintenance
from riskops.server.operations.models import MaintenancePeriod
from tests.support.pages import flash_code

REASON = "Database upgrade, back at 18:00 UTC."
CREATE_TEAM = """mutation($name: String!) { createTeam(name: $name, memberIds: []) {
  team { id } errors { code message } } }"""
START = """mutation($reason: String!) { startMaintenance(reason: $reason) {
  maintenance { reason startedBy everywhere } errors { code field message } } }"""
END = "mutation { endMaintenance { maintenance { endedBy } errors { code message } } }"
ME = "{ me { user { email } } maintenance { reason } }"


def cli_actor() -> Any:
    from riskops.audit.types import Actor

    return Actor(org_id=SYSTEM_ORG, actor="cli", actor_type="system")


async def _periods(org_id: int | None) -> int:
    return await MaintenancePeriod.filter(org_id=org_id).count()


async def _actions(org_id: int) -> list[str]:
    return list(await AuditEvent.filter(org_id=org_id, action__startswith="maintenance.")
                .order_by("seq").values_list("action", flat=True))  # type: ignore[arg-type]  # fmt: skip


# --------------------------------------------------------------------------- the service


async def test_start_and_end_are_audited_and_scoped_to_the_organization(tenant, other_tenant):
    period = await maintenance.start(tenant.admin, f"  {REASON}  ")
    assert period.reason == REASON and period.org_id == tenant.org_id
    assert period.started_by == f"user:{tenant.admin_user.id}"
    assert (await maintenance.active_for(tenant.org_id)) == period
    assert await maintenance.active_for(other_tenant.org_id) is None  # theirs is untouched
    with pytest.raises(maintenance.UnderMaintenance) as refused:
        await maintenance.refuse_writes(tenant.org_id)
    assert REASON in refused.value.message and refused.value.code.value == "UNAVAILABLE"
    await maintenance.refuse_writes(other_tenant.org_id)  # no error

    with pytest.raises(Conflict, match="already on"):
        await maintenance.start(tenant.admin, "again")
    ended = await maintenance.end(tenant.admin)
    assert ended.ended_at is not None and ended.ended_by == f"user:{tenant.admin_user.id}"
    assert await maintenance.active_for(tenant.org_id) is None
    assert await _actions(tenant.org_id) == ["maintenance.start", "maintenance.end"]
    with pytest.raises(Conflict, match="not on"):
        await maintenance.end(tenant.admin)


@pytest.mark.parametrize(
    ("reason", "message"),
    [("", "Reason is required"), ("   ", "Reason is required"), ("x" * 501, "the limit is 500"),
     ("bad\x00reason", "control characters")],
)  # fmt: skip
async def test_a_bad_reason_is_refused_and_nothing_changes(tenant, reason, message):
    with pytest.raises(Invalid, match=message) as refused:
        await maintenance.start(tenant.admin, reason)
    assert refused.value.field == "reason"
    assert await _periods(tenant.org_id) == 0 and await _actions(tenant.org_id) == []


async def test_only_admins_manage_it_checked_before_the_input(tenant):
    _, operator = await tenant.user("operator", "approver", "compliance_reviewer")
    with pytest.raises(Forbidden):
        await maintenance.start(operator, "")  # permission first: not "reason is required"
    with pytest.raises(Forbidden):
        await maintenance.end(operator)
    with pytest.raises(Forbidden):
        await maintenance.history(operator)
    assert await _periods(tenant.org_id) == 0


async def test_the_installation_wide_period_covers_everyone_and_ends_on_the_machine(
    tenant, other_tenant
):
    period = await maintenance.start_everywhere(cli_actor(), REASON, by="cli:ops")
    try:
        for org in (tenant.org_id, other_tenant.org_id, None):
            current = await maintenance.active_for(org)
            assert current is not None and current.everywhere and current.reason == REASON
        with pytest.raises(Conflict, match="started on the server"):
            await maintenance.end(tenant.admin)
        with pytest.raises(Conflict, match="already on for riskops"):
            await maintenance.start(tenant.admin, "mine")
        with pytest.raises(Conflict, match="already on"):
            await maintenance.start_everywhere(cli_actor(), "again")
    finally:
        ended = await maintenance.end_everywhere(cli_actor(), by="cli:ops")
    assert ended.id == period.id and ended.ended_by == "cli:ops"
    assert await maintenance.active_for(tenant.org_id) is None
    events = AuditEvent.filter(
        org_id=SYSTEM_ORG, entity_type="maintenance_period", entity_id=str(period.id)
    )
    platform = await events.values_list("action", flat=True)
    assert sorted(platform) == ["maintenance.end", "maintenance.start"]  # type: ignore[type-var]
    with pytest.raises(Conflict, match="nothing to end"):
        await maintenance.end_everywhere(cli_actor())


# --------------------------------------------------------------------------- GraphQL


async def test_graphql_mutations_answer_503_with_the_reason_and_reads_work(tenant, api):
    secret = await api.token(tenant, tenant.admin_user)
    started = (await api.data(secret, START, {"reason": REASON}))["startMaintenance"]
    assert started["errors"] == [] and started["maintenance"]["reason"] == REASON

    r = await api.post(secret, CREATE_TEAM, {"name": "Blocked"})
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == str(maintenance.RETRY_AFTER_SECONDS)
    body = r.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAVAILABLE" and REASON in error["message"]
    assert not await Team.filter(org_id=tenant.org_id, name="Blocked").exists()

    data = await api.data(secret, ME)  # reads keep working, and show the period
    assert data["maintenance"]["reason"] == REASON
    again = (await api.data(secret, START, {"reason": "twice"}))["startMaintenance"]
    assert again["errors"][0]["code"] == "CONFLICT"

    ended = (await api.data(secret, END))["endMaintenance"]  # ending is allowed while on
    assert ended["errors"] == [] and ended["maintenance"]["endedBy"].startswith("token:")
    created = (await api.data(secret, CREATE_TEAM, {"name": "Works"}))["createTeam"]
    assert created["errors"] == [] and created["team"]["id"]
    assert (await api.data(secret, ME))["maintenance"] is None


async def test_a_mutation_hidden_in_a_fragment_or_beside_an_allowed_one_is_refused(tenant, api):
    secret = await api.token(tenant, tenant.admin_user)
    await maintenance.start(tenant.admin, REASON)
    mixed = """mutation { endMaintenance { errors { code } }
      createTeam(name: "Sneaky", memberIds: []) { errors { code } } }"""
    spread = """mutation { ...M } fragment M on Mutation {
      createTeam(name: "Sneaky", memberIds: []) { errors { code } } }"""
    for document in (mixed, spread):
        r = await api.post(secret, document)
        assert r.status_code == 503, r.text
    assert not await Team.filter(org_id=tenant.org_id, name="Sneaky").exists()
    assert await maintenance.active_for(tenant.org_id) is not None  # nothing ran, not even `end`


def test_every_job_kind_allowed_during_maintenance_exists() -> None:
    assert set(maintenance.ALLOWED_JOBS) <= set(JOBS)


async def test_graphql_refusals_are_data_and_change_nothing(tenant, api):
    viewer, _ = await tenant.user("viewer")
    secret = await api.token(tenant, viewer)
    refused = (await api.data(secret, START, {"reason": ""}))["startMaintenance"]
    assert refused["errors"][0]["code"] == "FORBIDDEN"  # permission first
    admin = await api.token(tenant, tenant.admin_user)
    invalid = (await api.data(admin, START, {"reason": "x" * 501}))["startMaintenance"]
    assert invalid["errors"] == [
        {"code": "INVALID", "field": "reason", "message": invalid["errors"][0]["message"]}
    ]
    assert "500" in invalid["errors"][0]["message"]
    assert await _periods(tenant.org_id) == 0


async def test_another_organization_keeps_writing(tenant, other_tenant, api):
    await maintenance.start(tenant.admin, REASON)
    secret = await api.token(other_tenant, other_tenant.admin_user)
    created = (await api.data(secret, CREATE_TEAM, {"name": "Theirs"}))["createTeam"]
    assert created["errors"] == []


# --------------------------------------------------------------------------- pages


async def test_pages_refuse_form_posts_with_the_reason_and_keep_reading(tenant, browser):
    b = await browser(tenant.admin_user, tenant.password)
    r = await b.post("/admin/maintenance/start", {"reason": REASON})
    assert r.status_code == 303 and flash_code(r) == "maintenance.on"

    home = await b.get("/")
    assert home.status_code == 200
    assert 'class="maintenance-banner"' in home.text and REASON in home.text

    r = await b.post("/admin/teams", {"name": "Blocked", "members": str(tenant.admin_user.id)})
    assert r.status_code == 503 and r.headers["retry-after"]
    assert "Read-only: maintenance" in r.text and REASON in r.text
    assert not await Team.filter(org_id=tenant.org_id, name="Blocked").exists()

    # Signing out (here, or everywhere) and in again works during maintenance (a person must
    # sign in to read).
    other = await browser(tenant.admin_user, tenant.password)
    await other.get("/sessions")
    r = await other.post("/sessions/revoke")
    assert r.status_code == 303 and flash_code(r) == "signed_out_everywhere"
    assert (await b.get("/")).status_code in (200, 303)
    await b.login(tenant.admin_user.email, tenant.password)
    assert (await b.post("/logout")).status_code == 303
    login = await b.get("/login")
    assert login.status_code == 200 and "maintenance-banner" not in login.text  # org unknown yet
    assert (await b.login(tenant.admin_user.email, tenant.password)).status_code == 303

    page = await b.get("/admin/maintenance")
    assert "End maintenance" in page.text and REASON in page.text
    r = await b.post("/admin/maintenance/end")
    assert r.status_code == 303 and flash_code(r) == "maintenance.off"
    assert (await b.get("/")).status_code == 200
    assert "maintenance-banner" not in (await b.get("/")).text
    r = await b.post("/admin/teams", {"name": "Works", "members": str(tenant.admin_user.id)})
    assert r.status_code == 303


async def test_the_page_shows_a_bad_reason_under_the_field(tenant, browser):
    b = await browser(tenant.admin_user, tenant.password)
    await b.get("/admin/maintenance")
    r = await b.post("/admin/maintenance/start", {"reason": "   "})
    assert r.status_code == 422 and "Reason is required" in r.text
    assert await _periods(tenant.org_id) == 0
    viewer, _ = await tenant.user("viewer")
    v = await browser(viewer, tenant.password)
    assert (await v.get("/admin/maintenance")).status_code == 403
    assert (await v.post("/admin/maintenance/start", {"reason": REASON})).status_code == 403
    assert await _periods(tenant.org_id) == 0


async def test_the_installation_wide_banner_shows_on_the_login_page(tenant, browser):
    await maintenance.start_everywhere(cli_actor(), REASON)
    try:
        b = await browser()
        page = await b.get("/login")
        assert "maintenance-banner" in page.text and "for riskops" in page.text
        admin = await browser(tenant.admin_user, tenant.password)  # signing in works
        status = await admin.get("/admin/maintenance")
        assert "riskops maintenance off" in status.text and "End maintenance" not in status.text
    finally:
        await maintenance.end_everywhere(cli_actor())


# --------------------------------------------------------------------------- jobs


async def test_jobs_that_write_fail_with_the_reason_and_audit_jobs_still_run(tenant, monkeypatch):
    ran: list[str] = []

    async def writes(ctx: dict[str, Any]) -> dict[str, Any]:
        ran.append("writes")
        return {}

    kind = f"test.maint.{uuid.uuid4().hex[:6]}"
    monkeypatch.setitem(JOBS, kind, writes)
    await maintenance.start(tenant.admin, REASON)
    job, _ = await runner.create_job(kind, org_id=tenant.org_id)
    assert await runner.run_job({}, str(job.id), final=True)
    row = await Job.get(id=job.id)
    assert row.status == JobStatus.FAILED and REASON in (row.error or "") and ran == []

    audit, _ = await runner.create_job("audit.flush_spool", org_id=tenant.org_id)
    assert await runner.run_job({}, str(audit.id), final=True)
    assert (await Job.get(id=audit.id)).status == JobStatus.SUCCEEDED

    await maintenance.end(tenant.admin)
    again, _ = await runner.create_job(kind, org_id=tenant.org_id)
    assert await runner.run_job({}, str(again.id), final=True)
    assert (await Job.get(id=again.id)).status == JobStatus.SUCCEEDED and ran == ["writes"]
