"""`riskops killswitch set | list | clear` and `riskops outbox deliver` as the approvers and an
operator run them (seed 002 "Kill Switches", "Notion sync failing"): a real subprocess against the
demo seed on a SQLite file and a throwaway PostgreSQL database."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.cli.test_cli import Target, one_error_line, seeded_target
from tests.support.webhook_server import WebhookServer, serving

pytestmark = pytest.mark.slow

OPERATOR = "operator@demo.riskops.local"
APPROVER = "approver@demo.riskops.local"
APPROVER2 = "approver2@demo.riskops.local"
VIEWER = "viewer@demo.riskops.local"
NO_WEBHOOK = (
    "No installation webhook (RISKOPS_WEBHOOKS): due messages that no organization channel "
    "takes will be marked failed."
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("cli-controls")) as made:
        t = made.target
        yield t


@pytest.fixture
def hooks() -> Iterator[WebhookServer]:
    yield from serving()


# ----------------------------------------------------------------------------- helpers


def _user(target: Target, email: str) -> int:
    return int(target.scalar(f"SELECT id FROM app_user WHERE email = '{email}'"))


def _switches(target: Target, where: str = "") -> list[tuple[Any, ...]]:
    return target.query(
        "SELECT id, name, scope, reason, expires_at, cleared_at, cleared_by_id, clear_reason "
        f"FROM kill_switch {where} ORDER BY id"
    )


def _refused(target: Target, *args: str) -> str:
    """Run a command that must be refused with one error line and change nothing; the line."""
    before = (_switches(target), target.scalar("SELECT COUNT(*) FROM audit_event"))
    line = one_error_line(target.run(*args, ok=False))
    after = (_switches(target), target.scalar("SELECT COUNT(*) FROM audit_event"))
    assert after == before, f"{args} was refused but changed the database"
    return line


def _set_id(stdout: str) -> int:
    m = re.match(r"Kill switch (\d+) set: ", stdout)
    assert m, stdout
    return int(m.group(1))


def _listed(target: Target, *extra: str, email: str = VIEWER) -> dict[int, list[str]]:
    """{id: [switch, scenario, state, set, expires, reason]} from `killswitch list`'s table."""
    done = target.run("killswitch", "list", "--org", "demo", "--as", email, *extra)
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in done.stdout.splitlines()
        if line.startswith("│")
    ]
    assert f"{len(rows)} switch(es)." in done.stdout
    return {int(r[0]): r[1:] for r in rows}


def _audited(target: Target, action: str, switch_id: int) -> list[tuple[Any, ...]]:
    return target.query(
        "SELECT actor, risk_level FROM audit_event WHERE entity_type = 'kill_switch' "
        f"AND action = '{action}' AND entity_id = '{switch_id}'"
    )


def _minute(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M}"


# ----------------------------------------------------------------------------- kill switches


def test_alert_suppression_set_list_clear(target: Target) -> None:
    approver = _user(target, APPROVER)
    assert _listed(target) == {}
    until = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=2)
    on = ("killswitch", "set", "alert_suppression", "--org", "demo", "--reason",
          "API outage storm")  # fmt: skip

    line = _refused(target, *on, "--as", OPERATOR)
    assert "Your roles (operator) do not allow 'policy.manage'" in line
    line = _refused(target, *on, "--as", APPROVER, "--scenario", "KYC_DOC_SUMMARY")
    assert "alert_suppression applies to the whole organization: leave scope empty." in line

    done = target.run(*on, "--as", APPROVER, "--expires", until.strftime("%Y-%m-%dT%H:%M"))
    sid = _set_id(done.stdout)
    assert done.stdout.strip() == (
        f"Kill switch {sid} set: alert_suppression until {_minute(until)} UTC."
    )
    [row] = _switches(target, f"WHERE id = {sid}")
    assert row[:4] == (sid, "alert_suppression", "", "API outage storm")
    assert row[5:] == (None, None, None)
    assert target.scalar(f"SELECT set_by_id FROM kill_switch WHERE id = {sid}") == approver
    assert _audited(target, "kill_switch.set", sid) == [(f"user:{approver}", "medium")]
    listed = _listed(target)
    assert list(listed) == [sid]
    assert listed[sid][:3] == ["alert_suppression", "-", "in_force"]
    assert listed[sid][4:] == [_minute(until), "API outage storm"]

    # Already in force: the refusal names who set it and until when; so does another approver's.
    line = _refused(target, *on, "--as", APPROVER2)
    assert "alert_suppression is already in force: set by Amir Approver at " in line
    assert f"until {_minute(until)} UTC. Clear it first to set it again." in line

    off = ("killswitch", "clear", str(sid), "--org", "demo")
    line = _refused(target, *off, "--as", OPERATOR, "--reason", "Storm over")
    assert "Your roles (operator) do not allow 'policy.manage'" in line
    line = _refused(target, *off, "--as", APPROVER, "--reason", "  ")
    assert "Reason is required" in line
    line = _refused(target, "killswitch", "clear", "99999", "--org", "demo", "--as", APPROVER,
                    "--reason", "x")  # fmt: skip
    assert "KillSwitch 99999 not found." in line

    done = target.run(*off, "--as", APPROVER2, "--reason", "Storm over")
    assert done.stdout.strip() == f"Kill switch {sid} (alert_suppression) cleared."
    [row] = _switches(target, f"WHERE id = {sid}")
    assert row[5] is not None and row[6:] == (_user(target, APPROVER2), "Storm over")
    assert _audited(target, "kill_switch.clear", sid) == [
        (f"user:{_user(target, APPROVER2)}", "medium")
    ]
    assert _listed(target) == {}
    assert _listed(target, "--all")[sid][2] == "cleared"

    line = _refused(target, *off, "--as", APPROVER, "--reason", "Twice")
    assert f"Kill switch {sid} was already cleared by Anna Approver at " in line
    # Cleared, it may be set again.
    again = _set_id(target.run(*on, "--as", APPROVER).stdout)
    assert again != sid and list(_listed(target)) == [again]
    target.run("killswitch", "clear", str(again), "--org", "demo", "--as", APPROVER,
               "--reason", "Done")  # fmt: skip
    target.run("audit", "verify")


def test_backfill_mode_for_one_scenario(target: Target) -> None:
    on = ("killswitch", "set", "backfill", "--org", "demo", "--as", APPROVER, "--reason",
          "Q3 backfill")  # fmt: skip

    line = _refused(target, *on, "--scenario", "NOPE")
    assert "scope 'NOPE' is not a scenario of your organization" in line
    line = _refused(target, *on)
    assert "backfill needs a scope: the key of the scenario" in line

    done = target.run(*on, "--scenario", "BINDER_EXPORT_WEEKLY")
    sid = _set_id(done.stdout)
    assert done.stdout.strip() == f"Kill switch {sid} set: backfill for BINDER_EXPORT_WEEKLY."
    assert target.scalar(f"SELECT scope FROM kill_switch WHERE id = {sid}") == (
        "BINDER_EXPORT_WEEKLY"
    )
    line = _refused(target, *on, "--scenario", "BINDER_EXPORT_WEEKLY")
    assert "backfill for BINDER_EXPORT_WEEKLY is already in force: set by Amir Approver" in line
    # Another scenario is another switch.
    other = _set_id(target.run(*on, "--scenario", "KYC_DOC_SUMMARY").stdout)
    listed = _listed(target)
    assert {k: v[:3] for k, v in listed.items()} == {
        sid: ["backfill", "BINDER_EXPORT_WEEKLY", "in_force"],
        other: ["backfill", "KYC_DOC_SUMMARY", "in_force"],
    }
    assert listed[sid][4] == "-"  # no expiry
    assert list(listed) == [other, sid]  # newest first

    done = target.run("killswitch", "clear", str(sid), "--org", "demo", "--as", APPROVER,
                      "--reason", "Backfill finished")  # fmt: skip
    assert done.stdout.strip() == f"Kill switch {sid} (backfill BINDER_EXPORT_WEEKLY) cleared."

    # An expired switch is off at once (before the expiry job records it): not listed as in
    # force, listed as expired with --all, and clearing it is refused.
    target.execute(
        f"UPDATE kill_switch SET expires_at = '2020-01-01 00:00:00+00:00' WHERE id = {other}"
    )
    assert other not in _listed(target)
    assert _listed(target, "--all")[other][2] == "expired"
    line = _refused(target, "killswitch", "clear", str(other), "--org", "demo", "--as",
                    APPROVER, "--reason", "x")  # fmt: skip
    assert f"Kill switch {other} already expired at 2020-01-01 00:00 UTC; it is off." in line
    target.run(*on, "--scenario", "KYC_DOC_SUMMARY")  # expired: it may be set again


def test_killswitch_refusals(target: Target) -> None:
    on = ("killswitch", "set", "alert_suppression", "--org", "demo", "--as", APPROVER,
          "--reason", "Storm")  # fmt: skip
    line = _refused(target, *on, "--expires", "2020-01-01T00:00")
    assert "expires_at 2020-01-01 00:00 UTC is not in the future" in line
    far = datetime.now(UTC) + timedelta(days=120)
    line = _refused(target, *on, "--expires", far.strftime("%Y-%m-%dT%H:%M"))
    assert "more than 90 days ahead" in line
    line = _refused(target, *on, "--expires", "tomorrow")
    assert "--expires: 'tomorrow' is not an ISO 8601 date or time" in line
    line = _refused(target, "killswitch", "set", "panic", "--org", "demo", "--as", APPROVER,
                    "--reason", "x")  # fmt: skip
    assert (
        "Switch 'panic' is unknown; choose one of alert suppression, backfill, assistant." in line
    )
    line = _refused(target, *on[:-2], "--reason", " ")
    assert "Reason is required" in line
    line = _refused(target, "killswitch", "set", "alert_suppression", "--org", "nope", "--as",
                    APPROVER, "--reason", "x")  # fmt: skip
    assert "no organization with slug or id 'nope'" in line
    line = _refused(target, "killswitch", "list", "--org", "demo", "--as",
                    "compliance@demo.riskops.local")  # fmt: skip
    assert "Your roles (compliance_reviewer) do not allow 'run.read'" in line
    done = target.run("killswitch", "clear", "first", "--org", "demo", "--as", APPROVER,
                      "--reason", "x", ok=False)  # fmt: skip
    assert done.returncode == 2 and "Invalid value for 'switch_id'" in done.stderr


# ----------------------------------------------------------------------------- outbox


def _add_message(target: Target, channel: str, kind: str, payload: dict[str, Any],
                 status: str = "pending") -> int:  # fmt: skip
    org = target.demo_org()
    body = json.dumps(payload).replace("'", "''")
    target.execute(
        "INSERT INTO outbox_message (org_id, channel, kind, payload, status, attempts, "
        f"next_attempt_at, created_at) VALUES ({org}, '{channel}', '{kind}', '{body}', "
        f"'{status}', 0, '2020-01-01 00:00:00+00:00', '2020-01-01 00:00:00+00:00')"
    )
    return int(target.scalar("SELECT MAX(id) FROM outbox_message"))


SEV1 = {
    "run_id": "RUN-CLI-1", "run_pk": 1, "scenario": "BINDER_EXPORT_WEEKLY", "severity": "SEV1",
    "multiplier": 6.25, "baseline_median": 1250.5, "credits_total": 7815.6,
    "flags": ["retry_loop"], "misconfig_likelihood": "high", "case_number": "CASE-000001",
}  # fmt: skip


def test_outbox_deliver_without_then_with_a_webhook(target: Target, hooks: WebhookServer) -> None:
    statuses = "SELECT status, COUNT(*) FROM outbox_message GROUP BY status"
    pending = dict(target.query(statuses)).get("pending", 0)
    assert pending > 0, "the demo seed notifies its SEV0, SEV1 and SEV2 pattern"
    quiet = _add_message(target, "alerts", "run.sev1", SEV1, status="suppressed")

    done = target.run("outbox", "deliver")
    assert done.stdout.splitlines() == [
        NO_WEBHOOK,
        f"Sent 0, retrying 0, failed {pending} (skipped 0 claimed by another deliverer).",
    ]
    assert dict(target.query(statuses)).get("pending", 0) == 0
    errors = target.query(
        "SELECT channel, attempts, last_error, sent_at FROM outbox_message WHERE status = 'failed'"
    )
    assert len(errors) == pending
    for channel, attempts, error, sent_at in errors:
        assert attempts == 1 and sent_at is None
        assert error.startswith(f"no webhook configured for channel '{channel}'")
    assert target.scalar(f"SELECT status FROM outbox_message WHERE id = {quiet}") == "suppressed"
    again = target.run("outbox", "deliver")
    assert "Sent 0, retrying 0, failed 0" in again.stdout  # failed messages are not retried

    msg = _add_message(target, "alerts", "run.sev1", SEV1)
    webhooks = json.dumps({"alerts": {"url": hooks.url("/alerts"), "format": "generic"}})
    done = target.run("outbox", "deliver", RISKOPS_WEBHOOKS=webhooks)
    assert done.stdout.splitlines() == [
        "Sent 1, retrying 0, failed 0 (skipped 0 claimed by another deliverer)."
    ]
    [body] = hooks.bodies("/alerts")
    assert (body["id"], body["channel"], body["kind"]) == (msg, "alerts", "run.sev1")
    assert body["payload"]["run_id"] == "RUN-CLI-1"
    row = target.query(f"SELECT status, attempts, sent_at FROM outbox_message WHERE id = {msg}")
    assert row[0][:2] == ("sent", 1) and row[0][2] is not None
    assert target.scalar(f"SELECT status FROM outbox_message WHERE id = {quiet}") == "suppressed"
    assert len(hooks.requests) == 1  # nothing suppressed or failed was sent

    bad = target.run("outbox", "deliver", RISKOPS_WEBHOOKS='{"nope": {"url": "https://x"}}',
                     ok=False)  # fmt: skip
    assert "unknown channel 'nope'" in one_error_line(bad)
