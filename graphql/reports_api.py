"""GraphQL for reports (issue 4): queries and mutations, thin adapters over the services."""

from __future__ import annotations

import strawberry


@strawberry.type
class ReportsQuery:
    pass


@strawberry.type
class ReportsMutation:
    pass
