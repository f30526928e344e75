"""One formatter per kind of value (server/core/formatting.py), used by the pages' Jinja filters,
the CLI and the messages services compose (issue 11, item 23)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from riskops.server.core import formatting as fmt
from riskops.ui.common.rendering import env


def test_case_reference() -> None:
    assert fmt.case_ref(4) == "CASE-000004"
    assert fmt.case_ref(1234567) == "CASE-1234567"
    assert fmt.case_ref(None) == "—"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (11.9918, "\u00d711.99"),
        (2.0, "\u00d72"),
        (1.5, "\u00d71.5"),
        (0.904, "\u00d70.9"),
        (100000, "\u00d7100,000"),
    ],
)
def test_multiplier(value: float, text: str) -> None:
    assert fmt.multiplier(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(15200.0, "15,200.00"), (1267.5, "1,267.50"), (1076.537, "1,076.54"), (0.004, "0.00")],
)
def test_credits(value: float, text: str) -> None:
    assert fmt.credits(value) == text


def test_counts_never_have_decimals() -> None:
    assert fmt.count(34114.0) == "34,114"
    assert fmt.count(34114.6) == "34,115"
    assert fmt.count(7) == "7"


def test_money_score_and_percent() -> None:
    assert fmt.money(6028.64, "USD") == "6,028.64 USD"
    assert fmt.money(38.5) == "38.50"
    assert fmt.score(99.44) == "99.4"
    assert fmt.score(80) == "80.0"
    assert fmt.percent(12.345) == "+12.3%"
    assert fmt.percent(-4) == "-4.0%"
    assert fmt.percent(50, signed=False) == "50%"


def test_dates_are_utc() -> None:
    moment = datetime(2026, 11, 20, 20, 1, tzinfo=timezone(timedelta(hours=1)))
    assert fmt.when(moment) == "2026-11-20 19:01 UTC"
    assert fmt.day(moment) == "2026-11-20"
    assert fmt.day(date(2026, 11, 23)) == "2026-11-23"
    assert fmt.when(None) == "—"


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("device_id", "Device ID"),
        ("channel", "Channel"),
        ("merchant_category", "Merchant category"),
        ("mcc", "MCC"),
        ("merchantName", "Merchant name"),
        ("ip_address", "IP address"),
    ],
)
def test_field_label(name: str, label: str) -> None:
    assert fmt.field_label(name) == label


@pytest.mark.parametrize("value", [None, float("nan"), float("inf"), float("-inf")])
def test_missing_or_not_finite_is_a_dash(value: float | None) -> None:
    for f in (fmt.multiplier, fmt.credits, fmt.count, fmt.score, fmt.percent, fmt.money):
        assert f(value) == "—", f


def test_the_pages_use_the_same_functions() -> None:
    for name, function in {
        "case_ref": fmt.case_ref,
        "multiplier": fmt.multiplier,
        "credits": fmt.credits,
        "money": fmt.money,
        "count": fmt.count,
        "score": fmt.score,
        "percent": fmt.percent,
        "when": fmt.when,
        "day": fmt.day,
        "field_label": fmt.field_label,
    }.items():
        assert env.filters[name] is function, name
    rendered = env.from_string("{{ 11.9918|multiplier }} {{ 34114.0|count }} {{ 4|case_ref }}")
    assert rendered.render() == "\u00d711.99 34,114 CASE-000004"
    assert fmt.when(datetime(2026, 1, 2, 3, 4, tzinfo=UTC)) == "2026-01-02 03:04 UTC"
