"""Issue 11 item 5: every number of credit monitoring is finite and within its documented range
(docs/CREDIT_MONITORING.md "Ranges"), refused per ledger line with the field and the range, and
nothing is stored; at the largest accepted values the aggregates (baseline candidates, the
scenario page and GraphQL `scenario`, the weekly report and its chart) still work, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from riskops.server.credit import candidates, ledger
from riskops.server.credit import reports as report_svc
from riskops.server.credit.models import Baseline, BaselineSource, PolicyVersion, Run, Scenario
from riskops.server.credit.recording import record_runs
from tests.credit.test_baselines_api import SCENARIO

RECORD = """mutation($input: [RunInput!]!) { recordRuns(input: $input) {
  recorded { runId } itemErrors { index field code message } errors { code message } } }"""
RANGE = "from 0 to 1,000,000,000,000"


async def _stored(org_id: int) -> tuple[int, int]:
    return await Run.filter(org_id=org_id).count(), await Scenario.filter(org_id=org_id).count()


async def test_graphql_refuses_huge_and_negative_numbers_per_item(api: Any, tenant: Any) -> None:
    user, _ = await tenant.user("admin")
    token = str(await api.token(tenant, user))
    items = [
        {"runId": "R-HUGE", "scenario": "S", "creditsTotal": 1e308},
        {"runId": "R-NEG", "scenario": "S", "creditsTotal": -1},
        {"runId": "R-RETRY", "scenario": "S", "creditsTotal": 1, "retryCount": 2_000_000},
        {"runId": "R-TOK", "scenario": "S", "creditsTotal": 1, "promptTokens": -5},
    ]
    out = (await api.data(token, RECORD, {"input": items}))["recordRuns"]
    assert out["recorded"] == [] and out["errors"] == []
    by_index = {e["index"]: e for e in out["itemErrors"]}
    assert set(by_index) == {0, 1, 2, 3}
    assert by_index[0]["field"] == "credits_total" and RANGE in by_index[0]["message"]
    assert "1e+308" in by_index[0]["message"]
    assert by_index[1]["field"] == "credits_total" and RANGE in by_index[1]["message"]
    assert by_index[2]["field"] == "retry_count" and "from 0 to 1,000,000" in by_index[2]["message"]
    assert by_index[3]["field"] == "prompt_tokens" and RANGE in by_index[3]["message"]
    assert await _stored(tenant.org_id) == (0, 0)


async def test_policy_page_and_graphql_refuse_numbers_out_of_range(
    api: Any, browser: Any, tenant: Any
) -> None:
    user, _ = await tenant.user("approver")
    token = str(await api.token(tenant, user))
    b = await browser(user, tenant.password)
    await b.get("/policy")
    before = await PolicyVersion.filter(org_id=tenant.org_id).count()
    for value in ("1e308", "inf", "nan", "-3"):
        r = await b.post(
            "/policy", {"sev0_multiplier": value, "reason": "try", "expected_number": "0"}
        )
        assert r.status_code == 422, (value, r.status_code)
        assert "sev0_multiplier" in r.text
    r = await b.post(
        "/policy",
        {"deployment_window_minutes": "99999999999", "reason": "x", "expected_number": "0"},
    )
    assert r.status_code == 422 and "at most 10,080" in r.text
    q = """mutation($v: JSON!) { changePolicy(values: $v, reason: "x", expectedNumber: 0) {
      errors { code field message } } }"""
    out = (await api.data(token, q, {"v": {"sev2_pattern_days": 10**9}}))["changePolicy"]
    assert out["errors"][0]["field"] == "sev2_pattern_days"
    assert "at most 366" in out["errors"][0]["message"]
    out = (await api.data(token, q, {"v": {"candidate_max_cv": 1e308}}))["changePolicy"]
    assert out["errors"][0]["field"] == "candidate_max_cv"
    assert await PolicyVersion.filter(org_id=tenant.org_id).count() == before


async def test_largest_accepted_values_keep_every_aggregate_working(
    api: Any, browser: Any, tenant: Any
) -> None:
    """Twelve runs at the largest credits (and tokens) a ledger line may carry, in one scenario
    with the largest manual baseline: candidates, scenario page and query, report and chart."""
    user, principal = await tenant.user("approver", "admin")
    today = datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday() + 7)
    start = datetime.combine(monday, datetime.min.time(), tzinfo=UTC)
    big = ledger.MAX_CREDITS
    s = await Scenario.create(org_id=tenant.org_id, key="BIG", name="Big", created_at=start)
    await Baseline.create(org_id=tenant.org_id, scenario_id=s.id, median=1e12, sample_size=20,
                          source=BaselineSource.MANUAL, set_at=start)  # fmt: skip
    lines = [
        {"run_id": f"BIG-{i}", "scenario": "BIG", "credits_total": big - i,
         "prompt_tokens": ledger.MAX_COUNT, "completion_tokens": ledger.MAX_COUNT,
         "items_processed": ledger.MAX_COUNT, "retry_count": 0,
         "started_at": (start + timedelta(hours=i + 1)).isoformat()}
        for i in range(12)
    ]  # fmt: skip
    result = await record_runs(principal, lines)
    assert result.errors == [] and len(result.recorded) == 12

    found = await candidates.candidates_in_period(
        tenant.org_id, start, start + timedelta(days=7), (await _policy(tenant.org_id))
    )
    assert found and found[0].runs == 12 and found[0].cv is not None

    report = await report_svc.generate_weekly_report(principal, monday)
    top = report.payload["top_scenarios_by_total"][0]
    assert top["runs"] == 12 and top["total"] == pytest.approx(12 * big - 66)

    token = str(await api.token(tenant, user))
    got = (await api.data(token, SCENARIO, {"key": "BIG"}))["scenario"]
    assert got["scenario"]["key"] == "BIG"

    b = await browser(user, tenant.password)
    page = await b.get("/scenarios/BIG")
    assert page.status_code == 200 and "<svg" in page.text
    shown = await b.get(f"/reports/{report.id}")
    assert shown.status_code == 200 and "<svg" in shown.text


async def _policy(org_id: int) -> Any:
    from riskops.server.credit.policy import current_policy

    return (await current_policy(org_id)).policy


@pytest.mark.slow
def test_cli_import_refuses_nan_infinity_and_huge_per_line(tmp_path: Path) -> None:
    from tests.cli.test_cli import seeded_target

    good = {"Run_ID": "OK-1", "Scenario_ID": "S", "Credits_Total": 10}
    bad = ['{"Run_ID": "B-1", "Scenario_ID": "S", "Credits_Total": NaN}',
           '{"Run_ID": "B-2", "Scenario_ID": "S", "Credits_Total": Infinity}',
           '{"Run_ID": "B-3", "Scenario_ID": "S", "Credits_Total": 1e308}',
           '{"Run_ID": "B-4", "Scenario_ID": "S", "Credits_Total": -5}']  # fmt: skip
    ledger_file = tmp_path / "ledger.jsonl"
    ledger_file.write_text("\n".join([json.dumps(good), *bad]) + "\n")
    with seeded_target("sqlite", tmp_path) as made:
        t = made.target
        before = t.scalar("SELECT COUNT(*) FROM run")
        done = t.run("runs", "import", str(ledger_file), "--org", "demo", ok=False)
        assert done.returncode == 1
        for line in (2, 3, 4, 5):
            assert f"line {line}" in done.stderr.lower() or f"line {line}" in done.stdout.lower()
        assert "Credits_Total" in done.stderr + done.stdout
        assert RANGE in done.stderr + done.stdout
        assert t.scalar("SELECT COUNT(*) FROM run") == before + 1
        assert t.scalar("SELECT COUNT(*) FROM run WHERE run_id LIKE 'B-%'") == 0


def test_a_multiplier_over_a_minute_baseline_stays_finite() -> None:
    from riskops.server.credit.classification import MAX_MULTIPLIER, multiplier

    assert multiplier(ledger.MAX_CREDITS, 1e-300) == MAX_MULTIPLIER
    assert multiplier(600.0, 100.0) == 6.0


def test_minute_credits_and_medians_cannot_make_ratios_overflow() -> None:
    from riskops.server.core.errors import Invalid
    from riskops.server.credit.baselines import _median_value

    out = ledger.parse_record({"run_id": "R", "scenario": "S", "credits_total": 1e-300})
    assert out["credits_total"] == 0.0
    with pytest.raises(Invalid, match="at least 1e-06"):
        _median_value(1e-300)
    assert _median_value(1e-6) == 1e-6
