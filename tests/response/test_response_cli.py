"""`riskops ack run|case ID --org SLUG --as EMAIL` as an operator runs it against the demo seed
(its SEV0 run DEMO-SEV0-0001 and the case it opened), on SQLite and PostgreSQL: a real
subprocess. A refusal is one error line and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.test_cli import Target, one_error_line, seeded_target

pytestmark = pytest.mark.slow

OPERATOR = "operator@demo.riskops.local"
VIEWER = "viewer@demo.riskops.local"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("cli-ack")) as made:
        yield made.target


def _acked(target: Target) -> list[tuple]:
    return target.query(
        "SELECT subject_kind, acknowledged_by_id FROM response_clock "
        "WHERE acknowledged_at IS NOT NULL ORDER BY id"
    )


def test_ack_from_the_shell(target: Target) -> None:
    before = _acked(target)
    for args in (
        ("ack", "run", "DEMO-SEV0-0001", "--org", "demo", "--as", VIEWER),
        ("ack", "run", "NO-SUCH-RUN", "--org", "demo", "--as", OPERATOR),
        ("ack", "alert", "1", "--org", "demo", "--as", OPERATOR),
    ):
        line = one_error_line(target.run(*args, ok=False))
        assert line
        assert _acked(target) == before
    done = target.run("ack", "run", "DEMO-SEV0-0001", "--org", "demo", "--as", OPERATOR)
    assert "acknowledged with 1 linked item" in done.stdout
    kinds = sorted(k for k, _ in _acked(target)[len(before) :])
    assert kinds == ["case", "run"]
    case = target.scalar("SELECT number FROM risk_case c JOIN run r ON r.case_id = c.id "
                         "WHERE r.run_id = 'DEMO-SEV0-0001'")  # fmt: skip
    again = target.run("ack", "case", f"CASE-{int(case):06d}", "--org", "demo", "--as", OPERATOR)
    assert "already" in again.stdout
