"""`riskops assistant status|check|usage` (issue 13): whether the assistant answers for an
organization and its budget, the runbook's test prompt through the configured model (the
loopback OpenAI-compatible server of the tests), and usage by case. A real subprocess on SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from riskops.server.assistant.availability import NO_MODEL, SAFE_MODE
from tests.cli.test_cli import Target, one_error_line, seeded_target
from tests.support.fake_llm import FakeLLM

pytestmark = pytest.mark.slow

MODEL = "openai/gpt-4o-mini"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    with seeded_target(request.param, tmp_path_factory.mktemp("assistant-cli")) as made:
        target = made.target
        yield target


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    server = FakeLLM.start()
    yield server
    server.stop()


def pointed_at(llm: FakeLLM, **more: str) -> dict[str, str]:
    return {
        "RISKOPS_ASSISTANT_MODEL": MODEL, "RISKOPS_ASSISTANT_API_BASE": llm.url,
        "RISKOPS_ASSISTANT_API_KEY": "sk-test-not-a-real-key", "RISKOPS_ASSISTANT_RETRIES": "0",
        "RISKOPS_ASSISTANT_TIMEOUT_SECONDS": "5", **more,
    }  # fmt: skip


def rows(stdout: str) -> dict[str, str]:
    """The two-column table of `status` and `check`, as {label: value}."""
    found = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 2:
            found[cells[0]] = cells[1]
    return found


def test_status_says_why_the_assistant_is_off_and_what_it_may_spend(target: Target) -> None:
    shown = rows(target.run("assistant", "status", "--org", "demo").stdout)
    assert shown["assistant"] == "off" and shown["why off"] == NO_MODEL
    assert shown["model"] == "none configured (RISKOPS_ASSISTANT_MODEL)"
    assert shown["daily budget"] == "$5.000000" and shown["spent today (UTC)"] == "$0.000000"

    safe = target.run("assistant", "status", "--org", "demo", AGENT_SAFE_MODE="1").stdout
    assert rows(safe)["why off"] == SAFE_MODE
    unknown = target.run("assistant", "status", "--org", "nope", ok=False)
    assert one_error_line(unknown).endswith("no organization with slug or id 'nope' (see "
                                            "`riskops status`).")  # fmt: skip


def test_check_sends_one_harmless_prompt_and_reports_the_call(target: Target, llm: FakeLLM) -> None:
    llm.reset()
    done = target.run("assistant", "check", **pointed_at(llm))
    shown = rows(done.stdout)
    assert shown["model"] == MODEL
    assert shown["latency"].endswith(" ms")
    assert shown["tokens"].endswith("42 out")  # the loopback server's completion tokens
    assert shown["cost"].startswith("$0.0000")
    (sent,) = llm.received
    body = sent.body.decode()
    assert "Reply with the word OK." in body
    assert "demo" not in body.lower() and "@" not in body  # no organization's data at all

    on = rows(target.run("assistant", "status", "--org", "demo", **pointed_at(llm)).stdout)
    assert on["assistant"] == "on" and on["why off"] == "-" and on["model"] == MODEL


def test_check_exits_1_with_the_reason_when_it_cannot_answer(target: Target, llm: FakeLLM) -> None:
    llm.reset()
    off = target.run("assistant", "check", ok=False)
    assert off.returncode == 1 and one_error_line(off) == f"riskops: error: {NO_MODEL}"
    safe = target.run("assistant", "check", ok=False, **pointed_at(llm, AGENT_SAFE_MODE="1"))
    assert one_error_line(safe) == f"riskops: error: {SAFE_MODE}"
    assert llm.received == []
    llm.behave("gpt-4o-mini", "error", status=500)
    broken = target.run("assistant", "check", ok=False, **pointed_at(llm))
    assert broken.returncode == 1
    line = one_error_line(broken)
    assert line.startswith("riskops: error: ") and "sk-test" not in line
    assert llm.received, "the check did reach the model"
    llm.reset()


def test_usage_by_case_lists_the_cost_of_each_case(target: Target) -> None:
    org = target.demo_org()
    case_id, number = target.query(
        f"SELECT id, number FROM risk_case WHERE org_id = {org} ORDER BY number LIMIT 1"
    )[0]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")
    target.execute(
        "INSERT INTO assistant_response (org_id, kind, target_type, target_id, status, model, "
        "template_version, prompt_hash, prompt_redacted, citations, dropped_citations, "
        "tokens_in, tokens_out, cost, attempts, created_at) VALUES "
        f"({org}, 'similar_cases', 'case', {case_id}, 'succeeded', '{MODEL}', 'v1', '', '[]', "
        f"'[]', 0, 1200, 300, 0.012345, 1, '{now}')"
    )
    listed = target.run("assistant", "usage", "--org", "demo", "--period", "7d", "--by", "case")
    line = next(x for x in listed.stdout.splitlines() if f"CASE-{number:06d}" in x)
    assert "$0.012345" in line and "1,200" in line
    by_model = target.run("assistant", "usage", "--org", "demo", "--by", "model").stdout
    assert MODEL in by_model
    bad = target.run("assistant", "usage", "--org", "demo", "--by", "team", ok=False)
    assert one_error_line(bad) == (
        "riskops: error: Grouping 'team' is unknown; choose one of user, model, case, kind."
    )
