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


def _recorded(target: Target) -> tuple[int, int, int]:
    org = target.demo_org()
    return (
        target.scalar(f"SELECT count(*) FROM access_review WHERE org_id = {org}"),
        target.scalar(
            f"SELECT count(*) FROM audit_event WHERE org_id = {org} "
            "AND action IN ('access_review.record', 'user.suspend')"
        ),
        target.scalar(
            f"SELECT count(*) FROM app_user WHERE org_id = {org} AND status = 'suspended'"
        ),
    )


def test_record_refusals_record_nothing(target: Target) -> None:
    before = _recorded(target)
    viewer = target.scalar("SELECT id FROM app_user WHERE email = 'viewer@demo.riskops.local'")
    refused = [
        # decisions without --record: only shown otherwise
        (["--keep", str(viewer)], "add --record"),
        (["--record", "--keep", str(viewer)], "--record needs --as EMAIL"),
        (["--record", "--as", "admin@demo.riskops.local"], "at least one decision"),
        (["--record", "--as", "admin@demo.riskops.local", "--suspend", str(viewer)],
         "needs a note"),
        (["--record", "--as", "nobody@demo.riskops.local", "--keep", str(viewer)],
         "no active user 'nobody@demo.riskops.local'"),
        (["--record", "--as", "admin@demo.riskops.local", "--keep", "ghost@demo.riskops.local"],
         "no user 'ghost@demo.riskops.local'"),
        (["--record", "--as", "admin@demo.riskops.local", "--keep", "999999"],
         "User 999999 not found"),
        (["--record", "--as", "admin@demo.riskops.local", "--keep", str(viewer),
          "--suspend", f"{viewer}=twice"], "has two decisions"),
        (["--record", "--as", "admin@demo.riskops.local", "--keep", f"{viewer}={'x' * 501}"],
         "limit is 500"),
        # a compliance reviewer records keeps; suspending needs user.manage
        (["--record", "--as", "compliance@demo.riskops.local", "--suspend", f"{viewer}=left"],
         "user.manage"),
        # the viewer may not review at all
        (["--record", "--as", "viewer@demo.riskops.local", "--keep", str(viewer)],
         "access.review"),
    ]  # fmt: skip
    for args, message in refused:
        done = target.run("access", "review", "--org", "demo", *args, ok=False)
        assert message in one_error_line(done), (args, done.stderr)
    assert _recorded(target) == before


def test_record_keeps_and_suspends_as_the_reviewer(target: Target) -> None:
    org = target.demo_org()
    before = _recorded(target)
    viewer = target.scalar("SELECT id FROM app_user WHERE email = 'viewer@demo.riskops.local'")
    done = target.run(
        "access", "review", "--org", "demo", "--record", "--as", "admin@demo.riskops.local",
        "--keep", f"{viewer}=still on the desk",
        "--suspend", "strategist2@demo.riskops.local=left the team",
        "--note", "Q4 review", "--json",
    )  # fmt: skip
    made = json.loads(done.stdout)
    assert (made["kept"], made["suspended"]) == (1, 1)
    assert made["reviewer"] == "Ada Admin"
    assert {d["decision"] for d in made["decisions"]} == {"keep", "suspend"}
    after = _recorded(target)
    assert after == (before[0] + 1, before[1] + 2, before[2] + 1)
    status = target.scalar(
        "SELECT status FROM app_user WHERE email = 'strategist2@demo.riskops.local'"
    )
    assert status == "suspended"
    actor = target.scalar(
        f"SELECT actor FROM audit_event WHERE org_id = {org} "
        "AND action = 'access_review.record' ORDER BY seq DESC"
    )
    admin = target.scalar("SELECT id FROM app_user WHERE email = 'admin@demo.riskops.local'")
    assert actor == f"user:{admin}"  # the person who reviewed, not "cli"
    payload = target.scalar(
        f"SELECT new_values FROM audit_event WHERE org_id = {org} "
        "AND action = 'access_review.record' ORDER BY seq DESC"
    )
    assert "left the team" not in payload and "Q4 review" not in payload
    reason = target.scalar(
        "SELECT data FROM user_event WHERE action = 'suspend' AND user_id = "
        "(SELECT id FROM app_user WHERE email = 'strategist2@demo.riskops.local')"
    )
    assert "Access review: left the team" in str(reason)

    # The same, as a table line.
    line = target.run(
        "access", "review", "--org", "demo", "--record", "--as", "compliance@demo.riskops.local",
        "--keep", "viewer@demo.riskops.local",
    ).stdout  # fmt: skip
    assert "Recorded access review" in line and "1 kept, 0 suspended." in line
