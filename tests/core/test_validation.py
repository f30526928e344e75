"""The shared input checks refuse what is not text (services, CLI and pages alike): a lone
UTF-16 surrogate, control characters, and keys over the scenario key's column size."""

from __future__ import annotations

import pytest

from riskops.server.core import validation
from riskops.server.core.errors import Invalid


@pytest.mark.parametrize(
    "check",
    [
        lambda v: validation.text(v, "name", max_len=100),
        lambda v: validation.long_text(v, "reason", max_len=100),
        lambda v: validation.scenario_key(v, "scope"),
    ],
)
def test_a_lone_surrogate_is_invalid_on_its_field(check) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Invalid) as refused:
        check("ok\ud800")
    assert "lone UTF-16 surrogate" in refused.value.message
    assert refused.value.field in {"name", "reason", "scope"}
    assert check("ok \U0001f600") == "ok \U0001f600"  # a real pair is text


def test_scenario_keys_are_bounded_and_clean() -> None:
    assert validation.scenario_key("  KEY_1 ", "scope") == "KEY_1"
    for bad, says in [
        ("", "Scope is required"),
        ("K" * 129, "Scope is 129 characters long; the limit is 128."),
        ("K\x00", "Scope contains control characters"),
    ]:
        with pytest.raises(Invalid) as refused:
            validation.scenario_key(bad, "scope")
        assert says in refused.value.message and refused.value.field == "scope"


def test_a_period_is_aware_ordered_and_bounded() -> None:
    """One rule for the periods of report figures (baseline candidates, the PII rate); each
    caller names the two fields as its own face does."""
    from datetime import UTC, datetime, timedelta, timezone

    named = ("From", "Up to")
    start = datetime(2026, 3, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    end = datetime(2026, 3, 2, tzinfo=UTC)
    assert validation.period(start, end, named=named) == (datetime(2026, 3, 1, tzinfo=UTC), end)
    s, e = validation.period(None, end, named=named, last_days=7)
    assert (s, e) == (end - timedelta(days=7), end)
    s, e = validation.period(None, None, named=named, last_days=30)
    assert e - s == timedelta(days=30) and e.tzinfo is UTC
    for bad_start, bad_end, field, says in [
        (datetime(2026, 3, 1), end, "period_start", "From must be a date and time with a time "
         "zone."),
        (start, "2026-03-02", "period_end", "Up to must be a date and time with a time zone."),
        (end, start, "period_start", "From (2026-03-02 00:00) must be before up to (2026-03-01 "
         "00:00)."),
        (end - timedelta(days=367), end, "period_start", "The period is 367 days long; the limit "
         "is 366 days."),
    ]:  # fmt: skip
        with pytest.raises(Invalid) as refused:
            validation.period(bad_start, bad_end, named=named)
        assert (refused.value.message, refused.value.field) == (says, field)
