"""The checks of a chosen period (`/reports/checks`), driven like a browser on SQLite and
PostgreSQL: the PII false-positive rate and the baseline candidates of the default period and of
a chosen one, each section refused as GraphQL refuses it, and every bad date shown next to its
field with the service's words ("Period start", "Period end") and a 422."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest

from riskops.server.credit.models import Baseline, BaselineSource, Run, Scenario

NOV = datetime(2026, 11, 2, tzinfo=UTC)  # runs of the chosen period start here
URL = "/reports/checks"


async def seed(org_id: int) -> None:
    """Scenario STEADY: 12 steady runs in November (a candidate); NOISY: 3 runs (too few). Of
    NOISY's runs two are PII-flagged and one of them declassified; one STEADY run is flagged
    now (in the default 30 days)."""
    steady = await Scenario.create(org_id=org_id, key="STEADY", name="Steady", created_at=NOV)
    noisy = await Scenario.create(org_id=org_id, key="NOISY", name="Noisy", created_at=NOV)
    await Baseline.create(org_id=org_id, scenario_id=steady.id, median=100.0, sample_size=20,
                          source=BaselineSource.MANUAL, set_at=NOV)  # fmt: skip
    n = 0

    async def run(scenario: Scenario, at: datetime, credits: float, **kw: Any) -> None:
        nonlocal n
        n += 1
        await Run.create(
            org_id=org_id, run_id=f"RUN-{n}", scenario_id=scenario.id, started_at=at,
            recorded_at=at, credits_total=credits, baseline_median=100.0, multiplier=1.0,
            misconfig_likelihood="low", policy_number=0, **kw,
        )  # fmt: skip

    for i in range(12):
        await run(steady, NOV + timedelta(hours=i), 100.0 + i % 3)
    await run(noisy, NOV, 10.0, flags=["pii_exposure"], declassified_at=NOV + timedelta(days=1))
    await run(noisy, NOV + timedelta(hours=1), 90.0, flags=["regulatory_data"])
    await run(noisy, NOV + timedelta(hours=2), 30.0)
    await run(steady, datetime.now(UTC) - timedelta(days=1), 100.0, flags=["pii_exposure"])


async def signed_in(browser: Any, tenant: Any, *roles: str) -> Any:
    user, _ = await tenant.user(*roles)
    return await browser(user, tenant.password)


def rate_row(html: str) -> list[str]:
    """Flagged, declassified and rate of the PII section's table."""
    body = html.split('id="pii-rate"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'<td class="num">(.*?)</td>', body)


def candidates_of(html: str) -> str:
    return html.split('id="baseline-candidates"', 1)[1].split("</section>", 1)[0]


@pytest.mark.parametrize("role", ["viewer", "operator", "approver"])
async def test_defaults_for_each_role_that_reads_reports(browser: Any, tenant: Any,
                                                         role: str) -> None:  # fmt: skip
    await seed(tenant.org_id)
    b = await signed_in(browser, tenant, role)
    listing = await b.get("/reports")
    assert f'href="{URL}"' in listing.text  # the way there
    r = await b.get(URL)
    assert r.status_code == 200, r.text
    today = datetime.now(UTC).date()
    # The form shows the days the default period touches, and says what the default is.
    assert f'name="pii_start" value="{today - timedelta(days=30)}"' in r.text
    assert f'name="pii_end" value="{today + timedelta(days=1)}"' in r.text
    assert f'name="candidates_start" value="{today - timedelta(days=7)}"' in r.text
    assert "Opened without dates: the 30 days up to now" in r.text
    assert "Opened without dates: the 7 days up to now" in r.text
    # The default 30 days hold one flagged run, not declassified; November is outside.
    assert rate_row(r.text) == ["1", "0", "0.0%"]
    cands = candidates_of(r.text)
    assert "Runs started in the 7 days up to now: 0 candidate(s) among 1 scenario(s)" in cands
    assert 'href="/scenarios/STEADY"' in cands


async def test_a_chosen_period(browser: Any, tenant: Any) -> None:
    await seed(tenant.org_id)
    b = await signed_in(browser, tenant, "viewer")
    r = await b.get(URL, params={"pii_start": "2026-11-01", "pii_end": "2026-12-01",
                                 "candidates_start": "2026-11-01",
                                 "candidates_end": "2026-11-08"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert 'name="pii_start" value="2026-11-01"' in r.text  # what was asked stays in the form
    assert "2026-11-01 00:00 UTC to 2026-12-01 00:00 UTC" in r.text
    assert rate_row(r.text) == ["2", "1", "50.0%"]
    cands = candidates_of(r.text)
    assert (
        "from 2026-11-01 00:00 to before 2026-11-08 00:00 (UTC): 1 candidate(s) among 2 scenario(s)"
    ) in cands
    steady, noisy = cands.split("<tr><td>")[1:]
    assert 'href="/scenarios/STEADY"' in steady and "candidate-yes" in steady
    assert ">12<" in steady and "+1.0%" in steady  # runs, median 101 against 100
    assert 'href="/scenarios/NOISY"' in noisy and "candidate-yes" not in noisy
    assert "<li>" in noisy  # its reasons


async def test_htmx_swaps_only_the_section_asked(browser: Any, tenant: Any) -> None:
    await seed(tenant.org_id)
    b = await signed_in(browser, tenant, "viewer")
    headers = {"HX-Request": "true", "HX-Target": "pii-rate"}
    r = await b.get(URL, params={"pii_start": "2026-11-01", "pii_end": "2026-12-01"},
                    headers=headers)  # fmt: skip
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<section class="card" id="pii-rate"')
    assert 'id="baseline-candidates"' not in r.text and "<html" not in r.text
    assert rate_row(r.text) == ["2", "1", "50.0%"]


@pytest.mark.parametrize("role", ["strategist", "admin", "compliance_reviewer"])
async def test_roles_without_the_figures_are_refused(browser: Any, tenant: Any,
                                                      role: str) -> None:  # fmt: skip
    b = await signed_in(browser, tenant, role)
    r = await b.get(URL)
    assert r.status_code == 403
    assert "Not allowed" in r.text and "do not allow 'report.read'" in unescape(r.text)
    home = await b.get("/")
    assert URL not in home.text
    # Permission first: a bad date changes nothing for a role that may not see the figures.
    bad = await b.get(URL, params={"pii_start": "nonsense", "candidates_end": "2026-02-30"})
    assert bad.status_code == 403 and "not a date" not in bad.text


BAD = [
    ({"pii_start": "2026-13-01"}, "pii_start", "Period start: not a date (like 2026-11-01)."),
    ({"pii_end": "yesterday"}, "pii_end", "Period end: not a date (like 2026-11-01)."),
    ({"pii_start": "2026-11-10", "pii_end": "2026-11-03"}, "pii_start",
     "Period start (2026-11-10 00:00) must be before period end (2026-11-03 00:00)."),
    ({"pii_start": "2026-11-03", "pii_end": "2026-11-03"}, "pii_start",
     "Period start (2026-11-03 00:00) must be before period end (2026-11-03 00:00)."),
    ({"pii_start": "2025-01-01", "pii_end": "2026-11-03"}, "pii_start",
     "The period is 671 days long; the limit is 366 days."),
    ({"candidates_start": "2026-02-30"}, "candidates_start",
     "Period start: not a date (like 2026-11-01)."),
    ({"candidates_start": "2026-11-10", "candidates_end": "2026-11-03"}, "candidates_start",
     "Period start (2026-11-10 00:00) must be before period end (2026-11-03 00:00)."),
    ({"candidates_start": "2024-11-01", "candidates_end": "2026-11-03"}, "candidates_start",
     "The period is 732 days long; the limit is 366 days."),
    ({"pii_end": "0001-01-01"}, "pii_end",
     "Period end is too early: the period would start before the year 1."),
    ({"candidates_end": "0001-01-03"}, "candidates_end",
     "Period end is too early: the period would start before the year 1."),
]  # fmt: skip


@pytest.mark.parametrize(("params", "field", "says"), BAD)
async def test_bad_dates_are_shown_next_to_their_field(browser: Any, tenant: Any, params: Any,
                                                       field: str, says: str) -> None:  # fmt: skip
    await seed(tenant.org_id)
    b = await signed_in(browser, tenant, "viewer")
    r = await b.get(URL, params=params)
    assert r.status_code == 422, r.text
    assert f'<p class="field-error" id="{field}-error">{says}</p>' in unescape(r.text)
    assert f'name="{field}" value="{params[field]}" aria-invalid="true"' in r.text
    other = "baseline-candidates" if field.startswith("pii") else "pii-rate"
    assert "field-error" not in r.text.split(f'id="{other}"', 1)[1].split("</section>", 1)[0]
    if field.startswith("pii"):  # no figure for a period that was not asked
        assert rate_row(r.text) == []


async def test_a_future_period_is_a_period_like_any_other(browser: Any, tenant: Any) -> None:
    """The services accept a period in the future (no run started there yet); a start after
    now without an end is after the default end (now), and said so."""
    await seed(tenant.org_id)
    b = await signed_in(browser, tenant, "viewer")
    r = await b.get(URL, params={"pii_start": "2030-01-01", "pii_end": "2030-02-01",
                                 "candidates_start": "2030-01-01",
                                 "candidates_end": "2030-01-08"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert rate_row(r.text) == ["0", "0", '<span class="muted">— (none flagged)</span>']
    assert "No runs started in the period." in candidates_of(r.text)
    alone = await b.get(URL, params={"candidates_start": "2030-01-01"})
    assert alone.status_code == 422
    assert "Period start (2030-01-01 00:00) must be before period end (" in alone.text


async def test_one_end_given_shows_the_period_the_service_settled(
    browser: Any, tenant: Any
) -> None:
    """Only an end (or only a start): the section says the period the service used (the start
    the default length before the end), and the empty field shows that day."""
    await seed(tenant.org_id)
    b = await signed_in(browser, tenant, "viewer")
    r = await b.get(URL, params={"candidates_end": "2026-11-08", "pii_end": "2026-12-01"})
    assert r.status_code == 200, r.text
    cands = candidates_of(r.text)
    assert "from 2026-11-01 00:00 to before 2026-11-08 00:00 (UTC)" in cands
    assert 'name="candidates_start" value="2026-11-01"' in r.text
    assert 'name="pii_start" value="2026-11-01"' in r.text  # 30 days before 2026-12-01
    assert "2026-11-01 00:00 UTC to 2026-12-01 00:00 UTC" in r.text
