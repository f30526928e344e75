"""`riskops access review` (issue 15): the review of the demo organization as a table and as
JSON, from a real process on SQLite and PostgreSQL; refusals are one clear line."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.cli.test_cli import Target, one_error_line, seeded_target

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("access-cli")) as made:
        yield made.target


def test_review_as_json_and_table(target: Target) -> None:
    # The demo's strategist last signed in 100 days ago.
    stale = "2020-01-01 00:00:00+00:00"
    target.execute(
        f"UPDATE app_user SET last_login_at = '{stale}' "
        "WHERE email = 'strategist@demo.riskops.local'"
    )
    done = target.run("access", "review", "--org", "demo", "--json")
    snap = json.loads(done.stdout)
    assert snap["inactive_days"] == 90
    people = {p["email"]: p for p in snap["people"]}
    assert "inactive" in people["strategist@demo.riskops.local"]["flags"]
    assert people["admin@demo.riskops.local"]["privileged"]
    assert snap["summary"]["people"] == len(people)

    table = target.run("access", "review", "--org", "demo", "--inactive-days", "30").stdout
    assert "Access review (inactive: more than 30 days)" in table
    assert "strategist@demo.riskops.local" in table and "privileged" in table
    org = target.demo_org()
    viewed = target.scalar(
        f"SELECT count(*) FROM audit_event WHERE org_id = {org} AND action = 'access_review.view'"
    )
    assert viewed == 2


def test_refusals(target: Target) -> None:
    line = one_error_line(target.run("access", "review", "--org", "nope", ok=False))
    assert "no organization with slug or id 'nope'" in line
    done = target.run("access", "review", "--org", "demo", "--inactive-days", "0", ok=False)
    assert "between 1 and 3650" in one_error_line(done)
