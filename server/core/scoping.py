"""Tenancy: the one entry point for queries of an organization's data, and its exceptions.

The rule. Every row an organization owns (a model with an `org` foreign key or an `org_id`
column, and the organization row itself) is read, updated, locked or deleted only through a
query started by `scoped(Model, principal)`, or `scoped(Model, org_id=...)` in code that acts
for an organization without a caller (jobs, the CLI after it resolved `--org`). Then an id of
another organization reads exactly like a missing one: `get_scoped` and `lock_scoped` turn both
into the same NotFound.

- Child rows without an organization column (rule hits, signals, info requests, case notes,
  case links, run artifacts) are reached through their parent: their query filters on the parent
  key (`alert_id=alert.id`, `run_id__in=ids`) with the id of a row read through `scoped`, or
  starts on `scoped(...)` itself.
- Creating a row (`create`, `bulk_create`) is not a query: the service sets its `org_id`.
- `tests/core/test_tenancy_structure.py` walks `server/`, `graphql/`, `ui/` and `jobs/` and fails
  on any query of an organization's data that starts elsewhere, naming the file and line.
- Code whose point is to work across organizations, or before there is a principal, is listed in
  `UNSCOPED_QUERIES` below with its reason; the test fails on an entry that no longer matches.
  Migrations and `riskops.audit` (the chain's storage, always given an explicit org id) are not
  walked.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields.relational import BackwardFKRelation
from tortoise.models import Model
from tortoise.queryset import QuerySet

from riskops.server.core.errors import not_found
from riskops.server.core.principal import Principal

M = TypeVar("M", bound=Model)


@cache
def _org_column(model: type[Model]) -> str:
    """The column holding the organization of `model`'s rows, from its Tortoise metadata."""
    meta = model._meta
    if "org_id" in meta.fields_map or "org" in meta.fk_fields:
        return "org_id"
    # The organization itself: the model other rows point at with `org`, scoped by its own id.
    backward = (meta.fields_map[n] for n in meta.backward_fk_fields)
    if any(isinstance(f, BackwardFKRelation) and f.relation_field == "org_id" for f in backward):
        return "id"
    raise TypeError(
        f"{model.__name__} has no organization of its own: reach its rows through their parent "
        "(filter on the parent key with the id of a row read through scoped())."
    )


def scoped(
    model: type[M], principal: Principal | None = None, *, org_id: int | None = None
) -> QuerySet[M]:
    """The rows of `model` that belong to the caller's organization (or to `org_id`, for code
    acting without a caller): the start of every query of an organization's data."""
    if (principal is None) == (org_id is None):
        raise TypeError("scoped() needs either the principal or an explicit org_id")
    org = principal.org_id if principal is not None else org_id
    return model.filter(**{_org_column(model): org})


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

