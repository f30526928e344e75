"""The one module that talks to litellm (imported lazily: importing litellm takes seconds, and
the web process must start in under 2 s; only the jobs and `riskops assistant check` call here).

A litellm Router holds the configured model and its fallbacks, with the timeout and retries of
the settings; `complete` sends one list of messages and answers with the text, the model that
answered, tokens, cost (litellm's `completion_cost`, or the configured price per 1,000 tokens
for a model litellm has no price for) and latency.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from riskops.server.settings import Settings


@dataclass(frozen=True)
class Completion:
    text: str
    model: str  # the model that answered (the primary, or a fallback)
    tokens_in: int
    tokens_out: int
    cost: Decimal
    latency_ms: int


class ProviderUnavailable(Exception):
    """No configured model could answer (timeouts, connection refused, 5xx, 429 after the
    retries and fallbacks). `reason` is one line for the panel, in the page's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderFailed(Exception):
    """A model answered, but with something unusable (a malformed body, an empty answer)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def configured(settings: Settings) -> bool:
    """Whether a model is configured (RISKOPS_ASSISTANT_MODEL)."""
    return bool(settings.assistant_model)


async def complete(
    messages: list[dict[str, str]], *, settings: Settings | None = None
) -> Completion:
    """Send `messages` (already redacted) to the configured model, falling back in turn; raises
    ProviderUnavailable or ProviderFailed. Never takes longer than
    `settings.assistant_call_budget_seconds`."""
    raise NotImplementedError  # issue 13: h/provider


def reset() -> None:
    """Forget the cached Router (tests and the CLI switch settings)."""
