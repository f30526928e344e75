"""The retention page (`/admin/retention`), driven like a browser: the admin saves periods (an
empty field keeps forever), a bad period is shown under its field with what was typed and
nothing changed, enforcing now lists the run, and a role without retention.manage gets 403."""

from __future__ import annotations

import html
from typing import Any

from riskops.server.operations.retention_models import RetentionPolicy, RetentionRun
from tests.support.pages import flash_code

FORM = {"alerts_days": "365", "runs_days": "", "assistant_days": "90", "sessions_days": "30"}


def text(r: Any) -> str:
    return html.unescape(r.text)


async def test_the_admin_sets_the_periods_and_enforces_them(browser, tenant) -> None:
    admin = await browser(tenant.admin_user, tenant.password)
    page = await admin.get("/admin/retention")
    assert page.status_code == 200
    assert 'href="/admin/retention"' in page.text  # in the navigation of an admin
    assert "Keep closed alerts for (days)" in text(page) and "Not enforced yet." in text(page)

    saved = await admin.post("/admin/retention", FORM)
    assert saved.status_code == 303 and flash_code(saved) == "retention.saved"
    policy = await RetentionPolicy.get(org_id=tenant.org_id)
    assert (policy.alerts_days, policy.runs_days, policy.assistant_days,
            policy.sessions_days) == (365, None, 90, 30)  # fmt: skip
    shown = text(await admin.get("/admin/retention"))
    assert 'value="365"' in shown and 'value="90"' in shown

    ran = await admin.post("/admin/retention/run")
    assert ran.status_code == 303 and flash_code(ran) == "retention.ran"
    (run,) = await RetentionRun.filter(org_id=tenant.org_id)
    assert run.trigger == "page"
    listed = text(await admin.get("/admin/retention"))
    assert "alerts 0, assistant 0, sessions 0" in listed


async def test_a_bad_period_is_shown_under_its_field_and_changes_nothing(browser, tenant) -> None:
    admin = await browser(tenant.admin_user, tenant.password)
    await admin.get("/admin/retention")
    bad = await admin.post("/admin/retention", {**FORM, "runs_days": "two weeks"})
    assert bad.status_code == 422
    body = text(bad)
    assert "'two weeks' is not a whole number of days" in body
    assert 'id="runs_days-error"' in body and 'value="two weeks"' in body
    assert not await RetentionPolicy.filter(org_id=tenant.org_id).exists()
    zero = await admin.post("/admin/retention", {**FORM, "sessions_days": "0"})
    assert zero.status_code == 422 and "from 1 to 36,500" in text(zero)
    assert not await RetentionPolicy.filter(org_id=tenant.org_id).exists()


async def test_without_retention_manage_the_page_is_forbidden(browser, tenant) -> None:
    user, _ = await tenant.user("operator")
    operator = await browser(user, tenant.password)
    assert 'href="/admin/retention"' not in (await operator.get("/")).text
    assert (await operator.get("/admin/retention")).status_code == 403
    refused = await operator.post("/admin/retention", {**FORM, "alerts_days": "nonsense"})
    assert refused.status_code == 403
    assert (await operator.post("/admin/retention/run")).status_code == 403
    assert not await RetentionPolicy.filter(org_id=tenant.org_id).exists()
    assert not await RetentionRun.filter(org_id=tenant.org_id).exists()


async def test_a_run_that_deleted_artifact_files_shows_them(browser, tenant) -> None:
    from datetime import UTC, datetime

    from riskops.server.operations import retention

    await RetentionRun.create(
        org_id=tenant.org_id, started_at=datetime.now(UTC), finished_at=datetime.now(UTC),
        trigger="job", kept={}, cutoffs={},
        removed={"runs": 4, retention.FILES_REMOVED: 5, retention.FILES_MISSING: 1},
    )  # fmt: skip
    admin = await browser(tenant.admin_user, tenant.password)
    listed = text(await admin.get("/admin/retention"))
    assert "runs 4, artifact files 5 (1 already missing)" in listed
