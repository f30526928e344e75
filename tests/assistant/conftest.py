"""Fixtures of the assistant's tests: the loopback OpenAI-compatible server and settings that
point the assistant at it (restored after each test)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from riskops.server.settings import Settings, get_settings, use_settings
from tests.support.fake_llm import FakeLLM

MODEL = "openai/gpt-4o-mini"  # litellm knows its price (LITELLM_LOCAL_MODEL_COST_MAP=True)
FALLBACK = "openai/gpt-4o"


@pytest.fixture(scope="session")
def fake_llm_server() -> Iterator[FakeLLM]:
    llm = FakeLLM.start()
    yield llm
    llm.stop()


@pytest.fixture
def fake_llm(fake_llm_server: FakeLLM) -> Iterator[FakeLLM]:
    fake_llm_server.reset()
    yield fake_llm_server
    fake_llm_server.reset()


def assistant_settings(base: Settings, llm: FakeLLM, **overrides: Any) -> Settings:
    """`base` with the assistant pointed at `llm` (short timeouts, one retry)."""
    values: dict[str, Any] = {
        "assistant_model": MODEL,
        "assistant_api_base": llm.url,
        "assistant_api_key": "sk-test-not-a-real-key",
        "assistant_timeout_seconds": 2.0,
        "assistant_retries": 1,
        "agent_safe_mode": False,
    }
    values.update(overrides)
    return base.model_copy(update=values)


@pytest.fixture
def assistant_on(db: Any, fake_llm: FakeLLM) -> Iterator[Settings]:
    """The assistant configured against the loopback server for this test."""
    from riskops.server.assistant import provider

    before = get_settings()
    settings = use_settings(assistant_settings(before, fake_llm))
    provider.reset()
    # litellm's import (seconds, more on a loaded machine) before the test, as the worker does
    # at startup, not inside the job the test times
    provider.warm(settings)
    try:
        yield settings
    finally:
        use_settings(before)
        provider.reset()
