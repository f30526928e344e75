"""`/health` (database, queue, audit spool, backups, version; 503 when degraded) and `/metrics`.

Both answer on their own: the middleware does not authenticate them (no session lookup), and
each of their checks is bounded by CHECK_TIMEOUT, so an unreachable database makes /health say
so (503, "database": {"ok": false}) instead of failing or hanging with it.
"""

from __future__ import annotations

import asyncio
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
from riskops.server.operations.backups import backup_state
from riskops.server.settings import Settings

CHECK_TIMEOUT = 2.0  # seconds per check; a probe must answer promptly whatever is down


async def _database() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(
            Tortoise.get_connection("default").execute_query("SELECT 1"), CHECK_TIMEOUT
        )
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


async def _queue(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": "arq" if settings.redis_url else "in-process", "ok": True}
    try:
        out["depth"] = await asyncio.wait_for(queue_depth(), CHECK_TIMEOUT)
    except Exception:
        out["depth"] = None
    if settings.redis_url:
        from redis.asyncio import Redis

        client = Redis.from_url(settings.redis_url, socket_timeout=2)
        try:
            await asyncio.wait_for(client.ping(), CHECK_TIMEOUT)
        except Exception as exc:
            out.update(ok=False, error=type(exc).__name__)
        finally:
            await client.aclose()
    return out


async def _backups(settings: Settings, database_ok: bool) -> dict[str, Any]:
    """The newest verified backup's age against RISKOPS_BACKUP_MAX_AGE_HOURS (docs/BACKUPS.md).
    Unknown while the database is down (which degrades /health already)."""
    if not database_ok:
        return {"ok": True, "detail": "unknown: the database is unreachable"}
    try:
        return await asyncio.wait_for(backup_state(settings), CHECK_TIMEOUT)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}


async def health(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    database = await _database()
    queue = await _queue(settings)
    depth = spool.depth()
    backups = await _backups(settings, database["ok"])
    degraded = not database["ok"] or not queue["ok"] or depth > 0 or not backups["ok"]
    body = {
        "status": "degraded" if degraded else "ok",
        "version": riskops.__version__,
        "database": database,
        "queue": queue,
        "audit_spool": {"depth": depth},
        "backups": backups,
    }
    return JSONResponse(body, status_code=503 if degraded else 200)


async def metrics(request: Request) -> Response:
    SPOOL_DEPTH.set(spool.depth())
    try:
        JOB_QUEUE_DEPTH.set(await asyncio.wait_for(queue_depth(), CHECK_TIMEOUT))
    except Exception:
        JOB_QUEUE_DEPTH.set(-1)
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
