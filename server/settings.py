"""Settings, read from the environment (`RISKOPS_*`) and, in the embedded default, `var/`.

`TORTOISE_ORM` at module level is what `tortoise -c riskops.server.settings.TORTOISE_ORM`
and `riskops migrate` use.
"""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MODEL_MODULES = [
    "riskops.server.core.models",
    "riskops.server.identity.models",
    "riskops.server.triage.models",
    "riskops.server.credit.models",
    "riskops.server.notify.models",
    "riskops.server.views.models",
    "riskops.server.assistant.models",
    "riskops.server.operations.models",
    "riskops.server.operations.review_models",
    "riskops.server.operations.gdpr_models",
    "riskops.server.operations.retention_models",
    "riskops.server.response.models",
    "riskops.audit.models",
    "riskops.jobs.models",
]


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message says which and how to fix it."""


# The notification channels of the outbox (`riskops.server.notify.outbox.Channel`), spelled out
# here so settings stay free of domain imports; a test keeps the two in step.
WEBHOOK_CHANNELS = ("critical", "alerts", "review", "escalation")
WEBHOOK_FORMATS = ("slack", "generic")


class WebhookTarget(BaseModel):
    """Where one channel's notifications are POSTed, in which body format, and the secret that
    signs the body (`X-Riskops-Signature: sha256=<hmac hex>`), if any."""

    url: str
    format: str = "slack"
    secret: str | None = Field(default=None, repr=False)


class AssistantModel(BaseModel):
    """One model the assistant may call through litellm: its litellm name (`openai/gpt-4o-mini`,
    `ollama/llama3.1`, `hosted_vllm/qwen2.5`), and the API base and key when they differ from
    the primary model's."""

    model: str
    api_base: str | None = None
    api_key: str | None = Field(default=None, repr=False)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RISKOPS_", extra="ignore")

    env: Literal["dev", "prod"] = "dev"
    var_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    job_queue: str = "riskops:queue"
    secret_key: str | None = Field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str = ""
    # web processes `riskops serve` starts (uvicorn workers); more than one spreads requests
    # over the cores. Jobs, schedule and audit are safe across processes (see docs/OPERATIONS.md).
    web_workers: int = Field(default=1, ge=1, le=64)
    # how long an idle HTTP connection stays open for the client's next request (uvicorn's own
    # default, 5 s, is shorter than people pause between pages: they would reconnect each time)
    keep_alive_seconds: int = Field(default=75, ge=1, le=3600)

    # limits
    max_body_bytes: int = 1_000_000
    graphql_max_depth: int = 10
    graphql_max_aliases: int = 15
    graphql_max_tokens: int = 2_000
    page_size_max: int = 200

    # sessions and login protection
    session_ttl_hours: int = 12
    login_max_failures_per_account: int = 5
    login_max_failures_per_ip: int = 20
    login_failure_window_seconds: int = 900

    # identity (issue 14): one-time links, the password policy, the second step, mail
    invitation_hours: int = Field(default=48, ge=1, le=24 * 30)
    reset_link_minutes: int = Field(default=60, ge=5, le=24 * 60)
    password_min_length: int = Field(default=12, ge=8, le=128)
    login_challenge_minutes: int = Field(default=10, ge=1, le=60)
    forgot_password_per_hour: int = Field(default=5, ge=1, le=100)  # per account and per IP
    # where invitation and reset e-mails go: smtp://user:pass@host:port (smtps:// for TLS);
    # unset, they are delivered through the `review` webhook, or shown to the admin only
    smtp_url: str | None = Field(default=None, repr=False)
    mail_from: str = "riskops <no-reply@riskops.local>"

    # audit
    audit_checkpoint_minutes: int = 60
    log_level: str = "INFO"

    # notifications: RISKOPS_WEBHOOKS='{"critical": {"url": "https://hooks.slack.com/...",
    # "format": "slack"}, "review": {"url": "...", "format": "generic", "secret": "..."}}'
    webhooks: dict[str, WebhookTarget] = Field(default_factory=dict, repr=False)
    webhook_timeout_seconds: float = 5.0

    # jobs: how long one attempt of a job may run before arq cancels it (the assistant's provider
    # timeout times its attempts must stay below it, so an LLM call never outlives its job)
    job_timeout_seconds: int = Field(default=300, ge=10, le=3600)
    # the pause before a failed job's second attempt, doubled for each later one (at most 60 s)
    job_retry_seconds: float = Field(default=5.0, gt=0, le=60)
    # connecting to Redis (to enqueue, or a worker starting): tries again this many times, a
    # second apart, before it gives up (arq's own default)
    redis_connect_retries: int = Field(default=5, ge=0, le=100)
    # operations (issue 15): /health and `riskops status` degrade when the last verified backup
    # is older than this (0: backups are not watched)
    backup_max_age_hours: int = Field(default=26, ge=0, le=24 * 90)
    # where `riskops backup create` writes its archives (default: <var_dir>/backups)
    backup_dir: Path | None = None
    # the access review lists people who have not signed in for more than this many days
    access_review_inactive_days: int = Field(default=90, ge=1, le=3650)

    # the assistant (docs/ASSISTANT.md). No model configured: the assistant is off and the panels
    # show the structured explanation. AGENT_SAFE_MODE=1 (seed 001 section 5) turns it off too.
    agent_safe_mode: bool = Field(
        default=False, validation_alias=AliasChoices("AGENT_SAFE_MODE", "agent_safe_mode")
    )
    assistant_model: str | None = None
    assistant_api_base: str | None = None
    assistant_api_key: str | None = Field(default=None, repr=False)
    # tried in turn when the primary model fails: JSON, e.g. '["openai/gpt-4o-mini"]' or
    # '[{"model": "ollama/llama3.1", "api_base": "http://127.0.0.1:11434"}]'
    assistant_fallbacks: list[AssistantModel] = Field(default_factory=list)
    assistant_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    assistant_retries: int = Field(default=1, ge=0, le=5)  # per model, after the first attempt
    assistant_max_output_tokens: int = Field(default=800, ge=16, le=8192)
    # money per organization per day (in the currency of litellm's prices, USD), and overrides by
    # organization slug: RISKOPS_ASSISTANT_BUDGETS='{"acme": "25.00"}'
    assistant_daily_budget: Decimal = Field(default=Decimal("5.00"), ge=0)
    assistant_budgets: dict[str, Decimal] = Field(default_factory=dict)
    # the price of a model litellm has no price for (a local model): money per 1,000 tokens
    assistant_input_price_per_1k: Decimal = Field(default=Decimal("0"), ge=0)
    assistant_output_price_per_1k: Decimal = Field(default=Decimal("0"), ge=0)

    @field_validator("assistant_fallbacks", mode="before")
    @classmethod
    def _check_fallbacks(cls, v: Any) -> Any:
        if v in (None, ""):
            return []
        if not isinstance(v, list):
            raise ConfigError(
                "RISKOPS_ASSISTANT_FALLBACKS must be a JSON list of model names or of "
                '{"model", "api_base", "api_key"} objects, e.g. \'["openai/gpt-4o-mini"]\'.'
            )
        return [{"model": m} if isinstance(m, str) else m for m in v]

    @field_validator("assistant_model", "assistant_api_base", "assistant_api_key")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v.strip() or None if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check_assistant_timeouts(self) -> Settings:
        if self.assistant_model is None:
            return self
        worst = self.assistant_call_budget_seconds
        if worst >= self.job_timeout_seconds:
            raise ConfigError(
                f"The assistant could wait {worst:.0f} s for one answer "
                f"(RISKOPS_ASSISTANT_TIMEOUT_SECONDS {self.assistant_timeout_seconds:g} x "
                f"{self.assistant_retries + 1} attempts x {1 + len(self.assistant_fallbacks)} "
                f"models), which is not below the job timeout "
                f"(RISKOPS_JOB_TIMEOUT_SECONDS {self.job_timeout_seconds}); lower the timeout or "
                "the retries, or raise the job timeout."
            )
        return self

    @property
    def assistant_call_budget_seconds(self) -> float:
        """The longest one answer may take: every attempt of every model timing out."""
        attempts = (self.assistant_retries + 1) * (1 + len(self.assistant_fallbacks))
        return self.assistant_timeout_seconds * attempts

    def assistant_budget_for(self, org_slug: str) -> Decimal:
        """The organization's daily assistant budget (its override, or the default)."""
        return self.assistant_budgets.get(org_slug, self.assistant_daily_budget)

    @field_validator("webhooks", mode="before")
    @classmethod
    def _check_webhooks(cls, v: Any) -> Any:
        # ConfigError is not a ValueError: pydantic lets it through as it is, message intact.
        if v in (None, ""):
            return {}
        if not isinstance(v, dict):
            raise ConfigError(
                "RISKOPS_WEBHOOKS must be a JSON object of channel -> {url, format, secret}, "
                'e.g. {"critical": {"url": "https://hooks.slack.com/services/...", '
                '"format": "slack"}}.'
            )
        for channel, target in v.items():
            if channel not in WEBHOOK_CHANNELS:
                raise ConfigError(
                    f"RISKOPS_WEBHOOKS: unknown channel {channel!r}; the channels are "
                    f"{', '.join(WEBHOOK_CHANNELS)}."
                )
            if isinstance(target, WebhookTarget):
                target = target.model_dump()
            if not isinstance(target, dict):
                raise ConfigError(
                    f"RISKOPS_WEBHOOKS: channel {channel!r} must be an object with url, format "
                    "and optionally secret."
                )
            url = target.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ConfigError(
                    f"RISKOPS_WEBHOOKS: channel {channel!r} needs a url starting with "
                    f"https:// (or http://), not {url!r}."
                )
            fmt = target.get("format", "slack")
            if fmt not in WEBHOOK_FORMATS:
                raise ConfigError(
                    f"RISKOPS_WEBHOOKS: channel {channel!r} has format {fmt!r}; use "
                    f"{' or '.join(WEBHOOK_FORMATS)}."
                )
            secret = target.get("secret")
            if secret is not None and (not isinstance(secret, str) or not secret):
                raise ConfigError(
                    f"RISKOPS_WEBHOOKS: the secret of channel {channel!r} must be a non-empty "
                    "string (or leave it out)."
                )
        return v

    @field_validator("webhook_timeout_seconds")
    @classmethod
    def _check_timeout(cls, v: float) -> float:
        if not 0 < v <= 60:
            raise ConfigError(
                f"RISKOPS_WEBHOOK_TIMEOUT_SECONDS is {v}; it must be more than 0 and at most 60."
            )
        return v

    @field_validator("database_url")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite://{(self.var_dir / 'riskops.sqlite3').as_posix()}"

    @property
    def spool_dir(self) -> Path:
        return self.var_dir / "audit-spool"

    @property
    def key(self) -> bytes:
        """The secret key; `load_settings` guarantees it is set."""
        if not self.secret_key:
            raise ConfigError("RISKOPS_SECRET_KEY is not set")
        return self.secret_key.encode()


def _ensure_secret(settings: Settings) -> Settings:
    if settings.secret_key:
        if len(settings.secret_key) < 32:
            raise ConfigError(
                "RISKOPS_SECRET_KEY is too short: use at least 32 random characters, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
            )
        return settings
    if settings.is_prod:
        raise ConfigError(
            "RISKOPS_SECRET_KEY must be set when RISKOPS_ENV=prod: it signs sessions, CSRF "
            "tokens and audit checkpoints. Generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'` and keep it stable."
        )
    # Embedded default: generate once, keep under var/ so restarts keep sessions valid.
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    key_file = settings.var_dir / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    settings.secret_key = key_file.read_text().strip()
    return settings


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment plus explicit overrides (tests, CLI flags)."""
    return _ensure_secret(Settings(**overrides))


_active: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings: loaded once, or the ones `use_settings` installed."""
    global _active
    if _active is None:
        _active = load_settings()
    return _active


def use_settings(settings: Settings) -> Settings:
    """Install settings for this process (the CLI after parsing flags, tests per backend)."""
    global _active
    _active = settings
    return settings


async def _keep_session(connection: Any) -> None:
    """asyncpg's pool `reset`: what runs when a connection goes back to the pool, after asyncpg
    itself has rolled back a transaction left open. Its default also sends `SELECT
    pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`, one more round trip after every
    statement run outside a transaction (a login waited for three of them). riskops keeps no
    session state on a pooled connection: its advisory locks are transaction locks
    (`pg_advisory_xact_lock`), it opens no cursor outside a transaction, listens to nothing and
    sets no session variable (the connection's settings come with it at connect). So nothing is
    left to reset. tests/platform/test_pool_reset.py checks those assumptions in the code."""
    return None


def tortoise_config(db_url: str) -> dict[str, Any]:
    if db_url.startswith("sqlite://") and db_url != "sqlite://:memory:":
        path = Path(db_url.removeprefix("sqlite://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        connection: dict[str, Any] | str = {
            "engine": "tortoise.backends.sqlite",
            "credentials": {
                "file_path": str(path),
                "journal_mode": "WAL",
                "busy_timeout": 10_000,
                "synchronous": "NORMAL",
                "foreign_keys": "ON",
            },
        }
    else:
        from tortoise.backends.base.config_generator import expand_db_url

        connection = expand_db_url(db_url.replace("postgresql://", "postgres://", 1))
        connection["credentials"]["reset"] = _keep_session
    return {
        "connections": {"default": connection},
        "apps": {
            "riskops": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "riskops.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def __getattr__(name: str) -> Any:
    # `tortoise -c riskops.server.settings.TORTOISE_ORM` reads this lazily, so importing the
    # module neither fails on a bad RISKOPS_* variable nor creates var/ as a side effect.
    if name == "TORTOISE_ORM":
        return tortoise_config(Settings().db_url)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
