"""The one Strawberry schema: the root types compose one mixin per domain (NetBox style)."""

from __future__ import annotations

import strawberry

from riskops.graphql.alerts_api import AlertsMutation, AlertsQuery
from riskops.graphql.audit_api import AuditQuery
from riskops.graphql.identity import IdentityMutation, IdentityQuery


@strawberry.type
class Query(IdentityQuery, AuditQuery, AlertsQuery):
    pass


@strawberry.type
class Mutation(IdentityMutation, AlertsMutation):
    pass


schema = strawberry.Schema(query=Query, mutation=Mutation)
