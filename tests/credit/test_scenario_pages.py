"""The scenario pages, driven like a browser: the list, a scenario's page with its SVG chart,
calculate, propose, approve (with the large-change confirmation) and reject, the manual baseline
and the configuration form. Each refused form shows its error inline and changes nothing."""

from __future__ import annotations

from datetime import timedelta

from riskops.server.core.approvals import ChangeStatus
from riskops.server.credit import baselines as svc
from riskops.server.credit.models import Baseline, BaselineChange, Scenario
from riskops.server.credit.terms import Severity
from riskops.ui.common.charts import Band, Bar, Line, Point, bar_chart, line_chart
from tests.credit.test_baselines_service import (
    NOW,
    STEADY,
    add_history,
    add_runs,
    scenario,
    set_baseline,
    state,
)
from tests.support.pages import flash_code


async def test_list_and_detail_pages(browser, tenant):
    user, _ = await tenant.user("viewer")
    s = await scenario(tenant.org_id, "A_PAGE")
    await add_runs(s, STEADY)
    await add_runs(s, [800.0], severity=Severity.SEV1)
    await set_baseline(s, 100.0)
    await scenario(tenant.org_id, "B_<b>EMPTY")
    b = await browser(user, tenant.password)

    listing = await b.get("/scenarios")
    assert listing.status_code == 200
    assert 'href="/scenarios/A_PAGE"' in listing.text and "100.00" in listing.text
    assert "B_&lt;b&gt;EMPTY" in listing.text and "no baseline" in listing.text

    page = await b.get("/scenarios/A_PAGE")
    assert page.status_code == 200
    html = page.text
    assert '<svg class="chart"' in html and 'class="chart-band chart-baseline"' in html
    assert html.count('class="chart-point sev-none"') == 12
    assert html.count('class="chart-point sev-SEV1"') == 1
    assert "SEV2 x2" in html and "SEV1 x5" in html
    assert "had SEV0/SEV1 runs in the period" in html
    assert 'action="/scenarios/A_PAGE/propose"' not in html  # a viewer proposes nothing
    assert 'action="/scenarios/A_PAGE/calculate"' in html
    assert (await b.get("/scenarios/a_page")).status_code == 404
    assert (await b.get("/scenarios/B_%3Cb%3EEMPTY")).status_code == 200


async def test_calculate_shows_the_result_and_errors_inline(browser, tenant):
    user, _ = await tenant.user("viewer")
    s = await scenario(tenant.org_id)
    await add_runs(s, [100.0, 120.0], age=timedelta(days=2))
    b = await browser(user, tenant.password)
    await b.get(f"/scenarios/{s.key}")
    before = await state(tenant.org_id)
    r = await b.post(f"/scenarios/{s.key}/calculate", {"days": "7"})
    assert r.status_code == 200
    assert f"Calculated baseline for {s.key}: <strong>110.00</strong>" in r.text
    assert "from 2 healthy runs over 7 days" in r.text
    bad = await b.post(f"/scenarios/{s.key}/calculate", {"days": "0"})
    assert bad.status_code == 422 and 'id="days-error"' in bad.text
    none = await b.post(f"/scenarios/{s.key}/calculate", {"days": "1"})
    assert none.status_code == 422 and "manual baseline" in none.text
    assert await state(tenant.org_id) == before


async def test_propose_and_approve_with_confirmation(browser, tenant):
    op_user, _ = await tenant.user("operator")
    ap_user, _ = await tenant.user("approver")
    s = await scenario(tenant.org_id)
    await add_runs(s, [300.0, 300.0])  # a CV needs two runs
    await add_history(s, 300.0)
    await set_baseline(s, 100.0)
    op = await browser(op_user, tenant.password)
    await op.get(f"/scenarios/{s.key}")
    empty = await op.post(f"/scenarios/{s.key}/propose", {"days": "", "rationale": ""})
    assert empty.status_code == 422 and 'id="rationale-error"' in empty.text
    r = await op.post(f"/scenarios/{s.key}/propose", {"days": "", "rationale": "legit load"})
    assert r.status_code == 303 and flash_code(r) == "baseline.proposed"
    change = await BaselineChange.get(scenario_id=s.id)
    dup = await op.post(f"/scenarios/{s.key}/propose", {"days": "", "rationale": "again"})
    assert dup.status_code == 409 and f"Baseline change {change.id}" in dup.text

    ap = await browser(ap_user, tenant.password)
    page = await ap.get(f"/scenarios/{s.key}")
    assert 'name="confirm_large_change"' in page.text and "+200.0%" in page.text
    before = await state(tenant.org_id)
    refused = await ap.post(f"/scenarios/{s.key}/approve",
                            {"change_id": str(change.id), "rationale": "ok"})  # fmt: skip
    assert refused.status_code == 422 and 'id="confirm_large_change-error"' in refused.text
    assert await state(tenant.org_id) == before
    done = await ap.post(f"/scenarios/{s.key}/approve",
                         {"change_id": str(change.id), "rationale": "ok",
                          "confirm_large_change": "1"})  # fmt: skip
    assert done.status_code == 303
    assert (await Baseline.get(scenario_id=s.id)).median == 300.0
    history = await ap.get(done.headers["location"])
    assert "Baseline update approved" in history.text and "approved" in history.text
    again = await ap.post(f"/scenarios/{s.key}/approve",
                          {"change_id": str(change.id), "rationale": "ok"})  # fmt: skip
    assert again.status_code == 409 and "Nothing was changed" in again.text


async def test_own_proposal_reject_and_operator_refused(browser, tenant):
    ap_user, ap_principal = await tenant.user("approver")
    op_user, _ = await tenant.user("operator")
    s = await scenario(tenant.org_id)
    await add_runs(s, [100.0, 100.0])
    await add_history(s)
    change = await svc.propose_baseline_update(ap_principal, s.key, 30, "mine")
    ap = await browser(ap_user, tenant.password)
    page = await ap.get(f"/scenarios/{s.key}")
    assert "You proposed this change" in page.text
    assert f'action="/scenarios/{s.key}/approve"' not in page.text
    op = await browser(op_user, tenant.password)
    before = await state(tenant.org_id)
    own = await ap.post(f"/scenarios/{s.key}/approve",
                        {"change_id": str(change.id), "rationale": "ok"})  # fmt: skip
    assert own.status_code == 403 and "maker-checker" in own.text
    await op.get(f"/scenarios/{s.key}")
    denied = await op.post(f"/scenarios/{s.key}/reject",
                           {"change_id": str(change.id), "reason": "no"})  # fmt: skip
    assert denied.status_code == 403
    assert await state(tenant.org_id) == before
    withdrawn = await ap.post(f"/scenarios/{s.key}/reject",
                              {"change_id": str(change.id), "reason": "wrong window"})  # fmt: skip
    assert withdrawn.status_code == 303
    assert (await BaselineChange.get(id=change.id)).status is ChangeStatus.REJECTED


async def test_manual_baseline_and_config_forms(browser, tenant, other_tenant):
    ap_user, _ = await tenant.user("approver")
    s = await scenario(tenant.org_id)
    b = await browser(ap_user, tenant.password)
    await b.get(f"/scenarios/{s.key}")
    before = await state(tenant.org_id)
    for median, field in (("abc", "median"), ("-5", "median"), ("", "median")):
        r = await b.post(f"/scenarios/{s.key}/manual", {"median": median, "rationale": "x"})
        assert r.status_code == 422 and f'id="{field}-error"' in r.text
    assert await state(tenant.org_id) == before
    ok = await b.post(f"/scenarios/{s.key}/manual", {"median": "1,250.50", "rationale": "new"})
    assert ok.status_code == 303
    # A proposal, even for a first baseline (item 13): another approver puts it in force.
    proposed = await BaselineChange.get(scenario_id=s.id)
    assert proposed.status is ChangeStatus.PROPOSED and proposed.new_median == 1250.5
    assert await Baseline.get_or_none(scenario_id=s.id) is None
    shown = await b.get(ok.headers["location"])
    assert "another approver must approve it" in shown.text
    assert "In force at once" not in shown.text

    form = {"name": "Binder", "max_items": "1000", "data_classification": "pii",
            "dispatch_target": "", "expected_version": "1"}  # fmt: skip
    saved = await b.post(f"/scenarios/{s.key}/config", form)
    assert saved.status_code == 303
    fresh = await Scenario.get(id=s.id)
    assert (fresh.name, fresh.max_items, fresh.data_classification, fresh.version) == (
        "Binder", 1000, "pii", 2
    )  # fmt: skip
    before = await state(tenant.org_id)
    stale = await b.post(f"/scenarios/{s.key}/config", {**form, "name": "Other"})
    assert stale.status_code == 409 and "Nothing was changed" in stale.text
    bad = await b.post(f"/scenarios/{s.key}/config",
                       {**form, "max_items": "lots", "expected_version": "2"})  # fmt: skip
    assert bad.status_code == 422 and 'id="max_items-error"' in bad.text
    theirs = await scenario(other_tenant.org_id)
    missing = await b.post(f"/scenarios/{theirs.key}/config", form)
    assert missing.status_code == 404
    assert await state(tenant.org_id) == before


def test_charts_escape_text_and_scale():
    svg = line_chart(
        [Point(NOW - timedelta(days=1), 50.0, "sev-none", "<script>"), Point(NOW, 150.0)],
        band=Band(40, 60, "band <b>"),
        lines=[Line(200, "limit & more", "sev-SEV1")],
        title="Credits <x>",
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "band &lt;b&gt;" in svg and "limit &amp; more" in svg
    assert 'aria-label="Credits &lt;x&gt; (2 points)"' in svg
    assert svg.count("<circle") == 2 and 'stroke-dasharray="6 4"' in svg
    assert "No runs" in line_chart([], empty_text="No runs")
    bars = bar_chart([Bar("SEV0", 2), Bar("SEV<1>", 5, shown="5 runs")], title="Counts")
    assert bars.count("<rect") == 2 and "SEV&lt;1&gt;" in bars
    # The longest bar fills the bar area (320), the others in proportion; values are printed.
    assert 'width="128.0"' in bars and 'width="320.0"' in bars and ">5 runs</text>" in bars


async def test_every_scenario_form_refuses_a_missing_csrf_token(browser, tenant):
    ap_user, _ = await tenant.user("approver")
    s = await scenario(tenant.org_id)
    b = await browser(ap_user, tenant.password)
    before = await state(tenant.org_id)
    form = {"median": "10", "rationale": "x", "reason": "x", "change_id": "1", "name": "N",
            "data_classification": "pii", "expected_version": "1", "days": "7"}  # fmt: skip
    for action in ("calculate", "propose", "approve", "reject", "manual", "config"):
        r = await b.post(f"/scenarios/{s.key}/{action}", form, csrf=False)
        assert r.status_code == 403 and "security token" in r.text, action
    assert await state(tenant.org_id) == before


async def test_a_change_is_decided_only_on_its_own_scenarios_page(browser, tenant, other_tenant):
    """The change id comes from the form: another scenario's change, or another organization's,
    must read as not found on this scenario's page, and nothing is decided."""
    ap_user, _ = await tenant.user("approver")
    _, operator = await tenant.user("operator")
    a, b = await scenario(tenant.org_id), await scenario(tenant.org_id)
    await add_runs(b, [100.0, 100.0])
    await add_history(b)
    change_b = await svc.propose_baseline_update(operator, b.key, 30, "b's change")
    other = await scenario(other_tenant.org_id)
    await add_runs(other, [100.0, 100.0])
    await add_history(other)
    _, other_op = await other_tenant.user("operator")
    theirs = await svc.propose_baseline_update(other_op, other.key, 30, "theirs")
    ap = await browser(ap_user, tenant.password)
    await ap.get(f"/scenarios/{a.key}")
    before = await state(tenant.org_id)
    for change_id in (change_b.id, theirs.id):
        for action, field in (("approve", "rationale"), ("reject", "reason")):
            r = await ap.post(f"/scenarios/{a.key}/{action}",
                              {"change_id": str(change_id), field: "x"})  # fmt: skip
            assert r.status_code == 404, (change_id, action, r.status_code)
    assert await state(tenant.org_id) == before
    assert (await BaselineChange.get(id=change_b.id)).status is ChangeStatus.PROPOSED
    assert (await BaselineChange.get(id=theirs.id)).status is ChangeStatus.PROPOSED


async def test_the_chart_band_and_lines_follow_the_policy_in_force(browser, tenant):
    from tests.credit.test_controls_service import propose_and_approve

    user, _ = await tenant.user("viewer")
    s = await scenario(tenant.org_id, "A_POLICY")
    await add_runs(s, STEADY)
    await set_baseline(s, 100.0)
    b = await browser(user, tenant.password)
    before = (await b.get("/scenarios/A_POLICY")).text
    assert "baseline ÷1.5 to \u00d71.5" in before and "(/1.5 to x1.5)" in before
    await propose_and_approve(tenant, {"sev3_multiplier": 1.25, "sev2_multiplier": 3.0}, expected=0)
    after = (await b.get("/scenarios/A_POLICY")).text
    assert "baseline ÷1.25 to \u00d71.25" in after and "(/1.25 to x1.25)" in after
    assert "SEV2 x3" in after and "SEV2 x2" not in after
