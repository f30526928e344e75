"""GraphQL for baselines (issue 4): queries and mutations, thin adapters over the services."""

from __future__ import annotations

import strawberry


@strawberry.type
class BaselinesQuery:
    pass


@strawberry.type
class BaselinesMutation:
    pass
