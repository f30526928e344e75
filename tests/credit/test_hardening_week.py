"""Issue 11 item 9: a weekly report's week starts on a Monday. Any other day is refused on every
face (service, GraphQL, page, CLI) with a message naming the Monday of that week, and nothing is
stored."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from riskops.server.core.errors import Invalid
from riskops.server.credit import reports as svc
from tests.credit.test_report_pages import signed_in, state

WEDNESDAY = "2026-11-25"
MESSAGE = "2026-11-25 is a Wednesday; weeks start on Monday: use 2026-11-23"


def test_a_week_not_starting_on_monday_is_refused() -> None:
    with pytest.raises(Invalid) as exc:
        svc.parse_period_start(WEDNESDAY)
    assert MESSAGE in exc.value.message and exc.value.field == "period_start"
    sunday = "2026-01-11 is a Sunday; weeks start on Monday: use 2026-01-05"
    with pytest.raises(Invalid, match=sunday):
        svc.parse_period_start(date(2026, 1, 11))
    assert svc.parse_period_start("2026-11-23") == date(2026, 11, 23)


async def test_graphql_and_page_refuse_a_wednesday(api: Any, browser: Any, tenant: Any) -> None:
    user, _ = await tenant.user("operator")
    secret = str(await api.token(tenant, user))
    b = await signed_in(browser, tenant, "operator")
    before = await state(tenant.org_id)
    out = (
        await api.data(
            secret,
            "mutation($s: Date) { generateWeeklyReport(periodStart: $s) "
            "{ report { id } errors { code field message } } }",
            {"s": WEDNESDAY},
        )
    )["generateWeeklyReport"]
    assert out["report"] is None
    assert out["errors"][0]["field"] == "period_start" and MESSAGE in out["errors"][0]["message"]
    r = await b.post("/reports", {"period_start": WEDNESDAY})
    assert r.status_code == 422 and MESSAGE in r.text
    assert await state(tenant.org_id) == before


@pytest.mark.slow
def test_cli_refuses_a_wednesday(tmp_path: Path) -> None:
    from tests.cli.test_cli import seeded_target

    with seeded_target("sqlite", tmp_path) as made:
        t = made.target
        done = t.run("report", "weekly", "--org", "demo", "--period-start", WEDNESDAY,
                     "--output", str(tmp_path / "out"), ok=False)  # fmt: skip
        assert done.returncode == 1 and MESSAGE in done.stderr
        assert t.scalar("SELECT COUNT(*) FROM report") == 0
