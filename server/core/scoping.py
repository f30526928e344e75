"""The one place reads are scoped to the caller's organization.

`scoped(Model, principal)` is the only way services start a query on tenant data, and
`get_scoped` turns "missing" and "other organization's" into the same NotFound.
"""

from __future__ import annotations

from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tortoise.queryset import QuerySet

from riskops.server.core.errors import not_found
from riskops.server.core.principal import Principal

M = TypeVar("M", bound=Model)


def scoped(model: type[M], principal: Principal) -> QuerySet[M]:
    return model.filter(org_id=principal.org_id)


def parse_id(kind: str, raw: str | int) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise not_found(kind, raw) from None
    if value <= 0 or value > 2**31 - 1:
        raise not_found(kind, raw)
    return value


async def get_scoped(model: type[M], principal: Principal, raw_id: str | int, kind: str) -> M:
    obj = await scoped(model, principal).get_or_none(id=parse_id(kind, raw_id))
    if obj is None:
        raise not_found(kind, raw_id)
    return obj


async def lock_scoped(
    model: type[M],
    principal: Principal,
    conn: BaseDBAsyncClient,
    raw_id: str | int,
    kind: str,
    **narrower: Any,
) -> M:
    """The organization's row `raw_id` of `model`, locked until the transaction `conn` ends
    (FOR UPDATE on PostgreSQL); missing, another organization's or outside `narrower` (extra
    filters, e.g. a page's scenario) all read as the same not-found."""
    q = scoped(model, principal).filter(id=parse_id(kind, raw_id), **narrower)
    obj = await q.select_for_update().using_db(conn).first()
    if obj is None:
        raise not_found(kind, raw_id)
    return obj
