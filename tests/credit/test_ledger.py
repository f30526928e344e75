"""Ledger records: both naming styles, defaults, each field's validation, all errors at once."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from riskops.server.core.errors import Invalid
from riskops.server.credit.classification import RunFacts, ScenarioStats, classify
from riskops.server.credit.ledger import (
    ACCEPTED,
    ALIASES,
    PARSERS,
    parse_line,
    parse_record,
    run_facts,
)
from riskops.server.credit.terms import Severity

SHA = "ab" * 32

SEED_STYLE = {
    "Run_ID": "RUN-0042",
    "Scenario_ID": "BINDER_EXPORT_WEEKLY",
    "Job_Type": "batch",
    "Started_At": "2024-01-23T10:00:00Z",
    "Finished_At": "2024-01-23T10:20:00Z",
    "Credits_Total": 1425.75,
    "Prompt_Tokens": 1200,
    "Completion_Tokens": 300,
    "Items_Processed": 5000,
    "retry_count": 4,
    "has_max_items_config": False,
    "Deployment_Ref": "deploy-2024-01-23.1",
    "Deployed_At": "2024-01-23T09:30:00Z",
    "Data_Classification": "pii",
    "Risk_Flags": ["retry_loop", "pii_exposure"],
    "Artifacts": [{"uri": "runs/CREDIT_MONITORING/2024-01-23/run_0042.json", "sha256": SHA}],
    "Rerun_Of": "RUN-0041",
    "Severity": "SEV0",
    "dispatch_blocked": True,
}
API_STYLE = {
    "run_id": "RUN-0042",
    "scenario": "BINDER_EXPORT_WEEKLY",
    "job_type": "batch",
    "started_at": "2024-01-23T10:00:00+00:00",
    "finished_at": "2024-01-23T10:20:00+00:00",
    "credits_total": 1425.75,
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "items_processed": 5000,
    "retry_count": 4,
    "has_max_items_config": False,
    "deployment_ref": "deploy-2024-01-23.1",
    "deployed_at": "2024-01-23T09:30:00+00:00",
    "data_classification": "pii",
    "risk_flags": ["pii_exposure", "retry_loop"],
    "artifacts": [{"uri": "runs/CREDIT_MONITORING/2024-01-23/run_0042.json", "sha256": SHA}],
    "rerun_of": "RUN-0041",
    "reported_severity": "SEV0",
    "reported_dispatch_blocked": True,
}
EXPECTED = {
    "run_id": "RUN-0042",
    "scenario": "BINDER_EXPORT_WEEKLY",
    "job_type": "batch",
    "started_at": datetime(2024, 1, 23, 10, 0, tzinfo=UTC),
    "finished_at": datetime(2024, 1, 23, 10, 20, tzinfo=UTC),
    "credits_total": 1425.75,
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "items_processed": 5000,
    "retry_count": 4,
    "has_max_items_config": False,
    "deployment_ref": "deploy-2024-01-23.1",
    "deployed_at": datetime(2024, 1, 23, 9, 30, tzinfo=UTC),
    "data_classification": "pii",
    "risk_flags": ["pii_exposure", "retry_loop"],
    "artifacts": [{"uri": "runs/CREDIT_MONITORING/2024-01-23/run_0042.json", "sha256": SHA}],
    "rerun_of": "RUN-0041",
    "reported_severity": "SEV0",
    "reported_dispatch_blocked": True,
}
MINIMAL = {"run_id": "RUN-1", "scenario": "BINDER_EXPORT_WEEKLY", "credits_total": 12}


@pytest.mark.parametrize("record", [SEED_STYLE, API_STYLE], ids=["seed", "api"])
def test_both_naming_styles_give_the_same_normalized_record(record):
    assert parse_record(record) == EXPECTED


@pytest.mark.parametrize(
    "name",
    [
        "Scenario_ID",
        "scenario_id",
        "Credits_Total",
        "Risk_Flags",
        "Job_Type",
        "Severity",
        "retry_count",
        "has_max_items_config",
        "dispatch_blocked",
    ],
)
def test_every_field_name_the_seed_shows_is_accepted(name):
    assert name in ACCEPTED


def test_every_field_has_a_parser():
    assert set(PARSERS) == set(ALIASES)


def test_missing_optional_fields_take_their_defaults():
    out = parse_record(MINIMAL)
    assert out["credits_total"] == 12.0 and isinstance(out["credits_total"], float)
    assert (out["retry_count"], out["risk_flags"], out["artifacts"]) == (0, [], [])
    assert set(out) == set(ALIASES)
    others = set(ALIASES) - {"run_id", "scenario", "credits_total"}
    others -= {"retry_count", "risk_flags", "artifacts"}
    assert all(out[name] is None for name in others)


def test_null_optional_fields_are_the_same_as_missing():
    nulls = {name: None for name in ALIASES if name not in MINIMAL}
    assert parse_record({**MINIMAL, **nulls}) == parse_record(MINIMAL)


NORMALIZED = [
    ("retry_count", 3.0, 3),  # a float that is a whole number
    ("data_classification", " PII ", "pii"),
    ("reported_severity", "sev1", "SEV1"),
    ("reported_severity", "none", None),
    ("reported_severity", "", None),
    ("risk_flags", ["Retry_Loop", "batch_job", "retry_loop"], ["batch_job", "retry_loop"]),
    ("scenario", "  BINDER_EXPORT_WEEKLY ", "BINDER_EXPORT_WEEKLY"),
    ("started_at", "2024-01-23T10:00:00", datetime(2024, 1, 23, 10, tzinfo=UTC)),  # naive: UTC
    ("started_at", "2024-01-23T12:00:00+02:00", datetime(2024, 1, 23, 10, tzinfo=UTC)),
    ("artifacts", [{"uri": "a.json", "sha256": SHA.upper()}], [{"uri": "a.json", "sha256": SHA}]),
    ("artifacts", [{"uri": "a.json"}], [{"uri": "a.json", "sha256": None}]),
]


@pytest.mark.parametrize(("field", "value", "expected"), NORMALIZED)
def test_values_are_normalized(field, value, expected):
    out = parse_record({**MINIMAL, field: value})
    assert out[field] == expected
    if isinstance(expected, datetime):
        assert out[field].tzinfo is UTC


# (changes to a good record, field named, words the message must contain); a value of
# None deletes the key.
ERRORS = [
    ({"run_id": None}, "run_id", "run_id is required"),
    ({"scenario": None}, "scenario", "scenario is required"),
    ({"credits_total": None}, "credits_total", "credits_total is required"),
    ({"credits_total": "12"}, "credits_total", "must be a number from 0 to 1,000,000,000,000"),
    ({"credits_total": True}, "credits_total", "must be a number"),
    ({"credits_total": -1}, "credits_total", "is -1; it must be a number from 0 to"),
    (
        {"credits_total": 1e308},
        "credits_total",
        "1e+308; it must be a number from 0 to 1,000,000,000,000",
    ),
    ({"credits_total": math.inf}, "credits_total", "finite"),
    ({"credits_total": math.nan}, "credits_total", "finite"),
    ({"retry_count": 1.5}, "retry_count", "whole number"),
    ({"retry_count": -1}, "retry_count", "whole number from 0 to 1,000,000"),
    ({"retry_count": True}, "retry_count", "whole number"),
    ({"items_processed": "5"}, "items_processed", "whole number"),
    ({"prompt_tokens": 2**63}, "prompt_tokens", "whole number from 0 to 1,000,000,000,000"),
    ({"completion_tokens": 1e308}, "completion_tokens", "from 0 to 1,000,000,000,000"),
    ({"items_processed": -3}, "items_processed", "from 0 to 1,000,000,000,000"),
    ({"retry_count": 3_000_000_000}, "retry_count", "whole number from 0 to 1,000,000"),
    ({"has_max_items_config": "yes"}, "has_max_items_config", "true or false"),
    ({"has_max_items_config": 1}, "has_max_items_config", "true or false"),
    ({"started_at": "yesterday"}, "started_at", "ISO 8601"),
    ({"deployed_at": 1706004000}, "deployed_at", "ISO 8601"),
    ({"data_classification": "secret"}, "data_classification", "public, internal"),
    ({"risk_flags": "retry_loop"}, "risk_flags", "list of flag names"),
    ({"risk_flags": ["cosmic_rays"]}, "risk_flags", "unknown flag(s) 'cosmic_rays'"),
    ({"risk_flags": [7]}, "risk_flags", "unknown flag(s) 7"),
    ({"risk_flags": ["retry_loop"] * 33}, "risk_flags", "the limit is 32"),
    ({"reported_severity": "SEV9"}, "reported_severity", "SEV0, SEV1, SEV2, SEV3"),
    ({"run_id": "RUN 1"}, "run_id", "letters, digits"),
    ({"run_id": "R" * 129}, "run_id", "the limit is 128"),
    ({"run_id": 42}, "run_id", "must be text"),
    ({"scenario": "  "}, "scenario", "must not be empty"),
    ({"scenario": "A\x01B"}, "scenario", "control characters"),
    ({"job_type": "j" * 65}, "job_type", "the limit is 64"),
    ({"artifacts": "a.json"}, "artifacts", "list of {uri, sha256}"),
    ({"artifacts": [{"path": "a.json"}]}, "artifacts[0]", "uri and optional sha256"),
    ({"artifacts": [{"uri": "a", "sha256": "zz"}]}, "artifacts[0]", "64 hexadecimal"),
    ({"artifacts": [{"uri": ""}]}, "artifacts[0].uri", "must not be empty"),
    ({"finished_at": "2024-01-23T09:00:00Z"}, "finished_at", "before started_at"),
    ({"rerun_of": "RUN-1"}, "rerun_of", "names the run itself"),
]


@pytest.mark.parametrize(("changes", "field", "words"), ERRORS)
def test_field_errors(changes, field, words):
    record = {**MINIMAL, "started_at": "2024-01-23T10:00:00Z", **changes}
    record = {k: v for k, v in record.items() if v is not None}
    with pytest.raises(Invalid) as e:
        parse_record(record)
    assert e.value.field == field
    assert words in e.value.message
    assert e.value.extra["errors"] == [{"field": field, "message": e.value.message}]


def test_error_message_keeps_the_records_spelling_and_field_is_canonical():
    with pytest.raises(Invalid) as e:
        parse_record({**SEED_STYLE, "Credits_Total": "lots"})
    assert e.value.field == "credits_total"
    assert e.value.message.startswith("Credits_Total must be a number")


def test_all_problems_of_a_record_are_reported_at_once():
    with pytest.raises(Invalid) as e:
        parse_record({"Scenario_ID": "x y", "Credits_Total": -3, "Retry_Count": "many"})
    assert [err["field"] for err in e.value.extra["errors"]] == [
        "run_id",
        "scenario",
        "credits_total",
        "retry_count",
    ]
    assert e.value.field == "run_id"
    for err in e.value.extra["errors"]:
        assert err["message"] in e.value.message


def test_unknown_fields_are_refused_with_the_accepted_ones():
    with pytest.raises(Invalid) as e:
        parse_record({**MINIMAL, "Notion_Page": "x", "colour": "red"})
    assert e.value.field == "Notion_Page"
    assert "Unknown field(s) Notion_Page, colour" in e.value.message
    for name in ("Credits_Total", "credits_total", "Scenario_ID", "scenario", "Risk_Flags"):
        assert name in e.value.message


def test_the_same_field_under_two_names_is_refused():
    with pytest.raises(Invalid) as e:
        parse_record({**MINIMAL, "Credits_Total": 12})
    assert e.value.field == "credits_total"
    assert "same field" in e.value.message


@pytest.mark.parametrize("record", [[1, 2], "RUN-1", None])
def test_a_record_must_be_an_object(record):
    with pytest.raises(Invalid) as e:
        parse_record(record)
    assert e.value.field == "record"


def test_parse_line():
    assert parse_line(json.dumps(SEED_STYLE)) == EXPECTED
    with pytest.raises(Invalid) as e:
        parse_line('{"run_id": ')
    assert (e.value.field, e.value.message.startswith("Not valid JSON")) == ("record", True)
    with pytest.raises(Invalid) as e:
        parse_line("[1]")
    assert e.value.field == "record"


def test_a_parsed_record_classifies():
    facts = run_facts(parse_record(SEED_STYLE), scenario_backfill=True)
    assert facts == RunFacts(
        credits_total=1425.75,
        items_processed=5000,
        retry_count=4,
        has_max_items_config=False,
        job_type="batch",
        prompt_tokens=1200,
        completion_tokens=300,
        data_classification="pii",
        producer_flags=frozenset({"pii_exposure", "retry_loop"}),
        deployed_at=datetime(2024, 1, 23, 9, 30, tzinfo=UTC),
        started_at=datetime(2024, 1, 23, 10, 0, tzinfo=UTC),
        scenario_backfill=True,
    )
    c = classify(facts, ScenarioStats(baseline_median=125))  # 11.4x with PII
    assert c.severity is Severity.SEV0
