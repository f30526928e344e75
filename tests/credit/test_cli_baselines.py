"""`riskops baseline calculate | update | set` as an operator and the approvers run them (seed 002
"Baseline Management"): a real subprocess against the demo seed on a SQLite file and a throwaway
PostgreSQL database. Each test works on a scenario of its own, so they share one seeded target.
Every change is maker-checker: an approver sets a first baseline by hand at once, but replacing
one in force (calculated or by hand) is a proposal that another approver approves.

The demo records two runs a day for 60 days per scenario, at 0-23 hours before "day N" midnight
of the seed's clock, so a window of N days holds the runs of days 1..N-1: 2 x (N - 1) runs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import Target, one_error_line, seeded_target

pytestmark = pytest.mark.slow

OPERATOR = "operator@demo.riskops.local"
APPROVER = "approver@demo.riskops.local"
APPROVER2 = "approver2@demo.riskops.local"
VIEWER = "viewer@demo.riskops.local"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("cli-baselines")) as made:
        t = made.target
        yield t


# ----------------------------------------------------------------------------- helpers


def _scenario(target: Target, key: str) -> int:
    return int(target.scalar(f"SELECT id FROM scenario WHERE key = '{key}'"))


def _in_force(target: Target, key: str) -> tuple[float, str]:
    """(median, source) of the scenario's baseline in force."""
    row = target.query(
        f"SELECT median, source FROM baseline WHERE scenario_id = {_scenario(target, key)}"
    )
    assert len(row) == 1, row
    return float(row[0][0]), str(row[0][1])


def _user(target: Target, email: str) -> int:
    return int(target.scalar(f"SELECT id FROM app_user WHERE email = '{email}'"))


def _state(target: Target) -> tuple[Any, ...]:
    """Everything a baseline command may change: baselines, changes, the audit chain's length."""
    return (
        target.query("SELECT scenario_id, median, source, set_at FROM baseline ORDER BY id"),
        target.query("SELECT id, status, new_median FROM baseline_change ORDER BY id"),
        target.scalar("SELECT COUNT(*) FROM audit_event"),
    )


def _refused(target: Target, *args: str) -> str:
    """Run a command that must be refused with one error line and change nothing; the line."""
    before = _state(target)
    line = one_error_line(target.run(*args, ok=False))
    assert _state(target) == before, f"{args} was refused but changed the database"
    return line


def _calculated(stdout: str, key: str) -> tuple[float, int]:
    """(median, healthy runs) from the runbook's line "Calculated baseline for KEY: …"."""
    m = re.search(
        rf"^Calculated baseline for {key}: (\d+\.\d\d) \(from (\d+) healthy runs\), CV \d+\.\d\d$",
        stdout,
        re.MULTILINE,
    )
    assert m, stdout
    return float(m.group(1)), int(m.group(2))


def _pct(text: str, before: str) -> float:
    """The signed percentage printed right after `before`."""
    m = re.search(re.escape(before) + r"([+-]\d+\.\d)%", text)
    assert m, text
    return float(m.group(1))


def _proposed(stdout: str) -> int:
    m = re.search(r"^Proposed baseline change (\d+) for ", stdout, re.MULTILINE)
    assert m, stdout
    return int(m.group(1))


def _proposed_manual(stdout: str, key: str, median: float) -> int:
    """The change id from `baseline set` over a baseline in force: a proposal."""
    m = re.match(rf"Proposed manual baseline for {key}: {median:.2f} \(change (\d+)\);", stdout)
    assert m and "approver other than you approves it" in stdout, stdout
    return int(m.group(1))


def _audited(target: Target, action: str, change_id: int) -> list[tuple[Any, ...]]:
    return target.query(
        "SELECT actor, risk_level FROM audit_event WHERE entity_type = 'baseline_change' "
        f"AND action = '{action}' AND entity_id = '{change_id}'"
    )


# ----------------------------------------------------------------------------- calculate


def test_calculate_prints_the_runbook_line_and_changes_nothing(target: Target) -> None:
    key = "BINDER_EXPORT_WEEKLY"
    before = _state(target)
    old, _ = _in_force(target, key)

    done = target.run("baseline", "calculate", "--org", "demo", "--scenario", key)
    median, runs = _calculated(done.stdout, key)
    # The policy's 30 days: days 1..29; the SEV0 of 3 hours ago is not healthy.
    assert runs == 58
    pct = _pct(done.stdout, f"Baseline in force: {old:.2f}; change ")
    assert pct == pytest.approx((median - old) / old * 100, abs=0.1)
    assert "--confirm-large-change" not in done.stdout  # a small drift

    week = target.run("baseline", "calculate", "--org", "demo", "--scenario", key, "--days", "7")
    _, runs = _calculated(week.stdout, key)
    assert runs == 12
    assert _state(target) == before  # calculating is a read: no change, no audit event


def test_calculate_refuses_an_unknown_scenario_org_and_bad_days(target: Target) -> None:
    base = ("baseline", "calculate", "--org", "demo", "--scenario")
    line = _refused(target, *base, "NOPE")
    assert "Scenario NOPE not found." in line
    # Keys match exactly, case and all.
    line = _refused(target, *base, "binder_export_weekly")
    assert "Scenario binder_export_weekly not found." in line
    line = _refused(target, "baseline", "calculate", "--org", "nope", "--scenario", "X")
    assert "no organization with slug or id 'nope'" in line

    for days, why in (
        ("0", "greater than or equal to 1"),
        ("366", "less than or equal to 365"),
        ("a-week", "valid integer"),
    ):
        done = target.run(*base, "BINDER_EXPORT_WEEKLY", "--days", days, ok=False)
        assert done.returncode == 2, done.stderr  # a usage error, before any database work
        assert "Invalid value for '--days'" in done.stderr and why in done.stderr
        assert done.stdout == "" and "Traceback" not in done.stderr


# ----------------------------------------------------------------------------- update


def test_operator_proposes_and_an_approver_approves(target: Target) -> None:
    key = "KYC_DOC_SUMMARY"
    sid = _scenario(target, key)
    old, _ = _in_force(target, key)
    calc = target.run("baseline", "calculate", "--org", "demo", "--scenario", key)
    median, runs = _calculated(calc.stdout, key)
    propose = ("baseline", "update", "--org", "demo", "--scenario", key)

    line = _refused(target, *propose, "--as", VIEWER, "--rationale", "Looks stable")
    assert "Your roles (viewer) do not allow 'baseline.propose'" in line
    line = _refused(target, *propose, "--as", OPERATOR, "--rationale", "   ")
    assert "Rationale is required" in line
    line = _refused(target, *propose, "--as", "nobody@demo.riskops.local", "--rationale", "x")
    assert "no active user 'nobody@demo.riskops.local' in organization 'demo'" in line
    line = _refused(target, *propose, "--as", APPROVER, "--rationale", "x", "--approve")
    assert f"no open baseline proposal for {key}: propose one first" in line

    done = target.run(*propose, "--as", OPERATOR, "--rationale", "Monthly refresh")
    change = _proposed(done.stdout)
    pct = _pct(done.stdout, f"Proposed baseline change {change} for {key}: {old:.2f} -> "
               f"{median:.2f} (")  # fmt: skip
    assert pct == pytest.approx((median - old) / old * 100, abs=0.1)
    assert f"%), from {runs} healthy runs.\n" in done.stdout
    assert "An approver other than you approves it" in done.stdout
    row = target.query(
        "SELECT scenario_id, status, source, old_median, new_median, sample_size, window_days, "
        f"rationale, proposed_by_id, decided_by_id FROM baseline_change WHERE id = {change}"
    )[0]
    assert row[:3] == (sid, "proposed", "calculated")
    assert row[3] == pytest.approx(old) and row[4] == pytest.approx(median, abs=0.005)
    assert row[5:] == (runs, 30, "Monthly refresh", _user(target, OPERATOR), None)
    assert _in_force(target, key)[0] == pytest.approx(old)  # a proposal is not in force
    assert _audited(target, "baseline.propose", change) == [
        (f"user:{_user(target, OPERATOR)}", "low")
    ]

    # One open proposal per scenario: the second one names the first.
    line = _refused(target, *propose, "--as", OPERATOR, "--rationale", "Again")
    assert f"Baseline change {change} for {key}" in line
    assert "proposed by Olga Operator" in line and "is still open" in line
    # An operator proposes but does not approve; flags of the other mode are refused.
    line = _refused(target, *propose, "--as", OPERATOR, "--rationale", "Mine", "--approve")
    assert "Your roles (operator) do not allow 'baseline.approve'" in line
    line = _refused(target, *propose, "--as", APPROVER, "--rationale", "ok", "--approve",
                    "--days", "7")  # fmt: skip
    assert "--days applies to a proposal, not to --approve." in line
    line = _refused(target, *propose, "--as", OPERATOR, "--rationale", "x",
                    "--confirm-large-change")  # fmt: skip
    assert "--confirm-large-change applies to --approve." in line

    done = target.run(*propose, "--as", APPROVER, "--rationale", "Checked the runs", "--approve")
    assert re.search(
        rf"^Approved baseline change {change}: {key} baseline is now {median:.2f} "
        r"\(approved at \d{4}-\d\d-\d\d \d\d:\d\d UTC\)\.$",
        done.stdout,
        re.MULTILINE,
    ), done.stdout
    assert _in_force(target, key) == (pytest.approx(median, abs=0.005), "calculated")
    row = target.query(
        "SELECT status, decided_by_id, decision_rationale, confirmed_large_change "
        f"FROM baseline_change WHERE id = {change}"
    )[0]
    assert row[:3] == ("approved", _user(target, APPROVER), "Checked the runs")
    assert not row[3]
    assert _audited(target, "baseline.approve", change) == [
        (f"user:{_user(target, APPROVER)}", "medium")
    ]
    # Decided: nothing open any more.
    line = _refused(target, *propose, "--as", APPROVER2, "--rationale", "late", "--approve")
    assert f"no open baseline proposal for {key}" in line
    target.run("audit", "verify")


def test_maker_checker_refuses_the_proposer_and_takes_another_approver(target: Target) -> None:
    key = "SAR_NARRATIVE_DRAFTS"
    update = ("baseline", "update", "--org", "demo", "--scenario", key)
    change = _proposed(target.run(*update, "--as", APPROVER, "--rationale", "Mine").stdout)

    line = _refused(target, *update, "--as", APPROVER, "--rationale", "Self", "--approve")
    assert f"You made baseline change {change}" in line and "another approver must" in line
    assert "(maker-checker)" in line
    assert target.scalar(f"SELECT status FROM baseline_change WHERE id = {change}") == "proposed"

    done = target.run(*update, "--as", APPROVER2, "--rationale", "Second pair of eyes",
                      "--approve")  # fmt: skip
    assert f"Approved baseline change {change}: {key} baseline is now" in done.stdout
    row = target.query(
        f"SELECT status, proposed_by_id, decided_by_id FROM baseline_change WHERE id = {change}"
    )[0]
    assert row == ("approved", _user(target, APPROVER), _user(target, APPROVER2))


def test_a_large_change_needs_confirmation_to_propose_and_to_approve(target: Target) -> None:
    key = "MERCHANT_RISK_DIGEST"
    old, _ = _in_force(target, key)
    low = round(old * 0.4, 2)  # -60%: above the policy's 50%
    put = ("baseline", "set", "--org", "demo", "--scenario", key, "--median", str(low),
           "--rationale", "Vendor price cut", "--as", APPROVER)  # fmt: skip
    update = ("baseline", "update", "--org", "demo", "--scenario", key)

    line = _refused(target, *put)
    assert f"The new baseline {low:.2f} is -60.0% from the baseline in force ({old:.2f})" in line
    assert "above 50% needs explicit confirmation" in line
    # Replacing a baseline in force by hand is a proposal (maker-checker), not in force yet.
    manual = _proposed_manual(target.run(*put, "--confirm-large-change").stdout, key, low)
    row = target.query(
        "SELECT status, source, proposed_by_id, confirmed_large_change FROM baseline_change "
        f"WHERE id = {manual}"
    )[0]
    assert row[:3] == ("proposed", "manual", _user(target, APPROVER)) and row[3]
    assert _in_force(target, key) == (pytest.approx(old), "calculated")

    line = _refused(target, *update, "--as", APPROVER, "--rationale", "Self", "--approve",
                    "--confirm-large-change")  # fmt: skip
    assert f"You made baseline change {manual}" in line
    # The checker confirms the large change again: the maker's confirmation is not theirs.
    line = _refused(target, *update, "--as", APPROVER2, "--rationale", "ok", "--approve")
    assert f"The new baseline {low:.2f} is -60.0% from the baseline in force" in line
    done = target.run(*update, "--as", APPROVER2, "--rationale", "Price cut confirmed",
                      "--approve", "--confirm-large-change")  # fmt: skip
    assert f"Approved baseline change {manual}: {key} baseline is now {low:.2f}" in done.stdout
    assert _in_force(target, key) == (pytest.approx(low), "manual")

    # Back to what the runs say: more than +50% from the manual baseline.
    calc = target.run("baseline", "calculate", "--org", "demo", "--scenario", key)
    median, _ = _calculated(calc.stdout, key)
    assert "(above the limit: approving needs --confirm-large-change)" in calc.stdout
    change = _proposed(target.run(*update, "--as", OPERATOR, "--rationale", "Runs").stdout)

    line = _refused(target, *update, "--as", APPROVER, "--rationale", "ok", "--approve")
    pct = _pct(line, f"The new baseline {median:.2f} is ")
    assert pct == pytest.approx((median - low) / low * 100, abs=0.1) and pct > 50
    assert f"% from the baseline in force ({low:.2f})" in line
    assert target.scalar(f"SELECT status FROM baseline_change WHERE id = {change}") == "proposed"
    done = target.run(*update, "--as", APPROVER, "--rationale", "Checked", "--approve",
                      "--confirm-large-change")  # fmt: skip
    assert f"{key} baseline is now {median:.2f}" in done.stdout
    assert _in_force(target, key) == (pytest.approx(median, abs=0.005), "calculated")
    row = target.query(
        f"SELECT status, confirmed_large_change FROM baseline_change WHERE id = {change}"
    )[0]
    assert row[0] == "approved" and row[1]
    target.run("audit", "verify")


# ----------------------------------------------------------------------------- set


def test_first_baseline_of_a_new_scenario_is_set_at_once(target: Target, tmp_path: Path) -> None:
    """Runbook "Baseline not found for scenario": a scenario whose runs were recorded without a
    baseline gets a manual one at once; a calculated proposal made before is then stale."""
    key = "CLI_NEW_SCENARIO"
    credits = [480.0, 500.0, 510.0, 520.0, 530.0]
    now = datetime.now(UTC)
    runs = [
        {"run_id": f"CLI-NEW-{i}", "scenario": key, "job_type": "batch",
         "started_at": (now - timedelta(days=i + 1)).isoformat(), "credits_total": c,
         "data_classification": "internal"}
        for i, c in enumerate(credits)
    ]  # fmt: skip
    # One run 40 days ago, outside the 30-day window: the calculation does not see it, but the
    # healthy runs then span the 30 days a baseline update needs (seed 002 prerequisites).
    runs.append({"run_id": "CLI-NEW-OLD", "scenario": key, "job_type": "batch",
                 "started_at": (now - timedelta(days=40)).isoformat(), "credits_total": 300.0,
                 "data_classification": "internal"})  # fmt: skip
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text("".join(json.dumps(r) + "\n" for r in runs), encoding="utf-8")
    assert "6 stored" in target.run("runs", "import", str(ledger), "--org", "demo").stdout
    sid = _scenario(target, key)
    assert target.query(f"SELECT id FROM baseline WHERE scenario_id = {sid}") == []

    calc = target.run("baseline", "calculate", "--org", "demo", "--scenario", key)
    assert _calculated(calc.stdout, key) == (510.0, 5)
    assert "No baseline in force yet: this would be the first one." in calc.stdout
    update = ("baseline", "update", "--org", "demo", "--scenario", key)
    done = target.run(*update, "--as", OPERATOR, "--rationale", "First baseline")
    change = _proposed(done.stdout)
    assert f"for {key}: none -> 510.00, from 5 healthy runs." in done.stdout

    # A first baseline by hand would leave the open proposal undecidable: it is refused until
    # the proposal is decided; the approver rejects it from the CLI.
    set_cmd = ("baseline", "set", "--org", "demo", "--scenario", key, "--median", "505.5",
               "--rationale", "Baseline not found for scenario", "--as", APPROVER)  # fmt: skip
    line = _refused(target, *set_cmd)
    assert f"Baseline change {change} for {key} is still open" in line
    rejected = target.run("baseline", "reject", "--org", "demo", "--scenario", key, "--as",
                          APPROVER, "--reason", "a manual baseline instead")  # fmt: skip
    assert f"Rejected baseline change {change} for {key}" in rejected.stdout
    done = target.run(*set_cmd)
    # Even a first baseline by hand is a proposal (issue 11 item 13): nothing is in force yet.
    manual = _proposed_manual(done.stdout, key, 505.5)
    assert target.query(f"SELECT id FROM baseline WHERE scenario_id = {sid}") == []
    approver = _user(target, APPROVER)
    row = target.query(
        "SELECT status, source, old_median, sample_size, proposed_by_id, decided_by_id "
        f"FROM baseline_change WHERE id = {manual}"
    )[0]
    assert row == ("proposed", "manual", None, 0, approver, None)
    assert _audited(target, "baseline.propose", manual) == [(f"user:{approver}", "low")]
    withdrawn = target.run("baseline", "reject", "--org", "demo", "--scenario", key, "--as",
                           APPROVER, "--reason", "withdrawn")  # fmt: skip
    assert f"Rejected baseline change {manual} for {key}" in withdrawn.stdout
    target.run("audit", "verify")


def test_replacing_a_baseline_by_hand_is_proposed_then_approved(target: Target) -> None:
    # Not LEDGER_RECON_NIGHTLY: its demo SEV1 of yesterday keeps every baseline update out for
    # 14 days (seed 002 prerequisites), a manual one too.
    key = "CHARGEBACK_TRIAGE"
    sid = _scenario(target, key)
    old, _ = _in_force(target, key)
    median = round(old * 1.2, 2)  # +20%: no confirmation needed
    put = ("baseline", "set", "--org", "demo", "--scenario", key, "--rationale",
           "New reconciliation vendor")  # fmt: skip

    line = _refused(target, *put, "--median", str(median), "--as", OPERATOR)
    assert "Your roles (operator) do not allow 'baseline.approve'" in line
    for bad in ("0", "-5", "nan", "1e13"):
        line = _refused(target, *put, "--median", bad, "--as", APPROVER)
        assert "Median credits must be greater than 0" in line
    line = _refused(target, "baseline", "set", "--org", "demo", "--scenario", "NOPE",
                    "--median", "10", "--rationale", "x", "--as", APPROVER)  # fmt: skip
    assert "Scenario NOPE not found." in line
    line = _refused(target, "baseline", "set", "--org", "demo", "--scenario", key,
                    "--median", "10", "--rationale", " ", "--as", APPROVER)  # fmt: skip
    assert "Rationale is required" in line
    done = target.run(*put, "--median", "lots", "--as", APPROVER, ok=False)
    assert done.returncode == 2 and "Invalid value for '--median'" in done.stderr

    change = _proposed_manual(target.run(*put, "--median", str(median), "--as", APPROVER).stdout,
                            key, median)  # fmt: skip
    approver = _user(target, APPROVER)
    row = target.query(
        "SELECT scenario_id, source, status, old_median, new_median, sample_size, rationale, "
        "proposed_by_id, decided_by_id FROM baseline_change "
        f"WHERE id = {change}"
    )[0]
    assert row[:3] == (sid, "manual", "proposed")
    assert row[3] == pytest.approx(old) and row[4] == pytest.approx(median)
    assert row[5:] == (0, put[-1], approver, None)
    assert _in_force(target, key) == (pytest.approx(old), "calculated")
    assert _audited(target, "baseline.propose", change) == [(f"user:{approver}", "low")]
    # One open proposal per scenario, whichever way it was made.
    line = _refused(target, *put, "--median", str(median + 1), "--as", APPROVER2)
    assert f"Baseline change {change} for {key} is still open" in line
    line = _refused(target, "baseline", "update", "--org", "demo", "--scenario", key,
                    "--as", OPERATOR, "--rationale", "Runs")  # fmt: skip
    assert f"Baseline change {change} for {key}" in line and "is still open" in line

    done = target.run("baseline", "update", "--org", "demo", "--scenario", key, "--as",
                      APPROVER2, "--rationale", "Vendor contract seen", "--approve")  # fmt: skip
    assert f"Approved baseline change {change}: {key} baseline is now {median:.2f}" in done.stdout
    assert _in_force(target, key) == (pytest.approx(median), "manual")
    assert _audited(target, "baseline.approve", change) == [
        (f"user:{_user(target, APPROVER2)}", "medium")
    ]
    target.run("audit", "verify")


def test_set_over_a_baseline_in_force_says_it_is_a_proposal(target: Target) -> None:
    key = "SAR_NARRATIVE_DRAFTS"
    old, _ = _in_force(target, key)
    median = str(round(old * 1.1, 2))
    done = target.run("baseline", "set", "--org", "demo", "--scenario", key, "--median", median,
                      "--rationale", "Interim", "--as", APPROVER)  # fmt: skip
    assert _in_force(target, key) == (pytest.approx(old), "calculated")  # holds today
    assert "propos" in done.stdout.lower() and "approv" in done.stdout.lower()
