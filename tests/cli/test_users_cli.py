"""`riskops user list|suspend|reactivate` and `riskops token create --service-account NAME`
(issue 14): a real subprocess on SQLite and PostgreSQL, checked with SQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.cli.test_cli import Target, one_error_line, seeded_target

pytestmark = pytest.mark.slow

OPERATOR = "operator@demo.riskops.local"
ADMIN = "admin@demo.riskops.local"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("users-cli")) as made:
        target = made.target
        yield target


def test_user_list_shows_roles_status_and_mfa(target: Target) -> None:
    listed = target.run("user", "list", "--org", "demo").stdout
    line = next(x for x in listed.splitlines() if OPERATOR in x)
    assert "operator" in line and "active" in line and "off" in line
    assert "password" not in listed.lower()


def test_suspend_then_reactivate_by_email_and_by_id(target: Target) -> None:
    org = target.demo_org()
    uid = target.scalar(f"SELECT id FROM app_user WHERE email = '{OPERATOR}'")
    target.execute(
        "INSERT INTO user_session (id, user_id, org_id, created_at, expires_at) VALUES "
        f"('{'a' * 64}', {uid}, {org}, '2026-12-01 10:00:00+00:00', '2999-01-01 00:00:00+00:00')"
    )
    done = target.run("user", "suspend", "--org", "demo", "--user", OPERATOR,
                      "--reason", "compromised (IR-001)")  # fmt: skip
    assert "sessions and API tokens are revoked" in done.stdout
    assert target.scalar(f"SELECT status FROM app_user WHERE id = {uid}") == "suspended"
    assert target.scalar(f"SELECT revoked_at FROM user_session WHERE id = '{'a' * 64}'")
    event = target.query(
        f"SELECT actor, new_values FROM audit_event WHERE org_id = {org} "
        "AND action = 'user.suspend' ORDER BY seq DESC LIMIT 1"
    )[0]
    # The reason is kept off the chain (docs/AUDIT.md): its length there, the text in the
    # user's history.
    assert event[0] == "cli" and "IR-001" not in event[1] and '"reason_chars":20' in event[1]
    history = target.query(
        f"SELECT actor, data FROM user_event WHERE user_id = {uid} AND action = 'suspend'"
    )
    assert [(a, json.loads(d) if isinstance(d, str) else d) for a, d in history] == [
        ("cli", {"reason": "compromised (IR-001)"})
    ]
    listed = target.run("user", "list", "--org", "demo", "--active-only").stdout
    assert OPERATOR not in listed

    back = target.run("user", "reactivate", "--org", "demo", "--user", str(uid))
    assert "can sign in again" in back.stdout
    assert target.scalar(f"SELECT status FROM app_user WHERE id = {uid}") == "active"


def test_bad_inputs_fail_on_one_line_and_change_nothing(target: Target) -> None:
    before = target.scalar("SELECT count(*) FROM audit_event")
    missing = target.run("user", "suspend", "--org", "demo", "--user", "nobody@example.test",
                         "--reason", "x", ok=False)  # fmt: skip
    assert "User nobody@example.test not found." in one_error_line(missing)
    garbled = target.run("user", "reactivate", "--org", "demo", "--user", "x1", ok=False)
    assert "not found" in one_error_line(garbled)
    org = target.run("user", "list", "--org", "no-such-org", ok=False)
    assert "no organization with slug or id 'no-such-org'" in one_error_line(org)
    assert target.scalar("SELECT count(*) FROM audit_event") == before


def test_token_create_for_a_service_account_prints_it_once(target: Target) -> None:
    made = target.run("token", "create", "--org", "demo", "--service-account", "Nightly import",
                      "--role", "viewer", "--as", ADMIN)  # fmt: skip
    assert "Created service account" in made.stdout
    secret = re.search(r"Token \(shown only this once\): (rko_\S+)", made.stdout)
    assert secret, made.stdout
    account = target.scalar("SELECT id FROM app_user WHERE name = 'Nightly import'")
    assert target.scalar(f"SELECT kind FROM app_user WHERE id = {account}") == "service"
    admin = target.scalar(f"SELECT id FROM app_user WHERE email = '{ADMIN}'")
    assert target.query(f"SELECT created_by_id FROM api_token WHERE user_id = {account}") == [
        (admin,)
    ]
    assert target.scalar(f"SELECT count(*) FROM audit_event WHERE new_values LIKE "
                         f"'%{secret.group(1)}%'") == 0  # fmt: skip

    # Again: the same account, a second token; no second account.
    again = target.run("token", "create", "--org", "demo", "--service-account", "Nightly import",
                       "--role", "viewer", "--as", ADMIN, "--name", "second")  # fmt: skip
    assert "Created service account" not in again.stdout
    assert target.scalar(f"SELECT count(*) FROM api_token WHERE user_id = {account}") == 2

    # A role the account does not hold, a minter who may not mint, an unknown role.
    more = target.run("token", "create", "--org", "demo", "--service-account", "Nightly import",
                      "--role", "admin", "--as", ADMIN, ok=False)  # fmt: skip
    assert "may only carry roles" in one_error_line(more)
    refused = target.run("token", "create", "--org", "demo", "--service-account", "Other",
                         "--role", "viewer", "--as", OPERATOR, ok=False)  # fmt: skip
    assert "token.manage" in one_error_line(refused)
    unknown = target.run("token", "create", "--org", "demo", "--service-account", "Third",
                         "--role", "wizard", "--as", ADMIN, ok=False)  # fmt: skip
    assert "wizard" in one_error_line(unknown)
    assert target.scalar("SELECT count(*) FROM app_user WHERE name IN ('Other', 'Third')") == 0
