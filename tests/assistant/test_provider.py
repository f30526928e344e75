"""The provider against the loopback OpenAI-compatible server, through litellm for real: tokens
and cost, the fallback model, bounded retries, the call's time limit, 429, malformed bodies, the
price per 1,000 tokens of a local model, and that the API key never shows in a reason."""

from __future__ import annotations

import subprocess
import sys
import time
from decimal import Decimal

import pytest

from riskops.server.assistant import provider
from riskops.server.assistant.provider import ProviderFailed, ProviderUnavailable
from riskops.server.settings import AssistantModel, Settings, load_settings
from tests.assistant.conftest import FALLBACK, MODEL, assistant_settings
from tests.support.fake_llm import FakeLLM

MESSAGES = [
    {"role": "system", "content": "Cite only [rule:R-101] and [signal:velocity_24h]."},
    {"role": "user", "content": "Explain alert 7 for <CUSTOMER_1>."},
]
KEY = "sk-test-not-a-real-key"


def settings_for(llm: FakeLLM, **overrides: object) -> Settings:
    return assistant_settings(load_settings(), llm, **overrides)


def with_fallback(llm: FakeLLM, **overrides: object) -> Settings:
    return settings_for(llm, assistant_fallbacks=[AssistantModel(model=FALLBACK)], **overrides)


def price(model: str, tokens_in: int, tokens_out: int) -> Decimal:
    import litellm

    info = litellm.model_cost[model]
    total = (
        Decimal(str(info["input_cost_per_token"])) * tokens_in
        + Decimal(str(info["output_cost_per_token"])) * tokens_out
    )
    return total.quantize(Decimal("0.000001"))


@pytest.fixture(autouse=True)
def fresh_router(fake_llm: FakeLLM):  # type: ignore[no-untyped-def]
    provider.reset()
    yield
    provider.reset()


async def test_an_answer_with_tokens_and_cost_from_litellms_prices(fake_llm: FakeLLM) -> None:
    out = await provider.complete(MESSAGES, settings=settings_for(fake_llm))
    assert out.text == (
        "This alert fired mainly because of [rule:R-101] [signal:velocity_24h] for <CUSTOMER_1>."
    )
    assert out.model == MODEL
    (sent,) = fake_llm.received
    prompt_tokens = len("\n".join(m["content"] for m in MESSAGES)) // 4
    assert (out.tokens_in, out.tokens_out) == (prompt_tokens, 42)
    assert out.cost == price("gpt-4o-mini", prompt_tokens, 42) > 0
    assert out.latency_ms >= 0
    body = sent.json
    assert body["messages"] == MESSAGES
    assert body["max_tokens"] == 800 and body["temperature"] <= 0.2
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert headers["authorization"] == f"Bearer {KEY}"


async def test_the_fallback_answers_when_the_primary_fails(fake_llm: FakeLLM) -> None:
    fake_llm.behave("gpt-4o-mini", "error", status=500)
    out = await provider.complete(MESSAGES, settings=with_fallback(fake_llm))
    assert out.model == FALLBACK
    assert out.cost == price("gpt-4o", out.tokens_in, 42)
    assert [r.model for r in fake_llm.received] == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]


async def test_retries_are_bounded_per_model(fake_llm: FakeLLM) -> None:
    fake_llm.behave("*", "error", status=503)
    settings = with_fallback(fake_llm, assistant_retries=2)
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.complete(MESSAGES, settings=settings)
    assert len(fake_llm.requests_for("gpt-4o-mini")) == 3
    assert len(fake_llm.requests_for("gpt-4o")) == 3
    assert caught.value.reason == (
        "The provider refused with HTTP 503 after 3 attempts of gpt-4o-mini, 3 of gpt-4o."
    )


async def test_a_slow_model_is_unavailable_within_the_call_budget(fake_llm: FakeLLM) -> None:
    fake_llm.behave("*", "slow", delay=4)
    settings = with_fallback(fake_llm, assistant_timeout_seconds=1.0)
    assert settings.assistant_call_budget_seconds == 4.0
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.complete(MESSAGES, settings=settings)
    took = time.monotonic() - started
    assert took <= settings.assistant_call_budget_seconds + 1.5  # a loaded machine's lag
    assert caught.value.reason == (
        "The model did not answer within 1 s (2 attempts of gpt-4o-mini, 2 of gpt-4o)."
    )
    assert fake_llm.requests_for("gpt-4o-mini")  # it was asked, and did not answer in time


async def test_a_429_does_not_wait_for_its_retry_after(fake_llm: FakeLLM) -> None:
    fake_llm.behave("*", "ratelimit", retry_after=30)
    settings = with_fallback(fake_llm)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.complete(MESSAGES, settings=settings)
    assert time.monotonic() - started < settings.assistant_call_budget_seconds
    assert caught.value.reason == (
        "The provider is rate-limiting riskops (HTTP 429); try again in a minute."
    )
    # the next model at once, no retry against a model that asked to be left alone
    assert [r.model for r in fake_llm.received] == ["gpt-4o-mini", "gpt-4o"]


async def test_a_429_then_an_answer_from_the_fallback(fake_llm: FakeLLM) -> None:
    fake_llm.behave("gpt-4o-mini", "ratelimit", retry_after=1)
    out = await provider.complete(MESSAGES, settings=with_fallback(fake_llm))
    assert out.model == FALLBACK


async def test_a_malformed_body_fails(fake_llm: FakeLLM) -> None:
    fake_llm.behave("*", "malformed")
    with pytest.raises(ProviderFailed) as caught:
        await provider.complete(MESSAGES, settings=settings_for(fake_llm))
    assert caught.value.reason == "The provider sent an answer riskops could not read."
    assert "Expecting value" in caught.value.detail


async def test_an_empty_answer_fails(fake_llm: FakeLLM) -> None:
    fake_llm.behave("*", "text", text="   ")
    with pytest.raises(ProviderFailed, match="empty answer"):
        await provider.complete(MESSAGES, settings=settings_for(fake_llm))


async def test_connection_refused_is_unavailable_without_the_key(fake_llm: FakeLLM) -> None:
    settings = settings_for(fake_llm, assistant_api_base="http://127.0.0.1:1/v1")
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.complete(MESSAGES, settings=settings)
    assert caught.value.reason.startswith("riskops could not reach the provider")
    assert "RISKOPS_ASSISTANT_API_BASE" in caught.value.reason
    assert KEY not in caught.value.reason and KEY not in caught.value.detail


async def test_a_local_model_is_priced_per_1k_tokens(fake_llm: FakeLLM) -> None:
    settings = settings_for(
        fake_llm, assistant_model="openai/riskops-local-llama",
        assistant_input_price_per_1k=Decimal("0.5"), assistant_output_price_per_1k=Decimal("2"),
    )  # fmt: skip
    out = await provider.complete(MESSAGES, settings=settings)
    assert out.model == "openai/riskops-local-llama"
    expected = (Decimal("0.5") * out.tokens_in + Decimal(2) * 42) / 1000
    assert out.cost == expected.quantize(Decimal("0.000001"))
    # and free when no price is configured
    free = await provider.complete(
        MESSAGES, settings=settings_for(fake_llm, assistant_model="openai/riskops-local-llama")
    )
    assert free.cost == 0


async def test_no_model_is_unavailable(fake_llm: FakeLLM) -> None:
    with pytest.raises(ProviderUnavailable, match="RISKOPS_ASSISTANT_MODEL"):
        await provider.complete(MESSAGES, settings=settings_for(fake_llm, assistant_model=None))
    assert fake_llm.received == []


async def test_the_router_is_cached_until_the_settings_change(fake_llm: FakeLLM) -> None:
    first = provider.router(settings_for(fake_llm))
    assert provider.router(settings_for(fake_llm)) is first
    other = provider.router(settings_for(fake_llm, assistant_retries=0))
    assert other is not first
    provider.reset()
    assert provider.router(settings_for(fake_llm, assistant_retries=0)) is not other


def test_importing_the_assistant_does_not_import_litellm() -> None:
    """The web app and every job module import the provider; litellm waits for its first call."""
    code = (
        "import sys; import riskops.server.assistant.provider, riskops.server.assistant.jobs, "
        "riskops.server.assistant.availability, riskops.server.assistant.budget, "
        "riskops.jobs.catalog, riskops.server.app; "
        "assert 'litellm' not in sys.modules, 'litellm imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


async def test_the_key_is_in_no_log_line(
    fake_llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    fake_llm.behave("*", "error", status=500)
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.complete(MESSAGES, settings=settings_for(fake_llm, assistant_retries=0))
    assert KEY not in caplog.text and KEY not in caught.value.detail
    assert KEY not in repr(settings_for(fake_llm)) and KEY not in str(
        provider.describe(settings_for(fake_llm))
    )


async def test_a_refused_key_is_not_retried_but_falls_back(fake_llm: FakeLLM) -> None:
    """riskops's own retries of the primary (no Router) follow the retry policy: a 401 is not
    asked again; the Router of the fallbacks takes over at once."""
    fake_llm.behave("gpt-4o-mini", "error", status=401)
    out = await provider.complete(MESSAGES, settings=with_fallback(fake_llm, assistant_retries=2))
    assert out.model == FALLBACK
    assert [r.model for r in fake_llm.received] == ["gpt-4o-mini", "gpt-4o"]


async def test_without_fallbacks_a_5xx_is_retried_then_unavailable(fake_llm: FakeLLM) -> None:
    fake_llm.behave("*", "error", status=502)
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.complete(MESSAGES, settings=settings_for(fake_llm, assistant_retries=2))
    assert [r.model for r in fake_llm.received] == ["gpt-4o-mini"] * 3
    assert (
        caught.value.reason == "The provider refused with HTTP 502 after 3 attempts of gpt-4o-mini."
    )
