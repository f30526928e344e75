"""`riskops gdpr export|erase|approve|reject|list` on a seeded demo database (SQLite and
PostgreSQL), each command a real process: the export document of a demo customer, its erasure
requested by one person and approved by another, after which `riskops audit verify` still
passes; and the refusals, one line on stderr with nothing changed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import Target, one_error_line, seeded_target

pytestmark = pytest.mark.slow

ADMIN = "admin@demo.riskops.local"
COMPLIANCE = "compliance@demo.riskops.local"
VIEWER = "viewer@demo.riskops.local"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("gdpr-cli")) as made:
        yield made.target


def customer(target: Target, rank: int) -> tuple[str, int]:
    """A demo customer with alerts (the rank-th most alerted one) and its number of alerts."""
    rows = target.query(
        "SELECT customer_ref, COUNT(*) FROM alert WHERE customer_ref IS NOT NULL "
        "GROUP BY customer_ref ORDER BY COUNT(*) DESC, customer_ref LIMIT 5"
    )
    ref, n = rows[rank]
    return str(ref), int(n)


def requests(target: Target) -> list[tuple[object, ...]]:
    return target.query("SELECT id, status, subject FROM gdpr_request ORDER BY id")


def test_export_writes_one_json_document_and_records_the_request(
    target: Target, tmp_path: Path
) -> None:
    ref, n = customer(target, 0)
    out = tmp_path / "export.json"
    done = target.run(
        "gdpr", "export", "--org", "demo", "--subject", ref, "--as", COMPLIANCE, "-o", str(out)
    )
    doc = json.loads(out.read_text())
    assert doc["subject"] == {"kind": "customer", "value": ref}
    assert len(doc["alerts"]) == n and len(doc["transactions"]) == n
    assert f"exported alerts {n}" in done.stdout and str(out) in done.stdout
    req = target.scalar(f"SELECT id FROM gdpr_request WHERE subject = '{ref}'")
    assert doc["request_id"] == req

    to_stdout = target.run("gdpr", "export", "--org", "demo", "--subject", ADMIN, "--as", ADMIN)
    assert json.loads(to_stdout.stdout)["user"]["email"] == ADMIN
    assert "GDPR request #" in to_stdout.stderr


def test_erase_is_requested_then_approved_by_another_and_the_chain_still_verifies(
    target: Target,
) -> None:
    ref, n = customer(target, 1)
    asked = target.run("gdpr", "erase", "--org", "demo", "--subject", ref, "--as", COMPLIANCE)
    req = int(target.scalar(f"SELECT id FROM gdpr_request WHERE subject = '{ref}' "
                            "AND kind = 'erase'"))  # fmt: skip
    assert f"GDPR request #{req}, due " in asked.stdout

    own = target.run("gdpr", "approve", str(req), "--org", "demo", "--as", COMPLIANCE, ok=False)
    assert "nobody decides their own request" in one_error_line(own)
    assert target.scalar(f"SELECT COUNT(*) FROM alert WHERE customer_ref = '{ref}'") == n

    done = target.run("gdpr", "approve", str(req), "--org", "demo", "--as", ADMIN)
    assert f"GDPR request #{req} completed; the subject is now ERASED-" in done.stdout
    assert f"alerts {n}" in done.stdout
    assert target.scalar(f"SELECT COUNT(*) FROM alert WHERE customer_ref = '{ref}'") == 0
    assert target.scalar(f"SELECT COUNT(*) FROM gdpr_request WHERE subject = '{ref}'") == 0
    target.run("audit", "verify", "--org", "demo")

    again = target.run("gdpr", "approve", str(req), "--org", "demo", "--as", ADMIN, ok=False)
    assert f"GDPR request #{req} is already completed" in one_error_line(again)
    listed = target.run("gdpr", "list", "--org", "demo", "--as", ADMIN).stdout
    assert f"│ {req} " in listed and "completed" in listed


def test_reject_with_a_reason_erases_nothing(target: Target) -> None:
    ref, n = customer(target, 2)
    target.run("gdpr", "erase", "--org", "demo", "--subject", ref, "--as", ADMIN,
               "--legal-review", "--note", "Chargeback dispute open")  # fmt: skip
    req = target.scalar(f"SELECT id FROM gdpr_request WHERE subject = '{ref}' AND kind = 'erase'")
    done = target.run("gdpr", "reject", str(req), "--org", "demo", "--as", COMPLIANCE,
                      "--reason", "Legal hold: chargeback dispute")  # fmt: skip
    assert f"Rejected GDPR request #{req}" in done.stdout
    assert target.scalar(f"SELECT COUNT(*) FROM alert WHERE customer_ref = '{ref}'") == n
    assert target.scalar(f"SELECT status FROM gdpr_request WHERE id = {req}") == "rejected"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("export", "--subject", "CUST-000001", "--as", VIEWER),
         "do not allow 'gdpr.request'"),
        (("erase", "--subject", "nobody@example.test", "--as", ADMIN),
         "No user with the e-mail address nobody@example.test in your organization"),
        (("erase", "--subject", "NO-SUCH-CUSTOMER", "--as", ADMIN),
         "No alert of your organization has the customer reference NO-SUCH-CUSTOMER"),
        (("export", "--subject", "jane@", "--as", ADMIN), "'jane@' is not an e-mail address"),
        (("approve", "999999", "--as", ADMIN), "GDPR request 999999 not found."),
        (("reject", "abc", "--as", ADMIN, "--reason", "x"), "GDPR request abc not found."),
        (("erase", "--subject", "CUST-000001", "--as", ADMIN, "--received", "yesterday"),
         "--received: 'yesterday' is not an ISO 8601 date"),
        (("list", "--as", ADMIN, "--status", "done"), "Status 'done' is unknown"),
    ],
)  # fmt: skip
def test_refusals_are_one_clear_line_and_change_nothing(
    target: Target, args: tuple[str, ...], message: str
) -> None:
    before = requests(target)
    done = target.run("gdpr", *args[:1], *args[1:], "--org", "demo", ok=False)
    assert message in one_error_line(done)
    assert requests(target) == before
