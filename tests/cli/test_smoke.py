"""`riskops smoke` against a real server (`riskops serve` on a seeded database, in a process of
its own), passing and failing; and, on the same server, maintenance mode from the machine:
`riskops maintenance on|off` and what `riskops status` says of it."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.test_cli import (
    Target,
    _eventually,
    _free_port,
    _health,
    background,
    one_error_line,
    printed_logins,
    seeded_target,
)

pytestmark = pytest.mark.slow

REASON = "Smoke-tested upgrade"


@dataclass
class Served:
    target: Target
    url: str
    email: str
    password: str
    admin: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The demo, seeded and served over HTTP (one server for the module)."""
    root = tmp_path_factory.mktemp("smoke")
    with seeded_target("sqlite", root) as seeded:
        logins = printed_logins(seeded.seeded.stdout)
        email = next(e for e, (_, roles) in logins.items() if roles == "viewer")
        port, log = _free_port(), root / "serve.log"
        with background(seeded.target, log, "serve", "--port", str(port)):
            assert _eventually(lambda: _health(port), 60), log.read_text()
            admin = next(e for e, (_, roles) in logins.items() if roles == "admin")
            url = f"http://127.0.0.1:{port}"
            yield Served(seeded.target, url, email, logins[email][0], admin)


def _lines(stdout: str) -> dict[str, str]:
    return {
        line.split()[1]: line.split()[0]
        for line in stdout.splitlines()
        if line.startswith(("PASS", "FAIL"))
    }


def test_smoke_passes_against_a_healthy_server(served: Served) -> None:
    done = served.target.run(
        "smoke", "--url", served.url, "--email", served.email, "--password", served.password
    )
    assert _lines(done.stdout) == {
        "health": "PASS", "login": "PASS", "graphql": "PASS", "page": "PASS", "audit": "PASS",
        "logout": "PASS",
    }, done.stdout  # fmt: skip
    assert f"me = {served.email}" in done.stdout
    assert "chain head seq" in done.stdout and "Smoke test passed: 6 checks" in done.stdout


def test_smoke_with_a_service_accounts_token(served: Served) -> None:
    target = served.target
    admin = served.admin
    made = target.run("create-service-account", "--org", "demo", "--name", "Smoke",
                      "--role", "viewer")  # fmt: skip
    account = re.search(r"Created service account (\d+)", made.stdout)
    assert account, made.stdout
    minted = target.run("create-service-token", "--org", "demo", "--as", admin, "--account",
                        account.group(1), "--name", "smoke", "--role", "viewer")  # fmt: skip
    secret = minted.stdout.split("Token (shown only this once): ", 1)[1].split()[0]
    done = target.run("smoke", "--url", served.url, "--token", secret)
    assert _lines(done.stdout) == {
        "health": "PASS", "login": "PASS", "graphql": "PASS", "page": "PASS", "audit": "PASS",
    }, done.stdout  # fmt: skip
    assert "skipped: authenticated by --token" in done.stdout
    bad = target.run("smoke", "--url", served.url, "--token", "nope", ok=False)
    assert _lines(bad.stdout)["graphql"] == "FAIL" and "HTTP 401" in bad.stdout


def test_smoke_fails_on_a_wrong_password(served: Served) -> None:
    done = served.target.run(
        "smoke", "--url", served.url, "--email", served.email, "--password", "wrong", ok=False
    )
    assert _lines(done.stdout) == {"health": "PASS", "login": "FAIL"}, done.stdout
    assert "HTTP 401" in done.stdout
    assert "smoke test failed: login" in one_error_line(done)


def test_smoke_fails_when_the_server_is_down(served: Served) -> None:
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    done = served.target.run(
        "smoke", "--url", url, "--email", served.email, "--password", "x", ok=False
    )
    assert _lines(done.stdout) == {"health": "FAIL"}, done.stdout
    assert "ConnectError" in done.stdout
    assert "smoke test failed: health" in one_error_line(done)


def test_smoke_needs_a_url_and_credentials(tmp_path: Path) -> None:
    target = Target("sqlite", f"sqlite://{tmp_path / 'x.sqlite3'}", tmp_path / "var")
    target.var_dir.mkdir()
    assert "--url must start with http" in one_error_line(
        target.run("smoke", "--url", "example.com", "--token", "t", ok=False)
    )
    assert "give --email and --password" in one_error_line(
        target.run("smoke", "--url", "http://127.0.0.1:1", ok=False)
    )


def test_maintenance_on_and_off_from_the_machine(served: Served) -> None:
    target = served.target
    assert "Reason is required" in one_error_line(
        target.run("maintenance", "on", "--reason", " ", ok=False)
    )
    assert target.scalar("SELECT count(*) FROM maintenance_period") == 0
    on = target.run("maintenance", "on", "--reason", REASON)
    assert "Maintenance on for every organization" in on.stdout
    try:
        assert "already on" in one_error_line(
            target.run("maintenance", "on", "--reason", "again", ok=False)
        )
        listed = target.run("maintenance", "status")
        assert "every organization" in listed.stdout and REASON in listed.stdout
        report = json.loads(target.run("status", "--json").stdout)
        checks = {c["name"]: c for c in report["checks"]}
        assert checks["maintenance"]["state"] == "warn"
        assert REASON in checks["maintenance"]["detail"]
        # The smoke test still passes: signing in and reading work during maintenance.
        smoke = target.run(
            "smoke", "--url", served.url, "--email", served.email, "--password", served.password
        )
        assert "Smoke test passed" in smoke.stdout
        # The banner is on the login page for everyone.
        with urllib.request.urlopen(f"{served.url}/login", timeout=5) as resp:
            assert REASON in resp.read().decode()
    finally:
        off = target.run("maintenance", "off")
    assert "Maintenance off for every organization" in off.stdout
    assert "nothing to end" in one_error_line(target.run("maintenance", "off", ok=False))
    org = target.run("maintenance", "on", "--org", "demo", "--reason", REASON)
    assert "organization demo" in org.stdout
    assert target.scalar(
        "SELECT started_by FROM maintenance_period WHERE org_id IS NOT NULL"
    ).startswith("cli:")
    target.run("maintenance", "off", "--org", "demo")
    assert "Maintenance is off" in target.run("maintenance", "status").stdout
    actions = [r[0] for r in target.query(
        "SELECT action FROM audit_event WHERE action LIKE 'maintenance.%' ORDER BY org_id, seq"
    )]  # fmt: skip
    assert actions == ["maintenance.start", "maintenance.end"] * 2
    assert "no organization with slug" in one_error_line(
        target.run("maintenance", "on", "--org", "nope", "--reason", REASON, ok=False)
    )
