"""`riskops views list|requests|retry` (issue 12): the views and promotion requests of an
organization from the command line, and a stuck promotion's job started again. A real
subprocess on SQLite and PostgreSQL; the request is written with SQL the way a promotion whose
validation job never ran leaves it (status validating)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.cli.test_cli import Target, one_error_line, seeded_target

pytestmark = pytest.mark.slow

DEFINITION = {"filters": {"status": ["new"]}, "columns": ["title", "score"], "sort": "score"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("views-cli")) as made:
        target = made.target
        yield target


def _stuck_request(target: Target, name: str) -> int:
    org = target.demo_org()
    sam = target.scalar("SELECT id FROM app_user WHERE email = 'strategist@demo.riskops.local'")
    now = "2026-12-01 10:00:00+00:00"
    definition = json.dumps(DEFINITION)
    target.execute(
        "INSERT INTO saved_view (org_id, owner_id, queue, scope, name, description, definition, "
        f"status, version, created_at, updated_at) VALUES ({org}, {sam}, 'alerts', 'personal', "
        f"'{name}', '', '{definition}', 'active', 1, '{now}', '{now}')"
    )
    view = target.scalar(f"SELECT id FROM saved_view WHERE name = '{name}'")
    snapshot = json.dumps({"name": name, "description": "", "definition": DEFINITION})
    target.execute(
        "INSERT INTO saved_view_promotion (org_id, view_id, requested_by_id, rationale, snapshot, "
        "status, version, problems, job_attempts, created_at, updated_at) VALUES "
        f"({org}, {view}, {sam}, 'Everyone triages new alerts this way', '{snapshot}', "
        f"'validating', 1, '[]', 0, '{now}', '{now}')"
    )
    return int(target.scalar(f"SELECT id FROM saved_view_promotion WHERE view_id = {view}"))


def test_retry_runs_the_validation_a_stuck_request_waits_for(target: Target) -> None:
    request = _stuck_request(target, "New alerts CLI")
    listed = target.run(
        "views", "requests", "--org", "demo", "--as", "compliance@demo.riskops.local"
    ).stdout
    assert f"│ {request} " in listed and "validating" in listed

    done = target.run("views", "retry", str(request), "--org", "demo")
    assert "view.promotion.validate" in done.stdout and f"request {request}" in done.stdout
    status = target.scalar(f"SELECT status FROM saved_view_promotion WHERE id = {request}")
    assert status == "pending_review"
    rows = target.scalar(f"SELECT rows_selected FROM saved_view_promotion WHERE id = {request}")
    assert rows is not None

    again = target.run("views", "retry", str(request), "--org", "demo", ok=False)
    assert again.returncode == 1
    assert "is pending_review: only a request still validating or approved" in one_error_line(again)


def test_retry_of_an_unknown_request_says_so(target: Target) -> None:
    done = target.run("views", "retry", "987654", "--org", "demo", ok=False)
    assert one_error_line(done).endswith("no view promotion request 987654 in 'demo'.")


def test_views_list_shows_what_the_person_sees(target: Target) -> None:
    _stuck_request(target, "Listed view")
    listed = target.run(
        "views", "list", "--org", "demo", "--as", "strategist@demo.riskops.local"
    ).stdout
    assert "Listed view" in listed and "personal" in listed
    admin = target.run("views", "list", "--org", "demo", "--as", "admin@demo.riskops.local")
    assert "Listed view" not in admin.stdout  # an admin reads neither queue: no views
