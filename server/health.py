"""`/health` (database, queue, audit spool, version; 503 when degraded) and `/metrics`."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise import Tortoise

import riskops
from riskops.audit import spool
from riskops.jobs.runner import queue_depth
from riskops.server.observability import JOB_QUEUE_DEPTH, SPOOL_DEPTH, exposition
from riskops.server.settings import Settings


async def _database() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await Tortoise.get_connection("default").execute_query("SELECT 1")
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


async def _queue(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": "arq" if settings.redis_url else "in-process", "ok": True}
    try:
        out["depth"] = await queue_depth()
    except Exception:
        out["depth"] = None
    if settings.redis_url:
        from redis.asyncio import Redis

        client = Redis.from_url(settings.redis_url, socket_timeout=2)
        try:
            await client.ping()
        except Exception as exc:
            out.update(ok=False, error=type(exc).__name__)
        finally:
            await client.aclose()
    return out


async def health(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    database = await _database()
    queue = await _queue(settings)
    depth = spool.depth()
    degraded = not database["ok"] or not queue["ok"] or depth > 0
    body = {
        "status": "degraded" if degraded else "ok",
        "version": riskops.__version__,
        "database": database,
        "queue": queue,
        "audit_spool": {"depth": depth},
    }
    return JSONResponse(body, status_code=503 if degraded else 200)


async def metrics(request: Request) -> Response:
    SPOOL_DEPTH.set(spool.depth())
    try:
        JOB_QUEUE_DEPTH.set(await queue_depth())
    except Exception:
        JOB_QUEUE_DEPTH.set(-1)
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
