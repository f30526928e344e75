"""`/health` reports the job queue: arq on a reachable Redis is ok, an unreachable one is 503."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from riskops.jobs import runner
from riskops.server.settings import Settings, get_settings, load_settings, use_settings
from tests.conftest import REDIS_URL, Backend, require_service


@pytest_asyncio.fixture
async def restore_settings(db: Backend) -> AsyncIterator[None]:
    """`create_app` installs its settings process-wide; put the backend's back afterwards."""
    original = get_settings()
    try:
        yield
    finally:
        await runner.close_pool()
        use_settings(original)


async def get_health(settings: Settings) -> tuple[int, dict[str, Any]]:
    from riskops.server.app import create_app

    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/health")  # no credentials: /health is public
    return response.status_code, response.json()


async def test_health_in_process_queue(db: Backend, restore_settings: None) -> None:
    status, body = await get_health(db.settings)
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["queue"]["mode"] == "in-process"
    assert body["queue"]["ok"] is True
    assert isinstance(body["queue"]["depth"], int)


async def test_health_arq_queue_with_redis_up(db: Backend, restore_settings: None) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    settings = db.settings.model_copy(update={"redis_url": REDIS_URL})
    status, body = await get_health(settings)
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["queue"]["mode"] == "arq"
    assert body["queue"]["ok"] is True
    assert "error" not in body["queue"]
    assert body["database"]["ok"] is True


async def test_health_503_when_redis_is_unreachable(
    db: Backend, restore_settings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Configured the way an operator would: through the environment.
    monkeypatch.setenv("RISKOPS_REDIS_URL", "redis://127.0.0.1:1/0")
    settings = load_settings(
        database_url=db.settings.database_url,
        var_dir=db.settings.var_dir,
        secret_key=db.settings.secret_key,
    )
    assert settings.redis_url == "redis://127.0.0.1:1/0"
    status, body = await get_health(settings)
    assert status == 503, body
    assert body["status"] == "degraded"
    assert body["queue"]["mode"] == "arq"
    assert body["queue"]["ok"] is False
    assert body["queue"]["error"]  # the exception's type, e.g. ConnectionError
    assert body["database"]["ok"] is True  # only the queue is down
