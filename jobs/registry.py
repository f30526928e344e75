"""Job kinds and their functions. A job is `async def job(ctx, **payload) -> dict | None`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

JobFunc = Callable[..., Awaitable[dict[str, Any] | None]]

JOBS: dict[str, JobFunc] = {}


def job(kind: str) -> Callable[[JobFunc], JobFunc]:
    def register(fn: JobFunc) -> JobFunc:
        JOBS[kind] = fn
        return fn

    return register
