"""`riskops.server.db.Pipeline` (the escalation pass writes its slices through it), on SQLite
and PostgreSQL: writes run in order, one at a time, on the transaction's connection while the
caller goes on; their results come back; a failed write stops the rest and fails the block (the
transaction rolls back); a failed block drops what is still queued and leaves nothing behind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from riskops.server.db import Pipeline
from riskops.server.notify.models import OutboxMessage, OutboxStatus


def writer(conn: Any, org_id: int, kind: str, ran: list[str]) -> Callable[[], Any]:
    async def write() -> int:
        ran.append(kind)
        now = datetime.now(UTC)
        row = await OutboxMessage.create(
            org_id=org_id, channel="review", kind=kind, payload={}, status=OutboxStatus.PENDING,
            attempts=0, next_attempt_at=now, created_at=now, using_db=conn,
        )  # fmt: skip
        return row.id

    return write


async def kinds(org_id: int) -> list[str]:
    return list(
        await OutboxMessage.filter(org_id=org_id, kind__startswith="pipe.")
        .order_by("id")
        .values_list("kind", flat=True)
    )


async def test_writes_run_in_order_and_return_their_results(tenant) -> None:
    ran: list[str] = []
    async with in_transaction() as conn, Pipeline(conn) as pipe:
        done = [pipe.send(writer(conn, tenant.org_id, f"pipe.{i}", ran)) for i in range(5)]
        await pipe.turn()
        ids = [await d for d in done]
    assert ids == sorted(ids)
    assert await kinds(tenant.org_id) == [f"pipe.{i}" for i in range(5)]


async def test_a_failed_write_stops_the_rest_and_the_transaction_rolls_back(tenant) -> None:
    ran: list[str] = []

    async def fails() -> None:
        ran.append("fails")
        raise ValueError("the second write failed")

    with pytest.raises(ValueError, match="second write failed"):
        async with in_transaction() as conn, Pipeline(conn) as pipe:
            pipe.send(writer(conn, tenant.org_id, "pipe.first", ran))
            pipe.send(fails)
            pipe.send(writer(conn, tenant.org_id, "pipe.third", ran))
    assert ran == ["pipe.first", "fails"]  # the third never ran
    assert await kinds(tenant.org_id) == []  # and the first was rolled back


async def test_a_failed_block_drops_what_is_queued_and_leaves_nothing(tenant) -> None:
    ran: list[str] = []
    with pytest.raises(RuntimeError, match="the caller failed"):
        async with in_transaction() as conn, Pipeline(conn) as pipe:
            first = pipe.send(writer(conn, tenant.org_id, "pipe.first", ran))
            second = pipe.send(writer(conn, tenant.org_id, "pipe.second", ran))
            await pipe.turn()  # the first is under way
            raise RuntimeError("the caller failed")
    assert first.done() and second.cancelled()
    assert ran == ["pipe.first"]
    assert await kinds(tenant.org_id) == []


async def test_send_after_a_failed_write_raises_that_failure(tenant) -> None:
    async def fails() -> None:
        raise ValueError("it failed")

    with pytest.raises(ValueError, match="it failed"):
        async with in_transaction() as conn, Pipeline(conn) as pipe:
            pipe.send(fails)
            for _ in range(3):
                await pipe.turn()
            pipe.send(writer(conn, tenant.org_id, "pipe.late", []))  # raises: nothing queued
    assert await kinds(tenant.org_id) == []
