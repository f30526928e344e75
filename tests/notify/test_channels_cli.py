"""`riskops channels list | test` (issue 16) as a real subprocess against the demo seed on SQLite
and PostgreSQL: the channels written the way the admin page leaves them (a Slack-compatible one,
no secret), a test to a loopback webhook, a refused connection, a wrong role and an unknown id."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.cli.test_cli import Target, one_error_line, seeded_target
from tests.support.webhook_server import WebhookServer, serving

pytestmark = pytest.mark.slow

ADMIN = "admin@demo.riskops.local"
OPERATOR = "operator@demo.riskops.local"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("channels-cli")) as made:
        yield made.target


@pytest.fixture
def hooks() -> Iterator[WebhookServer]:
    yield from serving()


def _channel(target: Target, name: str, url: str) -> int:
    org = target.demo_org()
    now = "2026-12-01 10:00:00+00:00"
    config = json.dumps({"url": url})
    target.execute(
        "INSERT INTO notification_channel (org_id, name, kind, config, events, enabled, "
        f"created_at, updated_at, version) VALUES ({org}, '{name}', 'slack', '{config}', "
        f"'[\"critical\"]', true, '{now}', '{now}', 1)"
    )
    return int(target.scalar(f"SELECT id FROM notification_channel WHERE name = '{name}'"))


def test_list_and_test_channels(target: Target, hooks: WebhookServer) -> None:
    good = _channel(target, "ops-critical", hooks.url("/slack"))
    dead = _channel(target, "dead-hook", "http://127.0.0.1:9/hook")
    listed = target.run("channels", "list", "--org", "demo", "--as", ADMIN).stdout
    assert "ops-critical" in listed and "dead-hook" in listed and "2 channel(s)." in listed
    done = target.run("channels", "test", str(good), "--org", "demo", "--as", ADMIN)
    assert done.stdout.strip() == f"Channel {good} (ops-critical): 200 accepted"
    assert "Test message from riskops" in hooks.bodies("/slack")[0]["text"]
    failed = target.run("channels", "test", str(dead), "--org", "demo", "--as", ADMIN, ok=False)
    assert failed.returncode == 1
    said = one_error_line(failed)
    assert said == f"riskops: error: Channel {dead} (dead-hook): connection refused"
    outcome = target.scalar(f"SELECT last_test_outcome FROM notification_channel WHERE id = {dead}")
    assert outcome == "connection refused"
    again = target.run("channels", "list", "--org", "demo", "--as", ADMIN).stdout
    assert "200 accepted" in again


def test_refusals(target: Target) -> None:
    refused = target.run("channels", "list", "--org", "demo", "--as", OPERATOR, ok=False)
    assert refused.returncode == 1 and "channel.manage" in one_error_line(refused)
    missing = target.run("channels", "test", "2000000000", "--org", "demo", "--as", ADMIN,
                         ok=False)  # fmt: skip
    assert one_error_line(missing) == "riskops: error: Notification channel 2000000000 not found."
