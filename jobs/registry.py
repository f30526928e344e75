"""Job kinds and their functions. A job is `async def job(ctx, **payload) -> dict | None`."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Awaitable, Callable
from typing import Any

JobFunc = Callable[..., Awaitable[dict[str, Any] | None]]

JOBS: dict[str, JobFunc] = {}


def job(kind: str) -> Callable[[JobFunc], JobFunc]:
    def register(fn: JobFunc) -> JobFunc:
        JOBS[kind] = fn
        return fn

    return register


CATALOG = "riskops.jobs.catalog"


def load_all() -> dict[str, JobFunc]:
    """Every job kind: imports the catalog the first time (by name, at call time, so that no
    module imports every domain's jobs just to be imported). The runner calls it before it
    creates or runs a job, so any process that enqueues knows every kind, whether or not its
    entry point imported the catalog (the CLI does not: each command loads what it uses)."""
    if CATALOG not in sys.modules:
        importlib.import_module(CATALOG)
    return JOBS
