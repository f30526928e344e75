"""The weekly report pages, driven like a browser: the list and the generate form (with its
inline errors), a report's page (SVG charts, spike runs linking to runs, violations, the SHA-256)
and the JSON download whose bytes hash to the stored SHA-256. Refused actions change nothing."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from riskops.audit.models import AuditEvent
from riskops.server.credit import reports as svc
from riskops.server.credit.models import Baseline, BaselineSource, Report, Run, Scenario
from riskops.server.credit.terms import Severity
from riskops.server.notify.models import OutboxMessage
from tests.support.gql import changes_head
from tests.support.pages import flash_code

WEEK = "2026-01-05"
START = datetime(2026, 1, 5, tzinfo=UTC)


async def seed(org_id: int) -> Run:
    s = await Scenario.create(org_id=org_id, key="BINDER_EXPORT_WEEKLY", name="Binder",
                              created_at=START)  # fmt: skip
    await Baseline.create(org_id=org_id, scenario_id=s.id, median=10.0, sample_size=20,
                          source=BaselineSource.MANUAL, set_at=START)  # fmt: skip
    await Run.create(
        org_id=org_id, run_id="RUN-OK", scenario_id=s.id, started_at=START + timedelta(hours=1),
        recorded_at=START, credits_total=11.0, baseline_median=10.0, multiplier=1.1,
        misconfig_likelihood="low", policy_number=0,
    )  # fmt: skip
    return await Run.create(
        org_id=org_id, run_id="RUN-SPIKE", scenario_id=s.id,
        started_at=START + timedelta(hours=2), recorded_at=START, credits_total=60.0,
        baseline_median=10.0, multiplier=6.0, severity=Severity.SEV1,
        misconfig_likelihood="low", policy_number=0,
    )  # fmt: skip


async def state(org_id: int) -> tuple[int, int, int]:
    head = await changes_head(org_id)
    return (
        await Report.filter(org_id=org_id).count(),
        await OutboxMessage.filter(org_id=org_id).count(),
        head.seq if head else 0,
    )


async def signed_in(browser: Any, tenant: Any, *roles: str) -> Any:
    user, principal = await tenant.user(*roles)
    b = await browser(user, tenant.password)
    b.principal = principal
    return b


async def test_generate_from_the_list_and_read_the_report(browser: Any, tenant: Any) -> None:
    spike = await seed(tenant.org_id)
    b = await signed_in(browser, tenant, "operator")
    page = await b.get("/reports")
    assert page.status_code == 200
    assert 'name="period_start"' in page.text
    assert f'value="{svc.last_complete_week().isoformat()}"' in page.text
    assert "No reports yet" in page.text

    done = await b.post("/reports", {"period_start": WEEK})
    assert done.status_code == 303, done.text
    report = await Report.get(org_id=tenant.org_id)
    assert (done.headers["location"], flash_code(done)) == (
        f"/reports/{report.id}",
        "report.generated",
    )

    detail = await b.get(done.headers["location"])
    assert detail.status_code == 200
    html = detail.text
    assert "Weekly report generated." in html
    assert report.sha256 in html
    assert html.count("<svg") >= 2 and 'aria-label="Runs by severity (6 bars)"' in html
    assert f'href="/runs/{spike.id}"' in html and "RUN-SPIKE" in html
    assert "SEV0/SEV1 runs without a case" in html
    assert f'href="/reports/{report.id}.json"' in html

    listed = await b.get("/reports")
    assert f'href="/reports/{report.id}"' in listed.text and "2026-01-05" in listed.text

    again = await b.post("/reports", {"period_start": WEEK})  # the stored one
    assert again.headers["location"] == f"/reports/{report.id}"
    assert await Report.filter(org_id=tenant.org_id).count() == 1


async def test_download_is_the_hashed_json(browser: Any, tenant: Any) -> None:
    await seed(tenant.org_id)
    made = await svc.generate_weekly_report((await tenant.user("operator"))[1], WEEK)
    b = await signed_in(browser, tenant, "viewer")
    r = await b.get(f"/reports/{made.id}.json")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == "attachment; filename=weekly_2026-01-05.json"
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["cache-control"] == "no-store"
    assert hashlib.sha256(r.content).hexdigest() == made.sha256 == r.headers["x-content-sha256"]
    assert await AuditEvent.filter(org_id=tenant.org_id, action="report.export").count() == 1


async def test_viewer_sees_no_form_and_may_not_post(browser: Any, tenant: Any) -> None:
    b = await signed_in(browser, tenant, "viewer")
    page = await b.get("/reports")
    assert page.status_code == 200 and 'name="period_start"' not in page.text
    before = await state(tenant.org_id)
    refused = await b.post("/reports", {"period_start": WEEK})
    assert refused.status_code == 403 and "report.generate" in refused.text
    assert await state(tenant.org_id) == before


async def test_bad_week_is_shown_inline_and_changes_nothing(browser: Any, tenant: Any) -> None:
    b = await signed_in(browser, tenant, "operator")
    before = await state(tenant.org_id)
    today = datetime.now(UTC).date()
    future = (today + timedelta(days=7 - today.weekday())).isoformat()  # next Monday
    for value, message in ((future, "in the future"), ("31/12/2025", "not a date"),
                           ("x" * 3000, "not a date")):  # fmt: skip
        r = await b.post("/reports", {"period_start": value})
        assert r.status_code == 422, r.text
        assert message in r.text and 'aria-invalid="true"' in r.text
    no_token = await b.post("/reports", {"period_start": WEEK}, csrf=False)
    assert no_token.status_code == 403
    assert await state(tenant.org_id) == before


async def test_other_orgs_report_is_not_found(browser: Any, tenant: Any, other_tenant: Any) -> None:
    theirs = await svc.generate_weekly_report((await other_tenant.user("operator"))[1], WEEK)
    b = await signed_in(browser, tenant, "viewer")
    before = await state(tenant.org_id)
    for url in (f"/reports/{theirs.id}", f"/reports/{theirs.id}.json", "/reports/999999999",
                "/reports/abc", "/reports/abc.json"):  # fmt: skip
        r = await b.get(url)
        assert r.status_code == 404, url
    assert await state(tenant.org_id) == before
    bad_cursor = await b.get("/reports?after=nonsense")
    assert bad_cursor.status_code == 422 and "Start from the first page" in bad_cursor.text


async def test_signed_out_goes_to_login(browser: Any, tenant: Any) -> None:
    b = await browser()
    r = await b.get("/reports")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_load_more_pages_by_week(browser: Any, tenant: Any, monkeypatch: Any) -> None:
    from riskops.ui.credit import reports as report_pages

    monkeypatch.setattr(report_pages, "LIST_PAGE_SIZE", 1)
    operator = (await tenant.user("operator"))[1]
    newer = await svc.generate_weekly_report(operator, "2026-01-12")
    older = await svc.generate_weekly_report(operator, WEEK)
    b = await signed_in(browser, tenant, "viewer")
    first = await b.get("/reports")
    assert f'href="/reports/{newer.id}"' in first.text
    assert f'href="/reports/{older.id}"' not in first.text
    more = re.search(r'hx-get="(/reports\?after=[^"]+)"', first.text)
    assert more
    rows = await b.get(more.group(1), headers={"HX-Request": "true", "HX-Target": "report-more"})
    assert rows.status_code == 200 and "<html" not in rows.text
    assert f'href="/reports/{older.id}"' in rows.text and "Load more" not in rows.text
