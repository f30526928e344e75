"""GraphQL for runs (issue 4): queries and mutations, thin adapters over the services."""

from __future__ import annotations

import strawberry


@strawberry.type
class RunsQuery:
    pass


@strawberry.type
class RunsMutation:
    pass
