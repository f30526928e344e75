"""Idempotency of mutations: a client key, used once per organization, replays the action it
first named instead of repeating it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from riskops.server.core import validation
from riskops.server.core.errors import Conflict, Duplicate
from riskops.server.core.models import IdempotencyKey
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped

MAX_IDEMPOTENCY_KEY = 100
MAX_ENTITY = 200


def parse_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    return validation.text(value, "idempotency_key", max_len=MAX_IDEMPOTENCY_KEY)


async def used_idempotency_key(
    principal: Principal,
    conn: BaseDBAsyncClient,
    key: str,
    action: str,
    entity_id: int | str | None,
) -> IdempotencyKey | None:
    """The earlier use of `key` for this very request (replay it), None if unused; Duplicate when
    it was used for another action or entity. `entity_id` None: any entity matches (creates).
    The message names what the key was used for, as the user knows it (`used_for`), not the
    entity of this request: a key first used on an alert and now on a case names the alert."""
    used = await scoped(IdempotencyKey, principal).filter(key=key).using_db(conn).first()
    if used is None:
        return None
    if used.action == action and (entity_id is None or used.entity_id == str(entity_id)):
        return used
    raise Duplicate(
        f"Idempotency key '{key}' was already used for another request "
        f"({used_for(used)}); use a new key for a new request.",
        field="idempotency_key",
    )


def used_for(used: IdempotencyKey) -> str:
    """ "assign on alert EXT-17", "create on case CASE-000004": the action in words, on the entity
    the key was remembered with (`remember_key`'s `entity`). A key stored before entities were
    remembered is named by its action's own kind (`case.…` a case, `bulk_…` alerts) and id."""
    verb = used.action.removeprefix("case.").removeprefix("bulk_").replace("_", " ")
    if used.entity:
        return f"{verb} on {used.entity}"
    if used.action.startswith("case."):
        kind = "case"
    elif used.action.startswith("bulk_"):
        return f"{verb} on several alerts"  # its entity id is a digest, meaningless to a person
    else:
        kind = "alert"
    return f"{verb} on {kind} {used.entity_id}"


async def remember_key(
    principal: Principal,
    conn: BaseDBAsyncClient,
    key: str,
    action: str,
    entity_id: int | str,
    now: datetime,
    *,
    entity: str,
) -> None:
    """Record that `key` did `action` on `entity_id`, in the change's own transaction: it
    commits with the change or not at all. A concurrent request with the same key fails on the
    unique (organization, key) and is answered by `key_in_flight`. `entity` names it as the user
    knows it ("alert EXT-17", "case CASE-000004", "2 alerts (EXT-1, EXT-2)"): a later misuse of
    the key says what it was used for."""
    await IdempotencyKey.create(
        org_id=principal.org_id,
        key=key,
        action=action,
        entity_id=str(entity_id),
        entity=entity[:MAX_ENTITY],
        created_at=now,
        using_db=conn,
    )


def key_in_flight(key: str) -> Conflict:
    """A concurrent request with the same key won the race; its result stands."""
    return Conflict(
        f"A request with idempotency key '{key}' is being processed; retry it to get its result.",
        field="idempotency_key",
    )


@contextmanager
def key_race(key: str | None) -> Iterator[None]:
    """Around a change that `remember_key`s: when a concurrent request with the same key
    committed first (the unique key fails ours), answer as `key_in_flight`; without a key an
    IntegrityError is not ours to explain."""
    try:
        yield
    except IntegrityError:
        if key is None:
            raise
        raise key_in_flight(key) from None
