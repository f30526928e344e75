"""GraphQL for controls (issue 4): queries and mutations, thin adapters over the services."""

from __future__ import annotations

import strawberry


@strawberry.type
class ControlsQuery:
    pass


@strawberry.type
class ControlsMutation:
    pass
