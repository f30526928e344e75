"""The run pages, driven like a browser: the ledger (filters, htmx fragment, load more, bad
input inline), a run's page (why this severity, facts, artifacts, links), the quarantine
release and the rerun request/approve/deny forms, and the runs listed on a case. Each refused
action is checked to have changed nothing (the run row, rerun requests, case notes, and every
audit event other than the `run.view` that showing the page again writes)."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from riskops.audit.models import AuditEvent
from riskops.server.credit import artifacts, reruns
from riskops.server.credit import recording as run_svc
from riskops.server.credit.models import (
    Baseline,
    BaselineSource,
    RerunRequest,
    RerunStatus,
    Run,
    RunArtifact,
    Scenario,
)
from riskops.server.triage.models import Case, CaseNote, CaseStatus
from riskops.ui.credit import runs as run_pages
from tests.support.pages import flash_code

NOW = datetime.now(UTC)


def key() -> str:
    return f"SCEN_{uuid.uuid4().hex[:8].upper()}"


def rid() -> str:
    return f"RUN-{uuid.uuid4().hex[:10]}"


def item(scenario: str, credits: float, ago_minutes: int = 5, **over: object) -> dict[str, Any]:
    data: dict[str, Any] = {
        "run_id": rid(),
        "scenario": scenario,
        "credits_total": credits,
        "started_at": (NOW - timedelta(minutes=ago_minutes)).isoformat(),
    }
    data.update(over)
    return data


async def with_baseline(tenant: Any, k: str, median: float = 100.0) -> Scenario:
    scenario = await Scenario.create(org_id=tenant.org_id, key=k, name=k, created_at=NOW)
    await Baseline.create(
        org_id=tenant.org_id, scenario_id=scenario.id, median=median, cv=0.1, sample_size=20,
        source=BaselineSource.MANUAL, set_at=NOW,
    )  # fmt: skip
    return scenario


async def record(tenant: Any, *items: dict[str, Any]) -> list[Run]:
    result = await run_svc.record_runs(tenant.admin, list(items))
    assert result.errors == [], result.errors
    return [await Run.get(id=r.pk) for r in result.recorded]


async def sev0_run(tenant: Any) -> Run:
    """A SEV0 run (12.5x, PII, retries) with a managed artifact, now in quarantine."""
    k = key()
    await with_baseline(tenant, k)
    uri = f"artifact:{tenant.org_id}/ui/{uuid.uuid4().hex[:8]}.csv"
    path = artifacts.stored_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"customer,email\n1,a@example.test\n")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    (run,) = await record(
        tenant,
        item(k, 1250.0, data_classification="pii", retry_count=7, job_type="batch",
             items_processed=9800, has_max_items_config=False, prompt_tokens=140000,
             deployment_ref="export-svc@4f2a9c1",
             artifacts=[{"uri": uri, "sha256": sha}]),
    )  # fmt: skip
    assert run.severity == "SEV0" and run.quarantined
    return run


async def sev1_run(tenant: Any) -> Run:
    k = key()
    await with_baseline(tenant, k)
    (run,) = await record(tenant, item(k, 600.0))
    assert run.severity == "SEV1" and run.rerun_gate
    return run


async def changes_audited(org_id: int) -> int:
    # Showing a run again after a refusal writes `run.view` (a case page `case.view`, signing
    # in `auth.login`), a refusal its own record (`permission.denied`): every other event would
    # be a change.
    ignored = [
        "run.view",
        "case.view",
        "auth.login",
        "permission.denied",
        "permission.denied_summary",
    ]
    return await AuditEvent.filter(org_id=org_id).exclude(action__in=ignored).count()


async def snapshot(run_id: int, org_id: int) -> tuple[Any, ...]:
    r = await Run.get(id=run_id)
    requests = await RerunRequest.filter(run_id=run_id).order_by("id")
    return (
        r.quarantined, r.dispatch_blocked, r.version,
        [(q.status, q.version, q.mitigation, q.deny_reason) for q in requests],
        await CaseNote.filter(case_id=r.case_id).count() if r.case_id else 0,
        await changes_audited(org_id),
    )  # fmt: skip


async def signed_in(browser: Any, tenant: Any, *roles: str, name: str | None = None) -> Any:
    user, principal = await tenant.user(*roles, name=name)
    b = await browser(user, tenant.password)
    b.user, b.principal = user, principal
    return b


def main_of(html: str) -> str:
    return html.split('<main id="main"')[1]


# ----------------------------------------------------------------------------- the ledger


async def test_ledger_shows_badges_links_and_states(browser: Any, tenant: Any) -> None:
    sev0 = await sev0_run(tenant)
    plain_key = key()
    (fresh,) = await record(tenant, item(plain_key, 40.0))
    case = await Case.get(id=sev0.case_id)
    b = await signed_in(browser, tenant, "viewer")
    page = await b.get("/runs")
    assert page.status_code == 200
    html = page.text
    assert 'hx-get="/runs" hx-target="#runs-results" hx-push-url="true"' in html
    row = re.search(rf'<tr id="run-{sev0.id}".*?</tr>', html, re.S)
    assert row, html
    cells = row.group(0)
    assert f'href="/runs/{sev0.id}"' in cells and sev0.run_id in cells
    assert 'class="badge run-sev run-sev-SEV0"' in cells and "\u00d712.5" in cells
    assert "quarantined" in cells and "dispatch blocked" in cells
    assert f'href="/cases/{case.id}">{case.display_number}</a>' in cells
    assert "1,250" in cells and "pii_exposure" in cells and "retry_loop" in cells
    fresh_row = re.search(rf'<tr id="run-{fresh.id}".*?</tr>', html, re.S)
    assert fresh_row
    assert "run-sev-nobaseline" in fresh_row.group(0) and "no baseline" in fresh_row.group(0)
    assert f'href="/scenarios/{plain_key}"' in fresh_row.group(0)


async def test_ledger_filters_and_the_htmx_fragment(browser: Any, tenant: Any) -> None:
    sev0 = await sev0_run(tenant)
    k = key()
    await with_baseline(tenant, k)
    sev2, calm = await record(
        tenant, item(k, 250.0, ago_minutes=60 * 30), item(k, 90.0, retry_count=9, ago_minutes=30)
    )
    (nobase,) = await record(tenant, item(key(), 10.0, ago_minutes=10))
    b = await signed_in(browser, tenant, "operator")

    def ids(html: str) -> set[int]:
        return {int(x) for x in re.findall(r'<tr id="run-(\d+)"', html)}

    since = (NOW - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    until = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    for params, expected in [
        ({"severity": "SEV0"}, {sev0.id}),
        ({"severity": ["SEV0", "SEV2"]}, {sev0.id, sev2.id}),
        ({"severity": "none"}, {calm.id, nobase.id}),
        ({"flag": "retry_loop"}, {sev0.id, calm.id}),
        ({"flag": "no_baseline"}, {nobase.id}),
        ({"scenario": k}, {sev2.id, calm.id}),
        ({"quarantined": "1"}, {sev0.id}),
        ({"since": since}, {sev0.id, calm.id, nobase.id}),
        ({"until": until}, {sev2.id}),
    ]:
        r = await b.get("/runs", params=params)
        assert r.status_code == 200, params
        assert ids(r.text) == expected, params

    part = await b.get(
        "/runs", params={"severity": "SEV0"},
        headers={"HX-Request": "true", "HX-Target": "runs-results"},
    )  # fmt: skip
    assert part.status_code == 200
    # The results, and the view picker out of band ("Save as view" saves what is applied).
    results, _, picker = part.text.partition('<div class="view-picker" id="view-picker"')
    assert "<table" in results and "<html" not in part.text and "<form" not in results
    assert picker.startswith(' hx-swap-oob="true"')
    assert ids(part.text) == {sev0.id}


async def test_ledger_bad_filters_show_the_message_inline(browser: Any, tenant: Any) -> None:
    await sev0_run(tenant)
    b = await signed_in(browser, tenant, "viewer")
    for params, message in [
        ({"severity": "SEV9"}, "severity &#39;SEV9&#39; is unknown; use SEV0, SEV1, SEV2, SEV3"),
        ({"flag": "nope"}, "Flag &#39;nope&#39; is unknown; choose one of retry loop"),
        ({"since": "yesterday"}, "Since: not a date and time (like 2025-01-31T13:45)."),
        ({"after": "bm9wZQ=="}, "after: not a cursor returned by this API"),
    ]:
        r = await b.get("/runs", params=params)
        assert r.status_code == 422, params
        assert message in r.text, params
        assert '<tr id="run-' not in r.text, params  # never a widened ledger


async def test_ledger_loads_more_by_cursor(browser: Any, tenant: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(run_pages, "LEDGER_PAGE_SIZE", 2)
    k = key()
    made = await record(tenant, *(item(k, 10.0 + i, ago_minutes=10 - i) for i in range(3)))
    b = await signed_in(browser, tenant, "viewer")
    page = await b.get("/runs", params={"scenario": k})
    assert {f'id="run-{made[2].id}"', f'id="run-{made[1].id}"'} <= set(
        re.findall(r'id="run-\d+"', page.text)
    )
    assert f'id="run-{made[0].id}"' not in page.text
    more = re.search(r'id="runs-more".*?hx-get="([^"]+)"', page.text, re.S)
    assert more
    url = more.group(1).replace("&amp;", "&")
    assert f"scenario={k}" in url
    rest = await b.get(url, headers={"HX-Request": "true", "HX-Target": "runs-more"})
    assert rest.status_code == 200
    assert "<table" not in rest.text and "<html" not in rest.text
    assert f'id="run-{made[0].id}"' in rest.text and 'id="runs-more"' not in rest.text


async def test_ledger_needs_the_run_read_permission(browser: Any, tenant: Any) -> None:
    b = await signed_in(browser, tenant, "strategist")
    r = await b.get("/runs")
    assert r.status_code == 403 and "Not allowed" in r.text


# ----------------------------------------------------------------------------- one run


async def test_sev0_run_page_explains_and_writes_the_access_event(
    browser: Any, tenant: Any
) -> None:
    run = await sev0_run(tenant)
    case = await Case.get(id=run.case_id)
    b = await signed_in(browser, tenant, "operator")
    before = await AuditEvent.filter(org_id=tenant.org_id, action="run.view").count()
    r = await b.get(f"/runs/{run.id}")
    assert r.status_code == 200
    html = main_of(r.text)
    assert "Why this severity" in html and "run-sev-SEV0" in html
    assert "\u00d712.5" in html and "Credits \u00d712.5 the baseline median of 100.00" in html
    assert "≥ \u00d710 and PII or regulatory data" in html and "≥ \u00d75" in html
    assert "Thresholds of policy defaults" in html
    for flag in ("pii_exposure", "retry_loop", "batch_job", "unbounded_iterator"):
        assert f'<span class="flag">{flag}</span>' in html, flag
    assert "likelihood-" in html
    assert "export-svc@4f2a9c1" in html and "9,800" in html and "140,000" in html
    art = await RunArtifact.get(run_id=run.id)
    assert art.sha256 in html and art.quarantine_path in html
    assert f'href="/cases/{case.id}">{case.display_number}</a>' in html
    assert "dispatch blocked" in html and "rerun gate" in html
    # An operator requests reruns but does not release: no release form for them.
    assert f'action="/runs/{run.id}/rerun"' in html
    assert "/release" not in html and "An approver releases the quarantine" in html
    events = await AuditEvent.filter(org_id=tenant.org_id, action="run.view").order_by("seq")
    assert len(events) == before + 1 and events[-1].entity_id == str(run.id)


async def test_no_baseline_run_page(browser: Any, tenant: Any) -> None:
    (run,) = await record(tenant, item(key(), 77.0))
    b = await signed_in(browser, tenant, "viewer")
    r = await b.get(f"/runs/{run.id}")
    assert r.status_code == 200
    html = main_of(r.text)
    assert "run-sev-nobaseline" in html and "none (no baseline when recorded)" in html
    assert "No baseline for this scenario yet" in html
    assert "the scenario has no baseline yet" in html
    assert "Not quarantined." in html and "No rerun gate" in html
    assert '<form method="post" action="/runs/' not in html


async def test_other_organizations_run_is_the_same_404_as_a_missing_one(
    browser: Any, tenant: Any, other_tenant: Any
) -> None:
    theirs = await sev0_run(other_tenant)
    before = await snapshot(theirs.id, other_tenant.org_id)
    b = await signed_in(browser, tenant, "approver")
    missing = await b.get("/runs/999999999")
    foreign = await b.get(f"/runs/{theirs.id}")
    assert missing.status_code == foreign.status_code == 404
    assert (
        "Run 999999999 not found." in missing.text and f"Run {theirs.id} not found." in foreign.text
    )

    def shown(html: str, ident: object) -> str:
        return main_of(html).split("Request id")[0].replace(str(ident), "N")

    assert shown(foreign.text, theirs.id) == shown(missing.text, 999999999)
    assert (await b.get("/runs/abc")).status_code == 404
    for action, data in [
        ("release", {"expected_version": "1", "reason": "r"}),
        ("rerun", {"reason": "r"}),
        ("reruns/1/approve", {"expected_version": "1", "mitigation": "m"}),
        ("reruns/1/deny", {"expected_version": "1", "reason": "r"}),
    ]:
        r = await b.post(f"/runs/{theirs.id}/{action}", data)
        assert r.status_code == 404, action
        assert f"Run {theirs.id} not found." in r.text, action
    assert await snapshot(theirs.id, other_tenant.org_id) == before


# ----------------------------------------------------------------------------- quarantine


async def test_release_refusals_inline_then_release_with_verification(
    browser: Any, tenant: Any
) -> None:
    run = await sev0_run(tenant)
    b = await signed_in(browser, tenant, "approver", name="Olive")
    page = await b.get(f"/runs/{run.id}")
    assert f'action="/runs/{run.id}/release"' in page.text
    before = await snapshot(run.id, tenant.org_id)

    # The case is not resolved: the service's refusal under the form.
    r = await b.post(f"/runs/{run.id}/release", {"expected_version": "1", "reason": "FP"})
    assert r.status_code == 409
    assert "cannot be released" in r.text and "Resolve the case first" in r.text
    assert "FP</textarea>" in r.text  # what was typed is kept
    assert await snapshot(run.id, tenant.org_id) == before

    await Case.filter(id=run.case_id).update(status=CaseStatus.RESOLVED, resolved_at=NOW)
    before = await snapshot(run.id, tenant.org_id)
    r = await b.post(f"/runs/{run.id}/release", {"expected_version": "1", "reason": "  "})
    assert r.status_code == 422 and "Reason is required" in r.text
    assert 'id="reason-error"' in r.text
    r = await b.post(f"/runs/{run.id}/release", {"expected_version": "7", "reason": "FP"})
    assert r.status_code == 409
    assert "Nothing was changed." in r.text and "(you had version 7)" in r.text
    r = await b.post(f"/runs/{run.id}/release", {"reason": "FP"})
    assert r.status_code == 422 and "does not carry the version you loaded" in r.text
    big = "x" * 2001
    r = await b.post(f"/runs/{run.id}/release", {"expected_version": "1", "reason": big})
    assert r.status_code == 422 and "reason" in r.text
    assert await snapshot(run.id, tenant.org_id) == before

    r = await b.post(
        f"/runs/{run.id}/release", {"expected_version": "1", "reason": "False positive"},
        headers={"HX-Request": "true", "HX-Target": "main"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["hx-push-url"] == f"/runs/{run.id}"
    assert "<html" not in r.text
    assert "Quarantine released: artifacts verified" in r.text
    assert "Verification at release" in r.text and "verified" in r.text
    assert "run-state-released" in r.text
    fresh = await Run.get(id=run.id)
    assert not fresh.quarantined and not fresh.dispatch_blocked and fresh.version == 2
    assert await AuditEvent.filter(org_id=tenant.org_id, action="run.release").count() == 1
    later = await b.get(f"/runs/{run.id}")
    assert "Release quarantine" not in later.text and "run-state-released" in later.text


async def test_only_approvers_release(browser: Any, tenant: Any) -> None:
    run = await sev0_run(tenant)
    await Case.filter(id=run.case_id).update(status=CaseStatus.RESOLVED, resolved_at=NOW)
    before = await snapshot(run.id, tenant.org_id)
    for role in ("operator", "viewer"):
        b = await signed_in(browser, tenant, role)
        await b.get(f"/runs/{run.id}")
        r = await b.post(f"/runs/{run.id}/release", {"expected_version": "1", "reason": "FP"})
        assert r.status_code == 403, role
        assert "Not allowed" in r.text, role
    assert await snapshot(run.id, tenant.org_id) == before


# ----------------------------------------------------------------------------- reruns


async def test_request_then_another_person_approves(browser: Any, tenant: Any) -> None:
    run = await sev1_run(tenant)
    op = await signed_in(browser, tenant, "operator", name="Olga")
    await op.get(f"/runs/{run.id}")
    before = await snapshot(run.id, tenant.org_id)
    r = await op.post(f"/runs/{run.id}/rerun", {"reason": "   "})
    assert r.status_code == 422 and "Reason is required" in r.text
    assert await snapshot(run.id, tenant.org_id) == before

    r = await op.post(f"/runs/{run.id}/rerun", {"reason": "Iterator fixed, max_items 1000"})
    assert r.status_code == 303
    assert (r.headers["location"], flash_code(r)) == (f"/runs/{run.id}", "run.rerun_requested")
    page = await op.get(r.headers["location"])
    assert "Rerun requested" in page.text and "Iterator fixed, max_items 1000" in page.text
    assert f'action="/runs/{run.id}/rerun"' not in page.text  # one open request at a time
    assert "another approver must decide it" in page.text
    req = await RerunRequest.get(run_id=run.id)

    before = await snapshot(run.id, tenant.org_id)
    again = await op.post(f"/runs/{run.id}/rerun", {"reason": "once more"})
    assert again.status_code == 409 and "already has a pending rerun request" in again.text
    denied = await op.post(
        f"/runs/{run.id}/reruns/{req.id}/approve", {"expected_version": "1", "mitigation": "m"}
    )
    assert denied.status_code == 403 and "Not allowed" in denied.text
    assert await snapshot(run.id, tenant.org_id) == before

    ap = await signed_in(browser, tenant, "approver", name="Amir")
    page = await ap.get(f"/runs/{run.id}")
    assert f'action="/runs/{run.id}/reruns/{req.id}/approve"' in page.text
    assert f'action="/runs/{run.id}/reruns/{req.id}/deny"' in page.text
    base = f"/runs/{run.id}/reruns/{req.id}"
    r = await ap.post(f"{base}/approve", {"expected_version": "1", "mitigation": ""})
    assert r.status_code == 422 and "Mitigation is required" in r.text
    assert 'id="mitigation-error"' in r.text
    r = await ap.post(f"{base}/approve", {"expected_version": "5", "mitigation": "m"})
    assert r.status_code == 409 and "Nothing was changed." in r.text
    assert await snapshot(run.id, tenant.org_id) == before

    other = await sev1_run(tenant)
    before = await snapshot(run.id, tenant.org_id)
    r = await ap.post(f"/runs/{other.id}/reruns/{req.id}/approve",
                      {"expected_version": "1", "mitigation": "m"})  # fmt: skip
    assert r.status_code == 404 and f"RerunRequest {req.id} not found." in r.text
    assert await snapshot(run.id, tenant.org_id) == before

    r = await ap.post(f"{base}/approve", {"expected_version": "1",
                                          "mitigation": "max_items limit added"})  # fmt: skip
    assert r.status_code == 303
    page = await ap.get(r.headers["location"])
    assert "Rerun approved" in page.text and "max_items limit added" in page.text
    assert "rerun-approved" in page.text and "Amir" in page.text
    assert (await RerunRequest.get(id=req.id)).status is RerunStatus.APPROVED
    r = await ap.post(f"{base}/deny", {"expected_version": "2", "reason": "late"})
    assert r.status_code == 409 and "only a pending request can be decided" in r.text


async def test_requester_cannot_decide_and_another_approver_denies(
    browser: Any, tenant: Any
) -> None:
    run = await sev1_run(tenant)
    first = await signed_in(browser, tenant, "approver", name="Ann")
    await first.get(f"/runs/{run.id}")
    r = await first.post(f"/runs/{run.id}/rerun", {"reason": "Retry storm fixed"})
    assert r.status_code == 303
    req = await RerunRequest.get(run_id=run.id)
    page = await first.get(f"/runs/{run.id}")
    assert "You requested this rerun: another approver must decide it." in page.text
    assert f"/reruns/{req.id}/approve" not in page.text
    before = await snapshot(run.id, tenant.org_id)
    r = await first.post(f"/runs/{run.id}/reruns/{req.id}/approve",
                         {"expected_version": "1", "mitigation": "self"})  # fmt: skip
    assert r.status_code == 403
    assert "nobody decides their own request" in r.text
    assert await snapshot(run.id, tenant.org_id) == before

    second = await signed_in(browser, tenant, "approver", name="Bea")
    await second.get(f"/runs/{run.id}")
    r = await second.post(f"/runs/{run.id}/reruns/{req.id}/deny",
                          {"expected_version": "1", "reason": ""})  # fmt: skip
    assert r.status_code == 422 and "reason" in r.text and 'id="reason-error"' in r.text
    assert await snapshot(run.id, tenant.org_id) == before
    r = await second.post(f"/runs/{run.id}/reruns/{req.id}/deny",
                          {"expected_version": "1", "reason": "Root cause unknown"})  # fmt: skip
    assert r.status_code == 303
    page = await second.get(r.headers["location"])
    assert "Rerun denied." in page.text and "Root cause unknown" in page.text
    # Denied: a new request may be made.
    assert f'action="/runs/{run.id}/rerun"' in page.text


async def test_a_run_without_gate_refuses_a_rerun_request_inline(browser: Any, tenant: Any) -> None:
    (run,) = await record(tenant, item(key(), 5.0))
    b = await signed_in(browser, tenant, "operator")
    await b.get(f"/runs/{run.id}")
    before = await snapshot(run.id, tenant.org_id)
    r = await b.post(f"/runs/{run.id}/rerun", {"reason": "why not"})
    assert r.status_code == 422 and "has no rerun gate" in r.text
    v = await signed_in(browser, tenant, "viewer")
    await v.get(f"/runs/{run.id}")
    r = await v.post(f"/runs/{run.id}/rerun", {"reason": "why not"})
    assert r.status_code == 403
    assert await snapshot(run.id, tenant.org_id) == before


async def test_every_run_post_refuses_a_missing_csrf_token(browser: Any, tenant: Any) -> None:
    run = await sev0_run(tenant)
    await Case.filter(id=run.case_id).update(status=CaseStatus.RESOLVED, resolved_at=NOW)
    _, operator = await tenant.user("operator")
    req = await reruns.request_rerun(operator, run.id, "fixed")
    b = await signed_in(browser, tenant, "approver")
    await b.get(f"/runs/{run.id}")
    before = await snapshot(run.id, tenant.org_id)
    data = {"expected_version": "1", "reason": "r", "mitigation": "m"}
    paths = [
        r.path.replace("{run_id:str}", str(run.id)).replace("{request_id:str}", str(req.id))
        for r in run_pages.routes
        if "POST" in (r.methods or set())
    ]
    assert len(paths) == 6  # release, quarantine, declassify, rerun, approve, deny
    for path in paths:
        r = await b.post(path, data, csrf=False)
        assert r.status_code == 403, path
        assert "security token" in r.text
        wrong = await b.post(path, {**data, "csrf_token": "0" * 64}, csrf=False)
        assert wrong.status_code == 403, path
    # The app-wide sweep (tests/ui/test_pages.py) posts to the placeholders as spelled.
    for route in run_pages.routes:
        if "POST" in (route.methods or set()):
            r = await b.post(route.path, data, csrf=False)
            assert r.status_code == 403 and "security token" in r.text, route.path
    assert await snapshot(run.id, tenant.org_id) == before


async def test_run_pages_have_no_inline_styles_or_scripts(browser: Any, tenant: Any) -> None:
    run = await sev0_run(tenant)
    b = await signed_in(browser, tenant, "approver")
    for path in ["/runs", f"/runs/{run.id}"]:
        html = (await b.get(path)).text
        assert " style=" not in html and "<style" not in html, path
        assert re.findall(r"<script(?![^>]*\ssrc=)", html) == [], path
        assert not re.search(r"<[^>]+\son[a-z]+=", html), path


# ----------------------------------------------------------------------------- on the case


async def test_case_page_lists_its_runs(browser: Any, tenant: Any) -> None:
    run = await sev0_run(tenant)
    b = await signed_in(browser, tenant, "operator")
    page = await b.get(f"/cases/{run.case_id}")
    assert page.status_code == 200
    section = page.text.split('id="runs"')[1].split("</section>")[0]
    assert f'href="/runs/{run.id}"' in section and run.run_id in section
    assert "run-sev-SEV0" in section and "quarantined" in section
    # A strategist works cases but does not read runs: no runs section for them.
    s = await signed_in(browser, tenant, "strategist")
    page = await s.get(f"/cases/{run.case_id}")
    assert page.status_code == 200 and 'id="runs"' not in page.text
