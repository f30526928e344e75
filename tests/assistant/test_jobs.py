"""The `assistant.respond` job in process, on both backends, against the loopback provider:
success (redacted prompt on record, placeholders restored, citations, tokens, cost, audit event,
counters), the fallback model, bounded retries ending `unavailable`, a malformed answer ending
`failed`, invented citations dropped, every off condition, the 80/95% budget warnings once per
day (also with two finishers racing), and a redelivered job changing nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from riskops.audit.models import AuditEvent
from riskops.jobs import runner
from riskops.jobs.models import Job, JobStatus
from riskops.server import observability as metrics
from riskops.server.assistant import jobs as assistant_jobs
from riskops.server.assistant import prompts, provider
from riskops.server.assistant.jobs import Outcome
from riskops.server.assistant.models import (
    AssistantResponse,
    BudgetNotice,
    ResponseKind,
    ResponseStatus,
)
from riskops.server.credit import kill_switches
from riskops.server.notify.models import OutboxMessage
from riskops.server.settings import AssistantModel, Settings, get_settings, use_settings
from tests.assistant.conftest import FALLBACK, MODEL
from tests.assistant.helpers import enqueue, pending, pii_alert
from tests.support.fake_llm import FakeLLM

S = ResponseStatus


def configure(**overrides: Any) -> Settings:
    """The assistant_on settings with `overrides` (restored by the fixture)."""
    provider.reset()
    return use_settings(get_settings().model_copy(update=overrides))


async def run(row: AssistantResponse) -> AssistantResponse:
    job = await enqueue(row)
    await runner.drain(timeout=120)
    done = await Job.get(id=job.id)
    assert done.status == JobStatus.SUCCEEDED, done.error
    return await AssistantResponse.get(id=row.id)


async def calls(org_id: int, response_id: int) -> list[dict[str, Any]]:
    rows = await AuditEvent.filter(
        org_id=org_id, action="assistant.call", entity_id=str(response_id)
    ).values_list("actor", "new_values")
    return [{"actor": actor, **json.loads(new)} for actor, new in rows]


def sample(counter: Any, **labels: str) -> float:
    value = metrics.REGISTRY.get_sample_value(counter, labels)
    return value or 0.0


async def test_an_answer_is_stored_audited_and_counted(tenant, assistant_on, fake_llm) -> None:
    alert_id, pii = await pii_alert(tenant)
    user, _ = await tenant.user("strategist")
    row = await pending(tenant.org_id, alert_id, requested_by_id=user.id)
    kind = ResponseKind.EXPLAIN_ALERT.value
    cost_before = sample("riskops_assistant_cost_total", model=MODEL, kind=kind)
    tokens_before = sample(
        "riskops_assistant_tokens_total", model=MODEL, kind=kind, direction="output"
    )

    row = await run(row)

    assert row.status is S.SUCCEEDED and row.reason is None and row.error is None
    assert (row.model, row.attempts, row.tokens_out) == (MODEL, 1, 42)
    assert row.tokens_in > 0 and row.cost > 0 and row.latency_ms is not None
    assert row.template_version == prompts.TEMPLATE_VERSION[ResponseKind.EXPLAIN_ALERT]
    canonical = json.dumps(row.prompt_redacted, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False).encode()  # fmt: skip
    assert row.prompt_hash == hashlib.sha256(canonical).hexdigest()
    # what left the process is what is on record, and none of the alert's PII is in it
    (sent,) = fake_llm.received
    assert sent.json["messages"] == row.prompt_redacted
    for value in pii.values():
        assert value.encode() not in fake_llm.all_bytes()
        assert value not in json.dumps(row.prompt_redacted)
    # the answer names the customer again (placeholders restored) and links its citations
    assert row.output is not None and pii["customer"] in row.output
    assert [c["kind"] for c in row.citations] == ["rule", "rule"]
    assert row.dropped_citations == 0
    (event,) = await calls(tenant.org_id, row.id)
    assert event == {
        "actor": f"user:{user.id}", "kind": kind, "target_type": "alert",
        "target_id": alert_id, "model": MODEL, "tokens_in": row.tokens_in, "tokens_out": 42,
        "cost": str(row.cost), "prompt_hash": row.prompt_hash, "outcome": "succeeded",
        "reason": None,
    }  # fmt: skip
    assert sample("riskops_assistant_cost_total", model=MODEL, kind=kind) == pytest.approx(
        cost_before + float(row.cost)
    )
    assert (
        sample("riskops_assistant_tokens_total", model=MODEL, kind=kind, direction="output")
        == tokens_before + 42
    )


async def test_the_fallback_model_answers(tenant, assistant_on, fake_llm) -> None:
    configure(assistant_fallbacks=[AssistantModel(model=FALLBACK)])
    fake_llm.behave("gpt-4o-mini", "error", status=500)
    alert_id, _ = await pii_alert(tenant)
    row = await run(await pending(tenant.org_id, alert_id))
    assert (row.status, row.model) == (S.SUCCEEDED, FALLBACK)
    assert [r.model for r in fake_llm.received] == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]
    (event,) = await calls(tenant.org_id, row.id)
    assert (event["model"], event["outcome"], event["actor"]) == (FALLBACK, "succeeded", "system")


async def test_bounded_retries_end_unavailable_with_the_reason(
    tenant, assistant_on, fake_llm
) -> None:
    configure(assistant_fallbacks=[AssistantModel(model=FALLBACK)])
    fake_llm.behave("*", "error", status=500)
    alert_id, _ = await pii_alert(tenant)
    errors_before = sample(
        "riskops_assistant_errors_total", model=MODEL, kind="explain_alert", outcome="unavailable"
    )
    row = await run(await pending(tenant.org_id, alert_id))
    assert row.status is S.UNAVAILABLE
    assert row.reason == (
        "The provider refused with HTTP 500 after 2 attempts of gpt-4o-mini, 2 of gpt-4o."
    )
    assert "InternalServerError" in (row.error or "")
    assert (len(fake_llm.requests_for("gpt-4o-mini")), len(fake_llm.requests_for("gpt-4o"))) == (
        2, 2,
    )  # fmt: skip
    assert (row.cost, row.tokens_in, row.attempts) == (0, 0, 1)
    assert row.prompt_redacted  # the prompt that was sent stays on record
    (event,) = await calls(tenant.org_id, row.id)
    assert (event["outcome"], event["reason"], event["cost"]) == ("unavailable", row.reason, "0")
    assert (
        sample(
            "riskops_assistant_errors_total",
            model=MODEL,
            kind="explain_alert",
            outcome="unavailable",
        )
        == errors_before + 1
    )


async def test_a_malformed_answer_fails(tenant, assistant_on, fake_llm) -> None:
    configure(assistant_retries=0)
    fake_llm.behave("*", "malformed")
    alert_id, _ = await pii_alert(tenant)
    row = await run(await pending(tenant.org_id, alert_id))
    assert (row.status, row.reason) == (
        S.FAILED, "The provider sent an answer riskops could not read."
    )  # fmt: skip


async def test_invented_citations_are_dropped_and_counted(tenant, assistant_on, fake_llm) -> None:
    fake_llm.behave("*", "invent")
    alert_id, _ = await pii_alert(tenant)
    row = await run(await pending(tenant.org_id, alert_id))
    assert row.status is S.SUCCEEDED
    assert row.dropped_citations == 2
    assert row.output is not None and "NOPE-999" not in row.output
    assert "made_up_signal" not in row.output
    assert {c["ref"] for c in row.citations} <= {c["ref"] for c in row.citations if c["url"]}


async def test_an_unexpected_error_fails_with_the_technical_error(
    tenant, assistant_on, fake_llm
) -> None:
    row = await run(await pending(tenant.org_id, 2_000_000_000))  # the alert does not exist
    assert row.status is S.FAILED
    assert row.reason is not None and row.reason.startswith("The assistant failed: ")
    assert "\n" not in row.reason and row.error
    assert fake_llm.received == []
    (event,) = await calls(tenant.org_id, row.id)
    assert event["outcome"] == "failed"


# ----------------------------------------------------------------------------- off


async def assert_off(tenant: Any, fake_llm: FakeLLM, reason: str) -> AssistantResponse:
    alert_id, _ = await pii_alert(tenant)
    row = await run(await pending(tenant.org_id, alert_id))
    assert (row.status, row.reason) == (S.UNAVAILABLE, reason)
    assert fake_llm.received == [] and row.prompt_redacted == [] and row.attempts == 0
    (event,) = await calls(tenant.org_id, row.id)
    assert (event["outcome"], event["reason"]) == ("unavailable", reason)
    return row


async def test_off_in_safe_mode(tenant, assistant_on, fake_llm, monkeypatch) -> None:
    monkeypatch.setenv("AGENT_SAFE_MODE", "1")
    await assert_off(
        tenant, fake_llm,
        "The assistant is off: AGENT_SAFE_MODE is set on the server (agent kill switch).",
    )  # fmt: skip


async def test_off_under_the_governed_switch(tenant, assistant_on, fake_llm) -> None:
    _, approver = await tenant.user("approver", name="Ana Ruiz")
    switch = await kill_switches.set_kill_switch(
        approver, "assistant", None, "Provider incident, see INC-7"
    )
    await assert_off(
        tenant, fake_llm,
        f"The assistant is off: Ana Ruiz set the assistant kill switch at "
        f"{switch.set_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC: Provider incident, see INC-7.",
    )  # fmt: skip


async def test_off_without_a_model(tenant, assistant_on, fake_llm) -> None:
    configure(assistant_model=None)
    await assert_off(
        tenant, fake_llm,
        "The assistant is off: no model is configured: set RISKOPS_ASSISTANT_MODEL.",
    )  # fmt: skip


async def test_off_when_the_budget_is_spent(tenant, assistant_on, fake_llm) -> None:
    configure(assistant_budgets={tenant.slug: Decimal("1.00")})
    await pending(tenant.org_id, 1, cost=Decimal("1.01"))
    await assert_off(
        tenant, fake_llm,
        "The assistant is off: the daily budget of $1.00 is spent ($1.01 today); it resets at "
        "00:00 UTC.",
    )  # fmt: skip


# ----------------------------------------------------------------------------- budget warnings


async def notices(org_id: int) -> list[int]:
    return sorted(await BudgetNotice.filter(org_id=org_id).values_list("threshold", flat=True))


async def budget_messages(org_id: int) -> list[tuple[str, str, int]]:
    rows = await OutboxMessage.filter(org_id=org_id, kind="assistant.budget").order_by("id")
    return [(m.channel, m.status.value, m.payload["threshold"]) for m in rows]


async def test_80_and_95_percent_warnings_once_each_per_day(tenant, assistant_on, fake_llm) -> None:
    configure(assistant_budgets={tenant.slug: Decimal("1.00")})
    alert_id, _ = await pii_alert(tenant)
    await pending(tenant.org_id, alert_id, cost=Decimal("0.79999"))
    await run(await pending(tenant.org_id, alert_id))  # crosses 80%
    assert await notices(tenant.org_id) == [80]
    await pending(tenant.org_id, alert_id, cost=Decimal("0.15"))
    await run(await pending(tenant.org_id, alert_id))  # crosses 95%
    for _ in range(2):  # still under 100%: it answers, and warns no more
        assert (await run(await pending(tenant.org_id, alert_id))).status is S.SUCCEEDED
    assert await notices(tenant.org_id) == [80, 95]
    assert await budget_messages(tenant.org_id) == [
        ("review", "pending", 80), ("review", "pending", 95)
    ]  # fmt: skip
    message = await OutboxMessage.filter(org_id=tenant.org_id, kind="assistant.budget").first()
    assert message is not None
    day = datetime.now(UTC).date().isoformat()
    assert message.payload["budget"] == "1.00" and message.payload["day"] == day
    assert Decimal(message.payload["spent"]) >= Decimal("0.80")


async def test_a_warning_under_alert_suppression_is_recorded_suppressed(
    tenant, assistant_on, fake_llm
) -> None:
    configure(assistant_budgets={tenant.slug: Decimal("1.00")})
    _, approver = await tenant.user("approver")
    await kill_switches.set_kill_switch(approver, "alert_suppression", None, "Maintenance")
    alert_id, _ = await pii_alert(tenant)
    await pending(tenant.org_id, alert_id, cost=Decimal("0.96"))
    await run(await pending(tenant.org_id, alert_id))
    assert await budget_messages(tenant.org_id) == [
        ("review", "suppressed", 80), ("review", "suppressed", 95)
    ]  # fmt: skip


async def test_two_finishers_racing_warn_once(tenant, assistant_on) -> None:
    configure(assistant_budgets={tenant.slug: Decimal("1.00")})
    await pending(tenant.org_id, 1, cost=Decimal("0.90"))
    rows = [await pending(tenant.org_id, 1) for _ in range(4)]
    outcome = Outcome(S.SUCCEEDED, output="x", model=MODEL, cost=Decimal("0.001"))
    done = await asyncio.gather(*(assistant_jobs.finish(r, outcome) for r in rows))
    assert done == [True] * 4
    assert await notices(tenant.org_id) == [80]
    assert len(await budget_messages(tenant.org_id)) == 1


# ----------------------------------------------------------------------------- idempotent


async def test_a_finished_response_is_never_answered_again(tenant, assistant_on, fake_llm) -> None:
    alert_id, _ = await pii_alert(tenant)
    row = await run(await pending(tenant.org_id, alert_id))
    first = (row.output, row.cost, row.finished_at)
    # a redelivery of the job, and a late finisher from a dead attempt
    out = await assistant_jobs.respond({}, response_id=row.id, org_id=tenant.org_id)
    assert out == {"skipped": "succeeded"}
    late = Outcome(S.FAILED, reason="late", cost=Decimal("9"))
    assert await assistant_jobs.finish(row, late) is False
    again = await AssistantResponse.get(id=row.id)
    assert (again.output, again.cost, again.finished_at) == first
    assert len(fake_llm.received) == 1
    assert len(await calls(tenant.org_id, row.id)) == 1


async def test_another_organizations_response_is_not_found(tenant, assistant_on, fake_llm) -> None:
    alert_id, _ = await pii_alert(tenant)
    row = await pending(tenant.org_id, alert_id)
    out = await assistant_jobs.respond({}, response_id=row.id, org_id=tenant.org_id + 10_000)
    assert out == {"skipped": "gone"}
    assert (await AssistantResponse.get(id=row.id)).status is S.PENDING
    assert fake_llm.received == []


async def test_an_attempt_interrupted_mid_call_is_answered_once_by_the_next(
    tenant, assistant_on, fake_llm
) -> None:
    """In process, as arq's job timeout or a shutdown does it: the attempt is cancelled while
    the provider holds its request; the next attempt answers, and the call counts once."""
    fake_llm.behave("gpt-4o-mini", "slow", delay=3)
    alert_id, _ = await pii_alert(tenant)
    row = await pending(tenant.org_id, alert_id)
    job, _ = await runner.create_job(
        assistant_jobs.RESPOND, org_id=tenant.org_id,
        payload={"response_id": row.id, "org_id": tenant.org_id},
    )  # fmt: skip
    attempt = asyncio.create_task(runner.run_job({"job_try": 1}, str(job.id)))
    for _ in range(300):
        if fake_llm.received:
            break
        await asyncio.sleep(0.05)
    assert fake_llm.received, "the provider never got the request"
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    assert (await AssistantResponse.get(id=row.id)).status is S.PENDING
    assert (await Job.get(id=job.id)).status == JobStatus.QUEUED

    fake_llm.behave("gpt-4o-mini", "ok")
    assert await runner.run_job({"job_try": 2}, str(job.id), final=True)
    done = await Job.get(id=job.id)
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 2)
    row = await AssistantResponse.get(id=row.id)
    assert (row.status, row.attempts) == (S.SUCCEEDED, 2)
    (event,) = await calls(tenant.org_id, row.id)
    assert event["cost"] == str(row.cost)
    costs = await AssistantResponse.filter(org_id=tenant.org_id).values_list("cost", flat=True)
    assert sum(Decimal(str(c)) for c in costs) == row.cost > 0
