"""`riskops alerts import` and `riskops demo generate` as an operator runs them: a real
subprocess against a SQLite file and a throwaway PostgreSQL database."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import Target, one_error_line, seeded_target

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("cli-alerts")) as made:
        t = made.target
        yield t


def _alert(ext: str, **extra: object) -> dict[str, object]:
    return {"external_id": ext, "source": "card-engine", "title": f"Alert {ext}", "score": 55.5,
            "priority": "medium", "customer_ref": "CUST-1", "amount": "120.50", "currency": "EUR",
            "rule_hits": [{"rule_id": "VEL-001", "name": "Velocity", "score_contribution": 30}],
            "signals": [{"signal": "velocity_1h", "value": 9, "contribution": 4.5,
                         "direction": "up"}], **extra}  # fmt: skip


def test_import_reports_bad_lines_and_is_idempotent(target: Target, tmp_path: Path) -> None:
    lines = [json.dumps(_alert(f"imp-{i}")) for i in (1, 2, 3)]
    lines.append('{"external_id": "imp-4", "score": ')  # line 4: malformed JSON
    lines.append(json.dumps(_alert("imp-5", score=250)))  # line 5: invalid item
    path = tmp_path / "alerts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    first = target.run("alerts", "import", str(path), "--org", "demo", "--batch", "2", ok=False)
    assert first.returncode == 1, first.stderr
    assert "3 stored" in first.stdout and "2 invalid" in first.stdout
    assert "line 4: json:" in first.stdout
    assert "line 5: score:" in first.stdout
    assert target.scalar("SELECT COUNT(*) FROM alert WHERE external_id LIKE 'imp-%'") == 3
    hits = "SELECT COUNT(*) FROM alert_rule_hit h JOIN alert a ON a.id = h.alert_id"
    assert target.scalar(f"{hits} WHERE a.external_id LIKE 'imp-%'") == 3

    again = target.run("alerts", "import", str(path), "--org", "demo", ok=False)
    assert again.returncode == 1
    assert "0 stored, 3 unchanged" in again.stdout
    assert target.scalar("SELECT COUNT(*) FROM alert WHERE external_id LIKE 'imp-%'") == 3


def test_import_from_stdin(target: Target) -> None:
    import subprocess

    from tests.cli.test_cli import _cli_env

    done = subprocess.run(
        target.command("alerts", "import", "-", "--org", "demo"),
        input=json.dumps(_alert("stdin-1")) + "\n", capture_output=True, text=True,
        env=_cli_env(), cwd=target.var_dir.parent, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 stored" in done.stdout


def test_demo_generate_is_bulk_idempotent_and_audited(target: Target) -> None:
    audited = "SELECT COUNT(*) FROM audit_event WHERE action = 'alert.generate_demo'"
    before = target.scalar(audited)  # the demo seed generated its own alerts already
    done = target.run("demo", "generate", "--org", "demo", "--alerts", "2000", "--seed", "7")
    assert "Created 2000 alert(s)" in done.stdout
    assert "alerts/s" in done.stdout
    demo = "external_id LIKE 'demo-7-%'"
    assert target.scalar(f"SELECT COUNT(*) FROM alert WHERE {demo}") == 2000
    join = f"JOIN alert a ON a.id = x.alert_id WHERE a.{demo}"
    assert target.scalar(f"SELECT COUNT(DISTINCT x.alert_id) FROM alert_rule_hit x {join}") == 2000
    assert target.scalar(f"SELECT COUNT(DISTINCT x.alert_id) FROM alert_signal x {join}") == 2000
    assert target.scalar(f"SELECT COUNT(*) FROM alert_event x {join}") == 2000
    # Skewed scores and repeat customers.
    high = target.scalar(f"SELECT COUNT(*) FROM alert WHERE {demo} AND score >= 65")
    assert 0 < high < 1000
    customers = target.scalar(f"SELECT COUNT(DISTINCT customer_ref) FROM alert WHERE {demo}")
    assert customers < 2000

    again = target.run("demo", "generate", "--org", "demo", "--alerts", "2000", "--seed", "7")
    assert "Created 0 alert(s)" in again.stdout and "2000 already existed" in again.stdout
    assert target.scalar(f"SELECT COUNT(*) FROM alert WHERE {demo}") == 2000
    assert target.scalar(audited) == before + 2
    target.run("audit", "verify")


def test_unknown_org_is_one_clear_line_and_creates_nothing(target: Target, tmp_path: Path) -> None:
    before = target.scalar("SELECT COUNT(*) FROM alert")
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(_alert("nobody-1")) + "\n", encoding="utf-8")
    line = one_error_line(target.run("alerts", "import", str(path), "--org", "nope", ok=False))
    assert "no organization with slug or id 'nope'" in line
    line = one_error_line(
        target.run("demo", "generate", "--org", "nope", "--alerts", "10", ok=False)
    )
    assert "no organization with slug or id 'nope'" in line
    assert target.scalar("SELECT COUNT(*) FROM alert") == before


def test_import_stores_text_values_and_refuses_bad_numbers_line_by_line(
    target: Target, tmp_path: Path
) -> None:
    """Issue 11, items 5 and 6: a text signal value is stored (it failed the whole import with a
    traceback); 1e308, Infinity, NaN and a huge integer are refused on their own line."""
    text = _alert("val-1")
    text["signals"] = [{"signal": "device", "value": "abc", "contribution": 1, "direction": "up"}]
    hit = {"rule_id": "VEL-001", "name": "Velocity", "score_contribution": 1e308}
    sig = {"signal": "velocity_1h", "value": 9, "contribution": math.inf, "direction": "up"}
    nan = {"signal": "velocity_1h", "value": math.nan, "contribution": 1, "direction": "up"}
    lines = [
        json.dumps(text),
        json.dumps(_alert("val-2", score=1e308)),  # line 2
        json.dumps(_alert("val-3", rule_hits=[hit])),  # line 3
        json.dumps(_alert("val-4", signals=[sig])),  # line 4: Infinity
        json.dumps(_alert("val-5", signals=[nan])),  # line 5: NaN
        json.dumps(_alert("val-6", score=10**400)),  # line 6
        json.dumps(_alert("val-7", amount="1e308")),  # line 7
        json.dumps(_alert("val-8")),
    ]
    path = tmp_path / "values.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    done = target.run("alerts", "import", str(path), "--org", "demo", ok=False)

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "2 stored" in done.stdout and "6 invalid" in done.stdout
    assert "line 2: score: score is 1e+308; it must be between 0 and 100." in done.stdout
    assert "line 3: rule_hits[0].score_contribution:" in done.stdout
    assert "line 4: signals[0].contribution: contribution must be a finite number" in done.stdout
    assert "line 5: signals[0].value: value must be a finite number" in done.stdout
    assert "line 6: score:" in done.stdout and "line 7: amount:" in done.stdout
    stored = "SELECT external_id FROM alert WHERE external_id LIKE 'val-%' ORDER BY external_id"
    assert target.scalar(f"SELECT COUNT(*) FROM ({stored}) s") == 2
    value = "SELECT s.value FROM alert_signal s JOIN alert a ON a.id = s.alert_id"
    assert json.loads(target.scalar(f"{value} WHERE a.external_id = 'val-1'")) == "abc"


def test_demo_generate_bounds_its_numbers(target: Target) -> None:
    """Issue 11, item 5: a seed too large for an external id, or more alerts than the limit,
    is refused with the range before anything is written."""
    before = target.scalar("SELECT COUNT(*) FROM alert")
    done = target.run("demo", "generate", "--org", "demo", "--alerts", "1",
                      "--seed", str(10**30), ok=False)  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "less than or equal to 2147483647" in done.stderr
    done = target.run("demo", "generate", "--org", "demo", "--alerts", "10000001", ok=False)
    assert done.returncode != 0 and "less than or equal to 10000000" in done.stderr
    assert target.scalar("SELECT COUNT(*) FROM alert") == before
