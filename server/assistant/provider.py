"""The one module that talks to litellm (imported lazily: importing litellm takes seconds, and
the web process must start in under 2 s; only the jobs and `riskops assistant check` call here).

The configured model is called through plain `litellm.acompletion` (its HTTP client cached by
litellm across calls), with riskops's own retries under `retry_policy`; only when it has failed
does a litellm Router take over, holding the fallbacks (fallback-1 first, the others as its
fallbacks). The Router cost ~2.5 ms a call of the 5 ms overhead budget (docs/PERFORMANCE.md, The
assistant), and nearly every call is answered by the primary. `complete` sends one list of
messages and answers with the text, the model that answered, tokens, cost (litellm's price, or
the configured price per 1,000 tokens for a model litellm has no price for) and latency.

The whole call is bounded by `Settings.assistant_call_budget_seconds` (every attempt of every
model timing out), which the settings keep below the job timeout: a Retry-After, litellm's
backoff between retries or a server that never answers cannot make a job outlive its attempt.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from riskops.server.settings import Settings, get_settings

if TYPE_CHECKING:
    from litellm import Router

log = logging.getLogger("riskops.assistant")

TEMPERATURE = 0.1  # low: an explanation of the same facts should read the same twice
PRIMARY = "primary"  # the Router's name of the configured model; fallbacks are fallback-1, ...
FALLBACK_1 = "fallback-1"  # where the Router starts, once the primary has failed
LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")


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
    retries and fallbacks). `reason` is one line for the panel, in the page's words; `detail`
    is the technical error for operators (never with the API key)."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason


class ProviderFailed(Exception):
    """A model answered, but with something unusable (a malformed body, an empty answer)."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason


def configured(settings: Settings) -> bool:
    """Whether a model is configured (RISKOPS_ASSISTANT_MODEL)."""
    return bool(settings.assistant_model)


# --- litellm, quietly --------------------------------------------------------------------------


def _litellm() -> Any:
    """litellm, imported on first use with everything that could reach the network or print off:
    its price map is the copy it ships (no download), no telemetry, no callbacks, no debug
    output and no message logging (the prompt stays in our own rows)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    litellm.turn_off_message_logging = True
    litellm.drop_params = True  # a local model that takes no temperature still answers
    for name in (
        "callbacks", "input_callback", "success_callback", "failure_callback",
        "service_callback", "_async_success_callback", "_async_failure_callback",
    ):  # fmt: skip
        if isinstance(getattr(litellm, name, None), list):
            setattr(litellm, name, [])
    # litellm logs every failed attempt (with its debug block) at ERROR; riskops logs one line
    # per call itself, with the API key kept out
    for logger in LITELLM_LOGGERS:
        logging.getLogger(logger).setLevel(logging.CRITICAL)
    return litellm


@dataclass(frozen=True)
class Deployment:
    name: str  # the Router's model_name
    model: str  # litellm's model name
    api_base: str | None
    api_key: str | None


def deployments(settings: Settings) -> list[Deployment]:
    """The primary model, then each fallback in order (with the primary's api base and key when
    it names none)."""
    if not settings.assistant_model:
        return []
    primary = Deployment(
        PRIMARY, settings.assistant_model, settings.assistant_api_base, settings.assistant_api_key
    )
    out = [primary]
    for i, fb in enumerate(settings.assistant_fallbacks, start=1):
        out.append(
            Deployment(
                f"fallback-{i}", fb.model, fb.api_base or primary.api_base,
                fb.api_key or primary.api_key,
            )
        )  # fmt: skip
    return out


def _router_key(settings: Settings) -> tuple[Any, ...]:
    return (
        tuple(deployments(settings)),
        settings.assistant_retries,
        settings.assistant_timeout_seconds,
        settings.assistant_max_output_tokens,
    )


_router: tuple[tuple[Any, ...], Router] | None = None
_plain: tuple[tuple[Any, ...], dict[str, Any]] | None = None  # the primary's params (`_primary`)


def router(settings: Settings) -> Router:
    """The Router for `settings`, built once (again when the settings change)."""
    global _router
    key = _router_key(settings)
    if _router is not None and _router[0] == key:
        return _router[1]
    litellm = _litellm()
    deps = deployments(settings)
    model_list = [
        {
            "model_name": d.name,
            "litellm_params": {
                "model": d.model,
                **({"api_base": d.api_base} if d.api_base else {}),
                **({"api_key": d.api_key} if d.api_key else {}),
                "timeout": settings.assistant_timeout_seconds,
                "max_tokens": settings.assistant_max_output_tokens,
                "temperature": TEMPERATURE,
            },
        }
        for d in deps
    ]
    built = litellm.Router(
        model_list=model_list,
        # the primary is called without the Router (`_primary`); the Router starts at fallback-1
        fallbacks=[{FALLBACK_1: [d.name for d in deps[2:]]}] if len(deps) > 2 else [],
        num_retries=settings.assistant_retries,
        retry_policy=retry_policy(settings.assistant_retries),
        timeout=settings.assistant_timeout_seconds,
        # every call tries the primary first: a failure must not bench a model for the next
        # calls (the worker is long-lived; the fallbacks already cover a failing primary)
        disable_cooldowns=True,
        set_verbose=False,
    )
    _router = (key, built)
    return built


def retry_policy(retries: int) -> dict[str, int]:
    """Retries per error: a timeout or a 5xx may pass, so it is tried `retries` times more; a 429
    goes to the next model at once (its Retry-After is usually longer than a job may wait, and
    waiting would only end in the call's time limit); a refused key, a bad request or an unknown
    model do not change by asking again."""
    return {
        "TimeoutErrorRetries": retries,
        "InternalServerErrorRetries": retries,
        "ServiceUnavailableErrorRetries": retries,
        "DefaultRetries": retries,
        "RateLimitErrorRetries": 0,
        "AuthenticationErrorRetries": 0,
        "BadRequestErrorRetries": 0,
        "NotFoundErrorRetries": 0,
        "ContentPolicyViolationErrorRetries": 0,
    }


def warm(settings: Settings | None = None) -> None:
    """Import litellm and build the Router now (the worker's startup calls it), so the first
    job does not spend seconds of its time limit importing. Never raises: a model that cannot be
    set up fails its calls, with the reason, not the worker."""
    settings = settings or get_settings()
    if not configured(settings):
        return
    try:
        _primary_params(settings)
        router(settings)
    except Exception:
        log.exception("the assistant's model could not be set up; its calls will fail")


def reset() -> None:
    """Forget the cached Router and parameters (tests and the CLI switch settings)."""
    global _router, _plain
    _router = None
    _plain = None


# --- one call ----------------------------------------------------------------------------------


async def complete(
    messages: list[dict[str, str]], *, settings: Settings | None = None
) -> Completion:
    """Send `messages` (already redacted) to the configured model, falling back in turn; raises
    ProviderUnavailable or ProviderFailed. Never takes longer than
    `settings.assistant_call_budget_seconds`."""
    settings = settings or get_settings()
    if not configured(settings):
        raise ProviderUnavailable(
            "The assistant is off: no model is configured: set RISKOPS_ASSISTANT_MODEL."
        )
    budget = settings.assistant_call_budget_seconds
    deps = deployments(settings)
    # litellm imported and the Router built before the budget's clock starts (warm() does both
    # at the worker's start-up): an import on a loaded machine can take longer than the budget
    _primary_params(settings)
    if len(deps) > 1:
        router(settings)
    started = time.monotonic()
    answered_by: str | None = deps[0].model
    try:
        async with asyncio.timeout(budget):
            try:
                response = await _primary(messages, settings)
            except Exception:
                if len(deps) == 1:
                    raise
                answered_by = None  # the Router tells which fallback answered
                response = await router(settings).acompletion(model=FALLBACK_1, messages=messages)  # type: ignore[arg-type]
    except TimeoutError:
        raise ProviderUnavailable(
            f"The model did not answer within {_seconds(settings.assistant_timeout_seconds)} "
            f"({_attempts(settings)}).",
            f"no answer within the call budget of {budget:g} s",
        ) from None
    except Exception as exc:
        raise _classify(exc, settings) from None
    latency_ms = round((time.monotonic() - started) * 1000)
    return _completion(response, settings, latency_ms, answered_by)


async def _primary(messages: list[dict[str, str]], settings: Settings) -> Any:
    """The configured model through plain `litellm.acompletion` (no Router: ~2.5 ms a call),
    tried again as `retry_policy` allows for the error it raised: a timeout, a 5xx or a refused
    connection `assistant_retries` times more; a 429, a refused key, a bad request or an unknown
    model not at all (the fallbacks, or the caller, take it from there)."""
    params = _primary_params(settings)  # imports litellm (quietly) first
    import litellm
    from litellm.litellm_core_utils.get_retry_from_policy import (
        get_num_retries_from_retry_policy,
    )

    policy = retry_policy(settings.assistant_retries)
    retried = 0
    while True:
        try:
            return await litellm.acompletion(messages=messages, **params)
        except Exception as exc:
            if retried >= (get_num_retries_from_retry_policy(exc, policy) or 0):
                raise
            retried += 1


def _primary_params(settings: Settings) -> dict[str, Any]:
    """The primary's parameters, as its Router deployment had them; litellm keys its cached HTTP
    client on them, so every call reuses one kept-alive connection."""
    global _plain
    key = _router_key(settings)
    if _plain is not None and _plain[0] == key:
        return _plain[1]
    _litellm()
    d = deployments(settings)[0]
    params = {
        "model": d.model,
        **({"api_base": d.api_base} if d.api_base else {}),
        **({"api_key": d.api_key} if d.api_key else {}),
        "timeout": settings.assistant_timeout_seconds,
        "max_tokens": settings.assistant_max_output_tokens,
        "temperature": TEMPERATURE,
        "drop_params": True,
        "num_retries": 0,  # riskops's own loop retries (`_primary`)
    }
    _plain = (key, params)
    return params


def _completion(
    response: Any, settings: Settings, latency_ms: int, answered_by: str | None = None
) -> Completion:
    try:
        text = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        raise ProviderFailed(
            "The provider sent an answer riskops could not read.", "no choices in the answer"
        ) from None
    if not isinstance(text, str) or not text.strip():
        raise ProviderFailed("The model sent an empty answer; ask again.", "empty content")
    usage = getattr(response, "usage", None)
    tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
    tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
    hidden = getattr(response, "_hidden_params", None) or {}
    model = answered_by or str(hidden.get("litellm_model_name") or _answered_by(hidden, settings))
    return Completion(
        text=text.strip(),
        model=model,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=cost_of(response, tokens_in, tokens_out, settings),
        latency_ms=latency_ms,
    )


def _answered_by(hidden: dict[str, Any], settings: Settings) -> str:
    group = (hidden.get("additional_headers") or {}).get("x-litellm-model-group")
    for d in deployments(settings):
        if d.name == group:
            return d.model
    return settings.assistant_model or ""


def cost_of(response: Any, tokens_in: int, tokens_out: int, settings: Settings) -> Decimal:
    """litellm's price of the answer; for a model it has no price for (litellm answers 0, or
    cannot tell: a local model) the configured price per 1,000 tokens. litellm has priced the
    answer already, for the deployment that answered (`_hidden_params["response_cost"]`):
    pricing it again cost 0.4 ms a call (docs/PERFORMANCE.md, The assistant)."""
    hidden = getattr(response, "_hidden_params", None) or {}
    try:
        priced = Decimal(str(hidden.get("response_cost") or 0))
    except ArithmeticError:
        priced = Decimal(0)
    if priced <= 0:
        litellm = _litellm()
        try:
            priced = Decimal(str(litellm.completion_cost(completion_response=response) or 0))
        except Exception:
            priced = Decimal(0)
    if priced > 0:
        return priced.quantize(Decimal("0.000001"))
    local = (
        settings.assistant_input_price_per_1k * tokens_in
        + settings.assistant_output_price_per_1k * tokens_out
    ) / 1000
    return local.quantize(Decimal("0.000001"))


# --- what went wrong, in the page's words --------------------------------------------------------


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for e in _chain(exc) for cls in type(e).__mro__}


def _classify(exc: BaseException, settings: Settings) -> ProviderUnavailable | ProviderFailed:
    """The exception litellm raised after its retries and fallbacks, as one line."""
    detail = _scrub(f"{type(exc).__name__}: {_first_line(exc)}", settings)
    names = _names(exc)
    status = getattr(exc, "status_code", None)
    attempts = _attempts(settings)
    if names & {"JSONDecodeError", "APIResponseValidationError"}:
        return ProviderFailed("The provider sent an answer riskops could not read.", detail)
    if names & {"Timeout", "APITimeoutError", "TimeoutError", "ReadTimeout"}:
        return ProviderUnavailable(
            f"The model did not answer within {_seconds(settings.assistant_timeout_seconds)} "
            f"({attempts}).",
            detail,
        )
    if names & {"RateLimitError"} or status == 429:
        return ProviderUnavailable(
            "The provider is rate-limiting riskops (HTTP 429); try again in a minute.", detail
        )
    if names & {"AuthenticationError", "PermissionDeniedError"} or status in (401, 403):
        return ProviderUnavailable(
            f"The provider refused riskops' API key (HTTP {status or 401}); check "
            "RISKOPS_ASSISTANT_API_KEY.",
            detail,
        )
    if _connection_failed(exc, names):
        return ProviderUnavailable(
            f"riskops could not reach the provider ({attempts}); check "
            "RISKOPS_ASSISTANT_API_BASE and that the model server is running.",
            detail,
        )
    if names & {"NotFoundError"} or status == 404:
        return ProviderUnavailable(
            "The provider does not know the configured model (HTTP 404); check "
            "RISKOPS_ASSISTANT_MODEL.",
            detail,
        )
    if isinstance(status, int) and status >= 500:
        return ProviderUnavailable(
            f"The provider refused with HTTP {status} after {attempts}.", detail
        )
    if names & {"BadRequestError", "UnprocessableEntityError"}:
        return ProviderFailed(
            f"The provider rejected the request (HTTP {status or 400}); see the error for details.",
            detail,
        )
    return ProviderUnavailable(f"The provider could not answer ({attempts}).", detail)


def _connection_failed(exc: BaseException, names: set[str]) -> bool:
    if names & {"APIConnectionError", "ConnectError", "ClientConnectorError", "ConnectionError"}:
        return True
    text = " ".join(_first_line(e) for e in _chain(exc)).lower()
    return "connection error" in text or "connection refused" in text


def _attempts(settings: Settings) -> str:
    """ "2 attempts of gpt-4o-mini, 2 of gpt-4o": what one call tries."""
    n = settings.assistant_retries + 1
    parts = []
    for i, d in enumerate(deployments(settings)):
        short = d.model.split("/", 1)[-1]
        first = f"{n} attempt{'s' if n != 1 else ''} of {short}"
        parts.append(first if i == 0 else f"{n} of {short}")
    return ", ".join(parts)


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else ""


def _scrub(text: str, settings: Settings) -> str:
    """`text` without any configured API key (an error may quote its request)."""
    keys = {settings.assistant_api_key, *(fb.api_key for fb in settings.assistant_fallbacks)}
    for key in keys:
        if key:
            text = text.replace(key, "***")
    return text


def describe(settings: Settings) -> dict[str, Any]:
    """The configuration as `riskops assistant check` shows it (never the key)."""
    return {
        "models": [
            {"model": d.model, "api_base": d.api_base, "api_key": "set" if d.api_key else None}
            for d in deployments(settings)
        ],
        "timeout_seconds": settings.assistant_timeout_seconds,
        "retries": settings.assistant_retries,
        "call_budget_seconds": settings.assistant_call_budget_seconds,
        "job_timeout_seconds": settings.job_timeout_seconds,
        "max_output_tokens": settings.assistant_max_output_tokens,
    }


def canonical(messages: list[dict[str, str]]) -> bytes:
    """The messages as the prompt hash reads them (sorted keys, no spaces)."""
    return json.dumps(messages, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
