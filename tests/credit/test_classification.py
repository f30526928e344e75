"""Run classification, table-driven: every severity boundary, each flag's trigger and non-trigger,
likelihood levels, automatic actions, the rerun gate, baseline math and policy validation."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

import pytest

from riskops.server.core.errors import Invalid
from riskops.server.credit.baseline_rules import (
    BaselineStats,
    baseline,
    baseline_candidate_reasons,
    change_pct,
    is_baseline_candidate,
    is_healthy,
    needs_confirmation,
)
from riskops.server.credit.classification import (
    FLAG_RULES,
    Classification,
    RunFacts,
    ScenarioStats,
    actions,
    classify,
    is_persistent_sev2,
    rerun_requires_approval,
)
from riskops.server.credit.terms import (
    LEGIT_FLAGS,
    MISCONFIG_FLAGS,
    AutoAction,
    Likelihood,
    Policy,
    RiskFlag,
    Severity,
)

F = RiskFlag
A = AutoAction
L = Likelihood
S = Severity
BASE = ScenarioStats(baseline_median=40)
T0 = datetime(2024, 1, 23, 10, 0, tzinfo=UTC)


# --- severity -------------------------------------------------------------------------------

# (credits with a baseline median of 40, data classification, backfill) -> severity
SEVERITY_CASES = [
    (400, "pii", False, S.SEV0),  # exactly 10x and PII
    (400, "regulatory", False, S.SEV0),
    (399.99, "pii", False, S.SEV1),  # just below 10x
    (4000, None, False, S.SEV1),  # 100x without PII or regulatory data is SEV1, never SEV0
    (400, "internal", False, S.SEV1),
    (200, None, False, S.SEV1),  # exactly 5x
    (199.99, None, False, S.SEV2),
    (80, None, False, S.SEV2),  # exactly 2x
    (79.99, None, False, S.SEV3),
    (60, None, False, S.SEV3),  # exactly 1.5x
    (59.99, None, False, None),
    (40, None, False, None),
    (0, None, False, None),
    # backfill mode: SEV1 needs 5 x 2 = 10x; SEV0 is not relaxed
    (200, None, True, S.SEV2),
    (399.99, None, True, S.SEV2),
    (400, None, True, S.SEV1),
    (400, "pii", True, S.SEV0),
    (80, None, True, S.SEV2),
    (60, None, True, S.SEV3),
]


@pytest.mark.parametrize(("credits", "data", "backfill", "expected"), SEVERITY_CASES)
def test_severity(credits, data, backfill, expected):
    facts = RunFacts(credits_total=credits, data_classification=data, scenario_backfill=backfill)
    c = classify(facts, BASE)
    assert c.severity == expected
    assert c.multiplier == pytest.approx(credits / 40)
    assert F.NO_BASELINE not in c.flags


@pytest.mark.parametrize("flag", ["pii_exposure", "regulatory_data"])
def test_sev0_from_a_producer_flag(flag):
    c = classify(RunFacts(credits_total=400, producer_flags=frozenset({flag})), BASE)
    assert c.severity is S.SEV0


@pytest.mark.parametrize(
    ("credits", "median", "expected"), [(0.3, 0.1, S.SEV2), (0.15, 0.1, S.SEV3)]
)
def test_multiplier_is_rounded_so_float_noise_does_not_miss_a_boundary(credits, median, expected):
    # 0.3 / 0.1 == 2.9999999999999996 and 0.15 / 0.1 == 1.4999999999999998 in floats
    c = classify(RunFacts(credits_total=credits), ScenarioStats(baseline_median=median))
    assert c.severity is expected


@pytest.mark.parametrize("median", [None, 0])
@pytest.mark.parametrize(("credits", "data"), [(10, None), (10_000, None), (10_000, "pii")])
def test_no_baseline_means_no_severity_and_the_no_baseline_flag(median, credits, data):
    facts = RunFacts(credits_total=credits, data_classification=data)
    c = classify(facts, ScenarioStats(baseline_median=median))
    assert (c.multiplier, c.severity) == (None, None)
    assert F.NO_BASELINE in c.flags
    assert actions(c) == ()
    assert not rerun_requires_approval(c)
    assert c.severity_reason.startswith("no baseline for this scenario")


def test_a_custom_policy_moves_the_boundaries():
    policy = Policy(sev0_multiplier=20, sev1_multiplier=12)
    facts = RunFacts(credits_total=400, data_classification="pii")  # 10x
    assert classify(facts, BASE, policy).severity is S.SEV2
    backfill = RunFacts(credits_total=240, scenario_backfill=True)  # 6x
    assert classify(backfill, BASE).severity is S.SEV2
    assert classify(backfill, BASE, Policy(backfill_relax=1)).severity is S.SEV1


# --- explanations ---------------------------------------------------------------------------

REASON_CASES = [
    (
        RunFacts(credits_total=492, data_classification="pii"),
        "credits \u00d712.3 the baseline median of 40.00 "
        "(SEV0 needs ≥ \u00d710 and PII or regulatory data)",
    ),
    (
        RunFacts(credits_total=492),
        "credits \u00d712.3 the baseline median of 40.00 "
        "(SEV1 needs ≥ \u00d75; no PII or regulatory data)",
    ),
    (
        RunFacts(credits_total=240),
        "credits \u00d76 the baseline median of 40.00 (SEV1 needs ≥ \u00d75)",
    ),
    (
        RunFacts(credits_total=240, scenario_backfill=True),
        "credits \u00d76 the baseline median of 40.00 (SEV2 needs ≥ \u00d72; SEV1 ≥ \u00d710 "
        "(\u00d75 relaxed \u00d72 for backfill))",
    ),
    (
        RunFacts(credits_total=70),
        "credits \u00d71.75 the baseline median of 40.00 (SEV3 needs ≥ \u00d71.5)",
    ),
    (
        RunFacts(credits_total=4_000_000),
        "credits \u00d7100,000 the baseline median of 40.00 "
        "(SEV1 needs ≥ \u00d75; no PII or regulatory data)",
    ),
    (
        RunFacts(credits_total=20),
        "credits \u00d70.5 the baseline median of 40.00: below SEV3 (≥ \u00d71.5), no severity",
    ),
]


@pytest.mark.parametrize(("facts", "reason"), REASON_CASES)
def test_severity_reason_says_multiplier_baseline_and_rule(facts, reason):
    assert classify(facts, BASE).severity_reason == reason


def test_one_explanation_for_the_severity_and_one_per_flag():
    facts = RunFacts(
        credits_total=492,
        retry_count=7,
        data_classification="pii",
        producer_flags=frozenset({"deployment_correlation"}),
    )
    c = classify(facts, BASE)
    assert c.flags == (F.DEPLOYMENT_CORRELATION, F.PII_EXPOSURE, F.RETRY_LOOP)
    assert c.explanations == [
        c.severity_reason,
        "reported by the producer",
        "touched data classified pii",
        "retried 7 times (the limit is 3)",
    ]


# --- flags ----------------------------------------------------------------------------------

STATS = ScenarioStats(baseline_median=40, median_credits_per_item=1.0, median_prompt_tokens=1000)

# (flag, run facts, scenario stats, raised?)
FLAG_CASES = [
    (F.RETRY_LOOP, {"retry_count": 4}, STATS, True),
    (F.RETRY_LOOP, {"retry_count": 3}, STATS, False),
    (F.RETRY_LOOP, {"retry_count": 0}, STATS, False),
    (F.UNBOUNDED_ITERATOR, {"has_max_items_config": False, "items_processed": 1001}, STATS, True),
    (F.UNBOUNDED_ITERATOR, {"has_max_items_config": False, "items_processed": 1000}, STATS, False),
    (F.UNBOUNDED_ITERATOR, {"has_max_items_config": True, "items_processed": 9999}, STATS, False),
    (F.UNBOUNDED_ITERATOR, {"has_max_items_config": None, "items_processed": 9999}, STATS, False),
    (F.UNBOUNDED_ITERATOR, {"has_max_items_config": False}, STATS, False),
    (F.BATCH_JOB, {"job_type": "batch"}, STATS, True),
    (F.BATCH_JOB, {"job_type": " Batch "}, STATS, True),
    (F.BATCH_JOB, {"job_type": "agent"}, STATS, False),
    (F.BATCH_JOB, {}, STATS, False),
    # 1.0 credit per item usual, ±25%
    (F.LINEAR_SCALING, {"credits_total": 100, "items_processed": 100}, STATS, True),
    (F.LINEAR_SCALING, {"credits_total": 125, "items_processed": 100}, STATS, True),
    (F.LINEAR_SCALING, {"credits_total": 75, "items_processed": 100}, STATS, True),
    (F.LINEAR_SCALING, {"credits_total": 126, "items_processed": 100}, STATS, False),
    (F.LINEAR_SCALING, {"credits_total": 74, "items_processed": 100}, STATS, False),
    (F.LINEAR_SCALING, {"credits_total": 100, "items_processed": 0}, STATS, False),
    (F.LINEAR_SCALING, {"credits_total": 100}, STATS, False),
    (F.LINEAR_SCALING, {"credits_total": 100, "items_processed": 100}, BASE, False),
    (F.SUDDEN_PROMPT_GROWTH, {"prompt_tokens": 2000}, STATS, True),  # exactly 2x
    (F.SUDDEN_PROMPT_GROWTH, {"prompt_tokens": 1999}, STATS, False),
    (F.SUDDEN_PROMPT_GROWTH, {"prompt_tokens": 9000}, BASE, False),  # no usual to compare
    (F.SUDDEN_PROMPT_GROWTH, {}, STATS, False),
    (F.DEPLOYMENT_CORRELATION, {"deployed_at": T0 - timedelta(minutes=120)}, STATS, True),
    (F.DEPLOYMENT_CORRELATION, {"deployed_at": T0}, STATS, True),
    (F.DEPLOYMENT_CORRELATION, {"deployed_at": T0 - timedelta(minutes=121)}, STATS, False),
    (F.DEPLOYMENT_CORRELATION, {"deployed_at": T0 + timedelta(minutes=1)}, STATS, False),
    (F.DEPLOYMENT_CORRELATION, {}, STATS, False),
    (F.PII_EXPOSURE, {"data_classification": "pii"}, STATS, True),
    (F.PII_EXPOSURE, {"data_classification": "PII"}, STATS, True),
    (F.PII_EXPOSURE, {"data_classification": "regulatory"}, STATS, False),
    (F.PII_EXPOSURE, {"data_classification": "internal"}, STATS, False),
    (F.REGULATORY_DATA, {"data_classification": "regulatory"}, STATS, True),
    (F.REGULATORY_DATA, {"data_classification": "pii"}, STATS, False),
    (F.BACKFILL, {"scenario_backfill": True}, STATS, True),
    (F.BACKFILL, {"scenario_backfill": False}, STATS, False),
    (F.NO_BASELINE, {}, ScenarioStats(), True),
    (F.NO_BASELINE, {}, STATS, False),
]


@pytest.mark.parametrize(("flag", "facts", "stats", "raised"), FLAG_CASES)
def test_flag(flag, facts, stats, raised):
    facts = {"credits_total": 40, "started_at": T0, **facts}
    c = classify(RunFacts(**facts), stats)
    assert (flag in c.flags) is raised
    if raised:
        assert c.flag_reasons[flag] and c.flag_reasons[flag] != "reported by the producer"


def test_every_derived_flag_has_a_trigger_and_a_non_trigger_case():
    for flag in [*FLAG_RULES, F.NO_BASELINE]:
        assert {raised for f, _, _, raised in FLAG_CASES if f is flag} == {True, False}, flag


def test_producer_flags_are_kept_case_insensitively():
    c = classify(RunFacts(credits_total=40, producer_flags=frozenset({"Retry_Loop "})), BASE)
    assert c.flags == (F.RETRY_LOOP,)
    assert c.flag_reasons[F.RETRY_LOOP] == "reported by the producer"


def test_a_derived_flag_keeps_its_own_reason_when_the_producer_sends_it_too():
    facts = RunFacts(credits_total=40, retry_count=9, producer_flags=frozenset({"retry_loop"}))
    assert classify(facts, BASE).flag_reasons[F.RETRY_LOOP] == "retried 9 times (the limit is 3)"


@pytest.mark.parametrize(("flag", "stats"), [("no_baseline", BASE), ("backfill", BASE)])
def test_producer_copies_of_our_own_state_flags_are_ignored(flag, stats):
    c = classify(RunFacts(credits_total=40, producer_flags=frozenset({flag})), stats)
    assert c.flags == ()


def test_unknown_producer_flag_is_refused_with_the_known_ones():
    with pytest.raises(Invalid) as e:
        classify(RunFacts(credits_total=40, producer_flags=frozenset({"cosmic_rays"})), BASE)
    assert e.value.field == "risk_flags"
    assert "'cosmic_rays'" in e.value.message
    for flag in RiskFlag:
        assert flag.value in e.value.message


@pytest.mark.parametrize("credits", [-1, math.nan, math.inf])
def test_impossible_credits_are_refused(credits):
    with pytest.raises(Invalid) as e:
        classify(RunFacts(credits_total=credits), BASE)
    assert e.value.field == "credits_total"


def test_naive_and_aware_times_are_refused_not_crashed():
    facts = RunFacts(credits_total=40, started_at=T0, deployed_at=T0.replace(tzinfo=None))
    with pytest.raises(Invalid) as e:
        classify(facts, BASE)
    assert e.value.field == "deployed_at"


def test_classification_is_deterministic():
    facts = RunFacts(credits_total=492, retry_count=5, data_classification="pii", started_at=T0)
    assert classify(facts, STATS) == classify(facts, STATS)


# --- misconfig likelihood -------------------------------------------------------------------

# (producer flags, scenario backfill) -> (score, likelihood) with the default weights
LIKELIHOOD_CASES = [
    (set(), False, 0, L.LOW),
    ({"pii_exposure", "regulatory_data"}, False, 0, L.LOW),  # not a misconfig signal
    ({"sudden_prompt_growth"}, False, 2, L.MEDIUM),  # exactly the Medium threshold
    ({"retry_loop"}, False, 3, L.MEDIUM),
    ({"sudden_prompt_growth", "deployment_correlation"}, False, 4, L.HIGH),  # exactly High
    ({"retry_loop", "unbounded_iterator"}, False, 6, L.HIGH),
    ({"retry_loop", "batch_job"}, False, 1, L.LOW),
    ({"retry_loop", "unbounded_iterator"}, True, 3, L.MEDIUM),  # backfill is a legit signal
    ({"batch_job", "linear_scaling"}, False, -4, L.LOW),
]


@pytest.mark.parametrize(("flags", "backfill", "score", "likelihood"), LIKELIHOOD_CASES)
def test_misconfig_likelihood(flags, backfill, score, likelihood):
    facts = RunFacts(credits_total=40, producer_flags=frozenset(flags), scenario_backfill=backfill)
    c = classify(facts, BASE)
    assert (c.misconfig_score, c.misconfig_likelihood) == (score, likelihood)


def test_weights_come_from_the_policy():
    facts = RunFacts(credits_total=40, producer_flags=frozenset({"retry_loop"}))
    assert classify(facts, BASE, Policy(weight_retry_loop=5)).misconfig_likelihood is L.HIGH
    assert classify(facts, BASE, Policy(weight_retry_loop=0)).misconfig_likelihood is L.LOW
    assert Policy().weight(F.PII_EXPOSURE) == 0
    assert {f: Policy().weight(f) for f in (*MISCONFIG_FLAGS, *LEGIT_FLAGS)} == {
        F.RETRY_LOOP: 3,
        F.UNBOUNDED_ITERATOR: 3,
        F.SUDDEN_PROMPT_GROWTH: 2,
        F.DEPLOYMENT_CORRELATION: 2,
        F.BATCH_JOB: 2,
        F.LINEAR_SCALING: 2,
        F.BACKFILL: 3,
    }


# --- automatic actions and the rerun gate ---------------------------------------------------


def _classified(severity: Severity | None, likelihood: Likelihood = L.LOW) -> Classification:
    return Classification(
        multiplier=None,
        severity=severity,
        flags=(),
        misconfig_score=0,
        misconfig_likelihood=likelihood,
        severity_reason="",
    )


SEV0_ACTIONS = (A.QUARANTINE, A.BLOCK_DISPATCH, A.OPEN_CASE, A.NOTIFY_CRITICAL, A.ARM_RERUN_GATE)
# (severity, likelihood, prior SEV2 runs in the window) -> actions
ACTION_CASES = [
    (S.SEV0, L.LOW, 0, SEV0_ACTIONS),
    (S.SEV0, L.HIGH, 5, SEV0_ACTIONS),
    (S.SEV1, L.LOW, 0, (A.OPEN_CASE, A.NOTIFY_ALERTS, A.ARM_RERUN_GATE)),
    (S.SEV1, L.HIGH, 5, (A.OPEN_CASE, A.NOTIFY_ALERTS, A.ARM_RERUN_GATE)),
    (S.SEV2, L.LOW, 0, (A.WEEKLY_REVIEW,)),
    (S.SEV2, L.LOW, 1, (A.WEEKLY_REVIEW,)),
    (S.SEV2, L.LOW, 2, (A.WEEKLY_REVIEW, A.OPEN_CASE)),  # this one is the 3rd in 7 days
    (S.SEV2, L.LOW, 9, (A.WEEKLY_REVIEW, A.OPEN_CASE)),
    (S.SEV2, L.MEDIUM, 0, (A.WEEKLY_REVIEW, A.ARM_RERUN_GATE)),
    (S.SEV2, L.HIGH, 2, (A.WEEKLY_REVIEW, A.OPEN_CASE, A.ARM_RERUN_GATE)),
    (S.SEV3, L.HIGH, 9, ()),
    (None, L.HIGH, 9, ()),
]


@pytest.mark.parametrize(("severity", "likelihood", "prior", "expected"), ACTION_CASES)
def test_actions(severity, likelihood, prior, expected):
    assert actions(_classified(severity, likelihood), prior_sev2_runs=prior) == expected


@pytest.mark.parametrize(("prior", "persistent"), [(2, False), (3, False), (4, True), (5, True)])
def test_persistent_sev2_pattern_follows_the_policy(prior, persistent):
    policy = Policy(sev2_pattern_count=5)
    assert is_persistent_sev2(prior, policy) is persistent
    assert (A.OPEN_CASE in actions(_classified(S.SEV2), prior_sev2_runs=prior, policy=policy)) is (
        persistent
    )


def test_a_single_sev2_is_a_pattern_when_the_policy_says_one_is_enough():
    assert is_persistent_sev2(0, Policy(sev2_pattern_count=1))


def test_negative_prior_count_is_refused():
    with pytest.raises(Invalid) as e:
        actions(_classified(S.SEV2), prior_sev2_runs=-1)
    assert e.value.field == "prior_sev2_runs"


RERUN_CASES = [
    (S.SEV0, L.LOW, True),
    (S.SEV1, L.LOW, True),
    (S.SEV2, L.HIGH, True),
    (S.SEV2, L.MEDIUM, True),
    (S.SEV2, L.LOW, False),
    (S.SEV3, L.HIGH, False),
    (None, L.HIGH, False),
]


@pytest.mark.parametrize(("severity", "likelihood", "gated"), RERUN_CASES)
def test_rerun_requires_approval(severity, likelihood, gated):
    assert rerun_requires_approval(_classified(severity, likelihood)) is gated


def test_end_to_end_sev2_misconfig_run_arms_the_rerun_gate():
    facts = RunFacts(
        credits_total=100, retry_count=5, has_max_items_config=False, items_processed=2000
    )
    c = classify(facts, BASE)
    assert (c.severity, c.misconfig_likelihood) == (S.SEV2, L.HIGH)
    assert actions(c) == (A.WEEKLY_REVIEW, A.ARM_RERUN_GATE)


# --- baselines ------------------------------------------------------------------------------

BASELINE_CASES = [
    ([], BaselineStats(None, None, 0)),
    ([1250.5], BaselineStats(1250.5, None, 1)),  # one run: no spread to measure
    ([1, 2, 3], BaselineStats(2.0, 0.5, 3)),  # sample std 1 over mean 2
    ([1, 2, 3, 4], BaselineStats(2.5, pytest.approx(0.5164, abs=1e-4), 4)),
    ([10, 10, 10], BaselineStats(10.0, 0.0, 3)),
    ([0, 0], BaselineStats(0.0, None, 2)),  # zero mean: CV undefined
]


@pytest.mark.parametrize(("credits", "expected"), BASELINE_CASES)
def test_baseline(credits, expected):
    assert baseline(credits) == expected


@pytest.mark.parametrize("bad", [-1, math.nan, math.inf, True, "12"])
def test_baseline_refuses_impossible_credits(bad):
    with pytest.raises(Invalid) as e:
        baseline([10, bad])
    assert e.value.field == "credits"


@pytest.mark.parametrize(
    ("severity", "quarantined", "healthy"),
    [
        (None, False, True),
        (S.SEV3, False, True),
        (S.SEV2, False, True),
        (S.SEV1, False, False),
        (S.SEV0, False, False),
        (None, True, False),
    ],
)
def test_healthy_runs_for_the_baseline(severity, quarantined, healthy):
    assert is_healthy(severity, quarantined) is healthy


GOOD = BaselineStats(median=100, cv=0.2, sample_size=10)
# (period stats, current baseline median, had SEV0/SEV1) -> candidate?
CANDIDATE_CASES = [
    (GOOD, 100, False, True),
    (dataclasses.replace(GOOD, sample_size=9), 100, False, False),
    (GOOD, 100, True, False),
    (dataclasses.replace(GOOD, cv=0.3), 100, False, False),
    (dataclasses.replace(GOOD, cv=0.29), 100, False, True),
    (dataclasses.replace(GOOD, cv=None), 100, False, False),
    (dataclasses.replace(GOOD, median=120), 100, False, False),  # exactly 1.2x
    (dataclasses.replace(GOOD, median=119.9), 100, False, True),
    (dataclasses.replace(GOOD, median=50), 100, False, True),  # cheaper is fine
    (GOOD, None, False, True),  # no current baseline: a prime candidate
]


@pytest.mark.parametrize(("stats", "current", "had_sev", "candidate"), CANDIDATE_CASES)
def test_baseline_candidate(stats, current, had_sev, candidate):
    kw = {"current_median": current, "had_sev0_or_sev1": had_sev}
    assert is_baseline_candidate(stats, **kw) is candidate
    assert (baseline_candidate_reasons(stats, **kw) == []) is candidate


def test_candidate_reasons_name_every_failed_rule():
    stats = BaselineStats(median=150, cv=0.5, sample_size=4)
    reasons = baseline_candidate_reasons(stats, current_median=100, had_sev0_or_sev1=True)
    assert reasons == [
        "4 runs in the period; needs ≥ 10",
        "had SEV0/SEV1 runs in the period",
        "CV 0.50; needs < 0.3",
        "median is \u00d71.5 the current baseline; needs < \u00d71.2",
    ]


def test_change_pct_of_the_seed_example():
    assert round(change_pct(1250.50, 1425.75), 1) == 14.0
    assert change_pct(100, 50) == -50


def test_change_pct_needs_an_old_baseline_above_zero():
    with pytest.raises(Invalid) as e:
        change_pct(0, 10)
    assert e.value.field == "old"


CONFIRM_CASES = [
    (100, 150, False),  # exactly 50%: no confirmation
    (100, 150.01, True),
    (100, 50, False),
    (100, 49.99, True),  # a drop counts too
    (1250.50, 1425.75, False),
    (None, 10_000, False),  # a first baseline is not a change
]


@pytest.mark.parametrize(("old", "new", "confirm"), CONFIRM_CASES)
def test_needs_confirmation(old, new, confirm):
    assert needs_confirmation(old, new) is confirm


def test_confirmation_threshold_comes_from_the_policy():
    assert needs_confirmation(100, 121, Policy(confirm_change_above_pct=20))


# --- policy ---------------------------------------------------------------------------------


def test_policy_defaults_are_the_documented_ones():
    p = Policy()
    assert (p.sev0_multiplier, p.sev1_multiplier, p.sev2_multiplier, p.sev3_multiplier) == (
        10,
        5,
        2,
        1.5,
    )
    assert (p.backfill_relax, p.sev2_pattern_count, p.sev2_pattern_days) == (2, 3, 7)
    assert (p.baseline_window_days, p.candidate_min_runs, p.candidate_max_cv) == (30, 10, 0.3)
    assert (p.candidate_max_variance, p.confirm_change_above_pct) == (1.2, 50)
    assert p.deployment_window == timedelta(hours=2)


def test_policy_round_trips_through_a_dict():
    edited = Policy(sev1_multiplier=6, retry_limit=5)
    assert Policy.from_dict(edited.to_dict()) == edited
    assert Policy.from_dict(Policy().to_dict()) == Policy()


def test_policy_from_a_partial_dict_takes_defaults_for_the_rest():
    p = Policy.from_dict({"sev1_multiplier": 6})
    assert p == dataclasses.replace(Policy(), sev1_multiplier=6.0)
    assert isinstance(p.sev1_multiplier, float)


def test_policy_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Policy().sev0_multiplier = 3  # type: ignore[misc]


# (values, field named, words the message must contain)
POLICY_ERRORS = [
    ({"sev1_multiplier": -1}, "sev1_multiplier", "greater than 1"),
    ({"sev3_multiplier": 1}, "sev3_multiplier", "greater than 1"),
    ({"sev1_multiplier": 11}, "sev1_multiplier", "sev0 ≥ sev1 > sev2 > sev3 > 1"),
    ({"sev2_multiplier": 5}, "sev2_multiplier", "sev0 ≥ sev1 > sev2 > sev3 > 1"),
    ({"sev3_multiplier": 2}, "sev3_multiplier", "sev0 ≥ sev1 > sev2 > sev3 > 1"),
    ({"backfill_relax": 0.5}, "backfill_relax", "at least 1"),
    ({"retry_limit": 2.5}, "retry_limit", "whole number"),
    ({"retry_limit": True}, "retry_limit", "whole number"),
    ({"retry_limit": -1}, "retry_limit", "at least 0"),
    ({"sev0_multiplier": "10"}, "sev0_multiplier", "must be a number"),
    ({"sev0_multiplier": None}, "sev0_multiplier", "must be a number"),
    ({"sev0_multiplier": math.nan}, "sev0_multiplier", "finite"),
    ({"sev0_multiplier": math.inf}, "sev0_multiplier", "finite"),
    ({"weight_retry_loop": -1}, "weight_retry_loop", "at least 0"),
    ({"linear_scaling_tolerance": 1.5}, "linear_scaling_tolerance", "at most 1"),
    ({"linear_scaling_tolerance": 0}, "linear_scaling_tolerance", "greater than 0"),
    ({"prompt_growth_factor": 1}, "prompt_growth_factor", "greater than 1"),
    ({"deployment_window_minutes": 0}, "deployment_window_minutes", "at least 1"),
    ({"likelihood_medium": 5}, "likelihood_high", "greater than likelihood_medium"),
    ({"likelihood_medium": 0}, "likelihood_medium", "greater than 0"),
    ({"sev2_pattern_count": 0}, "sev2_pattern_count", "at least 1"),
    ({"sev2_pattern_days": 0}, "sev2_pattern_days", "at least 1"),
    ({"baseline_window_days": 0}, "baseline_window_days", "at least 1"),
    ({"candidate_min_runs": 1}, "candidate_min_runs", "at least 2"),
    ({"candidate_max_cv": 0}, "candidate_max_cv", "greater than 0"),
    ({"candidate_max_variance": 1}, "candidate_max_variance", "greater than 1"),
    ({"confirm_change_above_pct": 0}, "confirm_change_above_pct", "greater than 0"),
    ({"sev9_multiplier": 3, "zeal": 1}, "sev9_multiplier", "Unknown policy field(s) sev9"),
]


@pytest.mark.parametrize(("values", "field", "words"), POLICY_ERRORS)
def test_policy_validation(values, field, words):
    with pytest.raises(Invalid) as e:
        Policy.from_dict(values)
    assert e.value.field == field
    assert words in e.value.message


def test_unknown_policy_field_lists_the_fields():
    with pytest.raises(Invalid) as e:
        Policy.from_dict({"zeal": 1})
    for f in dataclasses.fields(Policy):
        assert f.name in e.value.message


def test_policy_must_be_an_object():
    with pytest.raises(Invalid) as e:
        Policy.from_dict(["sev0_multiplier"])  # type: ignore[arg-type]
    assert e.value.field == "policy"


def test_sev0_may_equal_sev1():
    assert Policy(sev0_multiplier=5).sev0_multiplier == 5
